/**
 * A request as the transport works with it: options validated once, URL parsed once,
 * body reduced to an OutgoingBody. Retries and redirects reuse it.
 */
import type { FormInit } from "../body/multipart.js";
import { multipartBody } from "../body/multipart.js";
import { type BodyInit, jsonBody, type OutgoingBody, toOutgoingBody } from "../body/outgoing.js";
import { RoundtripError, redactURL } from "../errors.js";
import { isHost, printable } from "../http1/chars.js";
import { Headers, type HeadersInit } from "../http1/headers.js";
import { validateMethod } from "../http1/request.js";
import { originForm, parseRequestURL, type RequestURL } from "../http1/url.js";
import { methodOf, ownOptions } from "../options.js";
import type { ClientTrace } from "./trace.js";

export type Progress = { loaded: number; total: number | null };

export interface RequestOptions {
  /** Default "GET"; must be an HTTP token. */
  method?: string;
  headers?: HeadersInit;
  body?: BodyInit | null;
  /** Serialized with JSON.stringify; sets Content-Type: application/json unless set. */
  json?: unknown;
  /** multipart/form-data, streamed. */
  form?: FormInit;
  signal?: AbortSignal;
  trace?: ClientTrace;
  /** Send `Expect: 100-continue` and hold the body until 100, a final status, or expectContinueTimeout. */
  expectContinue?: boolean;
  onUploadProgress?: (p: Progress) => void;
  onDownloadProgress?: (p: Progress) => void;
  /** Allow a retry on a reused connection that failed before any response byte. */
  idempotent?: boolean;
  /** Recreates the body, so redirects and retries can send a stream again. */
  getBody?: () => BodyInit;
  /** Host field override; wins over a Host header. */
  host?: string;
  /** Send `Connection: close` and do not reuse the connection (a caller's `Connection: close` header does the same). */
  close?: boolean;
}

export interface TransportRequest extends RequestOptions {
  url: string | URL;
}

/**
 * A request's URL, parsed: RequestURL's fields plus what every request needs of it as
 * strings (computed once per URL string; see targetOf). `url` is made on first use, per
 * request, so no URL object is shared between requests.
 */
export interface Target extends RequestURL {
  /** The URL serialized (no zone), for Response.url. */
  readonly href: string;
  /** origin-form request target (path and query), checked. */
  readonly path: string;
  /** "scheme://host:port", the connect-method key without a proxy. */
  readonly direct: string;
  /**
   * The serialized head of a plain request to this URL (no headers of its own, no body,
   * default Host) for `settings` and `method`, made by `make` the first time: one slot
   * per URL string, since a caller repeats the same request.
   */
  plainHead(settings: object, method: string, make: () => string): string;
}

export interface PreparedRequest {
  method: string;
  target: Target;
  /** Host field value. */
  host: string;
  headers: Headers | null;
  body: OutgoingBody | null;
  getBody: (() => BodyInit) | null;
  isHead: boolean;
  /** GET, HEAD, OPTIONS, TRACE, an Idempotency-Key, or idempotent: true. */
  idempotent: boolean;
  expectContinue: boolean;
  close: boolean;
  signal: AbortSignal | null;
  trace: ClientTrace | null;
  onUploadProgress: ((p: Progress) => void) | null;
  onDownloadProgress: ((p: Progress) => void) | null;
  /** The caller's URL as it may appear in errors (password masked). */
  displayURL: string;
}

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

/**
 * Headers built for one request by a layer above (the Client) and handed over: the
 * transport takes them as they are instead of copying them again.
 */
const handedOver = new WeakSet<Headers>();

/** @internal marks `h` as owned by the request it is passed with. */
export function handOver(h: Headers): Headers {
  handedOver.add(h);
  return h;
}

/** What a URL string parses to; immutable strings and numbers only, so it can be shared. */
interface ParsedURL {
  readonly href: string;
  readonly scheme: string;
  readonly hostname: string;
  readonly port: number;
  readonly host: string;
  readonly hostPort: string;
  readonly path: string;
  readonly direct: string;
  readonly display: string;
  /** plainHead's one slot (strings only: a request never sees it). */
  headFor: object | null;
  headMethod: string;
  head: string;
}

class CachedTarget implements Target {
  #url: URL | null = null;
  constructor(readonly parsed: ParsedURL) {}
  get url(): URL {
    this.#url ??= new URL(this.parsed.href);
    return this.#url;
  }
  get href(): string {
    return this.parsed.href;
  }
  get scheme(): string {
    return this.parsed.scheme;
  }
  get hostname(): string {
    return this.parsed.hostname;
  }
  get port(): number {
    return this.parsed.port;
  }
  get host(): string {
    return this.parsed.host;
  }
  get hostPort(): string {
    return this.parsed.hostPort;
  }
  get path(): string {
    return this.parsed.path;
  }
  get direct(): string {
    return this.parsed.direct;
  }
  plainHead(settings: object, method: string, make: () => string): string {
    const p = this.parsed;
    if (p.headFor !== settings || p.headMethod !== method) {
      p.head = make();
      p.headFor = settings;
      p.headMethod = method;
    }
    return p.head;
  }
}

/** URL strings parsed lately (a client calls few distinct URLs); emptied when full. */
const parsedURLs = new Map<string, ParsedURL>();
const PARSED_URLS_MAX = 512;

function parse(t: RequestURL): ParsedURL {
  return {
    href: t.url.href,
    scheme: t.scheme,
    hostname: t.hostname,
    port: t.port,
    host: t.host,
    hostPort: t.hostPort,
    path: originForm(t.url),
    direct: `${t.scheme}://${t.hostPort}`,
    display: redactURL(t.url),
    headFor: null,
    headMethod: "",
    head: "",
  };
}

/**
 * The parsed target of `input`. A string is parsed once and its pieces reused (the
 * WHATWG parse, the target checks and the redaction are most of a small request's URL
 * work); a URL object is read as it is, every time.
 */
function targetOf(input: string | URL): CachedTarget {
  if (typeof input !== "string") return new CachedTarget(parse(parseRequestURL(input)));
  let parsed = parsedURLs.get(input);
  if (parsed === undefined) {
    parsed = parse(parseRequestURL(input));
    if (parsedURLs.size >= PARSED_URLS_MAX) parsedURLs.clear();
    parsedURLs.set(input, parsed);
  }
  return new CachedTarget(parsed);
}

export function prepareRequest(opts: TransportRequest): PreparedRequest {
  // Own properties only: a polluted Object.prototype.host or .headers is not an option.
  opts = ownOptions(opts);
  const target = targetOf(opts.url);
  const method = opts.method === undefined ? "GET" : validateMethod(opts.method);
  const given = opts.headers;
  let headers: Headers | null = null;
  if (given != null) {
    // A caller's Headers is copied: the request must not change if the caller mutates it later.
    if (given instanceof Headers && handedOver.delete(given)) headers = given;
    else headers = new Headers(given);
    if (headers.size === 0) headers = null;
  }

  let body: OutgoingBody | null = null;
  if (
    (opts.body != null ? 1 : 0) + (opts.json !== undefined ? 1 : 0) + (opts.form !== undefined ? 1 : 0) >
    1
  ) {
    throw new RoundtripError("ERR_INVALID_REQUEST", "give only one of body, json and form");
  }
  if (opts.body != null) body = toOutgoingBody(opts.body);
  else if (opts.json !== undefined) body = jsonBody(opts.json);
  else if (opts.form !== undefined) body = multipartBody(opts.form);
  else if (opts.getBody) body = toOutgoingBody(opts.getBody());

  let headersOut = headers;
  if (body?.contentType && !headers?.has("content-type")) {
    headersOut = headers ?? new Headers();
    headersOut.set("Content-Type", body.contentType);
  }

  let host = target.host;
  if (opts.host !== undefined) host = checkHost(opts.host);
  else if (headersOut?.has("host")) host = checkHost(headersOut.get("host")!);

  const idempotent = isIdempotent(method, opts.idempotent, headersOut);

  return {
    method,
    target,
    host,
    headers: headersOut,
    body,
    getBody: opts.getBody ?? null,
    isHead: method === "HEAD",
    idempotent,
    // A caller's own `Expect: 100-continue` is honoured like the option (Go waits too).
    expectContinue:
      body !== null &&
      (opts.expectContinue === true || /^\s*100-continue\s*$/i.test(headersOut?.get("expect") ?? "")),
    // A caller's `Connection: close` means the same as close: true (Go's Request.wantsClose).
    close: opts.close === true || hasCloseToken(headersOut?.get("connection") ?? null),
    signal: opts.signal ?? null,
    trace: opts.trace == null ? null : guardTrace(opts.trace),
    onUploadProgress: opts.onUploadProgress ?? null,
    onDownloadProgress: opts.onDownloadProgress ?? null,
    displayURL: target.parsed.display,
  };
}

/**
 * Go's isReplayable: GET, HEAD, OPTIONS, TRACE (or the `methods` given instead),
 * `idempotent: true`, or an (X-)Idempotency-Key header.
 */
export function isIdempotent(
  method: string,
  idempotent: boolean | undefined,
  headers: Headers | null,
  methods: ReadonlySet<string> = IDEMPOTENT,
): boolean {
  return (
    methods.has(method) ||
    idempotent === true ||
    (headers !== null && (headers.has("idempotency-key") || headers.has("x-idempotency-key")))
  );
}

function hasCloseToken(connection: string | null): boolean {
  return connection?.split(",").some((t) => t.trim().toLowerCase() === "close") ?? false;
}

function checkHost(host: string): string {
  if (typeof host !== "string" || !isHost(host)) {
    throw new RoundtripError("ERR_INVALID_REQUEST", `invalid Host ${printable(String(host))}`);
  }
  return host;
}

/** Whether the body can be sent again for a retry or a 307/308 redirect. */
export function canReplay(req: Pick<PreparedRequest, "body" | "getBody">): boolean {
  return req.body === null || req.body.replayable || req.getBody !== null;
}

/** The body to send on a second attempt. */
export function replayBody(req: Pick<PreparedRequest, "body" | "getBody">): OutgoingBody | null {
  if (req.body === null || req.body.replayable) return req.body;
  if (req.getBody !== null) return toOutgoingBody(req.getBody());
  throw new RoundtripError("ERR_REQUEST_BODY", "the request body cannot be sent again");
}

const TRACE_HOOKS: ReadonlyArray<keyof ClientTrace> = [
  "getConn",
  "gotConn",
  "putIdleConn",
  "dnsStart",
  "dnsDone",
  "connectStart",
  "connectDone",
  "tlsHandshakeStart",
  "tlsHandshakeDone",
  "wroteHeaderField",
  "wroteHeaders",
  "wait100Continue",
  "got100Continue",
  "got1xxResponse",
  "gotFirstResponseByte",
  "wroteRequest",
];

/**
 * The caller's trace with every hook guarded: a hook that throws is reported as a
 * warning and the exchange goes on. Hooks run inside socket callbacks, where a throw
 * would be an uncaught exception or leave a connection neither idle nor active.
 */
function guardTrace(trace: ClientTrace): ClientTrace {
  // No prototype: a hook it lacks is undefined, not one found on a polluted Object.prototype.
  const guarded = Object.create(null) as Record<string, (...args: never[]) => void>;
  // By name, not Object.keys: hooks may be methods of a class instance (non-enumerable);
  // never one found on Object.prototype.
  for (const key of TRACE_HOOKS) {
    const hook = methodOf(trace, key);
    if (typeof hook !== "function") continue;
    guarded[key] = (...args: never[]) => {
      try {
        (hook as (...a: never[]) => void).apply(trace, args);
      } catch (err) {
        process.emitWarning(`trace hook ${key} threw: ${err instanceof Error ? err.message : String(err)}`, {
          code: "ROUNDTRIP_TRACE_HOOK",
          type: "RoundtripWarning",
        });
      }
    };
  }
  return guarded as ClientTrace;
}
