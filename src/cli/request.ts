/**
 * `roundtrip [METHOD] URL [ITEM…]`: sends one request (following redirects with -L) on
 * a Client over a Transport built from the flags, with a recorder between them, then
 * prints what was asked for: the body (stdout or -o), heads (--print, -i, -v), the
 * waterfall (--timings, stderr), curl's -w, or the whole exchange as JSON (--format json).
 */
import { readFileSync } from "node:fs";
import type { Writable } from "node:stream";
import { Client, type Response, RoundtripError, Transport, type TransportOptions } from "../index.js";
import { UsageError } from "./args.js";
import { type SinkTarget, sinkBody } from "./body-sink.js";
import { toCurl } from "./curl-export.js";
import { customDial } from "./dialer.js";
import { type ExchangeSummary, summarize } from "./exchange.js";
import { exchangeJSON } from "./exchange-json.js";
import { EXIT, exitCodeForError, exitCodeForStatus } from "./exit-codes.js";
import { requestHeadLines, responseHeadLines, verboseLines } from "./format.js";
import { ProgressBar } from "./progress.js";
import { ExchangeRecorder, type HopRecord } from "./recorder.js";
import type { RequestPlan } from "./request-args.js";
import { planHeaders, requestBody } from "./request-build.js";
import { type Palette, PLAIN, paletteFor } from "./style.js";
import { renderTimings } from "./waterfall.js";
import { expandWriteOut } from "./write-out.js";

export interface Streams {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean; columns?: number };
  env: NodeJS.ProcessEnv;
}

export function transportOptions(plan: RequestPlan, recorder: ExchangeRecorder | null): TransportOptions {
  const n = plan.net;
  const tls: NonNullable<TransportOptions["tls"]> = {};
  if (n.insecure) tls.rejectUnauthorized = false;
  if (n.cacert !== undefined) {
    try {
      tls.ca = readFileSync(n.cacert);
    } catch (err) {
      throw new UsageError(`cannot read --cacert ${n.cacert}: ${(err as NodeJS.ErrnoException).code}`);
    }
  }
  const opts: TransportOptions = {
    tls,
    // curl: -x "" means no proxy at all, even from the environment.
    proxy: n.proxy === undefined ? "env" : n.proxy === "" ? null : n.proxy,
    allowHTTP2: n.http2,
    disableCompression: !n.compressed,
  };
  if (n.connectTimeout !== undefined) {
    opts.dialTimeout = n.connectTimeout;
    opts.tlsHandshakeTimeout = n.connectTimeout;
  }
  const dial = customDial(n, recorder);
  if (dial !== undefined) opts.dial = dial;
  return opts;
}

/** Which palette each stream gets, from --pretty, the terminal and NO_COLOR. */
function palettes(plan: RequestPlan, s: Streams): { out: Palette; err: Palette; indent: boolean } {
  const pretty = plan.out.pretty ?? (s.stdout.isTTY ? "all" : "none");
  const color = pretty === "all" || pretty === "colors";
  const out = color && !s.env.NO_COLOR ? paletteFor({ isTTY: true }, s.env) : PLAIN;
  return { out, err: paletteFor(s.stderr, s.env), indent: pretty === "all" || pretty === "format" };
}

function write(stream: Writable, text: string): void {
  if (text !== "" && !stream.destroyed) stream.write(text);
}

/** --print=B: the request body when it is text; a note for files and streams. */
function requestBodyText(plan: RequestPlan): string {
  const b = plan.body;
  switch (b.kind) {
    case "none":
      return "";
    case "json":
      return JSON.stringify(b.value);
    case "urlencoded":
      return new URLSearchParams(b.pairs).toString();
    case "data":
    case "text":
      return b.text;
    case "file":
      return `(body streamed from ${b.path})`;
    case "stdin":
      return "(body streamed from standard input)";
    case "multipart":
      return b.parts.map((p) => ("value" in p ? `${p.name}=${p.value}` : `${p.name}@${p.path}`)).join("\n");
  }
}

function verboseHop(hop: HopRecord, s: Streams): void {
  const a = hop.attempts[hop.attempts.length - 1];
  const notes: string[] = [];
  if (a?.gotConn?.reused) notes.push(`Re-using existing connection to ${a.hostPort}`);
  else if (a?.connects[0]) notes.push(`Connected to ${a.connects[0].addr}`);
  const alpn = a?.tls[a.tls.length - 1]?.alpn;
  if (alpn) notes.push(`ALPN: server accepted ${alpn}`);
  if (notes.length) write(s.stderr, verboseLines("*", notes));
  if (a?.wroteHeaders !== undefined) {
    write(s.stderr, verboseLines(">", [...requestHeadLines(hop.method, hop.url, a.fields, PLAIN), ""]));
  }
  for (const i of a?.informational ?? []) write(s.stderr, verboseLines("<", [`HTTP/1.1 ${i.code}`, ""]));
  if (hop.response) write(s.stderr, verboseLines("<", [...responseHeadLines(hop.response, PLAIN), ""]));
  if (hop.response?.uncompressed)
    write(s.stderr, verboseLines("*", ["Body decoded (Content-Encoding removed)"]));
}

export async function runRequest(plan: RequestPlan, s: Streams): Promise<number> {
  if (plan.curl) {
    write(s.stdout, `${toCurl(plan)}\n`);
    return EXIT.ok;
  }
  const recorder = new ExchangeRecorder();
  const transport = new Transport(transportOptions(plan, recorder));
  const { out: outPalette, err: errPalette, indent } = palettes(plan, s);
  const bars = s.stderr.isTTY === true && !plan.out.silent;
  const upload = bars ? new ProgressBar(s.stderr, "↑ upload  ") : null;
  if (upload) recorder.onUpload = (loaded, total) => upload.update(loaded, total);

  const interrupt = new AbortController();
  const onSigint = () => interrupt.abort(new RoundtripError("ERR_ABORTED", "interrupted"));
  process.once("SIGINT", onSigint);

  const n = plan.net;
  const client = new Client({
    transport: recorder.wrap(transport),
    timeout: n.maxTime ?? 0,
    maxRedirects: n.maxRedirects < 0 ? Number.MAX_SAFE_INTEGER : n.maxRedirects,
    // Without -L the 3xx is the answer, as in curl.
    checkRedirect: n.follow ? undefined : () => false,
  });

  let res: Response | undefined;
  let error: { message: string; exitCode: number } | null = null;
  let exitCode: number = EXIT.ok;
  let end = 0;
  let kept: Buffer | undefined;
  try {
    const body = await requestBody(plan.body);
    res = await client.request(plan.url, {
      method: plan.method,
      headers: planHeaders(plan),
      ...body,
      signal: interrupt.signal,
      trace: recorder.trace,
    });
    upload?.finish();
    const finalHop = recorder.hops[recorder.hops.length - 1]!;
    printHeads(plan, recorder, s, outPalette);
    kept = await printBody(plan, res, finalHop, s, outPalette, indent, bars);
    end = recorder.now();
    finalHop.end = end;
  } catch (err) {
    upload?.finish();
    end = recorder.now();
    exitCode = interrupt.signal.aborted ? EXIT.interrupted : exitCodeForError(err);
    const message = err instanceof Error ? err.message : String(err);
    error = { message, exitCode };
    if (plan.out.verbose) for (const hop of recorder.hops) verboseHop(hop, s);
    if (!plan.out.silent || plan.out.showError) write(s.stderr, `roundtrip: ${message}\n`);
  } finally {
    process.off("SIGINT", onSigint);
  }

  const summary = summarize(recorder, plan.url.href, plan.out.output, error, end);
  if (plan.out.timings) write(s.stderr, `${error ? "\n" : ""}${renderTimings(summary.hops, errPalette)}`);
  if (plan.out.writeOut !== undefined) writeOut(plan.out.writeOut, summary, s);
  if (plan.out.format === "json")
    write(s.stdout, `${JSON.stringify(exchangeJSON(summary, recorder, kept), null, 2)}\n`);
  if (error === null && plan.out.checkStatus && res !== undefined && exitCode === EXIT.ok) {
    exitCode = exitCodeForStatus(res.status, n.follow);
    if (exitCode !== EXIT.ok && !s.stdout.isTTY)
      write(s.stderr, `roundtrip: warning: HTTP ${res.status} ${res.statusText}\n`);
  }
  await transport.close();
  return exitCode;
}

function printHeads(plan: RequestPlan, recorder: ExchangeRecorder, s: Streams, p: Palette): void {
  if (plan.out.verbose) for (const hop of recorder.hops) verboseHop(hop, s);
  const print = plan.out.print;
  if (plan.out.format === "json") return;
  const hop = recorder.hops[recorder.hops.length - 1]!;
  const a = hop.attempts[hop.attempts.length - 1];
  let text = "";
  if (print.requestHead && a) text += `${requestHeadLines(hop.method, hop.url, a.fields, p).join("\n")}\n\n`;
  if (print.requestBody) {
    const body = requestBodyText(plan);
    if (body !== "") text += `${body}\n\n`;
  }
  if (print.responseHead && hop.response) text += `${responseHeadLines(hop.response, p).join("\n")}\n\n`;
  write(s.stdout, text);
}

async function printBody(
  plan: RequestPlan,
  res: Response,
  hop: HopRecord,
  s: Streams,
  p: Palette,
  indent: boolean,
  bars: boolean,
): Promise<Buffer | undefined> {
  const o = plan.out;
  let target: SinkTarget;
  if (o.output !== undefined && o.output !== "-") target = { kind: "file", path: o.output };
  else if (o.format === "json") target = { kind: "keep" };
  else if (!o.print.responseBody) target = { kind: "discard" };
  else
    target = {
      kind: "stdout",
      pretty: indent,
      palette: p,
      refuseBinary: s.stdout.isTTY === true && o.output !== "-",
    };
  // A bar only where it does not draw over the body: not when the body goes to this terminal.
  const showBar = bars && !(target.kind === "stdout" && s.stdout.isTTY);
  const bar = showBar ? new ProgressBar(s.stderr, "↓ download") : null;
  const total = res.contentLength >= 0 ? res.contentLength : null;
  try {
    const result = await sinkBody(res, target, s.stdout, (n) => {
      hop.received = n;
      bar?.update(n, total);
    });
    hop.received = result.bytes;
    if (result.zeroCopy && o.verbose)
      write(s.stderr, verboseLines("*", ["Body saved with splice(2): zero copy"]));
    if (result.refusedBinary) {
      write(
        s.stderr,
        `roundtrip: binary body (${result.bytes} bytes) not printed to the terminal; use -o FILE, or -o - to print it anyway\n`,
      );
    }
    return result.kept;
  } finally {
    bar?.finish();
  }
}

function writeOut(format: string, summary: ExchangeSummary, s: Streams): void {
  let f = format;
  if (f.startsWith("@")) {
    const path = f.slice(1);
    f = readFileSync(path === "-" ? 0 : path, "utf8");
  }
  const chunks = expandWriteOut(f, summary, (m) => write(s.stderr, `roundtrip: ${m}\n`));
  for (const c of chunks) write(c.stream === "stdout" ? s.stdout : s.stderr, c.text);
}
