/**
 * `roundtrip [METHOD] URL [ITEM…]`: the flags (curl's names and meanings, xh's items and
 * output options) turned into a RequestPlan — plain data that the request runner sends
 * and `--curl` prints.
 */
import { all, type FlagSpec, has, last, nonNegativeInt, parseArgs, seconds, UsageError } from "./args.js";
import { type BodyPlan, planBody } from "./body-plan.js";
import { type Item, parseItem } from "./items.js";
import { expandURL, splitPositionals } from "./target.js";

export const REQUEST_FLAGS: FlagSpec[] = [
  { key: "method", names: ["X", "request"], value: true },
  { key: "header", names: ["H", "header"], value: true },
  { key: "data", names: ["d", "data", "data-ascii"], value: true },
  { key: "dataRaw", names: ["data-raw"], value: true },
  { key: "dataBinary", names: ["data-binary"], value: true },
  { key: "form", names: ["F", "form"], value: true },
  { key: "urlencoded", names: ["urlencoded"] },
  { key: "multipart", names: ["multipart"] },
  { key: "output", names: ["o", "output"], value: true },
  { key: "location", names: ["L", "location"] },
  { key: "maxRedirs", names: ["max-redirs"], value: true },
  { key: "insecure", names: ["k", "insecure"] },
  { key: "proxy", names: ["x", "proxy"], value: true },
  { key: "connectTimeout", names: ["connect-timeout"], value: true },
  { key: "maxTime", names: ["m", "max-time"], value: true },
  { key: "compressed", names: ["compressed"] },
  { key: "noCompressed", names: ["no-compressed"] },
  { key: "ipv4", names: ["4", "ipv4"] },
  { key: "ipv6", names: ["6", "ipv6"] },
  { key: "unixSocket", names: ["unix-socket"], value: true },
  { key: "cacert", names: ["cacert"], value: true },
  { key: "http11", names: ["http1.1"] },
  { key: "http2", names: ["http2"] },
  { key: "user", names: ["u", "user"], value: true },
  { key: "userAgent", names: ["A", "user-agent"], value: true },
  { key: "verbose", names: ["v", "verbose"] },
  { key: "include", names: ["i", "include"] },
  { key: "head", names: ["I", "head"] },
  { key: "print", names: ["p", "print"], value: true },
  { key: "silent", names: ["s", "silent"] },
  { key: "showError", names: ["S", "show-error"] },
  { key: "timings", names: ["timings"] },
  { key: "writeOut", names: ["w", "write-out"], value: true },
  { key: "format", names: ["format"], value: true },
  { key: "curl", names: ["curl"] },
  { key: "checkStatus", names: ["check-status"] },
  { key: "pretty", names: ["pretty"], value: true },
  { key: "help", names: ["h", "help"] },
  { key: "version", names: ["V", "version"] },
];

export type Pretty = "all" | "colors" | "format" | "none";

/** Which parts go to stdout (HTTPie's --print letters). */
export interface PrintParts {
  requestHead: boolean;
  requestBody: boolean;
  responseHead: boolean;
  responseBody: boolean;
}

export interface NetworkPlan {
  follow: boolean;
  /** Redirects followed at most with follow (curl's default with -L: 50; -1 = no limit). */
  maxRedirects: number;
  insecure: boolean;
  proxy: string | undefined;
  connectTimeout: number | undefined;
  maxTime: number | undefined;
  compressed: boolean;
  family: 4 | 6 | undefined;
  unixSocket: string | undefined;
  cacert: string | undefined;
  http2: boolean;
}

export interface OutputPlan {
  output: string | undefined;
  print: PrintParts;
  /** -v: curl-style trace of both heads on stderr. */
  verbose: boolean;
  /** -s: no progress bars; errors too unless -S. */
  silent: boolean;
  showError: boolean;
  timings: boolean;
  writeOut: string | undefined;
  format: "json" | undefined;
  checkStatus: boolean;
  pretty: Pretty | undefined;
}

export interface RequestPlan {
  method: string;
  /** With the query items appended. */
  url: URL;
  /** The caller's headers in order: -H first, then header items. */
  headers: Array<[string, string]>;
  /** Lower-cased names of default headers to leave out (`Name:` items, `-H "Name:"`). */
  removeHeaders: string[];
  body: BodyPlan;
  /** -u user:password. */
  auth: { user: string; password: string } | undefined;
  net: NetworkPlan;
  out: OutputPlan;
  /** --curl: print the equivalent curl command instead of sending. */
  curl: boolean;
}

export type ParsedRequestCommand =
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "request"; plan: RequestPlan };

export function parseRequestCommand(argv: readonly string[]): ParsedRequestCommand {
  const args = parseArgs(argv, REQUEST_FLAGS);
  if (has(args, "help")) return { kind: "help" };
  if (has(args, "version")) return { kind: "version" };
  const { method: positionalMethod, url: urlArg, items: itemArgs } = splitPositionals(args.positionals);
  const url = expandURL(urlArg);
  const items: Item[] = itemArgs.map(parseItem);

  for (const i of items) if (i.kind === "query") url.searchParams.append(i.name, i.value);

  const headers: Array<[string, string]> = [];
  const removeHeaders: string[] = [];
  for (const h of all(args, "header")) {
    // curl: "Name: value" sets, "Name:" removes a default, "Name;" sends it empty.
    const m = /^([^:;\s]+)\s*([:;])\s*(.*)$/s.exec(h);
    if (m === null) throw new UsageError(`-H wants "Name: value", got ${JSON.stringify(h)}`);
    if (m[2] === ";") headers.push([m[1]!, ""]);
    else if (m[3] === "") removeHeaders.push(m[1]!.toLowerCase());
    else headers.push([m[1]!, m[3]!]);
  }
  for (const i of items) {
    if (i.kind === "header") headers.push([i.name, i.value]);
    else if (i.kind === "unsetHeader") removeHeaders.push(i.name.toLowerCase());
  }
  const userAgent = last(args, "userAgent");
  if (userAgent !== undefined) headers.push(["User-Agent", userAgent]);

  const body = planBody(items, {
    data: all(args, "data"),
    dataRaw: all(args, "dataRaw"),
    dataBinary: all(args, "dataBinary"),
    form: all(args, "form"),
    urlencoded: has(args, "urlencoded"),
    multipart: has(args, "multipart"),
  });

  const head = has(args, "head");
  const explicit = last(args, "method") ?? positionalMethod;
  const method = (explicit ?? (head ? "HEAD" : body.kind === "none" ? "GET" : "POST")).toUpperCase();

  let auth: RequestPlan["auth"];
  const user = last(args, "user");
  if (user !== undefined) {
    const colon = user.indexOf(":");
    auth =
      colon < 0 ? { user, password: "" } : { user: user.slice(0, colon), password: user.slice(colon + 1) };
  }

  const maxRedirsArg = last(args, "maxRedirs");
  let maxRedirects = 50;
  if (maxRedirsArg === "-1") maxRedirects = -1;
  else if (maxRedirsArg !== undefined) maxRedirects = nonNegativeInt(maxRedirsArg, "--max-redirs")!;

  if (has(args, "ipv4") && has(args, "ipv6")) throw new UsageError("-4 and -6 cannot be used together");
  if (has(args, "http11") && has(args, "http2"))
    throw new UsageError("--http1.1 and --http2 cannot be used together");
  const format = last(args, "format");
  if (format !== undefined && format !== "json")
    throw new UsageError(`--format supports json, got ${format}`);
  const pretty = last(args, "pretty");
  if (pretty !== undefined && !["all", "colors", "format", "none"].includes(pretty)) {
    throw new UsageError(`--pretty wants all, colors, format or none, got ${pretty}`);
  }

  const print = printParts(last(args, "print"), { include: has(args, "include"), head });
  let proxy = last(args, "proxy");
  // curl: a proxy without a scheme is an HTTP proxy.
  if (proxy !== undefined && proxy !== "" && !/^[a-z][a-z0-9+.-]*:\/\//i.test(proxy))
    proxy = `http://${proxy}`;

  return {
    kind: "request",
    plan: {
      method,
      url,
      headers,
      removeHeaders,
      body,
      auth,
      curl: has(args, "curl"),
      net: {
        follow: has(args, "location"),
        maxRedirects,
        insecure: has(args, "insecure"),
        proxy,
        connectTimeout: seconds(last(args, "connectTimeout"), "--connect-timeout"),
        maxTime: seconds(last(args, "maxTime"), "-m/--max-time"),
        compressed: !has(args, "noCompressed") && !removeHeaders.includes("accept-encoding"),
        family: has(args, "ipv4") ? 4 : has(args, "ipv6") ? 6 : undefined,
        unixSocket: last(args, "unixSocket"),
        cacert: last(args, "cacert"),
        http2: has(args, "http2"),
      },
      out: {
        output: last(args, "output"),
        print,
        verbose: has(args, "verbose"),
        silent: has(args, "silent"),
        showError: has(args, "showError"),
        timings: has(args, "timings"),
        writeOut: last(args, "writeOut"),
        format: format as "json" | undefined,
        checkStatus: has(args, "checkStatus"),
        pretty: pretty as Pretty | undefined,
      },
    },
  };
}

/** HTTPie's --print letters: H request head, B request body, h response head, b response body. */
function printParts(spec: string | undefined, o: { include: boolean; head: boolean }): PrintParts {
  if (spec !== undefined) {
    if (!/^[HBhb]+$/.test(spec)) throw new UsageError(`--print takes the letters H, B, h and b, got ${spec}`);
    return {
      requestHead: spec.includes("H"),
      requestBody: spec.includes("B"),
      responseHead: spec.includes("h"),
      responseBody: spec.includes("b"),
    };
  }
  // curl: -i adds the response head before the body; -I prints only the head.
  return { requestHead: false, requestBody: false, responseHead: o.include || o.head, responseBody: true };
}
