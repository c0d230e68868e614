/**
 * Moves the bytes arriving on a plain TCP socket into a file with splice(2), socket ->
 * pipe -> file in the kernel (native/splice.c), so a download never passes through a
 * JavaScript buffer. The receiving half of zero copy; zerocopy.ts has the sending half.
 *
 * CONTRACT (used by the HTTP/1.1 connection for Body.saveTo):
 *   spliceSocketToFile(socket, fd, length, opts) moves at most `length` bytes (null: until
 *   the peer's FIN) into `fd` at its current position and resolves with
 *   `{ bytes, eof }` (eof: the FIN came). The caller must have stopped consuming the
 *   socket (stopSocketReads) and must not read from it until this settles; it keeps
 *   ownership of `fd` and of the socket. Rejects with `signal.reason` on abort, code
 *   ERR_SOCKET_CLOSED when the socket is destroyed on our side meanwhile, or the errno
 *   (ECONNRESET for a reset, ENOSPC for a full disk, ...) as `code` of a system-style Error.
 *
 * While a call runs a pool thread owns a private dup of the socket fd; libuv must not read
 * the socket then, or the two would race for its bytes: stopSocketReads() stops libuv's
 * reads (pause() alone does not: Node keeps reading until its buffer is full) and hands
 * back what Node had already buffered, resumeSocketReads() starts them again.
 */
import { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { TLSSocket } from "node:tls";
import { type CodedError, zeroCopyAddon } from "./zerocopy.js";

export interface SpliceOptions {
  signal?: AbortSignal | undefined;
  /** Called with the bytes written to the file since the previous call. */
  onProgress?: ((n: number) => void) | undefined;
}

export interface SpliceResult {
  bytes: number;
  eof: boolean;
}

/** Bytes asked of one addon call when the body is framed by close (no length known). */
const UNBOUNDED_SLICE = 1 << 30;

interface ReadHandle {
  fd?: number;
  reading?: boolean;
  readStop?(): number;
  readStart?(): number;
}

function handleOf(socket: Socket): ReadHandle | null {
  return (socket as unknown as { _handle?: ReadHandle | null })._handle ?? null;
}

/** Why `socket` cannot be spliced from, or undefined if it can. */
export function spliceUnsupportedReason(socket: Duplex): string | undefined {
  const addon = zeroCopyAddon();
  if (addon === undefined) return "zero-copy addon not available";
  if (socket instanceof TLSSocket || (socket as { encrypted?: unknown }).encrypted === true)
    return "TLS socket";
  if (!(socket instanceof Socket)) return "not a net.Socket";
  if (socket.destroyed) return "socket destroyed";
  const h = handleOf(socket);
  if (h === null || typeof h.fd !== "number" || h.fd < 0) return "socket has no file descriptor";
  if (typeof h.readStop !== "function" || typeof h.readStart !== "function")
    return "socket handle cannot stop reading";
  return undefined;
}

/**
 * Stops libuv reading the socket (and pauses it), and returns the bytes Node had already
 * read into the socket's own buffer: they come before anything spliced afterwards.
 * Taking them out with read() also emits them as 'data' events (Readable does), so a
 * caller with a 'data' listener receives them there and must not handle them twice.
 */
export function stopSocketReads(socket: Socket): Buffer[] {
  socket.pause();
  // Drain first, while libuv still counts as reading: read() below the high-water mark
  // calls _read(), which restarts libuv's reads when they are stopped. All of this is
  // synchronous, so no byte arrives between the drain and readStop().
  const pending: Buffer[] = [];
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
    pending.push(chunk);
  }
  const h = handleOf(socket);
  if (h !== null && h.reading !== false) {
    h.reading = false;
    h.readStop?.();
  }
  return pending;
}

/** Undoes stopSocketReads: libuv reads again and the socket flows. */
export function resumeSocketReads(socket: Socket): void {
  const h = handleOf(socket);
  if (h !== null && !socket.destroyed && h.reading === false) {
    h.reading = true;
    h.readStart?.();
  }
  socket.resume();
}

function codedError(code: string, message: string): CodedError {
  const err = new Error(message) as CodedError;
  err.code = code;
  return err;
}

export async function spliceSocketToFile(
  socket: Socket,
  fd: number,
  length: number | null,
  opts: SpliceOptions = {},
): Promise<SpliceResult> {
  const addon = zeroCopyAddon();
  if (addon === undefined) throw new Error("spliceSocketToFile: the zero-copy addon is not loaded");
  if (!Number.isInteger(fd) || fd < 0) throw new RangeError(`fd must be a non-negative integer, got ${fd}`);
  if (length !== null && (!Number.isSafeInteger(length) || length < 0))
    throw new RangeError(`length must be a non-negative safe integer or null, got ${length}`);
  opts.signal?.throwIfAborted();
  const sock = handleOf(socket)?.fd;
  if (typeof sock !== "number" || sock < 0 || socket.destroyed)
    throw codedError("ERR_SOCKET_CLOSED", "socket closed before the body could be received");

  const token = addon.createCancelToken();
  let stopReason: unknown;
  const stop = (reason: unknown): void => {
    if (stopReason !== undefined) return;
    stopReason = reason;
    addon.cancel(token);
  };
  const onAbort = (): void => stop(opts.signal?.reason);
  const onClose = (): void =>
    stop(codedError("ERR_SOCKET_CLOSED", "socket closed while the body was received"));
  opts.signal?.addEventListener("abort", onAbort);
  socket.on("close", onClose);

  let moved = 0;
  try {
    while (length === null || moved < length) {
      const want = length === null ? UNBOUNDED_SLICE : length - moved;
      const n = await addon.splice(sock, fd, want, token);
      if (n > 0) {
        moved += n;
        opts.onProgress?.(n);
      }
      if (stopReason !== undefined) throw stopReason;
      if (n === -1) return { bytes: moved, eof: true };
      // n === 0: nothing arrived for a while and the worker gave its thread back. The
      // caller's body timer (which sees no progress) decides when that is too long.
    }
    return { bytes: moved, eof: false };
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    if (stopReason !== undefined) throw stopReason;
    const e = err as CodedError & { bytesMoved?: number };
    if (typeof e.bytesMoved === "number" && e.bytesMoved > 0) opts.onProgress?.(e.bytesMoved);
    throw err;
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
    socket.off("close", onClose);
  }
}
