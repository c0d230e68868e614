/**
 * Read buffers for the read/write loop, reused across responses so a busy server does not
 * allocate (and the GC does not sweep) one buffer per chunk. A buffer comes back only when
 * the stream's write callback says the bytes have left it; one that never comes back (the
 * connection died mid-write) is simply collected, and `take` allocates afresh.
 */

/** Bytes per read; large enough that syscall overhead is small, small enough to pool. */
export const CHUNK_SIZE = 128 * 1024;
/** Buffers kept for reuse across all responses: at most 4 MiB held while idle. */
const MAX_FREE = 32;

const free: Buffer[] = [];

export function takeBuffer(): Buffer {
  return free.pop() ?? Buffer.allocUnsafeSlow(CHUNK_SIZE);
}

export function giveBuffer(buf: Buffer): void {
  if (free.length < MAX_FREE) free.push(buf);
}
