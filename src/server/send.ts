/**
 * Moves a response body out: the head, then segments (literal bytes or ranges of the
 * content), then the end of the response. Two routes:
 *
 * - socket: on a plain-TCP HTTP/1 connection, with a file descriptor to read from, the head
 *   is flushed through node:http and the ranges go straight to the socket with
 *   sendFileToSocket (sendfile(2) when the native addon is live). node:http never sees the
 *   body bytes, so the response must have Content-Length framing, and `res.end()` with no
 *   data then completes it normally: keep-alive bookkeeping and the next request on the
 *   connection work as after any other response.
 * - stream: everything else (TLS, HTTP/2, a wrapped `res.write`, content without an fd)
 *   goes through `res.write` with backpressure, reading into pooled buffers.
 *
 * Either way a connection that closes mid-body aborts the transfer at once.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import { sendFileToSocket, setTcpCork } from "../body/zerocopy.js";
import { CHUNK_SIZE, giveBuffer, takeBuffer } from "./buffer-pool.js";
import type { ByteRange } from "./range.js";

export type Request = IncomingMessage | Http2ServerRequest;
/** The responses serveFile and serveContent accept. */
export type Response = ServerResponse | Http2ServerResponse;

/**
 * What this module uses of a response. ServerResponse and Http2ServerResponse both have
 * all of it at run time, but their typings differ (overloads; flushHeaders is missing
 * from the HTTP/2 typings), so the public union is viewed through this once, in `reply`.
 */
export interface Reply extends NodeJS.EventEmitter {
  readonly headersSent: boolean;
  statusCode: number;
  readonly socket: unknown;
  /** ServerResponse: set once its connection has closed. */
  readonly closed?: boolean;
  /** Http2ServerResponse: its stream, destroyed once closed or reset. */
  readonly stream?: { readonly destroyed: boolean };
  getHeader(name: string): number | string | string[] | undefined;
  setHeader(name: string, value: number | string | readonly string[]): unknown;
  hasHeader(name: string): boolean;
  removeHeader(name: string): void;
  writeHead(status: number): unknown;
  flushHeaders(): void;
  write(chunk: Uint8Array, callback?: (err?: Error | null) => void): boolean;
  end(chunk?: string): unknown;
  destroy(err?: Error): unknown;
}

export function reply(res: Response): Reply {
  return res as unknown as Reply;
}

/** A piece of the body: bytes written as they are, or a range read from the content. */
export type Segment = Uint8Array | ByteRange;

/** Random-access content, as the sender reads it. */
export interface Source {
  /** Descriptor of a regular file, when there is one: it makes the socket route possible. */
  readonly fd: number | undefined;
  /** Reads up to `length` bytes at `position` into `buf` at `offset`; 0 means end of content. */
  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number>;
}

/** Which route the body may take: ServeOptions' zeroCopy and tcpCork, resolved. */
export interface Route {
  /** The socket route is allowed (else always res.write). */
  zeroCopy: boolean;
  /** On the socket route, hold TCP_CORK from the head to the end of the body. */
  tcpCork: boolean;
}

/** How the body went out: not at all (HEAD, empty), straight to the socket, or via res.write. */
export type Transfer = "none" | "socket" | "stream";

export interface SendResult {
  transfer: Transfer;
  /** Body bytes handed to the connection. */
  bytes: number;
  /** Why the body stopped short; the response has then been destroyed. */
  error?: Error;
}

/**
 * Sends the head with `status` and the headers already set on `res`, then the body.
 * Never rejects: when the transfer fails or the client goes away, the response is
 * destroyed (its head is out, so no error page can follow; only a cut connection tells
 * the client the body is incomplete) and the result carries the error.
 */
export async function sendBody(
  req: Request,
  res: Reply,
  status: number,
  source: Source,
  segments: Segment[],
  route: Route,
): Promise<SendResult> {
  const socket = route.zeroCopy ? plainSocket(req, res, source) : undefined;
  const progress: SendResult = { transfer: socket ? "socket" : "stream", bytes: 0 };
  res.writeHead(status);

  const abort = new AbortController();
  const onClose = () => abort.abort(new Error("connection closed before the body was sent"));
  res.once("close", onClose);
  socket?.once("close", onClose);
  // The client may have left while the file was being opened: 'close' is then past.
  if (connectionGone(res)) onClose();
  try {
    if (socket) await sendToSocket(res, socket, source.fd!, segments, route.tcpCork, abort.signal, progress);
    else await sendThroughResponse(res, source, segments, abort.signal, progress);
    await endResponse(res, abort.signal);
  } catch (err) {
    progress.error = err instanceof Error ? err : new Error(String(err));
    res.destroy();
  } finally {
    res.off("close", onClose);
    socket?.off("close", onClose);
  }
  return progress;
}

/** Sends the head (and nothing else) and waits until the response is complete. Never rejects. */
export async function sendHeadOnly(res: Reply, status: number): Promise<SendResult> {
  res.writeHead(status);
  try {
    await endResponse(res, undefined);
    return { transfer: "none", bytes: 0 };
  } catch (err) {
    return { transfer: "none", bytes: 0, error: err instanceof Error ? err : new Error(String(err)) };
  }
}

/**
 * The TCP socket the body may be written to directly, or undefined. Direct writes bypass
 * node:http, so every condition under which node:http (or a middleware) would transform or
 * frame the bytes itself rules it out.
 */
function plainSocket(req: Request, res: Reply, source: Source): Socket | undefined {
  if (source.fd === undefined || req.httpVersionMajor !== 1) return undefined;
  const socket = res.socket;
  // Null while an earlier pipelined response still owns the connection; TLS needs the
  // bytes encrypted in user space; a non-Socket duplex has no descriptor to sendfile to.
  if (!(socket instanceof Socket) || socket instanceof TLSSocket || socket.destroyed) return undefined;
  // Compression and similar middleware replace res.write / res.end on the instance.
  if (Object.hasOwn(res, "write") || Object.hasOwn(res, "end")) return undefined;
  // Without Content-Length node:http would chunk; raw bytes would then break the framing.
  if (res.getHeader("content-length") === undefined || res.hasHeader("transfer-encoding")) return undefined;
  return socket;
}

async function sendToSocket(
  res: Reply,
  socket: Socket,
  fd: number,
  segments: Segment[],
  tcpCork: boolean,
  signal: AbortSignal,
  progress: SendResult,
): Promise<void> {
  // Set before the head is written, so the kernel holds the head until file bytes join it.
  const corked = tcpCork && setTcpCork(socket, true);
  try {
    // node:http writes the head to the socket now, not with the first body chunk. The head
    // and any multipart preamble are ordinary socket writes; sendFileToSocket waits for
    // them to reach the kernel before the file's bytes go in underneath the stream
    // (docs/zerocopy.md), so only its calls need awaiting.
    res.flushHeaders();
    const refresh = socketTimeoutRefresher(socket);
    const onProgress = (n: number) => {
      progress.bytes += n;
      refresh?.();
    };
    for (const seg of segments) {
      signal.throwIfAborted();
      if (seg instanceof Uint8Array) {
        socket.write(seg);
        progress.bytes += seg.length;
      } else {
        await sendFileToSocket(socket, fd, seg.start, seg.length, { signal, onProgress });
      }
    }
  } finally {
    // Sends the held tail now (else the kernel would after 200 ms), and leaves the
    // connection uncorked for the next response. No-op once the socket is destroyed.
    if (corked) setTcpCork(socket, false);
  }
}

/**
 * With the native addon the kernel writes the file, so the socket's idle timer (set by
 * `server.timeout` or `res.setTimeout`) never sees activity and would fire mid-transfer on
 * a slow client. Progress re-arms it, at most once a second to keep the cost negligible.
 */
function socketTimeoutRefresher(socket: Socket): (() => void) | undefined {
  if (!socket.timeout) return undefined;
  let last = Date.now();
  return () => {
    const now = Date.now();
    if (now - last < 1000 || !socket.timeout) return;
    last = now;
    socket.setTimeout(socket.timeout);
  };
}

async function sendThroughResponse(
  res: Reply,
  source: Source,
  segments: Segment[],
  signal: AbortSignal,
  progress: SendResult,
): Promise<void> {
  for (const seg of segments) {
    signal.throwIfAborted();
    if (seg instanceof Uint8Array) {
      progress.bytes += seg.length;
      if (!res.write(seg)) await drained(res, signal);
    } else {
      await pumpRange(res, source, seg, signal, progress);
    }
  }
}

/** The read/write loop: pooled buffers, each returned once its write has completed. */
async function pumpRange(
  res: Reply,
  source: Source,
  range: ByteRange,
  signal: AbortSignal,
  progress: SendResult,
): Promise<void> {
  let sent = 0;
  while (sent < range.length) {
    signal.throwIfAborted();
    const buf = takeBuffer();
    let n: number;
    try {
      n = await source.read(buf, 0, Math.min(CHUNK_SIZE, range.length - sent), range.start + sent);
    } catch (err) {
      giveBuffer(buf);
      throw err;
    }
    if (n === 0) {
      giveBuffer(buf);
      throw new Error(`content ended ${range.length - sent} bytes early (file truncated while served?)`);
    }
    signal.throwIfAborted();
    const ok = res.write(n === buf.length ? buf : buf.subarray(0, n), (err?: Error | null) => {
      if (!err) giveBuffer(buf);
    });
    sent += n;
    progress.bytes += n;
    if (!ok) await drained(res, signal);
  }
}

function drained(res: Reply, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: unknown) => {
      res.off("drain", onDrain);
      signal.removeEventListener("abort", onAbort);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onDrain = () => done();
    const onAbort = () => done(signal.reason);
    if (signal.aborted) return done(signal.reason);
    res.on("drain", onDrain);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Ends the response and waits for 'finish' (everything handed to the connection) or
 * 'close' (it went away first; then the body did not fully arrive and this rejects).
 */
function endResponse(res: Reply, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    if (connectionGone(res)) {
      res.end(); // releases node:http's state; nothing is written to a closed connection
      return reject(new Error("connection closed before the response finished"));
    }
    const done = (err?: Error) => {
      res.off("finish", onFinish);
      res.off("close", onClose);
      if (err) reject(err);
      else resolve();
    };
    const onFinish = () => done();
    const onClose = () => done(new Error("connection closed before the response finished"));
    res.on("finish", onFinish);
    res.on("close", onClose);
    res.end();
  });
}

/** Whether the response's connection (or HTTP/2 stream) has already closed. */
function connectionGone(res: Reply): boolean {
  if (res.closed === true || res.stream?.destroyed === true) return true;
  const socket = res.socket as { destroyed?: boolean } | null;
  return socket?.destroyed === true;
}
