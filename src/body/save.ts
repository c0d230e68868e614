/**
 * Body.saveTo: writes a response body into a file, zero-copy where the connection can do
 * it (splice(2) on plain TCP, see splice.ts), else with a loop that writes each chunk
 * before taking the next, so memory stays bounded by the body's backpressure window.
 *
 * Who owns what: saveBody owns the file descriptor when it opened it (a path) and closes
 * it on every exit; a FileHandle or fd given by the caller stays open. The BodyBuffer
 * stays the connection's: saveBody only takes chunks from it, or asks its source to move
 * the rest itself.
 */

import { write } from "node:fs";
import { type FileHandle, open, unlink } from "node:fs/promises";
import { RoundtripError } from "../errors.js";
import type { BodyBuffer } from "./incoming.js";

export type SaveDestination = string | FileHandle | number;

export interface SaveOptions {
  /** fs flags used to open a path. Default "w" (create or truncate). Ignored for a FileHandle or fd. */
  flags?: string;
  /** Mode of a file created from a path. Default 0o666 (less the umask). */
  mode?: number;
  /** Aborting stops the transfer at once; the body is discarded and the call rejects. */
  signal?: AbortSignal;
  /**
   * On failure, remove the file saveTo created from a path. Default false: the bytes
   * written so far are kept (like curl -o). Never applies to a FileHandle or fd.
   */
  removeOnError?: boolean;
}

export interface SaveResult {
  /** Bytes written to the file. */
  bytes: number;
  /** Whether splice(2) moved (the rest of) the body in the kernel. */
  zeroCopy: boolean;
}

function writeAll(fd: number, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    let off = 0;
    const next = (): void => {
      // position null: at the file's current position, as the zero-copy path writes.
      write(fd, chunk, off, chunk.length - off, null, (err, n) => {
        if (err) return reject(err);
        off += n;
        if (off < chunk.length) next();
        else resolve();
      });
    };
    next();
  });
}

function fileError(err: unknown, dest: SaveDestination): RoundtripError {
  const what = typeof dest === "string" ? ` to ${dest}` : "";
  const code = (err as { code?: unknown }).code;
  return new RoundtripError(
    "ERR_FILE_WRITE",
    `writing the response body${what} failed${typeof code === "string" ? ` (${code})` : ""}`,
    { cause: err },
  );
}

/** Raised by our own write step, so the catch below can tell it from the body's errors. */
class WriteFailed {
  constructor(readonly err: unknown) {}
}

/**
 * Moves every remaining byte of `buf` into `dest`. `finished` runs once the body was read
 * to its end; `abandon` discards the body (connection drained or destroyed) on failure.
 */
export async function saveBody(
  buf: BodyBuffer,
  dest: SaveDestination,
  opts: SaveOptions,
  finished: () => void,
  abandon: () => Promise<void>,
): Promise<SaveResult> {
  const signal = opts.signal;
  let handle: FileHandle | null = null;
  let fd: number;
  try {
    signal?.throwIfAborted();
    if (typeof dest === "string") {
      handle = await open(dest, opts.flags ?? "w", opts.mode ?? 0o666);
      fd = handle.fd;
    } else if (typeof dest === "number") {
      if (!Number.isInteger(dest) || dest < 0)
        throw new RoundtripError(
          "ERR_INVALID_REQUEST",
          `saveTo: fd must be a non-negative integer, got ${dest}`,
        );
      fd = dest;
    } else {
      fd = dest.fd;
      if (fd < 0) throw new RoundtripError("ERR_INVALID_REQUEST", "saveTo: the FileHandle is closed");
    }
  } catch (err) {
    await abandon();
    if (signal?.aborted) throw signal.reason;
    throw err instanceof RoundtripError ? err : fileError(err, dest);
  }

  let written = 0;
  let zeroCopy = false;
  const writeQueued = async (): Promise<void> => {
    for (let chunk = buf.take(); chunk !== null; chunk = buf.take()) {
      await writeAll(fd, chunk).catch((err: unknown) => {
        throw new WriteFailed(err);
      });
      written += chunk.length;
    }
  };
  const onAbort = (): void => {
    // Failing the buffer wakes a wait() and makes the source stop (a splice is cancelled).
    void abandon();
  };
  signal?.addEventListener("abort", onAbort);
  try {
    // The source stops pushing, has us write what is queued, then moves the rest itself.
    const spliced = buf.done ? null : (buf.source?.spliceInto?.(fd, signal, writeQueued) ?? null);
    if (spliced !== null) {
      zeroCopy = true;
      // Not `written += await`: that reads `written` before writeQueued adds to it.
      const moved = await spliced.catch((err: unknown) => {
        throw err instanceof WriteFailed ? err : new WriteFailed(err);
      });
      written += moved;
    }
    for (;;) {
      await writeQueued();
      signal?.throwIfAborted();
      if (buf.error !== null) throw buf.error;
      if (buf.done) break;
      await buf.wait();
    }
    finished();
    return { bytes: written, zeroCopy };
  } catch (caught) {
    await abandon();
    if (opts.removeOnError === true && typeof dest === "string") {
      await handle?.close().catch(() => {});
      handle = null;
      await unlink(dest).catch(() => {});
    }
    if (signal?.aborted) throw signal.reason;
    if (caught instanceof WriteFailed) throw fileError(caught.err, dest);
    throw caught;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    await handle?.close();
  }
}
