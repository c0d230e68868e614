/**
 * Exchange: one attempt of a request on one connection — an HTTP/1.1 connection or an
 * HTTP/2 stream — with every rule the two protocols share written once: the timings and
 * the trace moments, the abort signal, the response-header timer, the 100-continue gate,
 * upload progress, the informational limit, turning a final head into a Response (body
 * buffer, transparent decoding, the unconsumed-body watch), and delivering once (the
 * Response) or failing once (an error with one RetryHint) to the round trip.
 *
 * It is a handler with callbacks, not a chain of promises: the carrier (the connection or
 * stream running it) calls informational(), respond(), data(), trailers(), end() and
 * fail() as bytes arrive, and wroteHeaders() / wroteRequest() as the request goes out.
 * Promises are made only at the edges (the round trip's, the body reader's).
 *
 * Ownership: created by the round trip for one attempt; `carrier` is set once by the
 * connection that starts it; every other field is written by the carrier through the
 * methods below, on the event loop. A Body keeps a reference to its Exchange, never to
 * the connection's current one, so a stale Body can never touch a later request.
 */
import { type Body, BodyBuffer, type BodySource, trackUnconsumed } from "../body/incoming.js";
import { RoundtripError, withURL } from "../errors.js";
import type { Headers } from "../http1/headers.js";
import { createDecoder, type Decoder } from "./decode.js";
import type { ConnSettings } from "./options.js";
import type { PreparedRequest } from "./prepared.js";
import { type ConnInfo, Response, type Timings } from "./response.js";

/** Where the response is: waiting for its head, its body arriving, or complete (or failed). */
export enum Phase {
  HEAD = 0,
  BODY = 1,
  DONE = 2,
}

/**
 * Whether a failed attempt may be sent again (the facts of Go's shouldRetryRequest):
 * "unprocessed": the server never processed the request (HTTP/2 REFUSED_STREAM, a stream
 * above a GOAWAY's last-stream-id, a session gone before the stream opened): any
 * replayable request may go again; "unanswered": the connection died before any
 * response byte: a replayable idempotent request may go again if the connection was
 * reused; "none": never.
 */
export type RetryHint = "unprocessed" | "unanswered" | "none";

/** What an exchange reports to the round trip that started it: exactly one of the two, once. */
export interface ExchangeResult {
  onResponse(res: Response): void;
  onFailure(err: Error, hint: RetryHint): void;
}

/** What an exchange needs from the connection or stream carrying it. */
export interface Carrier {
  /**
   * Reading `ex`'s response paused (resumed) for `reason`, a bit: 1 = the body's reader
   * is behind, 2 = the decoder is. Nothing when `ex` is no longer the one it carries.
   */
  pause(ex: Exchange, reason: number): void;
  resume(ex: Exchange, reason: number): void;
  /** The reader closed the body early: keep the connection if cheap, else cost it. */
  discard(ex: Exchange): Promise<void>;
  /** The Body was garbage-collected unfinished: free the connection (or stream) now. */
  abandon(ex: Exchange): void;
  /** Fails `ex` (an abort, a timer) and tears down what it used; the carrier knows the RetryHint. */
  fail(ex: Exchange, err: Error): void;
  /** `ex`'s request is fully written. */
  wrote?(ex: Exchange): void;
  /** Body.saveTo's zero-copy path (see BodySource.spliceInto); absent where it cannot be (HTTP/2). */
  spliceInto?(
    ex: Exchange,
    fd: number,
    signal: AbortSignal | undefined,
    writeQueued: () => Promise<void>,
  ): Promise<number> | null;
}

/** A final response head, as either protocol reads it. */
export interface ResponseStart {
  status: number;
  statusText: string;
  httpVersion: "1.0" | "1.1" | "2";
  headers: Headers;
  /** Content-Length as the Response shows it, or -1. */
  contentLength: number;
  /** The body's size for download progress, or null when unknown. */
  total: number | null;
  /** No body follows (HEAD, 204, 304, framing none, END_STREAM with the head). */
  bodyless: boolean;
  /** Content-Encoding as sent, or null. */
  contentEncoding: string | null;
}

const MAX_INFORMATIONAL = 5;
/** Reading paused because the body's reader is behind. */
export const BODY_PAUSE = 1;

/** The error of an aborted request: the signal's reason when it is ours, else ERR_ABORTED with it as cause. */
export function abortError(req: PreparedRequest): RoundtripError {
  const reason = req.signal?.reason;
  if (reason instanceof RoundtripError) return reason;
  return new RoundtripError("ERR_ABORTED", "the request was aborted", { cause: reason, url: req.displayURL });
}

/** We ask for compressed bodies (and decode them) unless HEAD, a Range, or the caller's own Accept-Encoding. */
export function wantsDecoding(req: PreparedRequest): boolean {
  const h = req.headers;
  return !req.isHead && !(h?.has("accept-encoding") ?? false) && !(h?.has("range") ?? false);
}

export class Exchange implements BodySource {
  phase = Phase.HEAD;
  /** The connection or stream running this exchange; set once, by it. */
  carrier: Carrier | null = null;
  buffer: BodyBuffer | null = null;
  decoder: Decoder | null = null;
  /** Only on a 101: the Response, to hand it the upgraded socket. */
  response: Response | null = null;
  /** The request went out whole. */
  writeDone = false;
  /** Stop writing the request body (an early response, a failure). */
  writeStopped = false;
  /** The body was never sent (100-continue declined): the server may not expect more. */
  bodySkipped = false;
  /** A response byte (a 1xx included) arrived. */
  received = false;
  /** Body.saveTo's splice(2) owns the connection's reads: backpressure pauses do not apply. */
  splicing = false;
  /** Stops a sendfile in progress; set by the body writer while one runs. */
  abortFileSend: (() => void) | null = null;
  /** Wakes the body writer waiting for its sink to drain, so it sees writeStopped; set by it. */
  wakeWriter: (() => void) | null = null;
  /** gotConn's facts and the socket's addresses, for response.conn. */
  connInfo: ConnInfo = { reused: false, wasIdle: false, idleTime: 0 };
  #result: ExchangeResult | null;
  #informational = 0;
  #uploadReported = 0;
  #headerTimer: NodeJS.Timeout | null = null;
  #continue: ((send: boolean) => void) | null = null;
  #abortListener: (() => void) | null = null;
  /** The Body just delivered, until the read that carried its head has been handled. */
  #newBody: Body | null = null;

  constructor(
    readonly req: PreparedRequest,
    result: ExchangeResult,
    readonly settings: ConnSettings,
    readonly timings: Timings,
    /** performance.now() when roundTrip() was called; timings are offsets from it. */
    readonly t0: number,
    /** The caller's stack, when call sites are tracked; else null (see RequestSite). */
    readonly stack: (() => string) | null,
  ) {
    this.#result = result;
  }

  // ---- BodySource: what the response Body asks of its connection ---------------------

  pause(): void {
    if (!this.splicing) this.carrier?.pause(this, BODY_PAUSE);
  }
  resume(): void {
    if (!this.splicing) this.carrier?.resume(this, BODY_PAUSE);
  }
  spliceInto(
    fd: number,
    signal: AbortSignal | undefined,
    writeQueued: () => Promise<void>,
  ): Promise<number> | null {
    return this.carrier?.spliceInto?.(this, fd, signal, writeQueued) ?? null;
  }
  /** For the decoder (decode.ts): its backpressure pauses reading too. */
  pauseReading(reason: number): void {
    this.carrier?.pause(this, reason);
  }
  resumeReading(reason: number): void {
    this.carrier?.resume(this, reason);
  }
  discard(): Promise<void> {
    if (this.carrier === null || this.phase === Phase.DONE) {
      this.decoder?.destroy();
      return Promise.resolve();
    }
    return this.carrier.discard(this);
  }
  abandon(): void {
    this.decoder?.destroy();
    this.carrier?.abandon(this);
  }

  // ---- the request going out ---------------------------------------------------------

  /** The carrier takes the exchange: the caller's signal now fails it through the carrier. */
  begin(carrier: Carrier): void {
    this.carrier = carrier;
    const signal = this.req.signal;
    if (signal !== null) {
      const onAbort = () => carrier.fail(this, abortError(this.req));
      this.#abortListener = onAbort;
      signal.addEventListener("abort", onAbort, { once: true });
    }
  }

  /** The head went out (at `now`, when the caller has just read the clock). */
  wroteHeaders(now = performance.now()): void {
    this.timings.wroteHeaders = now - this.t0;
    this.req.trace?.wroteHeaders?.();
  }

  /** The request is fully written: the response-header timer starts. */
  wroteRequest(now = performance.now()): void {
    this.writeDone = true;
    this.timings.wroteRequest = now - this.t0;
    this.req.trace?.wroteRequest?.({});
    const t = this.settings.responseHeaderTimeout;
    if (t > 0 && this.phase === Phase.HEAD && this.#headerTimer === null) {
      this.#headerTimer = setTimeout(() => {
        this.#headerTimer = null;
        if (this.phase === Phase.HEAD) {
          this.carrier?.fail(
            this,
            new RoundtripError("ERR_TIMEOUT", `no response head within ${t} ms`, {
              phase: "responseHeader",
              url: this.req.displayURL,
            }),
          );
        }
      }, t);
    }
    this.carrier?.wrote?.(this);
  }

  /** Writing the request failed: the trace hears of it; the carrier decides what it costs. */
  writeFailed(err: unknown): Error {
    const e = err instanceof Error ? err : new Error(String(err));
    this.req.trace?.wroteRequest?.({ err: e });
    return e;
  }

  /** Stop writing the request body, and wake a writer waiting on its sink. */
  stopWriting(): void {
    this.writeStopped = true;
    this.abortFileSend?.();
    this.wakeWriter?.();
  }

  /**
   * Waits for 100 Continue: true to send the body (100 came, expectContinueTimeout
   * passed, or a final status said so), false when it must not be sent. A one-shot
   * source that will not be sent is closed.
   */
  waitContinue(): Promise<boolean> {
    this.req.trace?.wait100Continue?.();
    return new Promise((resolve) => {
      const timer = setTimeout(() => settle(true), this.settings.expectContinueTimeout);
      const settle = (send: boolean) => {
        clearTimeout(timer);
        this.#continue = null;
        if (!send) {
          this.bodySkipped = true;
          this.req.body?.dispose?.();
        }
        resolve(send && !this.writeStopped && this.phase !== Phase.DONE);
      };
      this.#continue = settle;
    });
  }

  /** Whether the body waits for 100 Continue. */
  get waitingContinue(): boolean {
    return this.#continue !== null;
  }

  /** Answers the 100-continue gate, if the body is waiting at it. */
  answerContinue(send: boolean): void {
    this.#continue?.(send);
  }

  /** Upload progress, throttled: every 64 KiB or 1 % of the total, whichever is more, and the last. */
  progress(loaded: number, total: number | null, final: boolean): void {
    const cb = this.req.onUploadProgress;
    if (cb === null) return;
    const step = Math.max(64 * 1024, total ? total / 100 : 0);
    if (final || loaded - this.#uploadReported >= step) {
      if (final && this.#uploadReported === loaded && loaded !== 0) return;
      this.#uploadReported = loaded;
      cb({ loaded, total });
    }
  }

  // ---- the response coming in ----------------------------------------------------------

  /** A response byte arrived (at `now`): the first one is gotFirstResponseByte. */
  firstByte(now: number): void {
    if (this.received) return;
    this.received = true;
    this.timings.firstByte = now - this.t0;
    this.req.trace?.gotFirstResponseByte?.();
  }

  /**
   * An informational (1xx) head. A 100 opens the continue gate. Throws ERR_TOO_MANY_1XX
   * past the limit.
   */
  informational(status: number, headers: () => Headers): void {
    if (++this.#informational > MAX_INFORMATIONAL) {
      throw new RoundtripError("ERR_TOO_MANY_1XX", `more than ${MAX_INFORMATIONAL} informational responses`);
    }
    const trace = this.req.trace;
    if (status === 100) {
      trace?.got100Continue?.();
      this.answerContinue(true);
    }
    trace?.got1xxResponse?.(status, headers());
  }

  /**
   * The final head: builds the Response (transparently decoded when we asked for it) and
   * delivers it. A bodyless response is complete at once.
   */
  respond(head: ResponseStart): Response {
    this.#clearHeaderTimer();
    const req = this.req;
    let contentLength = head.contentLength;
    const buffer = new BodyBuffer(this, head.total);
    if (req.onDownloadProgress !== null) buffer.onProgress = req.onDownloadProgress;
    this.buffer = buffer;
    let uncompressed = false;
    const ce = head.contentEncoding;
    if (
      !head.bodyless &&
      ce !== null &&
      this.settings.acceptEncoding !== null &&
      head.status !== 206 &&
      wantsDecoding(req)
    ) {
      const decoder = createDecoder(ce, buffer, this, this);
      if (decoder !== null) {
        this.decoder = decoder;
        head.headers.delete("content-encoding");
        head.headers.delete("content-length");
        contentLength = -1;
        buffer.total = null;
        uncompressed = true;
      }
    }
    this.phase = head.bodyless ? Phase.DONE : Phase.BODY;
    const res = new Response(
      {
        status: head.status,
        statusText: head.statusText,
        httpVersion: head.httpVersion,
        headers: head.headers,
        contentLength,
        url: req.target.href,
        timings: this.timings,
        conn: this.connInfo,
      },
      buffer,
    );
    res.uncompressed = uncompressed;
    // Only an upgrade needs the Response after this (to attach the socket). Nothing the
    // connection keeps may reach it otherwise: a Response dropped unread must be
    // collectable so the unconsumed-body warning can fire.
    if (head.status === 101) this.response = res;
    this.#newBody = res.body;
    if (head.bodyless) {
      this.timings.end = performance.now() - this.t0;
      if (head.status !== 101) buffer.end();
    }
    // The round trip's promise functions would keep the resolved Response alive.
    const result = this.#result;
    this.#result = null;
    result?.onResponse(res);
    return res;
  }

  /**
   * The read that carried the head has been handled: a body still arriving pins its
   * connection, so watch for the Body being dropped (bodies complete by now never pay).
   */
  watchBody(): void {
    const body = this.#newBody;
    if (body === null) return;
    this.#newBody = null;
    const buffer = this.buffer!;
    if (!buffer.done)
      trackUnconsumed(body, buffer, { method: this.req.method, url: this.req.displayURL, stack: this.stack });
  }

  data(chunk: Buffer): void {
    if (this.decoder !== null) this.decoder.write(chunk);
    else this.buffer!.push(chunk);
  }

  trailers(headers: Headers): void {
    this.buffer!.trailers = headers;
  }

  /** The body has fully arrived (at `now`). */
  end(now: number): void {
    this.phase = Phase.DONE;
    this.timings.end = now - this.t0;
    if (this.decoder !== null) this.decoder.end();
    else this.buffer!.end();
  }

  /**
   * Fails the exchange, once: before the head, the round trip hears of it (with `hint`);
   * after it, the body's reader does. Stops the request body and clears the timers.
   */
  fail(err: Error, hint: RetryHint): void {
    if (this.phase === Phase.DONE) return;
    const e = withURL(err, this.req.displayURL);
    const before = this.phase === Phase.HEAD;
    this.phase = Phase.DONE;
    // The writer stops at its next step; one waiting for its sink to drain is woken by
    // the carrier (closing the socket or resetting the stream does it).
    this.writeStopped = true;
    this.abortFileSend?.();
    this.answerContinue(false);
    this.detach();
    if (before) {
      const result = this.#result;
      this.#result = null;
      result?.onFailure(e, hint);
    } else {
      this.decoder?.destroy();
      this.buffer!.fail(e);
    }
  }

  /** The exchange no longer needs its timers and the caller's signal (done or failed). */
  detach(): void {
    this.#clearHeaderTimer();
    const listener = this.#abortListener;
    if (listener !== null) {
      this.#abortListener = null;
      this.req.signal?.removeEventListener("abort", listener);
    }
  }

  #clearHeaderTimer(): void {
    if (this.#headerTimer !== null) {
      clearTimeout(this.#headerTimer);
      this.#headerTimer = null;
    }
  }
}
