/**
 * An open file on node:fs's callback API, for serveFile: fs/promises' FileHandle costs
 * more per request (an object with its own close-on-GC bookkeeping, promise-based
 * requests), which shows when small files are served at a high rate (docs/server.md).
 * It is a `Source` as it stands. Whoever opens one closes it, on every path.
 */
import { type BigIntStats, close, fstat, open, read } from "node:fs";

export class FileDescriptor {
  private closed = false;
  private constructor(readonly fd: number) {}

  static open(path: string, flags: number): Promise<FileDescriptor> {
    return new Promise((resolve, reject) =>
      open(path, flags, (err, fd) => (err ? reject(err) : resolve(new FileDescriptor(fd)))),
    );
  }

  stat(): Promise<BigIntStats> {
    return new Promise((resolve, reject) =>
      fstat(this.fd, { bigint: true }, (err, info) => (err ? reject(err) : resolve(info))),
    );
  }

  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    // After close the number may already name another file: never read through it.
    if (this.closed)
      return Promise.reject(Object.assign(new Error("file already closed"), { code: "EBADF" }));
    return new Promise((resolve, reject) =>
      read(this.fd, buf, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))),
    );
  }

  /** Closes once; later calls resolve at once, so the fd number is never closed twice. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve, reject) => close(this.fd, (err) => (err ? reject(err) : resolve())));
  }
}
