/**
 * Conn: one HTTP/1.1 connection. It writes one request at a time, feeds the response
 * bytes to the parser, delivers the Response, and decides whether the connection may
 * carry another exchange. It knows nothing of pools: it reports to its ConnOwner.
 *
 * Ownership: the socket and the parser are owned by the Conn for its whole life. The
 * current Exchange (`#ex`) is set by start() and cleared when the response has fully
 * arrived (then release() or destroy) or on the first error. A Body keeps a reference to
 * its Exchange, not to the Conn's current one, so a stale Body can never touch the next
 * request on the same socket.
 *
 * Reuse rule: the connection goes back only when the response said keep-alive, the
 * request did not ask to close, the request was fully written, nothing arrived after
 * the response, and the response was not an upgrade. Anything else destroys it.
 */
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { getSystemErrorName } from "node:util";
import type { OpenFile } from "../body/file.js";
import { type Body, BodyBuffer, type BodySource, trackUnconsumed } from "../body/incoming.js";
import { bodyReadFailed, bodyTooLong, bodyTooShort, toChunk } from "../body/outgoing.js";
import { sendFileToSocket } from "../body/zerocopy.js";
import { RoundtripError, withURL } from "../errors.js";
import { trustedHeaders } from "../http1/headers.js";
import { chunkHeader, type Framing, lastChunk, planFraming, serializeHead } from "../http1/request.js";
import { type ResponseHandler, type ResponseHead, ResponseParser, State } from "../http1/response-parser.js";
import { originForm } from "../http1/url.js";
import { createDecoder, type Decoder } from "./decode.js";
import type { ConnSettings } from "./options.js";
import type { PreparedRequest } from "./prepared.js";
import { type ConnInfo, Response, type Timings } from "./response.js";
import type { ClientTrace } from "./trace.js";

/** How a Conn reports to whoever pools it. */
export interface ConnOwner {
  /**
   * The exchange ended and the connection may carry another: the owner pools it, hands
   * it on, or closes it, and reports that decision to `trace.putIdleConn`.
   */
  release(conn: Conn, trace: ClientTrace | null): void;
  /** The connection is closed (or was handed to an upgrade); forget it. */
  closed(conn: Conn): void;
  /** The response has fully arrived: the connection no longer counts as active. */
  inactive(conn: Conn): void;
}

/** Called when the exchange fails. `nothingReceived`: no response byte arrived. */
export type ExchangeError = (err: Error, nothingReceived: boolean) => void;

const MAX_INFORMATIONAL = 5;
/** Bytes a close() may still read to keep the connection (see Body.close). */
export const DISCARD_LIMIT = 64 * 1024;
/** ms a close() may wait for the rest of a body (at most DISCARD_LIMIT bytes) to keep the connection. */
export const DISCARD_WAIT = 200;
/** ms a complete response waits for its request's write to end before giving up reuse (Go: 50 ms). */
const WRITE_WAIT_BEFORE_REUSE = 50;
/** Bodies up to this size go out in the same write as the head. */
const COALESCE_LIMIT = 64 * 1024;

enum Phase {
  HEAD = 0,
  BODY = 1,
  DONE = 2,
}

export class Exchange implements BodySource {
  phase = Phase.HEAD;
  response: Response | null = null;
  buffer: BodyBuffer | null = null;
  decoder: Decoder | null = null;
  writeDone = false;
  /** Stop writing the request body (an early response, or a failure). */
  writeStopped = false;
  /** A response whose body was not sent (100-continue declined) must not be followed. */
  bodySkipped = false;
  informational = 0;
  discarding = false;
  discardBudget = 0;
  #discardDone: (() => void) | null = null;
  headerTimer: NodeJS.Timeout | null = null;
  /** Set while a complete response waits for its request's write to end (see #maybeFinish). */
  writeWait: NodeJS.Timeout | null = null;
  continueWaiter: ((send: boolean) => void) | null = null;
  abortListener: (() => void) | null = null;
  /** Stops a sendfile in progress (early response, abort). */
  abortFileSend: (() => void) | null = null;
  /** Wakes a writer waiting for 'drain' so it can see writeStopped. */
  drainWaiter: (() => void) | null = null;
  uploadReported = 0;
  /** The Body just delivered, held only until the read that carried its head is parsed. */
  newBody: Body | null = null;
  connInfo: ConnInfo = { reused: false, wasIdle: false, idleTime: 0 };
  readonly timings: Timings;
  readonly t0: number;

  constructor(
    readonly conn: Conn,
    readonly req: PreparedRequest,
    public onResponse: (res: Response) => void,
    public onError: ExchangeError,
    /** The caller's stack, when call sites are tracked; else null (see RequestSite). */
    readonly stack: (() => string) | null,
    timings: Timings,
    t0: number,
  ) {
    this.timings = timings;
    this.t0 = t0;
  }

  pause(): void {
    if (this.conn.exchange === this) this.conn.pauseReading(1);
  }
  resume(): void {
    if (this.conn.exchange === this) this.conn.resumeReading(1);
  }
  discard(): Promise<void> {
    if (this.conn.exchange !== this || this.phase === Phase.DONE) {
      this.decoder?.destroy();
      return Promise.resolve();
    }
    return this.conn.discard(this);
  }
  abandon(): void {
    this.decoder?.destroy();
    if (this.conn.exchange === this)
      this.conn.destroy(new RoundtripError("ERR_ABORTED", "response body abandoned"));
  }
  discardSettled(): void {
    const done = this.#discardDone;
    this.#discardDone = null;
    done?.();
  }
  onDiscardSettled(fn: () => void): void {
    this.#discardDone = fn;
  }
}

export class Conn implements ResponseHandler {
  readonly socket: Duplex;
  readonly key: string;
  readonly hostPort: string;
  readonly owner: ConnOwner;
  readonly settings: ConnSettings;
  readonly parser: ResponseParser;
  /** Requests carried so far. */
  requests = 0;
  /** performance.now() when it went idle; for idleTime and idle expiry. */
  idleSince = 0;
  /** performance.now() after which it must not be reused (idle timeout / Keep-Alive hint). */
  expiresAt = Number.POSITIVE_INFINITY;
  /** Server's Keep-Alive timeout hint in ms, or -1. */
  keepAliveHint = -1;
  /** performance.now() of the dial's moments (-1: did not happen), for the first exchange's timings. */
  dialTimes: { started: number; dnsDone: number; connectDone: number; tlsDone: number } | null = null;
  /** performance.now() of the last byte read, for the body timeout sweep. */
  lastRead = 0;
  closed = false;
  /** Reasons reading is paused, as bits: 1 = body backpressure, 2 = decoder backpressure. */
  #paused = 0;
  #ex: Exchange | null = null;
  /** Whether this exchange leaves the connection reusable; #notReused says why not. */
  #reusable = true;
  #notReused = "";

  constructor(socket: Duplex, key: string, hostPort: string, owner: ConnOwner, settings: ConnSettings) {
    this.socket = socket;
    this.key = key;
    this.hostPort = hostPort;
    this.owner = owner;
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

  #addresses: { localAddress?: string; remoteAddress?: string } | null = null;

  /** Local and remote addresses, read once per connection (each read is a syscall). */
  addresses(): { localAddress?: string; remoteAddress?: string } {
    if (this.#addresses === null) {
      const s = this.socket as { localAddress?: string; remoteAddress?: string };
      const a: { localAddress?: string; remoteAddress?: string } = {};
      if (s.localAddress) a.localAddress = s.localAddress;
      if (s.remoteAddress) a.remoteAddress = s.remoteAddress;
      this.#addresses = a;
    }
    return this.#addresses;
  }

  /** The response head is in and its body is still arriving (the body timeout applies). */
  get readingBody(): boolean {
    return this.#ex !== null && this.#ex.phase === Phase.BODY;
  }

  /** We paused reading (a slow reader, a full decoder): a stall is not the server's fault. */
  get readingPausedByReader(): boolean {
    return this.#paused !== 0;
  }

  get exchange(): Exchange | null {
    return this.#ex;
  }

  /** Usable for a new request: open, not half-closed, not expired. */
  isUsable(now: number): boolean {
    const s = this.socket as Partial<Socket> & Duplex;
    return !this.closed && !s.destroyed && !s.readableEnded && s.writable !== false && now < this.expiresAt;
  }

  /** Starts an exchange. The caller guarantees the connection is idle. */
  start(ex: Exchange): void {
    this.#ex = ex;
    this.#reusable = true;
    if (this.settings.disableKeepAlives) this.#noReuse("keep-alives are disabled");
    else if (ex.req.close) this.#noReuse("the request asked to close the connection");
    this.requests++;
    this.parser.reset(ex.req.isHead);
    if (this.#paused !== 0) {
      this.#paused = 0;
      this.socket.resume();
    }
    const signal = ex.req.signal;
    if (signal !== null) {
      const onAbort = () => this.#abort(ex);
      ex.abortListener = onAbort;
      signal.addEventListener("abort", onAbort, { once: true });
    }
    const body = ex.req.body;
    if (
      body === null ||
      (body.kind === "bytes" && !ex.req.expectContinue && body.bytes!.length <= COALESCE_LIMIT)
    ) {
      // The common case without a promise: the whole request in one write.
      try {
        this.#writeSmall(ex);
      } catch (err) {
        this.#writeFailed(ex, err);
      }
      return;
    }
    this.#writeRequest(ex).catch((err: unknown) => this.#writeFailed(ex, err));
  }

  /** A request with no body or a small in-memory one: head and body in a single write. */
  #writeSmall(ex: Exchange): void {
    const req = ex.req;
    const bytes = req.body === null ? null : req.body.bytes!;
    const framing = planFraming(req.method, bytes === null ? undefined : bytes.length, req.headers);
    const head = this.#headString(ex, framing);
    const socket = this.socket;
    if (framing.kind === "chunked") {
      const n = bytes === null ? 0 : bytes.length;
      const tail = n === 0 ? "0\r\n\r\n" : null;
      if (tail !== null) socket.write(head + tail, "latin1");
      else {
        socket.cork();
        socket.write(head + chunkHeader(n), "latin1");
        socket.write(bytes!);
        socket.write("\r\n0\r\n\r\n", "latin1");
        socket.uncork();
      }
    } else if (bytes === null || bytes.length === 0) {
      socket.write(head, "latin1");
    } else {
      const headLen = head.length; // latin1: one byte per char
      const out = Buffer.allocUnsafe(headLen + bytes.length);
      out.write(head, 0, headLen, "latin1");
      bytes.copy(out, headLen);
      socket.write(out);
    }
    this.#wroteHeaders(ex);
    if (bytes !== null) this.#uploadProgress(ex, bytes.length, bytes.length, true);
    this.#wroteRequest(ex);
  }

  // ---- writing -------------------------------------------------------------------

  #head(ex: Exchange, framing: Framing): Buffer {
    return Buffer.from(this.#headString(ex, framing), "latin1");
  }

  #headString(ex: Exchange, framing: Framing): string {
    const req = ex.req;
    const trace = req.trace;
    const s = this.settings;
    const wantDecode = s.acceptEncoding !== null && wantsDecoding(req);
    const head = serializeHead(
      {
        method: req.method,
        target: s.absoluteTarget !== null ? s.absoluteTarget(req) : originForm(req.target.url),
        host: req.host,
        headers: req.headers,
        framing,
        userAgent: s.userAgent,
        close: !this.#reusable,
        expectContinue: req.expectContinue,
        acceptEncoding: wantDecode ? s.acceptEncoding : null,
        proxyAuthorization: s.proxyAuthorization,
      },
      trace?.wroteHeaderField ? (k, v) => trace.wroteHeaderField!(k, v) : undefined,
    );
    return head;
  }

  #wroteHeaders(ex: Exchange): void {
    ex.timings.wroteHeaders = performance.now() - ex.t0;
    ex.req.trace?.wroteHeaders?.();
  }

  #wroteRequest(ex: Exchange): void {
    ex.writeDone = true;
    ex.timings.wroteRequest = performance.now() - ex.t0;
    ex.req.trace?.wroteRequest?.({});
    const t = this.settings.responseHeaderTimeout;
    if (t > 0 && ex.phase === Phase.HEAD && this.#ex === ex) {
      ex.headerTimer = setTimeout(() => {
        if (this.#ex === ex && ex.phase === Phase.HEAD) {
          this.#fail(
            ex,
            new RoundtripError("ERR_TIMEOUT", `no response head within ${t} ms`, {
              phase: "responseHeader",
              url: ex.req.displayURL,
            }),
          );
        }
      }, t);
    }
    if (ex.phase === Phase.DONE) this.#maybeFinish(ex);
  }

  async #writeRequest(ex: Exchange): Promise<void> {
    const req = ex.req;
    const body = req.body;
    const socket = this.socket;
    // Bodiless and small in-memory requests never come here (#writeSmall sends them).
    if (body === null) throw new Error("unreachable: #writeSmall sends bodiless requests");
    if (body.kind === "bytes") {
      // Here only with Expect: 100-continue, or a body too big to coalesce with the head.
      const bytes = body.bytes!;
      const framing = planFraming(req.method, bytes.length, req.headers);
      socket.write(this.#head(ex, framing));
      this.#wroteHeaders(ex);
      if (req.expectContinue && bytes.length > 0 && !(await this.#waitContinue(ex))) return;
      // Frames the bytes (chunked or not), reports progress and wroteRequest.
      await this.#writeChunks(ex, framing, oneChunk(bytes), bytes.length);
      return;
    }
    if (body.kind === "file") {
      const opened = await body.file!.open();
      try {
        const framing = planFraming(req.method, opened.length, req.headers);
        socket.write(this.#head(ex, framing));
        this.#wroteHeaders(ex);
        if (req.expectContinue && !(await this.#waitContinue(ex))) return;
        if (framing.kind === "length") {
          await this.#sendFile(ex, opened, 0, opened.length);
          if (ex.writeStopped || this.#ex !== ex) return;
          this.#uploadProgress(ex, opened.length, opened.length, true);
          // The last byte is with the kernel: the request is written. A prompt response
          // must find it so, or the connection would not be reused.
          this.#wroteRequest(ex);
        } else {
          await this.#writeChunks(ex, framing, opened.chunks(), opened.length); // reports wroteRequest
          if (!ex.writeDone) return;
        }
        // A file that changed size under us sent a body that may not be what it was.
        await opened.checkUnchanged();
      } finally {
        await opened.close();
      }
      return;
    }
    // A stream of chunks: length declared by the source or the caller, else chunked.
    const length = body.prepare !== undefined ? await body.prepare() : body.length;
    if (ex.writeStopped || this.#ex !== ex) return;
    const framing = planFraming(req.method, length, req.headers);
    socket.write(this.#head(ex, framing));
    this.#wroteHeaders(ex);
    if (req.expectContinue && !(await this.#waitContinue(ex))) return;
    // A form with file parts and a Content-Length: each file goes out through
    // sendFileToSocket between the parts' bytes: sendfile(2) on plain TCP, else its
    // pooled read/write loop (bounded memory, no per-chunk garbage).
    if (framing.kind === "length" && body.segments !== undefined) {
      await this.#writeSegments(ex, framing.length, body.segments());
      return;
    }
    await this.#writeChunks(ex, framing, body.open!(), framing.kind === "length" ? framing.length : length);
  }

  /** Sends a body of bytes and open files, in order, for a declared Content-Length. */
  async #writeSegments(
    ex: Exchange,
    declared: number,
    source: AsyncIterable<Buffer | OpenFile>,
  ): Promise<void> {
    const socket = this.socket;
    let sent = 0;
    let iterated: AsyncIterator<Buffer | OpenFile> | null = null;
    let ended = false;
    try {
      iterated = source[Symbol.asyncIterator]();
      while (true) {
        if (ex.writeStopped || this.#ex !== ex) return;
        let r: IteratorResult<Buffer | OpenFile>;
        try {
          r = await iterated.next();
        } catch (cause) {
          ended = true;
          throw bodyReadFailed(cause);
        }
        if (r.done) {
          ended = true;
          break;
        }
        if (ex.writeStopped || this.#ex !== ex) return;
        const seg = r.value;
        if (sent + seg.length > declared) {
          throw bodyTooLong(declared);
        }
        if (Buffer.isBuffer(seg)) {
          if (seg.length === 0) continue;
          sent += seg.length;
          const ok = socket.write(seg);
          this.#uploadProgress(ex, sent, declared, false);
          if (!ok) await this.#drain(ex);
        } else {
          // sendFileToSocket waits for the bytes queued before it (the part's head).
          await this.#sendFile(ex, seg, sent, declared);
          if (ex.writeStopped || this.#ex !== ex) return;
          sent += seg.length;
          await seg.checkUnchanged();
        }
      }
    } finally {
      // The source closes the file it is paused on when it is returned.
      if (iterated !== null && !ended) void iterated.return?.(undefined)?.catch(() => {});
    }
    if (ex.writeStopped || this.#ex !== ex) return;
    if (sent !== declared) {
      throw bodyTooShort(sent, declared);
    }
    this.#uploadProgress(ex, sent, declared, true);
    this.#wroteRequest(ex);
  }

  /** Sends chunks with backpressure, framing them; enforces a declared length. */
  async #writeChunks(
    ex: Exchange,
    framing: Framing,
    source: AsyncIterable<unknown>,
    total: number | null,
  ): Promise<void> {
    const socket = this.socket;
    const declared = framing.kind === "length" ? framing.length : -1;
    let sent = 0;
    let iterated: AsyncIterator<unknown> | null = null;
    let ended = false; // the source ran to its end (or threw): nothing to close
    try {
      iterated = source[Symbol.asyncIterator]();
      while (true) {
        if (ex.writeStopped || this.#ex !== ex) return;
        let r: IteratorResult<unknown>;
        try {
          r = await iterated.next();
        } catch (cause) {
          ended = true;
          throw bodyReadFailed(cause);
        }
        if (r.done) {
          ended = true;
          break;
        }
        if (ex.writeStopped || this.#ex !== ex) return;
        const chunk = toChunk(r.value);
        if (chunk.length === 0) continue;
        sent += chunk.length;
        if (declared >= 0 && sent > declared) {
          throw bodyTooLong(declared);
        }
        let ok: boolean;
        if (framing.kind === "chunked") {
          socket.cork();
          socket.write(chunkHeader(chunk.length), "latin1");
          socket.write(chunk);
          ok = socket.write("\r\n", "latin1");
          socket.uncork();
        } else {
          ok = socket.write(chunk);
        }
        this.#uploadProgress(ex, sent, total, false);
        if (!ok) await this.#drain(ex);
      }
    } finally {
      // Any early exit (stopped, failed, too long) closes the caller's source, as Go
      // closes a request body on every path: a file stream must not keep its fd.
      if (iterated !== null && !ended) void iterated.return?.(undefined)?.catch(() => {});
    }
    if (ex.writeStopped || this.#ex !== ex) return;
    if (declared >= 0 && sent !== declared) {
      throw bodyTooShort(sent, declared);
    }
    if (framing.kind === "chunked") socket.write(lastChunk(null), "latin1");
    this.#uploadProgress(ex, sent, total, true);
    this.#wroteRequest(ex);
  }

  /** Sends an open file's range; `before` bytes of a `total`-byte body went before it. */
  async #sendFile(ex: Exchange, opened: OpenFile, before: number, total: number): Promise<void> {
    const controller = new AbortController();
    const stop = () => controller.abort(new RoundtripError("ERR_ABORTED", "file upload stopped"));
    ex.abortFileSend = stop;
    let sent = before;
    try {
      await sendFileToSocket(this.socket, opened.fd, opened.offset, opened.length, {
        signal: controller.signal,
        onProgress: (n) => {
          sent += n;
          this.#uploadProgress(ex, sent, total, false);
        },
      });
    } catch (err) {
      if (ex.writeStopped || this.#ex !== ex) return;
      throw err instanceof RoundtripError
        ? err
        : new RoundtripError("ERR_REQUEST_BODY", `sending ${opened.path} failed`, { cause: err });
    } finally {
      ex.abortFileSend = null;
    }
  }

  #uploadProgress(ex: Exchange, loaded: number, total: number | null, final: boolean): void {
    const cb = ex.req.onUploadProgress;
    if (cb === null) return;
    const step = Math.max(64 * 1024, total ? total / 100 : 0);
    if (final || loaded - ex.uploadReported >= step) {
      if (final && ex.uploadReported === loaded && loaded !== 0) return;
      ex.uploadReported = loaded;
      cb({ loaded, total });
    }
  }

  #drain(ex: Exchange): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off("drain", done);
        this.socket.off("close", done);
        ex.drainWaiter = null;
        resolve();
      };
      ex.drainWaiter = done;
      this.socket.on("drain", done);
      this.socket.on("close", done);
    });
  }

  /** Waits for 100 Continue; false when the body must not be sent (a final status came). */
  #waitContinue(ex: Exchange): Promise<boolean> {
    ex.req.trace?.wait100Continue?.();
    return new Promise((resolve) => {
      const timer = setTimeout(() => settle(true), this.settings.expectContinueTimeout);
      const settle = (send: boolean) => {
        clearTimeout(timer);
        ex.continueWaiter = null;
        if (!send) {
          ex.bodySkipped = true;
          ex.req.body?.dispose?.(); // a one-shot source we will never read
        }
        resolve(send && !ex.writeStopped && this.#ex === ex);
      };
      ex.continueWaiter = settle;
    });
  }

  #writeFailed(ex: Exchange, err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    ex.req.trace?.wroteRequest?.({ err: e });
    if (this.#ex === ex) this.#fail(ex, e);
  }

  // ---- reading (ResponseHandler) -------------------------------------------------

  onSocketData(chunk: Buffer): void {
    const ex = this.#ex;
    if (ex === null) {
      // Bytes on an idle connection: the server is confused or talking to someone else.
      this.destroy(null);
      return;
    }
    this.lastRead = performance.now();
    if (ex.timings.firstByte < 0) {
      ex.timings.firstByte = this.lastRead - ex.t0;
      ex.req.trace?.gotFirstResponseByte?.();
    }
    if (ex.discarding) {
      ex.discardBudget -= chunk.length;
    }
    let off: number;
    try {
      off = this.parser.execute(chunk);
    } catch (err) {
      this.#fail(ex, err as Error);
      return;
    }
    if (this.parser.state === State.UPGRADED) {
      ex.newBody = null;
      this.#upgrade(ex, chunk.subarray(off));
      return;
    }
    const body = ex.newBody;
    if (body !== null) {
      // A body still arriving after this read pins the connection: watch for it being dropped.
      ex.newBody = null;
      const buffer = ex.buffer!;
      if (!buffer.done)
        trackUnconsumed(body, buffer, { method: ex.req.method, url: ex.req.displayURL, stack: ex.stack });
    }
    if (ex.phase === Phase.DONE) {
      if (off < chunk.length) this.#noReuse("bytes arrived after the response");
      this.#maybeFinish(ex);
    } else if (ex.discarding && ex.discardBudget < 0) {
      this.destroy(null);
    }
  }

  onInformational(head: ResponseHead): void {
    const ex = this.#ex!;
    if (++ex.informational > MAX_INFORMATIONAL) {
      throw new RoundtripError("ERR_TOO_MANY_1XX", `more than ${MAX_INFORMATIONAL} informational responses`);
    }
    const trace = ex.req.trace;
    if (head.status === 100) {
      trace?.got100Continue?.();
      ex.continueWaiter?.(true);
    }
    trace?.got1xxResponse?.(head.status, trustedHeaders(head.names, head.values));
  }

  onHead(head: ResponseHead): void {
    const ex = this.#ex!;
    if (ex.headerTimer !== null) {
      clearTimeout(ex.headerTimer);
      ex.headerTimer = null;
    }
    if (head.status === 101 && !(ex.req.headers?.has("upgrade") ?? false)) {
      throw new RoundtripError(
        "ERR_BAD_RESPONSE",
        "101 Switching Protocols to a request that asked for no upgrade",
      );
    }
    if (!head.keepAlive) this.#noReuse("the response closes the connection");
    if (head.keepAliveTimeout > 0) this.keepAliveHint = head.keepAliveTimeout * 1000;
    // A final response before the body went out. An error status or a close means the
    // server will not read the rest: stop writing. A success on a connection that stays
    // open may be a full-duplex answer (an echo, a stream): keep writing, as Go and
    // Node's fetch do. Either way the connection is not reused unless the write ends
    // before the response does (#maybeFinish). With Expect: 100-continue the rule is
    // Go's: the body goes unless the connection closes (declined: bodySkipped).
    if (!ex.writeDone) {
      let sendAnyway = false;
      if (ex.continueWaiter !== null) {
        // The body still waits for 100 Continue. As Go does (persistConn.readResponse),
        // send it unless the connection is closing: the server reads or discards it and
        // the connection stays usable. A 101 hands the socket over instead.
        sendAnyway = head.keepAlive && this.#reusable && head.status !== 101;
        ex.continueWaiter(sendAnyway);
      }
      if (ex.bodySkipped || (!sendAnyway && (head.status >= 300 || !head.keepAlive))) {
        ex.writeStopped = true;
        ex.abortFileSend?.();
        ex.drainWaiter?.();
        this.#noReuse("the response came before the request body was sent");
      }
    }
    const headers = trustedHeaders(head.names, head.values);
    let contentLength = head.contentLength;
    const total = head.framing === "length" ? head.contentLength : null;
    const buffer = new BodyBuffer(ex, total);
    if (ex.req.onDownloadProgress !== null) buffer.onProgress = ex.req.onDownloadProgress;
    ex.buffer = buffer;
    let uncompressed = false;
    if (head.framing !== "none" && this.settings.acceptEncoding !== null && head.status !== 206) {
      const ce = head.contentEncoding;
      if (ce !== null && wantsDecoding(ex.req)) {
        const decoder = createDecoder(ce, buffer, this, ex);
        if (decoder !== null) {
          ex.decoder = decoder;
          headers.delete("content-encoding");
          headers.delete("content-length");
          contentLength = -1;
          buffer.total = null;
          uncompressed = true;
        }
      }
    }
    ex.phase = head.framing === "none" ? Phase.DONE : Phase.BODY;
    const res = new Response(
      {
        status: head.status,
        statusText: head.statusText,
        httpVersion: head.version,
        headers,
        contentLength,
        url: ex.req.target.url.href,
        timings: ex.timings,
        conn: ex.connInfo,
      },
      buffer,
    );
    res.uncompressed = uncompressed;
    // Only an upgrade needs the Response after this call (to attach the socket). Nothing
    // the connection keeps may reach it otherwise: a Response dropped unread must be
    // collectable so the unconsumed-body warning can fire.
    ex.response = head.status === 101 ? res : null;
    ex.newBody = res.body;
    if (head.framing === "none" && head.status !== 101) buffer.end();
    // The promise's resolve/reject functions would keep the resolved Response alive.
    const deliver = ex.onResponse;
    ex.onResponse = ignore;
    ex.onError = ignore;
    deliver(res);
  }

  onData(chunk: Buffer): void {
    const ex = this.#ex!;
    if (ex.discarding) return;
    if (ex.decoder !== null) ex.decoder.write(chunk);
    else ex.buffer!.push(chunk);
  }

  onTrailers(names: string[], values: string[]): void {
    this.#ex!.buffer!.trailers = trustedHeaders(names, values);
  }

  onComplete(): void {
    const ex = this.#ex!;
    ex.phase = Phase.DONE;
    ex.timings.end = performance.now() - ex.t0;
    if (ex.decoder !== null) ex.decoder.end();
    else ex.buffer!.end();
  }

  /** The response has fully arrived: give the connection back or close it. */
  #maybeFinish(ex: Exchange): void {
    if (this.#ex !== ex) return;
    if (ex.timings.end < 0) ex.timings.end = performance.now() - ex.t0;
    if (!ex.writeDone && !ex.writeStopped) {
      // The response is complete while the request is still being written (or its
      // completion is still on its way back from the thread pool). As Go does
      // (maxWriteWaitBeforeConnReuse), wait briefly for the write to end; past that, stop
      // writing and do not reuse. #wroteRequest calls back here when it ends.
      if (ex.writeWait === null) {
        // Still active meanwhile: the exchange is not over (stats keep total = active + idle).
        ex.writeWait = setTimeout(() => {
          if (this.#ex !== ex || ex.writeDone) return;
          ex.writeStopped = true;
          ex.abortFileSend?.();
          ex.drainWaiter?.();
          this.#noReuse("the request body was still being written when the response ended");
          this.#maybeFinish(ex);
        }, WRITE_WAIT_BEFORE_REUSE);
      }
      return;
    }
    if (ex.bodySkipped) this.#noReuse("the request body was not sent (100-continue declined)");
    this.#detach(ex);
    ex.discardSettled();
    this.owner.inactive(this);
    if (this.#reusable && ex.writeDone) {
      // The pool decides, and tells the trace what it decided.
      this.owner.release(this, ex.req.trace);
    } else {
      ex.req.trace?.putIdleConn?.(
        new Error(`connection not reused: ${this.#notReused || "the request was not fully written"}`),
      );
      this.destroy(null);
    }
  }

  #detach(ex: Exchange): void {
    if (ex.headerTimer !== null) clearTimeout(ex.headerTimer);
    ex.headerTimer = null;
    if (ex.writeWait !== null) clearTimeout(ex.writeWait);
    ex.writeWait = null;
    if (ex.abortListener !== null) ex.req.signal?.removeEventListener("abort", ex.abortListener);
    ex.abortListener = null;
    this.#ex = null;
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
    this.closed = true;
    this.owner.inactive(this);
    this.owner.closed(this);
    if (ex.response !== null) ex.response.socket = socket;
    // The 101 response itself has no body: end it, so reading it does not hang and a
    // dropped Response is not reported as an unconsumed body.
    ex.buffer?.end();
  }

  /** The connection must not carry another exchange; the first reason is the one told. */
  #noReuse(why: string): void {
    if (!this.#reusable) return;
    this.#reusable = false;
    this.#notReused = why;
  }

  // ---- pausing, discarding, failing ---------------------------------------------

  pauseReading(reason: number): void {
    if (this.#paused === 0) this.socket.pause();
    this.#paused |= reason;
  }

  resumeReading(reason: number): void {
    if (this.#paused === 0) return;
    this.#paused &= ~reason;
    if (this.#paused === 0) {
      // The stall clock restarts: time we spent paused was not the server's.
      this.lastRead = performance.now();
      this.socket.resume();
    }
  }

  /** The reader closed the body early: read a bounded remainder to keep the socket, or destroy it. */
  discard(ex: Exchange): Promise<void> {
    ex.decoder?.destroy();
    ex.decoder = null;
    const p = this.parser;
    const cheap = p.state === State.LENGTH ? p.remaining <= DISCARD_LIMIT : p.state !== State.UNTIL_EOF;
    if (!cheap) {
      this.destroy(null);
      return Promise.resolve();
    }
    ex.discarding = true;
    ex.discardBudget = DISCARD_LIMIT;
    this.#paused = 0;
    this.socket.resume();
    return new Promise((resolve) => {
      // Bounded in time too: close() must not wait on a server that is slow to finish.
      const timer = setTimeout(() => {
        if (this.#ex === ex && ex.discarding) this.destroy(null);
      }, DISCARD_WAIT);
      ex.onDiscardSettled(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #abort(ex: Exchange): void {
    if (this.#ex !== ex) return;
    const reason = ex.req.signal?.reason;
    const err =
      reason instanceof RoundtripError
        ? reason
        : new RoundtripError("ERR_ABORTED", "the request was aborted", {
            cause: reason,
            url: ex.req.displayURL,
          });
    this.#fail(ex, err);
  }

  /** Fails the current exchange with `err` and destroys the connection. */
  #fail(ex: Exchange, err: Error): void {
    if (this.#ex !== ex) return;
    const nothingReceived = !this.parser.started;
    ex.writeStopped = true;
    ex.abortFileSend?.();
    ex.continueWaiter?.(false);
    this.#detach(ex);
    if (ex.phase === Phase.HEAD) {
      this.owner.inactive(this);
      this.destroy(null);
      ex.onError(withURL(err, ex.req.displayURL), nothingReceived);
    } else {
      if (ex.phase !== Phase.DONE) this.owner.inactive(this);
      ex.phase = Phase.DONE;
      if (ex.decoder !== null) ex.decoder.destroy();
      ex.buffer!.fail(withURL(err, ex.req.displayURL));
      ex.discardSettled();
      this.destroy(null);
    }
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
    if (ex.phase === Phase.DONE) {
      this.#noReuse("the server closed the connection");
      this.#maybeFinish(ex);
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
    if (!this.closed) {
      this.closed = true;
      this.owner.closed(this);
    }
  }

  /** Closes the connection; fails the current exchange with `err` if one is running. */
  destroy(err: Error | null): void {
    const ex = this.#ex;
    if (ex !== null && err !== null) this.#fail(ex, err);
    if (!this.socket.destroyed) this.socket.destroy();
    if (!this.closed) {
      this.closed = true;
      this.owner.closed(this);
    }
  }
}

function ignore(): void {}

/** We ask for compressed bodies (and decode them) unless HEAD, a Range, or the caller's own Accept-Encoding. */
export function wantsDecoding(req: PreparedRequest): boolean {
  const h = req.headers;
  return !req.isHead && !(h?.has("accept-encoding") ?? false) && !(h?.has("range") ?? false);
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

function socketError(err: Error, beforeHead: boolean): RoundtripError {
  const code = (err as NodeJS.ErrnoException).code ?? "";
  const what = beforeHead ? "before the response head" : "while reading the response body";
  return new RoundtripError("ERR_CONNECTION_CLOSED", `connection failed ${what}${code ? ` (${code})` : ""}`, {
    cause: err,
  });
}

async function* oneChunk(bytes: Buffer): AsyncGenerator<Buffer> {
  yield bytes;
}
