/**
 * H1Conn: one HTTP/1.1 connection, a PooledConn. It writes one request at a time, feeds
 * the response bytes to the codec's parser, drives the Exchange's callbacks, and decides
 * once, in tryKeepAlive(), whether the connection may carry another exchange (hyper's
 * conn.rs is the model). It knows nothing of pools: it reports to its ConnEvents.
 *
 * State, owned by the connection for its whole life (the socket, the parser) or for one
 * exchange (the rest), on the event loop:
 *
 *   reading  IDLE → HEAD → BODY → DONE → IDLE       (HEAD → DONE for a bodiless response)
 *                                 ↘ DISCARDING (the reader closed the body early) → DONE
 *   writing  IDLE → BUSY → DONE | STOPPED → IDLE
 *   any      → CLOSED (an error, an upgrade, a close)
 *
 * tryKeepAlive() runs when reading reaches DONE and when writing ends: with both done,
 * the connection goes back (events.available) unless something disabled keep-alive, and
 * `#noKeepAlive` says what: the request or the response asked to close, keep-alives are
 * off, bytes came after the response, the body was not sent (100-continue declined), or
 * the request was still being written when the response ended and did not finish within
 * WRITE_WAIT_BEFORE_REUSE. Anything else destroys it.
 */
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { getSystemErrorName } from "node:util";
import {
  resumeSocketReads,
  spliceSocketToFile,
  spliceUnsupportedReason,
  stopSocketReads,
} from "../../body/splice.js";
import { RoundtripError } from "../../errors.js";
import { trustedHeaders } from "../../http1/headers.js";
import {
  type ResponseHandler,
  type ResponseHead,
  ResponseParser,
  State,
} from "../../http1/response-parser.js";
import { sendBody } from "../body-writer.js";
import { type Carrier, type Exchange, Phase } from "../exchange.js";
import type { ConnSettings } from "../options.js";
import type { ConnEvents, DialTimes, PooledConn } from "../pool.js";
import type { ConnInfo } from "../response.js";
import { type Addresses, addressesOf } from "../socket-info.js";
import { fitsOneWrite, H1Wire, writeSmall } from "./writer.js";

/** Bytes a close() may still read to keep the connection (see Body.close). */
export const DISCARD_LIMIT = 64 * 1024;
/** ms a close() may wait for the rest of a body (at most DISCARD_LIMIT bytes) to keep the connection. */
export const DISCARD_WAIT = 200;
/** ms a complete response waits for its request's write to end before giving up reuse (Go: 50 ms). */
const WRITE_WAIT_BEFORE_REUSE = 50;

export enum Reading {
  /** No exchange. */
  IDLE = 0,
  /** Waiting for the final head (1xx heads may come first). */
  HEAD = 1,
  BODY = 2,
  /** The reader closed the body early: the rest is read and dropped, within a budget. */
  DISCARDING = 3,
  /** The response has fully arrived. */
  DONE = 4,
  CLOSED = 5,
}

export enum Writing {
  IDLE = 0,
  /** The head or the body is going out. */
  BUSY = 1,
  /** The request is fully written. */
  DONE = 2,
  /** Writing stopped before the end (an early response, a failure). */
  STOPPED = 3,
}

export class H1Conn implements PooledConn, Carrier, ResponseHandler {
  /** Exchanges in flight on every H1Conn of the process (start to detach); for write batching. */
  static #inFlight = 0;
  readonly multiplexed = false;
  readonly socket: Duplex;
  readonly hostPort: string;
  readonly settings: ConnSettings;
  readonly parser: ResponseParser;
  readonly #events: ConnEvents;
  /** Exchanges started so far. */
  requests = 0;
  /** performance.now() when it last stopped carrying an exchange (or was made). */
  idleSince = performance.now();
  /** Server's Keep-Alive timeout hint in ms, or -1. */
  keepAliveHint = -1;
  /** The dial's moments, until its first exchange takes them. */
  #dialTimes: DialTimes | null;

  takeDialTimes(): DialTimes | null {
    const d = this.#dialTimes;
    this.#dialTimes = null;
    return d;
  }
  /** performance.now() of the last byte read, for the body timeout sweep. */
  lastRead = 0;
  #reading = Reading.IDLE;
  #writing = Writing.IDLE;
  /** Why this exchange leaves the connection unusable, or null while keep-alive holds. */
  #noKeepAlive: string | null = null;
  /** Reasons reading is paused, as bits: 1 = body backpressure, 2 = decoder backpressure. */
  #paused = 0;
  #ex: Exchange | null = null;
  /** Set while a complete response waits for its request's write to end (see #tryKeepAlive). */
  #writeWait: NodeJS.Timeout | null = null;
  /** Bytes a discard may still read before the connection is given up. */
  #discardBudget = 0;
  /** Resolves the Body.close() waiting for a discard to settle. */
  #discardDone: (() => void) | null = null;
  #addresses: Addresses | null = null;

  constructor(
    socket: Duplex,
    hostPort: string,
    events: ConnEvents,
    settings: ConnSettings,
    dialTimes: DialTimes | null = null,
  ) {
    this.#dialTimes = dialTimes;
    this.socket = socket;
    this.hostPort = hostPort;
    this.#events = events;
    this.settings = settings;
    this.parser = new ResponseParser(this, settings.maxHeaderBytes);
    this.onSocketData = this.onSocketData.bind(this);
    this.onSocketEnd = this.onSocketEnd.bind(this);
    this.onSocketError = this.onSocketError.bind(this);
    this.onSocketClose = this.onSocketClose.bind(this);
    socket.on("data", this.onSocketData);
    socket.on("end", this.onSocketEnd);
    socket.on("error", this.onSocketError);
    socket.on("close", this.onSocketClose);
    // A tunnel handshake (CONNECT, SOCKS) leaves the socket paused at its first byte.
    socket.resume();
  }

  // ---- PooledConn ----------------------------------------------------------------------

  get available(): number {
    return this.#ex === null && this.#reading !== Reading.CLOSED ? 1 : 0;
  }

  /** Carrying an exchange whose response has not fully arrived, or whose request is still going out. */
  get active(): boolean {
    return this.#ex !== null;
  }

  get idle(): boolean {
    return this.#ex === null && this.#reading !== Reading.CLOSED;
  }

  /** The exchange it carries, or null. */
  get exchange(): Exchange | null {
    return this.#ex;
  }

  get reading(): Reading {
    return this.#reading;
  }

  get writing(): Writing {
    return this.#writing;
  }

  /** Open, not half-closed. */
  isUsable(): boolean {
    const s = this.socket as Partial<Socket> & Duplex;
    return this.#reading !== Reading.CLOSED && !s.destroyed && !s.readableEnded && s.writable !== false;
  }

  /** Local and remote addresses, read once per connection (each read is a syscall). */
  addresses(): Addresses {
    this.#addresses ??= addressesOf(this.socket);
    return this.#addresses;
  }

  /** Go's gotConn: reused once it carried an exchange; wasIdle when it came from the idle list. */
  connInfo(fromIdle: boolean, now: number): ConnInfo {
    const a = this.addresses();
    return {
      reused: this.requests > 0,
      wasIdle: fromIdle,
      idleTime: fromIdle ? Math.max(0, now - this.idleSince) : 0,
      localAddress: a.localAddress,
      remoteAddress: a.remoteAddress,
    };
  }

  reserve(): void {}
  unreserve(): void {}

  /** Starts an exchange (at `now`, read by the caller). The pool guarantees the connection is idle. */
  start(ex: Exchange, now = performance.now()): void {
    this.#ex = ex;
    this.#reading = Reading.HEAD;
    this.#writing = Writing.BUSY;
    this.#noKeepAlive = this.settings.disableKeepAlives
      ? "keep-alives are disabled"
      : ex.req.close
        ? "the request asked to close the connection"
        : null;
    this.requests++;
    H1Conn.#inFlight++;
    this.parser.reset(ex.req.isHead);
    refSocket(this.socket, true);
    if (this.#paused !== 0) {
      this.#paused = 0;
      this.socket.resume();
    }
    ex.begin(this);
    const close = this.#noKeepAlive !== null;
    if (fitsOneWrite(ex)) {
      // The common case without a promise: the whole request in one write.
      try {
        writeSmall(this.socket, ex, close, H1Conn.#inFlight > 1, now);
      } catch (err) {
        this.#writeFailed(ex, err);
      }
      return;
    }
    const wire = new H1Wire(this.socket, ex, () => this.#ex === ex && !this.socket.destroyed, close);
    sendBody(ex, wire).catch((err: unknown) => this.#writeFailed(ex, err));
  }

  /** Takes no new exchange; an idle connection closes now. */
  close(): void {
    if (this.#ex === null) this.destroy(null);
    else this.#disableKeepAlive("the connection is closing");
  }

  /** From the pool's sweep: a body stalled longer than bodyTimeout (not by our reader) fails. */
  sweep(now: number, bodyTimeout: number): void {
    const ex = this.#ex;
    if (ex === null || bodyTimeout <= 0 || this.#reading !== Reading.BODY || this.#paused !== 0) return;
    if (now - this.lastRead > bodyTimeout) {
      this.destroy(
        new RoundtripError("ERR_TIMEOUT", `response body stalled for ${bodyTimeout} ms`, {
          phase: "body",
          url: ex.req.displayURL,
        }),
      );
    }
  }

  /** Closes the connection; fails the current exchange with `err` if one is running. */
  destroy(err: Error | null): void {
    const ex = this.#ex;
    if (ex !== null && err !== null) this.#fail(ex, err);
    if (!this.socket.destroyed) this.socket.destroy();
    this.#closed();
  }

  // ---- writing ---------------------------------------------------------------------------

  /** Carrier: the request is fully written. */
  wrote(ex: Exchange): void {
    if (this.#ex !== ex || this.#writing !== Writing.BUSY) return;
    this.#writing = Writing.DONE;
    this.#tryKeepAlive(performance.now());
  }

  #writeFailed(ex: Exchange, err: unknown): void {
    const e = ex.writeFailed(err);
    if (this.#ex === ex) this.#fail(ex, e);
  }

  /** Stops the request body where it is: the connection cannot carry another request after it. */
  #stopWriting(ex: Exchange, why: string): void {
    ex.stopWriting();
    if (this.#writing === Writing.BUSY) this.#writing = Writing.STOPPED;
    this.#disableKeepAlive(why);
  }

  #disableKeepAlive(why: string): void {
    if (this.#noKeepAlive === null) this.#noKeepAlive = why;
  }

  // ---- reading (ResponseHandler) -----------------------------------------------------

  onSocketData(chunk: Buffer): void {
    const ex = this.#ex;
    if (ex === null) {
      // Bytes on an idle connection: the server is confused or talking to someone else.
      this.destroy(null);
      return;
    }
    const now = performance.now();
    this.lastRead = now;
    ex.firstByte(now);
    if (this.#reading === Reading.DISCARDING) this.#discardBudget -= chunk.length;
    let off: number;
    try {
      off = this.parser.execute(chunk);
    } catch (err) {
      this.#fail(ex, err as Error);
      return;
    }
    if (this.parser.state === State.UPGRADED) {
      this.#upgrade(ex, chunk.subarray(off));
      return;
    }
    ex.watchBody();
    if (this.#reading === Reading.DONE) {
      if (off < chunk.length) this.#disableKeepAlive("bytes arrived after the response");
      this.#tryKeepAlive(now);
    } else if (this.#reading === Reading.DISCARDING && this.#discardBudget < 0) {
      this.destroy(null);
    }
  }

  onInformational(head: ResponseHead): void {
    this.#ex!.informational(head.status, () => trustedHeaders(head.names, head.values));
  }

  onHead(head: ResponseHead): void {
    const ex = this.#ex!;
    if (head.status === 101 && !(ex.req.headers?.has("upgrade") ?? false)) {
      throw new RoundtripError(
        "ERR_BAD_RESPONSE",
        "101 Switching Protocols to a request that asked for no upgrade",
      );
    }
    if (!head.keepAlive) this.#disableKeepAlive("the response closes the connection");
    if (head.keepAliveTimeout > 0) this.keepAliveHint = head.keepAliveTimeout * 1000;
    // A final response before the body went out. An error status or a close means the
    // server will not read the rest: stop writing. A success on a connection that stays
    // open may be a full-duplex answer (an echo, a stream): keep writing, as Go and
    // Node's fetch do. Either way the connection is not reused unless the write ends
    // before the response does (#tryKeepAlive). With Expect: 100-continue the rule is
    // Go's: the body goes unless the connection closes (declined: bodySkipped).
    if (!ex.writeDone) {
      let sendAnyway = false;
      if (ex.waitingContinue) {
        // The body still waits for 100 Continue. As Go does (persistConn.readResponse),
        // send it unless the connection is closing: the server reads or discards it and
        // the connection stays usable. A 101 hands the socket over instead.
        sendAnyway = head.keepAlive && this.#noKeepAlive === null && head.status !== 101;
        ex.answerContinue(sendAnyway);
      }
      if (ex.bodySkipped || (!sendAnyway && (head.status >= 300 || !head.keepAlive))) {
        this.#stopWriting(ex, "the response came before the request body was sent");
      }
    }
    const bodyless = head.framing === "none";
    this.#reading = bodyless ? Reading.DONE : Reading.BODY;
    ex.respond({
      status: head.status,
      statusText: head.statusText,
      httpVersion: head.version,
      headers: trustedHeaders(head.names, head.values),
      contentLength: head.contentLength,
      total: head.framing === "length" ? head.contentLength : null,
      bodyless,
      contentEncoding: bodyless ? null : head.contentEncoding,
    });
  }

  onData(chunk: Buffer): void {
    if (this.#reading === Reading.DISCARDING) return;
    this.#ex!.data(chunk);
  }

  onTrailers(names: string[], values: string[]): void {
    this.#ex!.trailers(trustedHeaders(names, values));
  }

  onComplete(): void {
    this.#reading = Reading.DONE;
    this.#ex!.end(this.lastRead);
  }

  /**
   * The one place that decides whether the connection carries another exchange: once the
   * response has fully arrived and the request is written (or was stopped).
   */
  #tryKeepAlive(now: number): void {
    if (this.#reading !== Reading.DONE) return;
    const ex = this.#ex!;
    if (ex.timings.end < 0) ex.timings.end = now - ex.t0;
    if (this.#writing === Writing.BUSY) {
      // The response is complete while the request is still being written (or its
      // completion is still on its way back from the thread pool). As Go does
      // (maxWriteWaitBeforeConnReuse), wait briefly for the write to end; past that, stop
      // writing and do not reuse. #wrote calls back here when it ends. Still active
      // meanwhile: the exchange is not over (stats keep total = active + idle).
      if (this.#writeWait === null) {
        this.#writeWait = setTimeout(() => {
          this.#writeWait = null;
          if (this.#ex !== ex || this.#writing !== Writing.BUSY) return;
          this.#stopWriting(ex, "the request body was still being written when the response ended");
          this.#tryKeepAlive(performance.now());
        }, WRITE_WAIT_BEFORE_REUSE);
      }
      return;
    }
    if (ex.bodySkipped) this.#disableKeepAlive("the request body was not sent (100-continue declined)");
    if (this.#writing === Writing.STOPPED) this.#disableKeepAlive("the request was not fully written");
    const trace = ex.req.trace;
    this.#detach(ex);
    this.#settleDiscard();
    const why = this.#noKeepAlive;
    if (why === null) {
      this.idleSince = now;
      // An idle connection must not keep the process alive (as undici and node:http's Agent).
      refSocket(this.socket, false);
      // The pool decides, and tells the trace what it decided.
      this.#events.available(trace);
    } else {
      trace?.putIdleConn?.(new Error(`connection not reused: ${why}`));
      this.destroy(null);
    }
  }

  /** The exchange leaves the connection (complete, failed or upgraded). */
  #detach(ex: Exchange): void {
    if (this.#writeWait !== null) {
      clearTimeout(this.#writeWait);
      this.#writeWait = null;
    }
    ex.detach();
    this.#ex = null;
    H1Conn.#inFlight--;
    this.#reading = Reading.IDLE;
    this.#writing = Writing.IDLE;
  }

  #upgrade(ex: Exchange, rest: Buffer): void {
    const socket = this.socket;
    this.#detach(ex);
    socket.off("data", this.onSocketData);
    socket.off("end", this.onSocketEnd);
    socket.off("error", this.onSocketError);
    socket.off("close", this.onSocketClose);
    socket.pause();
    if (rest.length > 0) socket.unshift(rest);
    this.#closed();
    if (ex.response !== null) ex.response.socket = socket;
    // The 101 response itself has no body: end it, so reading it does not hang and a
    // dropped Response is not reported as an unconsumed body.
    ex.buffer?.end();
  }

  // ---- Carrier: pausing, discarding, failing -------------------------------------------

  pause(ex: Exchange, reason: number): void {
    if (this.#ex !== ex) return;
    if (this.#paused === 0) this.socket.pause();
    this.#paused |= reason;
  }

  resume(ex: Exchange, reason: number): void {
    if (this.#ex !== ex || this.#paused === 0) return;
    this.#paused &= ~reason;
    if (this.#paused === 0) {
      // The stall clock restarts: time we spent paused was not the server's.
      this.lastRead = performance.now();
      this.socket.resume();
    }
  }

  /**
   * Body.saveTo's zero-copy path: the rest of an identity body framed by Content-Length or
   * by close goes socket -> file with splice(2) while libuv's reads are stopped; then the
   * exchange ends exactly as if the parser had read those bytes (the connection goes back
   * to the pool after a Content-Length body). Null when this exchange cannot (TLS or a
   * custom duplex, chunked, decoded, a request still being written, no addon): saveTo then
   * takes the pushed chunks.
   */
  spliceInto(
    ex: Exchange,
    fd: number,
    signal: AbortSignal | undefined,
    writeQueued: () => Promise<void>,
  ): Promise<number> | null {
    const p = this.parser;
    if (
      this.#ex !== ex ||
      this.#reading !== Reading.BODY ||
      ex.decoder !== null ||
      !ex.writeDone ||
      (p.state !== State.LENGTH && p.state !== State.UNTIL_EOF) ||
      spliceUnsupportedReason(this.socket) !== undefined
    )
      return null;
    const socket = this.socket as Socket;
    if (p.state === State.LENGTH && socket.readableLength >= p.remaining) {
      // Node has already read the rest of the body: it arrives through 'data' as usual.
      return null;
    }
    // From here the splice owns the socket's reads; backpressure pauses do not apply.
    ex.splicing = true;
    this.#paused = 0;
    // Bytes Node had read already reach onSocketData (read() emits 'data') and so the
    // buffer, ahead of the spliced ones; they cannot end the body (checked above).
    stopSocketReads(socket);
    const buffer = ex.buffer!;
    return writeQueued()
      .then(() => {
        if (this.#ex !== ex) return { bytes: 0, eof: false }; // failed meanwhile
        this.lastRead = performance.now(); // writing the queue was not the server's stall
        return spliceSocketToFile(socket, fd, p.state === State.LENGTH ? p.remaining : null, {
          signal,
          onProgress: (n) => {
            this.lastRead = performance.now();
            buffer.advance(n);
          },
        });
      })
      .then(
        ({ bytes, eof }) => {
          ex.splicing = false;
          if (this.#ex !== ex) return bytes; // failed meanwhile (timeout, abort, close): buffer failed
          const length = p.state === State.LENGTH ? p.remaining : null;
          if (length !== null && bytes < length) {
            this.#fail(
              ex,
              new RoundtripError(
                "ERR_UNEXPECTED_EOF",
                `connection closed with ${length - bytes} bytes of the response body still to come`,
              ),
            );
            return bytes;
          }
          // The parser did not see these bytes; the next exchange resets it (start()).
          if (eof) this.#disableKeepAlive("the server closed the connection");
          else resumeSocketReads(socket);
          this.onComplete();
          this.#tryKeepAlive(this.lastRead);
          return bytes;
        },
        (err: unknown) => {
          ex.splicing = false;
          const code = (err as { code?: unknown } | null)?.code;
          const socketSide =
            typeof code === "string" && (SOCKET_ERRNOS.has(code) || code === "ERR_SOCKET_CLOSED");
          if (this.#ex === ex) {
            if (signal?.aborted)
              this.#fail(ex, new RoundtripError("ERR_ABORTED", "saveTo was aborted", { cause: err }));
            else if (socketSide) this.#fail(ex, socketError(err as Error, false));
            else
              this.#fail(
                ex,
                new RoundtripError("ERR_ABORTED", "the response body could not be saved", { cause: err }),
              );
          }
          // The file's own failure (disk full, ...) is saveTo's to report; the rest the buffer says.
          if (!socketSide && !signal?.aborted) throw err;
          return 0;
        },
      );
  }

  /** The reader closed the body early: read a bounded remainder to keep the socket, or destroy it. */
  discard(ex: Exchange): Promise<void> {
    if (this.#ex !== ex) {
      ex.decoder?.destroy();
      return Promise.resolve();
    }
    ex.decoder?.destroy();
    ex.decoder = null;
    if (ex.splicing) {
      // The splice owns the socket's bytes; what is left of them is unknown.
      this.destroy(null);
      return Promise.resolve();
    }
    const p = this.parser;
    const cheap = p.state === State.LENGTH ? p.remaining <= DISCARD_LIMIT : p.state !== State.UNTIL_EOF;
    if (!cheap) {
      this.destroy(null);
      return Promise.resolve();
    }
    this.#reading = Reading.DISCARDING;
    this.#discardBudget = DISCARD_LIMIT;
    this.#paused = 0;
    this.socket.resume();
    return new Promise((resolve) => {
      // Bounded in time too: close() must not wait on a server that is slow to finish.
      const timer = setTimeout(() => {
        if (this.#ex === ex && this.#reading === Reading.DISCARDING) this.destroy(null);
      }, DISCARD_WAIT);
      this.#discardDone = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  abandon(ex: Exchange): void {
    if (this.#ex === ex) this.destroy(new RoundtripError("ERR_ABORTED", "response body abandoned"));
  }

  fail(ex: Exchange, err: Error): void {
    this.#fail(ex, err);
  }

  #settleDiscard(): void {
    const done = this.#discardDone;
    this.#discardDone = null;
    done?.();
  }

  /** Fails the current exchange with `err` and destroys the connection. */
  #fail(ex: Exchange, err: Error): void {
    if (this.#ex !== ex) return;
    // Retryable only if nothing of a response arrived (the connection died under us).
    const hint = this.parser.started ? "none" : "unanswered";
    this.#detach(ex);
    if (ex.phase === Phase.HEAD) {
      // Closed (and gone from the pool) first: a retry must not find it again.
      this.destroy(null);
      ex.fail(err, hint);
    } else {
      ex.fail(err, hint);
      this.#settleDiscard();
      this.destroy(null);
    }
  }

  /** The connection is closed (or upgraded): the pool is told, once. */
  #closed(): void {
    if (this.#reading === Reading.CLOSED) return;
    this.#reading = Reading.CLOSED;
    this.#events.closed();
  }

  onSocketEnd(): void {
    const ex = this.#ex;
    if (ex === null) {
      this.destroy(null);
      return;
    }
    if (ex.phase !== Phase.DONE && endedByReset(this.socket)) {
      // Not the server's FIN: a body framed by close would end here looking complete.
      this.onSocketError(resetError());
      return;
    }
    try {
      this.parser.finish();
    } catch (err) {
      this.#fail(ex, err as Error);
      return;
    }
    if (this.#reading === Reading.DONE) {
      this.#disableKeepAlive("the server closed the connection");
      this.#tryKeepAlive(performance.now());
    }
  }

  onSocketError(err: Error): void {
    const ex = this.#ex;
    if (ex !== null) this.#fail(ex, socketError(err, ex.phase === Phase.HEAD));
    else this.destroy(null);
  }

  onSocketClose(): void {
    const ex = this.#ex;
    if (ex !== null)
      this.#fail(
        ex,
        new RoundtripError("ERR_CONNECTION_CLOSED", "connection closed before the response was complete"),
      );
    this.#closed();
  }
}

function refSocket(socket: Duplex, on: boolean): void {
  const s = socket as { ref?: () => void; unref?: () => void };
  if (on) s.ref?.();
  else s.unref?.();
}

/**
 * Whether an 'end' the socket reported was really a reset (RST). libuv turns the hang-up
 * that follows a partial read into an end of stream, so a reset arriving with the last
 * bytes reaches us as an 'end'. The socket is then no longer connected (the kernel left
 * it CLOSED; after a FIN it is still connected), which getpeername(2) tells. Sockets
 * without a handle (a custom dial's Duplex) cannot tell: their end is taken as a FIN.
 */
function endedByReset(socket: Duplex): boolean {
  const handle = (socket as { _handle?: { getpeername?: (out: object) => number } | null })._handle;
  if (typeof handle?.getpeername !== "function") return false;
  const rc = handle.getpeername({});
  return rc < 0 && getSystemErrorName(rc) === "ENOTCONN";
}

function resetError(): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error("read ECONNRESET");
  err.code = "ECONNRESET";
  err.syscall = "read";
  return err;
}

/** splice(2) failures of the socket side (the rest are the file's). */
const SOCKET_ERRNOS = new Set([
  "ECONNRESET",
  "ECONNABORTED",
  "ENOTCONN",
  "ETIMEDOUT",
  "EPIPE",
  "ENETRESET",
  "ENETDOWN",
  "ENETUNREACH",
  "EHOSTUNREACH",
]);

function socketError(err: Error, beforeHead: boolean): RoundtripError {
  const code = (err as NodeJS.ErrnoException).code ?? "";
  const what = beforeHead ? "before the response head" : "while reading the response body";
  return new RoundtripError("ERR_CONNECTION_CLOSED", `connection failed ${what}${code ? ` (${code})` : ""}`, {
    cause: err,
  });
}
