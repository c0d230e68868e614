/**
 * Sends a byte range of an open file to a socket.
 *
 * CONTRACT (used by the client's file() bodies and by roundtrip/server):
 *   sendFileToSocket(socket, fd, offset, length, opts) resolves with the number of bytes
 *   written (always `length` on success) once they have been handed to the kernel, and
 *   rejects if the socket closes, the file is shorter than `length`, or `opts.signal`
 *   aborts. The caller must not write to the socket until it settles.
 *
 * This first version is the portable fallback: a read/write loop with backpressure.
 * The sendfile(2) path through the native addon replaces it where available.
 */
import { read } from "node:fs";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";

export interface SendFileOptions {
  signal?: AbortSignal | undefined;
  /** Called with the number of bytes sent since the previous call. */
  onProgress?: ((sent: number) => void) | undefined;
}

export interface ZeroCopyStatus {
  /** True when the native sendfile(2) path is loaded and enabled. */
  readonly available: boolean;
  /** Why it is not available, when it is not. */
  readonly reason?: string;
}

export const zeroCopy: ZeroCopyStatus = { available: false, reason: "native addon not built" };

const CHUNK = 256 * 1024;

function readAt(fd: number, buf: Buffer, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, buf, 0, length, position, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

export async function sendFileToSocket(
  socket: Socket | Duplex,
  fd: number,
  offset: number,
  length: number,
  opts: SendFileOptions = {},
): Promise<number> {
  let sent = 0;
  while (sent < length) {
    opts.signal?.throwIfAborted();
    if (socket.destroyed) throw new Error("socket closed during file send");
    const want = Math.min(CHUNK, length - sent);
    const buf = Buffer.allocUnsafe(want);
    const n = await readAt(fd, buf, want, offset + sent);
    if (n === 0) throw new Error(`file ended after ${sent} of ${length} bytes`);
    const ok = socket.write(n === want ? buf : buf.subarray(0, n));
    sent += n;
    opts.onProgress?.(n);
    if (!ok) await waitDrain(socket, opts.signal);
  }
  return sent;
}

function waitDrain(socket: Duplex, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: unknown) => {
      socket.off("drain", onDrain);
      socket.off("close", onClose);
      signal?.removeEventListener("abort", onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new Error("socket closed during file send"));
    const onAbort = () => done(signal?.reason);
    socket.on("drain", onDrain);
    socket.on("close", onClose);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
