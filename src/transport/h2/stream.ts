/**
 * H2Stream: one exchange on one HTTP/2 stream. It opens the stream with the request's
 * header list, is the RequestWire the body writer drives, turns node:http2's stream
 * events into the Exchange's callbacks, and is the exchange's Carrier: backpressure
 * pauses the stream (so its flow-control window stops opening), and every failure —
 * an abort, a timeout, a reader that gives up — costs this stream only (RST_STREAM).
 *
 * Ownership: created and owned by its H2Session; `stream` is set once, when the head goes
 * out. The session counts the stream's slot until `released` and its response as busy
 * until `settled`.
 */
import type {
  ClientHttp2Session,
  ClientHttp2Stream,
  IncomingHttpHeaders,
  OutgoingHttpHeaders,
} from "node:http2";
import { RoundtripError } from "../../errors.js";
import { type Headers, trustedHeaders } from "../../http1/headers.js";
import { planFraming } from "../../http1/request.js";
import { type RequestWire, sendBody } from "../body-writer.js";
import { type Carrier, type Exchange, Phase, type RetryHint } from "../exchange.js";

// RFC 9113 §7 error codes and a frame flag.
export const NO_ERROR = 0;
const PROTOCOL_ERROR = 1;
const REFUSED_STREAM = 7;
export const CANCEL = 8;
const ENHANCE_YOUR_CALM = 11;
const FLAG_END_STREAM = 1;

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

/** What a stream needs from its session. */
export interface StreamOwner {
  readonly session: ClientHttp2Session;
  /** The session's error (it closed or failed), if any. */
  readonly error: Error | null;
  /** last-stream-id of the GOAWAY received, or -1. */
  readonly goawayLast: number;
  /** The session is closed or closing. */
  readonly gone: boolean;
  readonly maxHeaderBytes: number;
  readonly statusText: (status: number) => string;
  /** The stream's response is complete or failed: it stops counting as busy. */
  settled(s: H2Stream): void;
  /** The stream is closed (or never opened): its slot is free. */
  released(s: H2Stream): void;
}

export class H2Stream implements Carrier, RequestWire {
  stream: ClientHttp2Stream | null = null;
  /** Counted as busy by the session until settled. */
  isSettled = false;
  /** Reasons reading is paused, as bits: 1 = body backpressure, 2 = decoder backpressure. */
  paused = 0;
  lastRead = 0;
  /** The error the stream reported before closing, if any. */
  streamError: Error | null = null;
  /** Content-Length of the response as sent (before decoding), or -1. */
  #expected = -1;
  /** Body bytes received as sent (before decoding). */
  #rawReceived = 0;
  /** The stream could not be opened because the session went away: nothing was sent. */
  #unsent = false;

  constructor(
    readonly owner: StreamOwner,
    readonly ex: Exchange,
  ) {}

  /** Sends the request: bodiless at once, anything else through the body writer. */
  start(): void {
    const ex = this.ex;
    ex.begin(this);
    if (ex.req.body === null) {
      try {
        this.#open(undefined);
      } catch (err) {
        this.#failOpen(err);
        return;
      }
      ex.wroteHeaders();
      ex.wroteRequest();
      return;
    }
    sendBody(ex, this).catch((err: unknown) => this.#writeFailed(err));
  }

  // ---- RequestWire ---------------------------------------------------------------------

  head(length: number | null): number {
    return this.#open(length);
  }

  write(chunk: Buffer): boolean {
    return this.stream!.write(chunk);
  }

  end(): void {
    this.stream!.end();
  }

  get emitter(): ClientHttp2Stream {
    return this.stream!;
  }

  get closed(): boolean {
    return this.stream === null ? this.isSettled : this.stream.destroyed;
  }

  readonly endsAtLength = false;
  readonly fileSocket = null;

  /** A final status came first: the body is not sent; our half is reset once the response is in. */
  skipped(): void {
    this.ex.writeStopped = true;
    if (this.ex.phase === Phase.DONE) this.#reset(CANCEL);
  }

  /** Sends the HEADERS frame and wires the stream; returns the Content-Length declared, or -1. */
  #open(length: number | null | undefined): number {
    const req = this.ex.req;
    const framing = planFraming(req.method, length, req.headers);
    const declared = framing.kind === "length" ? framing.length : -1;
    const headers = this.#headers(declared);
    let stream: ClientHttp2Stream;
    try {
      stream = this.owner.session.request(headers, { endStream: req.body === null });
    } catch (cause) {
      const code = (cause as { code?: string }).code ?? "";
      if (code === "ERR_HTTP2_INVALID_SESSION" || code === "ERR_HTTP2_GOAWAY_SESSION") {
        // The session went away under us: nothing was sent.
        this.#unsent = true;
        throw new RoundtripError(
          "ERR_CONNECTION_CLOSED",
          "the HTTP/2 connection closed before the request went out",
          { cause },
        );
      }
      throw new RoundtripError(
        "ERR_INVALID_REQUEST",
        `the request cannot be sent over HTTP/2: ${(cause as Error).message}`,
        { cause },
      );
    }
    this.stream = stream;
    this.#wire(stream);
    return declared;
  }

  /** The request's header list: pseudo-headers, then the caller's fields lower-cased, minus connection-specific ones. */
  #headers(contentLength: number): OutgoingHttpHeaders {
    const ex = this.ex;
    const req = ex.req;
    const s = ex.settings;
    const onField = req.trace?.wroteHeaderField;
    const out: OutgoingHttpHeaders = Object.create(null);
    out[":method"] = req.method;
    out[":scheme"] = "https";
    out[":authority"] = req.host;
    out[":path"] = req.target.path;
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

  /** The stream could not be opened: nothing went out, and its slot is free. */
  #failOpen(err: unknown): void {
    this.#fail(err as Error, this.#unsent ? "unprocessed" : "none");
  }

  #writeFailed(err: unknown): void {
    const ex = this.ex;
    if (this.stream === null) {
      this.#failOpen(err);
      return;
    }
    const e = ex.writeFailed(err);
    // After the whole response arrived, a failed upload fails nothing the caller holds.
    if (ex.phase === Phase.DONE) {
      this.#reset(CANCEL);
      return;
    }
    this.#fail(e, "none");
  }

  // ---- the response ----------------------------------------------------------------

  #wire(stream: ClientHttp2Stream): void {
    stream.on("response", (headers: IncomingHttpHeaders, flags: number, raw?: string[]) =>
      this.#onHead(headers, flags, raw),
    );
    // Every 1xx (100 included; node also emits 'continue' for it).
    stream.on("headers", (headers: IncomingHttpHeaders) => this.#onInformational(headers));
    stream.on("data", (chunk: Buffer) => this.#onData(chunk));
    stream.on("trailers", (headers: IncomingHttpHeaders) => {
      if (this.ex.buffer !== null) this.ex.trailers(fromObject(headers));
    });
    stream.on("end", () => this.#onEnd());
    stream.on("error", (err: Error) => {
      this.streamError = err;
    });
    stream.on("close", () => this.#onStreamClose());
  }

  #onInformational(headers: IncomingHttpHeaders): void {
    const ex = this.ex;
    if (this.isSettled) return;
    this.lastRead = performance.now();
    ex.firstByte(this.lastRead);
    try {
      ex.informational(Number(headers[":status"]), () => fromObject(headers));
    } catch (err) {
      this.#fail(err as Error, "none");
    }
  }

  #onHead(obj: IncomingHttpHeaders, flags: number, raw: string[] | undefined): void {
    const ex = this.ex;
    if (this.isSettled) return;
    this.lastRead = performance.now();
    ex.firstByte(this.lastRead);
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
    const max = this.owner.maxHeaderBytes;
    if (size > max) {
      this.#fail(
        new RoundtripError("ERR_HEADERS_TOO_LARGE", `response head larger than ${max} bytes`),
        "none",
      );
      return;
    }
    // A final response before the body went out: an error status means the server will
    // not read the rest, stop writing (the stream is reset once the response is in). A
    // success may be a full-duplex answer: keep writing, as over HTTP/1.1.
    if (!ex.writeDone) {
      ex.answerContinue(false);
      if (status >= 300) ex.stopWriting();
    }
    const ended = (flags & FLAG_END_STREAM) !== 0;
    const bodyless = ended || req.isHead || status === 204 || status === 304;
    let contentLength = -1;
    const cl = obj["content-length"];
    if (typeof cl === "string" && /^[0-9]{1,15}$/.test(cl)) contentLength = Number(cl);
    if (bodyless && !req.isHead && status !== 304) contentLength = 0;
    this.#expected = bodyless ? -1 : contentLength;
    const ce = obj["content-encoding"];
    ex.respond({
      status,
      statusText: this.owner.statusText(status),
      httpVersion: "2",
      headers: trustedHeaders(names, values),
      contentLength,
      total: bodyless ? 0 : contentLength >= 0 ? contentLength : null,
      bodyless,
      contentEncoding: typeof ce === "string" ? ce : null,
    });
    if (bodyless) {
      this.#settle();
      // As in #onEnd: an upload told to stop leaves our half of the stream open; reset it
      // so the stream slot is freed (a 413 with END_STREAM on its HEADERS, say).
      if (!ex.writeDone && ex.writeStopped) this.#reset(CANCEL);
    } else {
      // A body still arriving holds its stream: watch for the Response being dropped.
      ex.watchBody();
    }
  }

  #onData(chunk: Buffer): void {
    const ex = this.ex;
    if (ex.phase !== Phase.BODY) return;
    this.lastRead = performance.now();
    this.#rawReceived += chunk.length;
    ex.data(chunk);
  }

  #onEnd(): void {
    const ex = this.ex;
    if (ex.phase !== Phase.BODY) return;
    // node ends the readable side of a reset stream too: only END_STREAM is a clean end.
    const code = this.stream?.rstCode;
    if (code !== undefined && code !== NO_ERROR) {
      const why = this.#whyEnded();
      this.#fail(why.err, why.hint);
      return;
    }
    if (this.#expected >= 0 && this.#rawReceived !== this.#expected) {
      this.#fail(
        new RoundtripError(
          "ERR_UNEXPECTED_EOF",
          `response body ended after ${this.#rawReceived} of its ${this.#expected} bytes`,
        ),
        "none",
      );
      return;
    }
    ex.end(performance.now());
    this.#settle();
    // The response is in; an upload told to stop leaves its half of the stream open:
    // reset it (Go does the same), which frees the slot.
    if (!ex.writeDone && ex.writeStopped) this.#reset(CANCEL);
  }

  #onStreamClose(): void {
    this.ex.wakeWriter?.();
    if (!this.isSettled) {
      const why = this.#whyEnded();
      this.#fail(why.err, why.hint);
    }
    this.owner.released(this);
  }

  /** Why the stream ended before its response did, and whether the request may go again. */
  #whyEnded(): { err: RoundtripError; hint: RetryHint } {
    const owner = this.owner;
    const stream = this.stream;
    const code = stream?.rstCode ?? NO_ERROR;
    const id = stream?.id;
    const head = this.ex.phase === Phase.HEAD;
    const sessionError = owner.error;
    const streamCause = this.streamError ?? sessionError ?? undefined;
    if (sessionError instanceof RoundtripError) return { err: sessionError, hint: "none" };
    if (
      code === REFUSED_STREAM ||
      (head && (id === undefined || (owner.goawayLast >= 0 && id > owner.goawayLast)))
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
        hint: "unprocessed",
      };
    }
    if (owner.gone) {
      return {
        err: new RoundtripError(
          "ERR_CONNECTION_CLOSED",
          head
            ? "the HTTP/2 connection closed before the response head"
            : "the HTTP/2 connection closed while the response body was arriving",
          { cause: sessionError ?? this.streamError ?? undefined },
        ),
        hint: head && !this.ex.received ? "unanswered" : "none",
      };
    }
    if (code === ENHANCE_YOUR_CALM && head) {
      return {
        err: new RoundtripError("ERR_HEADERS_TOO_LARGE", "response head larger than maxResponseHeaderBytes", {
          cause: streamCause,
        }),
        hint: "none",
      };
    }
    if (code === PROTOCOL_ERROR) {
      return {
        err: new RoundtripError("ERR_BAD_RESPONSE", "HTTP/2 protocol error on the stream", {
          cause: streamCause,
        }),
        hint: "none",
      };
    }
    return {
      err: new RoundtripError(
        "ERR_CONNECTION_CLOSED",
        `the server reset the HTTP/2 stream (error code ${code}) ${head ? "before the response head" : "while sending the response body"}`,
        { cause: streamCause },
      ),
      hint: "none",
    };
  }

  // ---- Carrier -----------------------------------------------------------------------

  pause(_ex: Exchange, reason: number): void {
    if (this.paused === 0) this.stream?.pause();
    this.paused |= reason;
  }

  resume(_ex: Exchange, reason: number): void {
    if (this.paused === 0) return;
    this.paused &= ~reason;
    if (this.paused === 0) this.stream?.resume();
  }

  /** The reader gave up: over HTTP/2 that costs one RST_STREAM, never the connection. */
  discard(): Promise<void> {
    this.cancel();
    return Promise.resolve();
  }

  abandon(): void {
    this.cancel();
  }

  fail(_ex: Exchange, err: Error): void {
    this.#fail(err, "none");
  }

  /** The reader closed the body early, or dropped it: reset the stream if it is still arriving. */
  cancel(): void {
    const ex = this.ex;
    ex.decoder?.destroy();
    if (ex.phase === Phase.DONE) return;
    ex.phase = Phase.DONE;
    ex.writeStopped = true;
    this.#settle();
    this.#reset(CANCEL);
  }

  /** From the session: a body stalled longer than bodyTimeout (not by our reader) fails. */
  sweep(now: number, bodyTimeout: number): void {
    if (this.ex.phase === Phase.BODY && this.paused === 0 && now - this.lastRead > bodyTimeout) {
      this.#fail(
        new RoundtripError("ERR_TIMEOUT", `response body stalled for ${bodyTimeout} ms`, { phase: "body" }),
        "none",
      );
    }
  }

  /** From the session closing or failing: fail what is left with its reason. */
  sessionEnded(err: Error | null): void {
    if (this.isSettled) return;
    if (err !== null) {
      this.#fail(err, "none");
      return;
    }
    const why = this.#whyEnded();
    this.#fail(why.err, why.hint);
  }

  /** Fails the exchange with `err` and resets its stream; the session goes on. */
  #fail(err: Error, hint: RetryHint): void {
    if (this.isSettled) return;
    const ex = this.ex;
    ex.wakeWriter?.();
    this.#settle();
    this.#reset(CANCEL);
    if (this.stream === null) this.owner.released(this); // never opened: free its slot now
    ex.fail(err, hint);
  }

  #reset(code: number): void {
    const s = this.stream;
    if (s !== null && !s.closed && !s.destroyed) s.close(code);
  }

  /** The response is complete (or failed): the exchange stops counting as busy. */
  #settle(): void {
    if (this.isSettled) return;
    this.isSettled = true;
    this.ex.detach();
    this.owner.settled(this);
  }
}

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
