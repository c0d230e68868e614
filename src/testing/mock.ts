/**
 * MockTransport: a RoundTripper that answers from interceptors instead of the network,
 * for tests of code that uses a Client, fetch (with `client`) or a Transport. It sits
 * where the Transport sits, so everything above it — redirects, cookies, deadlines,
 * middleware — runs as in production; the response is shaped as the Transport shapes a
 * received one (see exchange.ts). No socket is opened unless a request goes to the
 * passthrough transport.
 *
 * Interceptors are tried in the order they were added; the first one that matches and
 * has replies left answers. An unmatched request fails with ERR_MOCK_NOT_MATCHED naming
 * the closest interceptors and why each did not match.
 */
import { AssertionError } from "node:assert";
import type { BodyInit } from "../body/outgoing.js";
import { type ErrorCode, RoundtripError } from "../errors.js";
import { Headers, type HeadersInit } from "../http1/headers.js";
import { type PreparedRequest, prepareRequest, type TransportRequest } from "../transport/prepared.js";
import { Response, type ResponseInit } from "../transport/response.js";
import type { RoundTripper, TransportStats } from "../transport/transport.js";
import { abortError, asReceived, readRequestBody } from "./exchange.js";
import {
  type Candidate,
  CompiledSpec,
  explainNoMatch,
  type InterceptSpec,
  type MockCall,
  parseCall,
} from "./match.js";

export interface MockTransportOptions {
  /**
   * Where requests no interceptor matches go, for the origins in passthroughOrigins
   * (every origin when that is not given). Default: none (ERR_MOCK_NOT_MATCHED).
   */
  passthrough?: RoundTripper;
  /** Origins ("http://127.0.0.1:8080") sent to passthrough when unmatched. Default: all. */
  passthroughOrigins?: string[];
  /**
   * As the Transport's option: when false, a reply with a Content-Encoding the Transport
   * would have asked for (gzip, deflate, br; no caller Accept-Encoding, no Range, not
   * HEAD) is decoded transparently (`uncompressed` true). Default false.
   */
  disableCompression?: boolean;
}

/** Options of `.reply(status, body, options)`; also the fields of a ReplySpec. */
export interface ReplyOptions {
  headers?: HeadersInit;
  /** Appear on `res.trailers` once the body has been read to its end. */
  trailers?: HeadersInit;
  /** The body as JSON (JSON.stringify); Content-Type application/json unless headers set one. */
  json?: unknown;
  statusText?: string;
  httpVersion?: "1.0" | "1.1" | "2";
}

/** What a reply function may return instead of a Response. */
export interface ReplySpec extends ReplyOptions {
  /** Default 200. */
  status?: number;
  body?: BodyInit | null;
}

/** The request a reply function is given: the recorded call plus readers for its body. */
export interface MockRequest extends MockCall {
  /** The body as UTF-8 text. */
  text(): string;
  /** The body parsed as JSON. */
  json<T = unknown>(): T;
  /** The caller's signal (a Client deadline included), or null. */
  signal: AbortSignal | null;
}

export type ReplyFunction = (req: MockRequest) => Response | ReplySpec | Promise<Response | ReplySpec>;

type Reply =
  | { kind: "none" }
  | { kind: "static"; status: number; body: BodyInit | null | undefined; options: ReplyOptions }
  | { kind: "fn"; fn: ReplyFunction }
  | { kind: "error"; error: Error | ErrorCode };

/** A recorded request, as in `mock.calls`. */
export type { MockCall };

/**
 * One interceptor: what it matches, how it replies, how often. Each method returns the
 * interceptor, so they chain.
 */
export class Interceptor {
  readonly #spec: CompiledSpec;
  #reply: Reply = { kind: "none" };
  /** Replies allowed; Infinity after persist(). Default 1. */
  #times = 1;
  #used = 0;
  #delay = 0;

  /** @internal */
  constructor(spec: CompiledSpec) {
    this.#spec = spec;
  }

  /** Replies with `status` and `body` (any BodyInit; a stream body serves one request). */
  reply(status: number, body?: BodyInit | null, options?: ReplyOptions): this;
  /** Replies with what `fn` returns (a Response or a ReplySpec), sync or async; a throw fails the request. */
  reply(fn: ReplyFunction): this;
  reply(statusOrFn: number | ReplyFunction, body?: BodyInit | null, options: ReplyOptions = {}): this {
    if (typeof statusOrFn === "function") this.#reply = { kind: "fn", fn: statusOrFn };
    else {
      // Checked now (without the body, which may hold a file or a stream), so a mistake
      // fails where it is written rather than in the request.
      if (options.json !== undefined && body != null)
        throw new RoundtripError("ERR_INVALID_REQUEST", "give a reply body or json, not both");
      if (isPlainObject(body)) throw plainObjectBody();
      buildResponse({ ...options, status: statusOrFn, body: null });
      this.#reply = { kind: "static", status: statusOrFn, body, options };
    }
    return this;
  }

  /** Fails the request with `error` (an Error, or a RoundtripError code such as "ERR_CONNECT"). */
  replyWithError(error: Error | ErrorCode): this {
    if (!(error instanceof Error) && typeof error !== "string")
      throw new RoundtripError("ERR_INVALID_REQUEST", "replyWithError() takes an Error or an error code");
    this.#reply = { kind: "error", error };
    return this;
  }

  /** Replies `n` times (an integer ≥ 1), then no longer matches. */
  times(n: number): this {
    if (!Number.isSafeInteger(n) || n < 1)
      throw new RoundtripError("ERR_INVALID_REQUEST", "times() takes an integer ≥ 1");
    this.#times = n;
    return this;
  }

  /** Replies to every matching request, for as long as the mock lives. */
  persist(): this {
    this.#times = Number.POSITIVE_INFINITY;
    return this;
  }

  /** Waits `ms` before the response head (the request's signal and a Client timeout cut it short). */
  delay(ms: number): this {
    if (!Number.isFinite(ms) || ms < 0)
      throw new RoundtripError("ERR_INVALID_REQUEST", "delay() takes ms ≥ 0");
    this.#delay = ms;
    return this;
  }

  /** Requests this interceptor has answered. */
  get used(): number {
    return this.#used;
  }

  /** "GET http://api.test /users" */
  get label(): string {
    return this.#spec.label;
  }

  /** Still expects a request: replies left, or persisted and never used. */
  get pending(): boolean {
    return this.#times === Number.POSITIVE_INFINITY ? this.#used === 0 : this.#used < this.#times;
  }

  /** @internal */
  get _spec(): CompiledSpec {
    return this.#spec;
  }

  /** @internal */
  get _exhausted(): string | null {
    if (this.#used < this.#times) return null;
    return `used up: it replied ${this.#used} time${this.#used === 1 ? "" : "s"} of ${this.#times} (add .times(n) or .persist())`;
  }

  /** @internal takes one use and answers `req`. */
  async _answer(req: PreparedRequest, call: MockCall, closing: AbortSignal): Promise<Response> {
    this.#used++;
    if (this.#delay > 0) await sleep(this.#delay, req, closing);
    const reply = this.#reply;
    switch (reply.kind) {
      case "none":
        throw new RoundtripError(
          "ERR_MOCK_NOT_MATCHED",
          `interceptor ${this.label} matched but has no reply: call .reply() or .replyWithError()`,
        );
      case "error":
        throw typeof reply.error === "string"
          ? new RoundtripError(reply.error, `mocked ${reply.error} for ${call.method} ${call.url}`, {
              url: req.displayURL,
            })
          : reply.error;
      case "static": {
        if (!reusable(reply.body) && this.#used > 1) {
          throw new RoundtripError(
            "ERR_INVALID_REQUEST",
            `interceptor ${this.label}: a stream reply body serves one request; use .reply((req) => ...) to make one per request`,
          );
        }
        return buildResponse({ ...reply.options, status: reply.status, body: reply.body });
      }
      case "fn": {
        const made = await untilAborted(Promise.resolve(reply.fn(mockRequest(call, req))), req, closing);
        return made instanceof Response ? made : buildResponse(made);
      }
    }
  }
}

/** A body that can be given to more than one Response (not a one-shot stream). */
function reusable(body: BodyInit | null | undefined): boolean {
  if (body == null || typeof body === "string" || body instanceof Uint8Array || body instanceof ArrayBuffer)
    return true;
  if (ArrayBuffer.isView(body) || body instanceof URLSearchParams) return true;
  if (typeof Blob !== "undefined" && body instanceof Blob) return true;
  if (typeof FormData !== "undefined" && body instanceof FormData) return true;
  return typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] !== "function";
}

function isPlainObject(x: unknown): boolean {
  if (typeof x !== "object" || x === null) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null || Array.isArray(x);
}

function plainObjectBody(): RoundtripError {
  return new RoundtripError(
    "ERR_INVALID_REQUEST",
    "a plain object is not a reply body: pass it as json ({ json: value }) to send it as JSON",
  );
}

function buildResponse(spec: ReplySpec): Response {
  if (spec === null || typeof spec !== "object")
    throw new RoundtripError(
      "ERR_INVALID_REQUEST",
      "a reply function must return a Response or a ReplySpec object",
    );
  let body = spec.body;
  let headers = spec.headers;
  if (spec.json !== undefined) {
    if (body != null) throw new RoundtripError("ERR_INVALID_REQUEST", "give a reply body or json, not both");
    const text = JSON.stringify(spec.json);
    if (text === undefined)
      throw new RoundtripError("ERR_INVALID_REQUEST", "the reply json serializes to nothing");
    body = text;
    const h = new Headers(headers ?? null);
    if (!h.has("content-type")) h.set("Content-Type", "application/json");
    headers = h;
  } else if (isPlainObject(body)) {
    throw plainObjectBody();
  }
  const init: ResponseInit = { status: spec.status ?? 200 };
  if (headers !== undefined) init.headers = headers;
  if (spec.trailers !== undefined) init.trailers = spec.trailers;
  if (spec.statusText !== undefined) init.statusText = spec.statusText;
  if (spec.httpVersion !== undefined) init.httpVersion = spec.httpVersion;
  return new Response(body ?? null, init);
}

function mockRequest(call: MockCall, req: PreparedRequest): MockRequest {
  const text = () =>
    Buffer.from(call.body.buffer, call.body.byteOffset, call.body.byteLength).toString("utf8");
  return {
    method: call.method,
    url: call.url,
    headers: new Headers(call.headers),
    body: call.body,
    text,
    json: <T>() => JSON.parse(text()) as T,
    signal: req.signal,
  };
}

function closedError(): RoundtripError {
  return new RoundtripError("ERR_TRANSPORT_CLOSED", "the transport is closed");
}

/** `p`, or the request's abort error (or ERR_TRANSPORT_CLOSED) if that comes first. */
function untilAborted<T>(p: Promise<T>, req: PreparedRequest, closing: AbortSignal): Promise<T> {
  const signal = req.signal;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(req));
    const onClose = () => reject(closedError());
    const done = () => {
      signal?.removeEventListener("abort", onAbort);
      closing.removeEventListener("abort", onClose);
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    closing.addEventListener("abort", onClose, { once: true });
    p.then(
      (v) => {
        done();
        resolve(v);
      },
      (err: unknown) => {
        done();
        reject(err);
      },
    );
  });
}

function sleep(ms: number, req: PreparedRequest, closing: AbortSignal): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const wait = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return untilAborted(wait, req, closing).finally(() => clearTimeout(timer));
}

let nameCandidates: (mock: MockTransport, noun: string) => void;

/** Sets what `mock`'s not-matched message calls its interceptors. @internal */
export function setInterceptorNoun(mock: MockTransport, noun: string): void {
  nameCandidates(mock, noun);
}

export class MockTransport implements RoundTripper {
  /** Every request received, in order, passthrough ones included. */
  readonly calls: MockCall[] = [];
  readonly #interceptors: Interceptor[] = [];
  readonly #passthrough: RoundTripper | null;
  readonly #passthroughOrigins: Set<string> | null;
  readonly #disableCompression: boolean;
  readonly #closing = new AbortController();
  /** What the not-matched message calls an interceptor ("recorded exchange" for replays). */
  #noun = "interceptor";

  static {
    nameCandidates = (mock, noun) => {
      mock.#noun = noun;
    };
  }

  constructor(options: MockTransportOptions = {}) {
    this.#passthrough = options.passthrough ?? null;
    if (options.passthroughOrigins !== undefined && this.#passthrough === null)
      throw new RoundtripError("ERR_INVALID_REQUEST", "passthroughOrigins needs a passthrough transport");
    this.#passthroughOrigins =
      options.passthroughOrigins === undefined ? null : new Set(options.passthroughOrigins.map(originOf));
    this.#disableCompression = options.disableCompression === true;
  }

  /** Adds an interceptor; see InterceptSpec for how each rule matches. */
  intercept(spec: InterceptSpec): Interceptor {
    const interceptor = new Interceptor(new CompiledSpec(spec));
    this.#interceptors.push(interceptor);
    return interceptor;
  }

  /** Interceptors still expecting a request (see Interceptor.pending). */
  pendingInterceptors(): Interceptor[] {
    return this.#interceptors.filter((i) => i.pending);
  }

  /** Throws an AssertionError naming every interceptor that still expects a request. */
  assertNoPendingInterceptors(): void {
    const pending = this.pendingInterceptors();
    if (pending.length === 0) return;
    const lines = pending.map((i) => `  - ${i.label} (replied ${i.used} time${i.used === 1 ? "" : "s"})`);
    throw new AssertionError({
      message: `${pending.length} interceptor${pending.length === 1 ? " was" : "s were"} not used up:\n${lines.join("\n")}`,
    });
  }

  async roundTrip(opts: TransportRequest): Promise<Response> {
    if (this.#closing.signal.aborted) throw closedError();
    const req = prepareRequest(opts);
    const scheme = req.target.scheme;
    if (scheme !== "http" && scheme !== "https") {
      throw new RoundtripError("ERR_INVALID_REQUEST", `unsupported protocol scheme "${scheme}"`, {
        url: req.displayURL,
      });
    }
    if (req.signal?.aborted) throw abortError(req);
    const body = await readRequestBody(req.body);
    req.onUploadProgress?.({ loaded: body.length, total: req.body?.length ?? body.length });
    const call: MockCall = {
      method: req.method,
      // As the wire carries it: no fragment.
      url: withoutFragment(req.target.url),
      headers: new Headers(req.headers),
      body,
    };
    this.calls.push(call);
    const parsed = parseCall(call);
    const hit = this.#interceptors.find(
      (i) => i._exhausted === null && i._spec.failures(parsed).length === 0,
    );
    if (hit === undefined) {
      if (this.#passes(parsed.url)) return this.#passthrough!.roundTrip(forwarded(opts, req, body));
      const candidates: Candidate[] = this.#interceptors.map((i) => ({
        label: i.label,
        spec: i._spec,
        exhausted: i._exhausted,
      }));
      throw new RoundtripError("ERR_MOCK_NOT_MATCHED", explainNoMatch(parsed, candidates, this.#noun), {
        url: req.displayURL,
      });
    }
    const res = await hit._answer(req, call, this.#closing.signal);
    return asReceived(res, req, { disableCompression: this.#disableCompression });
  }

  #passes(url: URL): boolean {
    if (this.#passthrough === null) return false;
    return this.#passthroughOrigins === null || this.#passthroughOrigins.has(url.origin);
  }

  /** Nothing is pooled: a no-op, so a MockTransport stands where a Transport does. */
  closeIdleConnections(): void {}

  /** Refuses new requests (ERR_TRANSPORT_CLOSED) and fails those waiting on a delay. The passthrough stays the caller's. */
  async close(): Promise<void> {
    this.#closing.abort();
  }

  /** Always zero: a mock holds no connection (the passthrough's are its own). */
  stats(): TransportStats {
    return { total: 0, active: 0, idle: 0, dialing: 0, waiting: 0, perHost: {} };
  }
}

function withoutFragment(url: URL): string {
  if (url.hash === "" && !url.href.endsWith("#")) return url.href;
  const copy = new URL(url.href);
  copy.hash = "";
  return copy.href;
}

function originOf(s: string): string {
  try {
    return new URL(s).origin;
  } catch (cause) {
    throw new RoundtripError(
      "ERR_INVALID_REQUEST",
      `passthroughOrigins: ${JSON.stringify(s)} is not an origin`,
      {
        cause,
      },
    );
  }
}

/** The request for the passthrough: its body already read, so sent as those bytes. */
function forwarded(opts: TransportRequest, req: PreparedRequest, body: Uint8Array): TransportRequest {
  const out: TransportRequest = { ...opts };
  out.headers = req.headers ?? undefined;
  delete out.json;
  delete out.form;
  delete out.getBody;
  if (req.body !== null) out.body = body;
  else delete out.body;
  return out;
}
