/**
 * HTTP/2 over TLS (the Transport's `allowHTTP2`): one node:http2 ClientHttp2Session per
 * connect-method key, made over the socket the dial already handshook (ALPN "h2"), and
 * carrying concurrent streams, as Go's http2.ClientConn. Each request is one stream; its
 * response becomes the same Response as over HTTP/1.1 (httpVersion "2"), with a Body fed
 * through a BodyBuffer (backpressure pauses the stream, so its flow-control window stops
 * opening), transparent decompression by decode.ts, trailers, abort and timeouts.
 *
 * Ownership: the session owns the TLS socket; each H2Exchange owns its stream. The
 * session reports to its H2Owner (the Transport) when it starts or stops carrying a
 * response still arriving (stats: active / idle), when stream slots open, when it stops
 * taking new streams (GOAWAY, error, a request asking to close) and when it is gone.
 * A stream problem (RST_STREAM, abort, a body timeout) costs only that stream; the
 * session goes on.
 *
 * node:http2 is loaded on the first session, so an HTTP/1.1-only process never pays for it.
 */

import type {
  ClientHttp2Session,
  ClientHttp2Stream,
  IncomingHttpHeaders,
  OutgoingHttpHeaders,
} from "node:http2";
import { createRequire } from "node:module";
import type { TLSSocket } from "node:tls";
import type { OpenFile } from "../body/file.js";
import { BodyBuffer, type BodySource, trackUnconsumed } from "../body/incoming.js";
import { bodyReadFailed, bodyTooLong, bodyTooShort, toChunk } from "../body/outgoing.js";
import { RoundtripError, withURL } from "../errors.js";
import { type Headers, trustedHeaders } from "../http1/headers.js";
import { planFraming } from "../http1/request.js";
import { originForm } from "../http1/url.js";
import { createDecoder, type Decoder } from "./decode.js";
import type { ConnSettings } from "./options.js";
import type { PreparedRequest } from "./prepared.js";
import { type ConnInfo, Response, type Timings } from "./response.js";

const require = createRequire(import.meta.url);
let http2: typeof import("node:http2") | null = null;
let statusCodes: Record<number, string | undefined> = {};

// RFC 9113 §7 error codes and a frame flag.
const NO_ERROR = 0;
const PROTOCOL_ERROR = 1;
const REFUSED_STREAM = 7;
const CANCEL = 8;
const ENHANCE_YOUR_CALM = 11;
const FLAG_END_STREAM = 1;

/** Streams a session is assumed to allow until the server's SETTINGS say (Go's initial 100). */
const INITIAL_MAX_STREAMS = 100;
/** Per-stream receive window: what one stream may have in flight before it is read. */
const STREAM_WINDOW = 1 << 20;
/** Connection receive window, shared by the streams. */
const SESSION_WINDOW = 16 << 20;
const MAX_INFORMATIONAL = 5;
/** Chunks of a file body read at a time (no sendfile under TLS). */
const FILE_CHUNK = 256 * 1024;

/**
 * Request fields HTTP/2 forbids (RFC 9113 §8.2.2) or that the stream carries itself
 * (Host is :authority, Content-Length is set from the body, Expect from the request).
 */
const NOT_SENT = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
  "te",
  "expect",
  "http2-settings",
]);

/**
 * Whether a failed request may be sent again, and on what condition:
 * "any": the server never processed the stream (REFUSED_STREAM, or a GOAWAY whose
 * last-stream-id is below it), so any method may be retried, as Go does;
 * "idempotent": the session died before any response byte (Go's shouldRetryRequest for
 * a reused connection); "none": not retryable.
 */
export type H2Retry = "any" | "idempotent" | "none";
export type H2ExchangeError = (err: Error, retry: H2Retry) => void;

/** How a session reports to whoever pools it. */
export interface H2Owner {
  /** The session started (busy) or stopped carrying a response still arriving. */
  h2Busy(session: H2Session, busy: boolean): void;
  /** Stream slots may have opened (a stream closed, the server raised its limit). */
  h2Slots(session: H2Session): void;
  /** The session takes no new stream from now on. Called once, before h2Closed. */
  h2Draining(session: H2Session): void;
  /** The session and its socket are closed. */
  h2Closed(session: H2Session): void;
}

enum Phase {
  HEAD = 0,
  BODY = 1,
  DONE = 2,
}

/** One request on one stream. Implements BodySource for its response Body. */
export class H2Exchange implements BodySource {
  phase = Phase.HEAD;
  stream: ClientHttp2Stream | null = null;
  buffer: BodyBuffer | null = null;
  decoder: Decoder | null = null;
  /** The request went out whole (END_STREAM sent). */
  writeDone = false;
  /** Stop sending the request body (an error status came, or the exchange failed). */
  writeStopped = false;
  /** A response frame (1xx included) arrived. */
  received = false;
  /** The exchange ended (response complete, failed or discarded); it counts as busy until then. */
  settled = false;
  informational = 0;
  uploadReported = 0;
  lastRead = 0;
  /** Reasons reading is paused, as bits: 1 = body backpressure, 2 = decoder backpressure. */
  paused = 0;
  headerTimer: NodeJS.Timeout | null = null;
  abortListener: (() => void) | null = null;
  continueWaiter: ((send: boolean) => void) | null = null;
  drainWaiter: (() => void) | null = null;
  /** The error the stream reported before closing, if any. */
  streamError: Error | null = null;
  /** Content-Length of the response as sent (before decoding), or -1. */
  expected = -1;
  /** Body bytes received as sent (before decoding). */
  rawReceived = 0;
  connInfo: ConnInfo = { reused: false, wasIdle: false, idleTime: 0 };

  constructor(
    readonly session: H2Session,
    readonly req: PreparedRequest,
    public onResponse: (res: Response) => void,
    public onError: H2ExchangeError,
    readonly stack: (() => string) | null,
    readonly timings: Timings,
    readonly t0: number,
  ) {}

  pause(): void {
    this.pauseReading(1);
  }
  resume(): void {
    this.resumeReading(1);
  }
  pauseReading(reason: number): void {
    if (this.paused === 0) this.stream?.pause();
    this.paused |= reason;
  }
  resumeReading(reason: number): void {
    if (this.paused === 0) return;
    this.paused &= ~reason;
    if (this.paused === 0) this.stream?.resume();
  }
  /** The reader gave up: over HTTP/2 that costs one RST_STREAM, never the connection. */
  discard(): Promise<void> {
    this.session.cancel(this);
    return Promise.resolve();
  }
  abandon(): void {
    this.session.cancel(this);
  }
}

export class H2Session {
  readonly socket: TLSSocket;
  readonly hostPort: string;
  readonly settings: ConnSettings;
  /** Streams started so far. */
  requests = 0;
  /** Stream slots in use: streams open, or being prepared (a file opening). */
  streams = 0;
  /** Exchanges whose response has not fully arrived (stats: active while > 0). */
  busy = 0;
  /** Slots promised to waiters that have not started their exchange yet. */
  reserved = 0;
  /** performance.now() when it last stopped carrying a response, for idle expiry and idleTime. */
  idleSince = performance.now();
  /** performance.now() of the dial's moments, for the first exchange's timings. */
  dialTimes: { started: number; dnsDone: number; connectDone: number; tlsDone: number } | null = null;
  /** Takes no new stream (GOAWAY, error, close asked, transport closing). */
  draining = false;
  closed = false;
  /** Close once the open streams are done (a request asked for Connection: close, disableKeepAlives). */
  #closeWhenDone = false;
  #session: ClientHttp2Session;
  #owner: H2Owner;
  #maxStreams = INITIAL_MAX_STREAMS;
  /** last-stream-id of the GOAWAY received, or -1. */
  #goawayLast = -1;
  #error: Error | null = null;
  #exchanges = new Set<H2Exchange>();
  #addresses: { localAddress?: string; remoteAddress?: string } | null = null;

  constructor(socket: TLSSocket, hostPort: string, owner: H2Owner, settings: ConnSettings) {
    if (http2 === null) {
      http2 = require("node:http2") as typeof import("node:http2");
      statusCodes = (require("node:http") as typeof import("node:http")).STATUS_CODES;
    }
    this.socket = socket;
    this.hostPort = hostPort;
    this.#owner = owner;
    this.settings = settings;
    // The authority only names the session; every request sends its own :authority. An
    // IPv6 zone is no part of a URL.
    const session = http2.connect(`https://${hostPort.replace(/%[^\]]*/, "")}`, {
      createConnection: () => socket,
      // More fields than node's default of 128; their size is bounded by maxHeaderListSize.
      maxHeaderListPairs: 4096,
      settings: {
        enablePush: false,
        initialWindowSize: STREAM_WINDOW,
        maxHeaderListSize: Math.min(0xffffffff, Math.max(1024, settings.maxHeaderBytes)),
      },
    });
    this.#session = session;
    try {
      session.setLocalWindowSize(SESSION_WINDOW);
    } catch {
      // an old node without it: the default 64 KiB window works, slower
    }
    session.on("remoteSettings", (s) => {
      this.#maxStreams = s.maxConcurrentStreams ?? INITIAL_MAX_STREAMS;
      this.#owner.h2Slots(this);
    });
    session.on("goaway", (_code: number, lastStreamID: number) => {
      this.#goawayLast = lastStreamID;
      this.#drain();
    });
    session.on("error", (err: Error) => {
      this.#error = err;
    });
    session.on("close", () => this.#onClose());
    // Errors of the socket reach us through the session's 'error' and 'close'.
  }

  /** New streams this session can take now. */
  get available(): number {
    if (this.draining || this.closed) return 0;
    return Math.max(0, this.#maxStreams - this.streams - this.reserved);
  }

  reserve(): void {
    this.reserved++;
    this.#refresh();
  }

  unreserve(): void {
    this.reserved--;
    this.#refresh();
  }

  /** Local and remote addresses, read once per session. */
  addresses(): { localAddress?: string; remoteAddress?: string } {
    if (this.#addresses === null) {
      const a: { localAddress?: string; remoteAddress?: string } = {};
      if (this.socket.localAddress) a.localAddress = this.socket.localAddress;
      if (this.socket.remoteAddress) a.remoteAddress = this.socket.remoteAddress;
      this.#addresses = a;
    }
    return this.#addresses;
  }

  /** Starts `ex` on a new stream. The caller checked `available` (or holds a reservation). */
  start(ex: H2Exchange): void {
    this.requests++;
    this.streams++;
    this.#exchanges.add(ex);
    this.#setBusy(ex, true);
    this.#refresh();
    const req = ex.req;
    if (req.close || this.settings.disableKeepAlives) {
      // Go: Request.Close (or DisableKeepAlives) marks the connection not to be reused.
      this.#closeWhenDone = true;
      this.#drain();
    }
    const signal = req.signal;
    if (signal !== null) {
      const onAbort = () => this.#fail(ex, abortError(ex), "none");
      ex.abortListener = onAbort;
      signal.addEventListener("abort", onAbort, { once: true });
    }
    const body = req.body;
    if (body === null || body.kind === "bytes") {
      this.#open(ex, body === null ? undefined : body.bytes!.length, null);
      return;
    }
    this.#openLater(ex).catch((err: unknown) => this.#writeFailed(ex, err));
  }

  /** Bodies whose length is known only once opened (file) or prepared (a form with files). */
  async #openLater(ex: H2Exchange): Promise<void> {
    const body = ex.req.body!;
    if (body.kind === "file") {
      const opened = await body.file!.open();
      if (ex.settled) {
        await opened.close();
        return;
      }
      this.#open(ex, opened.length, opened);
      return;
    }
    const length = body.prepare !== undefined ? await body.prepare() : body.length;
    if (ex.settled) return;
    this.#open(ex, length, null);
  }

  /** Sends the HEADERS frame, wires the stream, then the body (if any). */
  #open(ex: H2Exchange, length: number | null | undefined, opened: OpenFile | null): void {
    const req = ex.req;
    let stream: ClientHttp2Stream;
    let declared = -1;
    try {
      const framing = planFraming(req.method, length, req.headers);
      if (framing.kind === "length") declared = framing.length;
      const headers = this.#headers(ex, declared);
      const endStream = req.body === null;
      try {
        stream = this.#session.request(headers, { endStream });
      } catch (cause) {
        const code = (cause as { code?: string }).code ?? "";
        if (code === "ERR_HTTP2_INVALID_SESSION" || code === "ERR_HTTP2_GOAWAY_SESSION") {
          // The session went away under us: nothing was sent.
          throw Object.assign(
            new RoundtripError(
              "ERR_CONNECTION_CLOSED",
              "the HTTP/2 connection closed before the request went out",
              {
                cause,
              },
            ),
            { unsent: true },
          );
        }
        throw new RoundtripError(
          "ERR_INVALID_REQUEST",
          `the request cannot be sent over HTTP/2: ${(cause as Error).message}`,
          {
            cause,
          },
        );
      }
    } catch (err) {
      void opened?.close();
      const unsent = (err as { unsent?: boolean }).unsent === true;
      this.#fail(ex, err as Error, unsent ? "any" : "none");
      return;
    }
    ex.stream = stream;
    this.#wire(ex, stream);
    ex.timings.wroteHeaders = performance.now() - ex.t0;
    req.trace?.wroteHeaders?.();
    if (req.body === null) {
      this.#wroteRequest(ex);
      return;
    }
    this.#writeBody(ex, stream, opened, declared, length ?? null).catch((err: unknown) =>
      this.#writeFailed(ex, err),
    );
  }

  /** The request's header list: pseudo-headers, then the caller's fields lower-cased, minus connection-specific ones. */
  #headers(ex: H2Exchange, contentLength: number): OutgoingHttpHeaders {
    const req = ex.req;
    const s = this.settings;
    const onField = req.trace?.wroteHeaderField;
    const out: OutgoingHttpHeaders = Object.create(null);
    out[":method"] = req.method;
    out[":scheme"] = "https";
    out[":authority"] = req.host;
    out[":path"] = originForm(req.target.url);
    let sawUA = false;
    let sawAE = false;
    let sawRange = false;
    const h = req.headers;
    if (h !== null) {
      const lower = h._lowerNames;
      const values = h._values;
      for (let i = 0; i < lower.length; i++) {
        const key = lower[i]!;
        const value = values[i]!;
        if (NOT_SENT.has(key)) {
          // TE may only say "trailers" over HTTP/2; Expect is added below when honoured.
          if (key === "te" && value.trim().toLowerCase() === "trailers") add(out, key, "trailers");
          else if (key === "expect" && !req.expectContinue) add(out, key, value);
          continue;
        }
        if (key === "user-agent") {
          sawUA = true;
          if (value === "") continue;
        } else if (key === "accept-encoding") sawAE = true;
        else if (key === "range") sawRange = true;
        add(out, key, value);
      }
    }
    if (!sawUA && s.userAgent !== "") out["user-agent"] = s.userAgent;
    if (s.acceptEncoding !== null && !sawAE && !sawRange && !req.isHead)
      out["accept-encoding"] = s.acceptEncoding;
    if (contentLength >= 0) out["content-length"] = String(contentLength);
    if (req.expectContinue) out.expect = "100-continue";
    if (onField !== undefined) {
      for (const k of Object.keys(out)) {
        const v = out[k]!;
        onField(k, Array.isArray(v) ? v : [String(v)]);
      }
    }
    return out;
  }

  // ---- the request body ------------------------------------------------------------

  async #writeBody(
    ex: H2Exchange,
    stream: ClientHttp2Stream,
    opened: OpenFile | null,
    declared: number,
    length: number | null,
  ): Promise<void> {
    const req = ex.req;
    const body = req.body!;
    try {
      if (req.expectContinue && !(await this.#waitContinue(ex))) {
        // A final status came first: the body is not sent; our half of the stream is
        // reset once the response is in.
        ex.writeStopped = true;
        body.dispose?.(); // a one-shot source we will never read
        if (ex.phase === Phase.DONE) this.#reset(ex, CANCEL);
        return;
      }
      if (body.kind === "bytes") {
        const bytes = body.bytes!;
        stream.end(bytes);
        this.#uploadProgress(ex, bytes.length, bytes.length, true);
        this.#wroteRequest(ex);
        return;
      }
      if (opened !== null) {
        await this.#writeChunks(ex, stream, opened.chunks(FILE_CHUNK), opened.length, opened.length);
        if (ex.writeStopped || stream.destroyed) return;
        await opened.checkUnchanged();
      } else {
        await this.#writeChunks(ex, stream, body.open!(), declared, declared >= 0 ? declared : length);
      }
      // A complete 2xx response does not stop the upload (full duplex), a reset stream does.
      if (ex.writeStopped || stream.destroyed) return;
      stream.end();
      this.#wroteRequest(ex);
    } finally {
      await opened?.close();
    }
  }

  /** Writes chunks with backpressure; enforces a declared length. */
  async #writeChunks(
    ex: H2Exchange,
    stream: ClientHttp2Stream,
    source: AsyncIterable<unknown>,
    declared: number,
    total: number | null,
  ): Promise<void> {
    let sent = 0;
    let it: AsyncIterator<unknown> | null = null;
    let ended = false; // the source ran to its end (or threw): nothing to close
    try {
      it = source[Symbol.asyncIterator]();
      while (true) {
        if (ex.writeStopped || stream.destroyed) return;
        let r: IteratorResult<unknown>;
        try {
          r = await it.next();
        } catch (cause) {
          ended = true;
          throw bodyReadFailed(cause);
        }
        if (r.done) {
          ended = true;
          break;
        }
        if (ex.writeStopped || stream.destroyed) return;
        const chunk = toChunk(r.value);
        if (chunk.length === 0) continue;
        sent += chunk.length;
        if (declared >= 0 && sent > declared) {
          throw bodyTooLong(declared);
        }
        const ok = stream.write(chunk);
        this.#uploadProgress(ex, sent, total, false);
        if (!ok) await this.#drainStream(ex, stream);
      }
    } finally {
      // Any early exit (stopped, reset, too long) closes the caller's source, as over HTTP/1.1.
      if (it !== null && !ended) void it.return?.(undefined)?.catch(() => {});
    }
    if (ex.writeStopped || stream.destroyed) return;
    if (declared >= 0 && sent !== declared) {
      throw bodyTooShort(sent, declared);
    }
    this.#uploadProgress(ex, sent, total, true);
  }

  #drainStream(ex: H2Exchange, stream: ClientHttp2Stream): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        stream.off("drain", done);
        stream.off("close", done);
        ex.drainWaiter = null;
        resolve();
      };
      ex.drainWaiter = done;
      stream.on("drain", done);
      stream.on("close", done);
    });
  }

  /** Waits for 100 Continue; false when the body must not be sent (a final status came). */
  #waitContinue(ex: H2Exchange): Promise<boolean> {
    ex.req.trace?.wait100Continue?.();
    return new Promise((resolve) => {
      const timer = setTimeout(() => settle(true), this.settings.expectContinueTimeout);
      const settle = (send: boolean) => {
        clearTimeout(timer);
        ex.continueWaiter = null;
        resolve(send && !ex.writeStopped && !ex.settled);
      };
      ex.continueWaiter = settle;
    });
  }

  #uploadProgress(ex: H2Exchange, loaded: number, total: number | null, final: boolean): void {
    const cb = ex.req.onUploadProgress;
    if (cb === null) return;
    const step = Math.max(64 * 1024, total ? total / 100 : 0);
    if (final || loaded - ex.uploadReported >= step) {
      if (final && ex.uploadReported === loaded && loaded !== 0) return;
      ex.uploadReported = loaded;
      cb({ loaded, total });
    }
  }

  #wroteRequest(ex: H2Exchange): void {
    ex.writeDone = true;
    ex.timings.wroteRequest = performance.now() - ex.t0;
    ex.req.trace?.wroteRequest?.({});
    const t = this.settings.responseHeaderTimeout;
    if (t > 0 && ex.phase === Phase.HEAD && !ex.settled) {
      ex.headerTimer = setTimeout(() => {
        ex.headerTimer = null;
        if (ex.phase === Phase.HEAD) {
          this.#fail(
            ex,
            new RoundtripError("ERR_TIMEOUT", `no response head within ${t} ms`, { phase: "responseHeader" }),
            "none",
          );
        }
      }, t);
    }
  }

  #writeFailed(ex: H2Exchange, err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    ex.req.trace?.wroteRequest?.({ err: e });
    // After the whole response arrived, a failed upload fails nothing the caller holds.
    if (ex.phase === Phase.DONE) {
      this.#reset(ex, CANCEL);
      return;
    }
    this.#fail(ex, e, "none");
  }

  // ---- the response ----------------------------------------------------------------

  #wire(ex: H2Exchange, stream: ClientHttp2Stream): void {
    stream.on("response", (headers: IncomingHttpHeaders, flags: number, raw?: string[]) =>
      this.#onHead(ex, headers, flags, raw),
    );
    // Every 1xx (100 included; node also emits 'continue' for it).
    stream.on("headers", (headers: IncomingHttpHeaders) => this.#onInformational(ex, headers));
    stream.on("data", (chunk: Buffer) => this.#onData(ex, chunk));
    stream.on("trailers", (headers: IncomingHttpHeaders) => {
      const b = ex.buffer;
      if (b !== null) b.trailers = fromObject(headers);
    });
    stream.on("end", () => this.#onEnd(ex));
    stream.on("error", (err: Error) => {
      ex.streamError = err;
    });
    stream.on("close", () => this.#onStreamClose(ex));
  }

  #firstByte(ex: H2Exchange): void {
    ex.lastRead = performance.now();
    if (!ex.received) {
      ex.received = true;
      ex.timings.firstByte = ex.lastRead - ex.t0;
      ex.req.trace?.gotFirstResponseByte?.();
    }
  }

  #onInformational(ex: H2Exchange, headers: IncomingHttpHeaders): void {
    if (ex.settled) return;
    this.#firstByte(ex);
    const status = Number(headers[":status"]);
    if (++ex.informational > MAX_INFORMATIONAL) {
      this.#fail(
        ex,
        new RoundtripError("ERR_TOO_MANY_1XX", `more than ${MAX_INFORMATIONAL} informational responses`),
        "none",
      );
      return;
    }
    const trace = ex.req.trace;
    if (status === 100) {
      trace?.got100Continue?.();
      ex.continueWaiter?.(true);
    }
    trace?.got1xxResponse?.(status, fromObject(headers));
  }

  #onHead(ex: H2Exchange, obj: IncomingHttpHeaders, flags: number, raw: string[] | undefined): void {
    if (ex.settled) return;
    this.#firstByte(ex);
    if (ex.headerTimer !== null) {
      clearTimeout(ex.headerTimer);
      ex.headerTimer = null;
    }
    const status = Number(obj[":status"]);
    const req = ex.req;
    // Field lines in arrival order, pseudo-headers left out.
    const names: string[] = [];
    const values: string[] = [];
    let size = 0;
    if (raw !== undefined) {
      for (let i = 0; i + 1 < raw.length; i += 2) {
        const name = raw[i]!;
        size += name.length + raw[i + 1]!.length + 32;
        if (name.charCodeAt(0) === 58 /* ":" */) continue;
        names.push(name);
        values.push(raw[i + 1]!);
      }
    } else {
      const h = fromObject(obj);
      names.push(...h._names);
      values.push(...h._values);
    }
    if (size > this.settings.maxHeaderBytes) {
      this.#fail(
        ex,
        new RoundtripError(
          "ERR_HEADERS_TOO_LARGE",
          `response head larger than ${this.settings.maxHeaderBytes} bytes`,
        ),
        "none",
      );
      return;
    }
    const headers = trustedHeaders(names, values);
    // A final response before the body went out: an error status means the server will
    // not read the rest, stop writing (the stream is reset once the response is in). A
    // success may be a full-duplex answer: keep writing, as over HTTP/1.1.
    if (!ex.writeDone) {
      ex.continueWaiter?.(false);
      if (status >= 300) {
        ex.writeStopped = true;
        ex.drainWaiter?.();
      }
    }
    const ended = (flags & FLAG_END_STREAM) !== 0;
    const bodyless = ended || req.isHead || status === 204 || status === 304;
    let contentLength = -1;
    const cl = obj["content-length"];
    if (typeof cl === "string" && /^[0-9]{1,15}$/.test(cl)) contentLength = Number(cl);
    if (bodyless && !req.isHead && status !== 304) contentLength = 0;
    ex.expected = bodyless ? -1 : contentLength;
    const buffer = new BodyBuffer(ex, bodyless ? 0 : contentLength >= 0 ? contentLength : null);
    if (req.onDownloadProgress !== null) buffer.onProgress = req.onDownloadProgress;
    ex.buffer = buffer;
    let uncompressed = false;
    const ce = obj["content-encoding"];
    if (
      !bodyless &&
      typeof ce === "string" &&
      this.settings.acceptEncoding !== null &&
      status !== 206 &&
      !(req.headers?.has("accept-encoding") ?? false) &&
      !(req.headers?.has("range") ?? false)
    ) {
      const decoder = createDecoder(ce, buffer, ex, ex);
      if (decoder !== null) {
        ex.decoder = decoder;
        headers.delete("content-encoding");
        headers.delete("content-length");
        contentLength = -1;
        buffer.total = null;
        uncompressed = true;
      }
    }
    const res = new Response(
      {
        status,
        statusText: statusCodes[status] ?? "",
        httpVersion: "2",
        headers,
        contentLength,
        url: req.target.url.href,
        timings: ex.timings,
        conn: ex.connInfo,
      },
      buffer,
    );
    res.uncompressed = uncompressed;
    const deliver = ex.onResponse;
    ex.onResponse = ignore;
    ex.onError = ignore;
    if (bodyless) {
      ex.phase = Phase.DONE;
      ex.timings.end = performance.now() - ex.t0;
      buffer.end();
      this.#settle(ex);
      // As in #onEnd: an upload told to stop leaves our half of the stream open; reset it
      // so the stream slot is freed (a 413 with END_STREAM on its HEADERS, say).
      if (!ex.writeDone && ex.writeStopped) this.#reset(ex, CANCEL);
    } else {
      ex.phase = Phase.BODY;
      // A body still arriving holds its stream: watch for the Response being dropped.
      trackUnconsumed(res.body, buffer, { method: req.method, url: req.displayURL, stack: ex.stack });
    }
    deliver(res);
  }

  #onData(ex: H2Exchange, chunk: Buffer): void {
    if (ex.phase !== Phase.BODY) return;
    ex.lastRead = performance.now();
    ex.rawReceived += chunk.length;
    if (ex.decoder !== null) ex.decoder.write(chunk);
    else ex.buffer!.push(chunk);
  }

  #onEnd(ex: H2Exchange): void {
    if (ex.phase !== Phase.BODY) return;
    // node ends the readable side of a reset stream too: only END_STREAM is a clean end.
    const code = ex.stream?.rstCode;
    if (code !== undefined && code !== NO_ERROR) {
      const why = this.#whyEnded(ex);
      this.#fail(ex, why.err, why.retry);
      return;
    }
    if (ex.expected >= 0 && ex.rawReceived !== ex.expected) {
      this.#fail(
        ex,
        new RoundtripError(
          "ERR_UNEXPECTED_EOF",
          `response body ended after ${ex.rawReceived} of its ${ex.expected} bytes`,
        ),
        "none",
      );
      return;
    }
    ex.phase = Phase.DONE;
    ex.timings.end = performance.now() - ex.t0;
    if (ex.decoder !== null) ex.decoder.end();
    else ex.buffer!.end();
    this.#settle(ex);
    // The response is in; an upload told to stop leaves its half of the stream open:
    // reset it (Go does the same), which frees the slot.
    if (!ex.writeDone && ex.writeStopped) this.#reset(ex, CANCEL);
  }

  #onStreamClose(ex: H2Exchange): void {
    ex.drainWaiter?.();
    if (!ex.settled) {
      const why = this.#whyEnded(ex);
      this.#fail(ex, why.err, why.retry);
    }
    this.#release(ex);
  }

  /** Why a stream ended before its response did, and whether the request may go again. */
  #whyEnded(ex: H2Exchange): { err: RoundtripError; retry: H2Retry } {
    const stream = ex.stream;
    const code = stream?.rstCode ?? NO_ERROR;
    const id = stream?.id;
    const head = ex.phase === Phase.HEAD;
    const streamCause = ex.streamError ?? this.#error ?? undefined;
    if (this.#error instanceof RoundtripError) return { err: this.#error, retry: "none" };
    if (
      code === REFUSED_STREAM ||
      (head && (id === undefined || (this.#goawayLast >= 0 && id > this.#goawayLast)))
    ) {
      // Never processed by the server (Go's errClientConnGotGoAway / REFUSED_STREAM).
      return {
        err: new RoundtripError(
          "ERR_CONNECTION_CLOSED",
          code === REFUSED_STREAM
            ? "the server refused the HTTP/2 stream (REFUSED_STREAM)"
            : "the HTTP/2 connection went away before the server processed the request (GOAWAY)",
          { cause: streamCause },
        ),
        retry: "any",
      };
    }
    if (this.closed || this.#session.destroyed || this.#session.closed) {
      return {
        err: new RoundtripError(
          "ERR_CONNECTION_CLOSED",
          head
            ? "the HTTP/2 connection closed before the response head"
            : "the HTTP/2 connection closed while the response body was arriving",
          { cause: this.#error ?? ex.streamError ?? undefined },
        ),
        retry: head && !ex.received ? "idempotent" : "none",
      };
    }
    if (code === ENHANCE_YOUR_CALM && head) {
      return {
        err: new RoundtripError("ERR_HEADERS_TOO_LARGE", "response head larger than maxResponseHeaderBytes", {
          cause: streamCause,
        }),
        retry: "none",
      };
    }
    if (code === PROTOCOL_ERROR) {
      return {
        err: new RoundtripError("ERR_BAD_RESPONSE", "HTTP/2 protocol error on the stream", {
          cause: streamCause,
        }),
        retry: "none",
      };
    }
    return {
      err: new RoundtripError(
        "ERR_CONNECTION_CLOSED",
        `the server reset the HTTP/2 stream (error code ${code}) ${head ? "before the response head" : "while sending the response body"}`,
        { cause: streamCause },
      ),
      retry: "none",
    };
  }

  // ---- ending exchanges ---------------------------------------------------------------

  /** The reader closed the body early, or dropped it: reset the stream if it is still arriving. */
  cancel(ex: H2Exchange): void {
    ex.decoder?.destroy();
    if (ex.phase === Phase.DONE) return;
    ex.phase = Phase.DONE;
    ex.writeStopped = true;
    this.#settle(ex);
    this.#reset(ex, CANCEL);
  }

  /** Fails the exchange with `err` and resets its stream; the session goes on. */
  #fail(ex: H2Exchange, err: Error, retry: H2Retry): void {
    if (ex.settled) return;
    ex.writeStopped = true;
    ex.continueWaiter?.(false);
    ex.drainWaiter?.();
    const e = withURL(err, ex.req.displayURL);
    const phase = ex.phase;
    ex.phase = Phase.DONE;
    this.#settle(ex);
    this.#reset(ex, CANCEL);
    if (ex.stream === null) this.#release(ex); // never opened: free its slot now
    if (phase === Phase.HEAD) {
      const onError = ex.onError;
      ex.onResponse = ignore;
      ex.onError = ignore;
      onError(e, retry);
    } else {
      ex.decoder?.destroy();
      ex.buffer!.fail(e);
    }
  }

  #reset(ex: H2Exchange, code: number): void {
    const s = ex.stream;
    if (s !== null && !s.closed && !s.destroyed) s.close(code);
  }

  /** The response is complete (or failed): the exchange stops counting as busy. */
  #settle(ex: H2Exchange): void {
    if (ex.settled) return;
    ex.settled = true;
    if (ex.headerTimer !== null) clearTimeout(ex.headerTimer);
    ex.headerTimer = null;
    if (ex.abortListener !== null) ex.req.signal?.removeEventListener("abort", ex.abortListener);
    ex.abortListener = null;
    this.#setBusy(ex, false);
  }

  /** The stream is closed (or never opened): its slot is free. */
  #release(ex: H2Exchange): void {
    if (!this.#exchanges.delete(ex)) return;
    this.streams--;
    this.#refresh();
    if (this.#closeWhenDone && this.streams === 0) this.close();
    this.#owner.h2Slots(this);
  }

  #setBusy(_ex: H2Exchange, on: boolean): void {
    if (on) {
      if (this.busy++ === 0) this.#owner.h2Busy(this, true);
    } else if (--this.busy === 0) {
      this.idleSince = performance.now();
      this.#owner.h2Busy(this, false);
    }
  }

  /** An idle session must not keep the process alive (as an idle HTTP/1.1 connection). */
  #refresh(): void {
    if (this.closed) return;
    if (this.streams + this.reserved > 0) this.#session.ref();
    else this.#session.unref();
  }

  #drain(): void {
    if (this.draining) return;
    this.draining = true;
    this.#owner.h2Draining(this);
    if (this.#closeWhenDone && this.streams === 0 && this.reserved === 0) this.close();
  }

  /** Idle expiry and body stalls, from the Transport's sweep. */
  sweep(now: number, idleTimeout: number, bodyTimeout: number): void {
    if (this.busy === 0 && this.reserved === 0) {
      // Graceful: a stream still sending its request body (response in) may finish.
      if (idleTimeout > 0 && now - this.idleSince >= idleTimeout) this.close();
      if (this.streams === 0) return;
    }
    if (bodyTimeout <= 0) return;
    for (const ex of this.#exchanges) {
      if (ex.phase === Phase.BODY && ex.paused === 0 && now - ex.lastRead > bodyTimeout) {
        this.#fail(
          ex,
          new RoundtripError("ERR_TIMEOUT", `response body stalled for ${bodyTimeout} ms`, { phase: "body" }),
          "none",
        );
      }
    }
  }

  /** Takes no new stream and closes once the open ones are done (GOAWAY NO_ERROR to the server). */
  close(): void {
    if (this.closed) return;
    this.#drain();
    if (!this.#session.closed) this.#session.close();
  }

  /** Closes now; open exchanges fail with `err` (or ERR_CONNECTION_CLOSED). */
  destroy(err: Error | null): void {
    if (this.closed) return;
    if (err !== null) this.#error = err;
    this.#drain();
    for (const ex of [...this.#exchanges]) {
      if (err !== null) this.#fail(ex, err, "none");
    }
    this.#session.destroy();
    this.socket.destroy();
  }

  #onClose(): void {
    if (this.closed) return;
    this.#drain();
    this.closed = true;
    // Open streams are closed with the session; fail what is left now, each with its reason.
    for (const ex of [...this.#exchanges]) {
      if (!ex.settled) {
        const why = this.#whyEnded(ex);
        this.#fail(ex, why.err, why.retry);
      }
      this.#release(ex);
    }
    if (!this.socket.destroyed) this.socket.destroy();
    this.#owner.h2Closed(this);
  }
}

function ignore(): void {}

function add(out: OutgoingHttpHeaders, key: string, value: string): void {
  const prev = out[key];
  if (prev === undefined) out[key] = value;
  else if (Array.isArray(prev)) prev.push(value);
  else out[key] = [String(prev), value];
}

/** Headers from node's header object (pseudo-headers left out). */
function fromObject(obj: IncomingHttpHeaders): Headers {
  const names: string[] = [];
  const values: string[] = [];
  for (const name of Object.keys(obj)) {
    if (name.charCodeAt(0) === 58 /* ":" */) continue;
    const v = obj[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) {
      for (const item of v) {
        names.push(name);
        values.push(item);
      }
    } else {
      names.push(name);
      values.push(String(v));
    }
  }
  return trustedHeaders(names, values);
}

function abortError(ex: H2Exchange): RoundtripError {
  const reason = ex.req.signal?.reason;
  if (reason instanceof RoundtripError) return reason;
  return new RoundtripError("ERR_ABORTED", "the request was aborted", {
    cause: reason,
    url: ex.req.displayURL,
  });
}
