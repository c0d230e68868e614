/**
 * The response body: lazy, async-iterable, read once.
 *
 * Two objects, on purpose:
 *  - BodyBuffer (internal) is what the connection pushes into. It holds the queued
 *    chunks and the link back to the connection for backpressure and early close.
 *  - Body (public) is what the caller holds. It references its BodyBuffer, never the
 *    other way round, so a Body the caller drops can be garbage-collected while the
 *    connection still feeds the buffer; a FinalizationRegistry then frees the connection
 *    and warns once per call site (ROUNDTRIP_UNCONSUMED_BODY).
 *
 * Backpressure: when more than HIGH_WATER bytes are queued the connection is paused,
 * and resumed once the reader has taken the queue below LOW_WATER.
 */
import { Readable } from "node:stream";
import { RoundtripError, redactURL } from "../errors.js";
import type { Headers } from "../http1/headers.js";
import { bufferFromInit } from "./from-init.js";
import type { BodyInit } from "./outgoing.js";
import { type SaveDestination, type SaveOptions, type SaveResult, saveBody } from "./save.js";

const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;

/** What a body needs from the connection that feeds it. */
export interface BodySource {
  pause(): void;
  resume(): void;
  /**
   * The reader gave up on the body. The source drains a bounded remainder to keep the
   * connection, or destroys it; resolves when either is done.
   */
  discard(): Promise<void>;
  /** The Body was garbage-collected unfinished: free the connection now. */
  abandon(): void;
  /**
   * Body.saveTo: move the rest of the body into `fd` in the kernel (splice(2)), or return
   * null when this body cannot (TLS, HTTP/2, chunked, decoded, no addon); saveTo then
   * writes the pushed chunks itself. The source first stops pushing and awaits
   * `writeQueued` (saveTo writes every chunk queued so far), so the file gets the bytes in
   * order. Progress and the end go through the buffer (advance, end, fail). Resolves with
   * the bytes it moved once the buffer has ended or failed; rejects only when writing the
   * file failed (after failing the buffer and freeing the connection).
   */
  spliceInto?(
    fd: number,
    signal: AbortSignal | undefined,
    writeQueued: () => Promise<void>,
  ): Promise<number> | null;
}

export type ProgressListener = (p: { loaded: number; total: number | null }) => void;

export class BodyBuffer {
  chunks: Buffer[] = [];
  /** Index of the next chunk to hand out (avoids Array#shift on every read). */
  head = 0;
  queued = 0;
  received = 0;
  done = false;
  error: Error | null = null;
  paused = false;
  discarded = false;
  /** Registered for the unconsumed-body warning (so only those pay to unregister). */
  tracked = false;
  source: BodySource | null;
  trailers: Headers | null = null;
  total: number | null;
  onProgress: ProgressListener | null = null;
  /** Called once when the body ends, fails or is discarded (the Client clears its deadline). */
  onSettled: (() => void) | null = null;
  #lastProgress = 0;
  #wake: (() => void) | null = null;

  constructor(source: BodySource | null, total: number | null) {
    this.source = source;
    this.total = total;
  }

  push(chunk: Buffer): void {
    if (this.discarded) return;
    this.chunks.push(chunk);
    this.queued += chunk.length;
    this.received += chunk.length;
    if (this.onProgress !== null) this.#progress(false);
    if (this.queued > HIGH_WATER && !this.paused && this.source !== null) {
      this.paused = true;
      this.source.pause();
    }
    this.#signal();
  }

  /** `n` body bytes went straight into the caller's file (saveTo's zero-copy path). */
  advance(n: number): void {
    this.received += n;
    if (this.onProgress !== null) this.#progress(false);
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    if (this.onProgress !== null) this.#progress(true);
    this.#signal();
    this.settle();
  }

  fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.error = err;
    this.#signal();
    this.settle();
  }

  /** @internal */
  settle(): void {
    const fn = this.onSettled;
    this.onSettled = null;
    fn?.();
  }

  /** The next chunk, or null when none is queued. */
  take(): Buffer | null {
    if (this.head === this.chunks.length) return null;
    const chunk = this.chunks[this.head]!;
    this.chunks[this.head++] = EMPTY;
    if (this.head === this.chunks.length) {
      this.chunks.length = 0;
      this.head = 0;
    }
    this.queued -= chunk.length;
    if (this.paused && this.queued < LOW_WATER) {
      this.paused = false;
      this.source?.resume();
    }
    return chunk;
  }

  /** Resolves when a chunk is queued or the body ended. */
  wait(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  #signal(): void {
    const wake = this.#wake;
    if (wake !== null) {
      this.#wake = null;
      wake();
    }
  }

  #progress(final: boolean): void {
    // Throttled: every 64 KiB or 1% of the total, whichever is larger, and the last one.
    const step = Math.max(64 * 1024, this.total ? this.total / 100 : 0);
    if (final || this.received - this.#lastProgress >= step) {
      this.#lastProgress = this.received;
      this.onProgress!({ loaded: this.received, total: this.total });
    }
  }
}

const EMPTY = Buffer.alloc(0);

/** What the unconsumed-body warning says about the request. */
export interface RequestSite {
  method: string;
  /** The request URL, password masked. */
  url: string;
  /** The caller's stack, when call sites are tracked (ROUNDTRIP_TRACE_BODIES=1). */
  stack: (() => string) | null;
}

interface Abandoned {
  buffer: BodyBuffer;
  site: RequestSite;
}

const warnedSites = new Set<string>();
const registry = new FinalizationRegistry<Abandoned>(({ buffer, site }) => {
  if (buffer.done || buffer.discarded) return;
  buffer.discarded = true;
  buffer.source?.abandon();
  const stack = site.stack?.() ?? "";
  // Once per call site: the caller's frame when known (a loop or an async function
  // resumed later calls from the same line with different frames below), else the
  // method and URL without its query.
  const key = stack !== "" ? stack.split("\n", 1)[0]! : `${site.method} ${site.url.replace(/[?#].*$/, "")}`;
  if (warnedSites.has(key)) return;
  warnedSites.add(key);
  const where =
    stack !== ""
      ? `Request ${site.method} ${site.url} made at:\n${stack}`
      : `Request: ${site.method} ${site.url} (set ROUNDTRIP_TRACE_BODIES=1 to record the call site of every request)`;
  process.emitWarning(
    `A response body was garbage-collected before it was read to the end or closed; its connection was destroyed. Read the body or call res.close() (or use \`await using\`). ${where}`,
    { code: "ROUNDTRIP_UNCONSUMED_BODY", type: "RoundtripWarning" },
  );
});

/**
 * Watches `body`: if it is garbage-collected before its end, free the connection and
 * warn. Called only for bodies still arriving after the read that carried the head.
 * @internal
 */
export function trackUnconsumed(body: Body, buffer: BodyBuffer, site: RequestSite): void {
  if (buffer.done || buffer.discarded) return;
  buffer.tracked = true;
  registry.register(body, { buffer, site }, body);
}

/** What an ERR_INVALID_JSON names: the response a Body belongs to. */
export interface BodyOwner {
  readonly status: number;
  readonly url: string;
}

export class Body implements AsyncIterable<Uint8Array> {
  #buf: BodyBuffer;
  #used = false;
  /** @internal The Response this is the body of, for json()'s error (read when it fails, so a later res.url counts). */
  _owner: BodyOwner | null = null;

  /**
   * A body holding `init`'s bytes (string, bytes, Blob, file(), FormData,
   * URLSearchParams, Readable, ReadableStream, async iterable, another Body), read as a
   * received one is: once, by iteration, stream(), webStream() or text()/json()/bytes().
   * A stream source is read from the start, with backpressure, and cancelled by close().
   */
  constructor(init?: BodyInit | null);
  /** @internal what the transport builds over the buffer a connection feeds. */
  constructor(buffer: BodyBuffer);
  constructor(init?: BodyInit | BodyBuffer | null) {
    // The transport's path is the first test: one instanceof per received response.
    this.#buf = init instanceof BodyBuffer ? init : bufferFromInit(init, null).buffer;
  }

  get used(): boolean {
    return this.#used;
  }

  /** @internal every byte is here and nothing failed: reading will not wait. */
  get _complete(): boolean {
    const b = this.#buf;
    return !this.#used && b.done && b.error === null && !b.discarded;
  }

  /** Bytes received so far. */
  get received(): number {
    return this.#buf.received;
  }

  #claim(): BodyBuffer {
    if (this.#used) throw new RoundtripError("ERR_BODY_USED", "the response body was already read or closed");
    this.#used = true;
    return this.#buf;
  }

  /** Claims the body now (so `used` is true at once) and iterates its chunks. */
  [Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    return this.#chunks(this.#claim());
  }

  async *#chunks(buf: BodyBuffer): AsyncGenerator<Uint8Array, void, undefined> {
    let finished = false;
    try {
      while (true) {
        const chunk = buf.take();
        if (chunk !== null) {
          yield chunk;
          continue;
        }
        if (buf.error !== null) throw buf.error;
        if (buf.done) {
          finished = true;
          if (buf.tracked) registry.unregister(this);
          return;
        }
        await buf.wait();
      }
    } finally {
      // A `break` out of for-await lands here: give the connection back or destroy it.
      if (!finished) await discard(buf, this);
    }
  }

  async bytes(): Promise<Uint8Array> {
    const buf = this.#claim();
    const parts: Buffer[] = [];
    let size = 0;
    while (true) {
      let chunk = buf.take();
      while (chunk !== null) {
        parts.push(chunk);
        size += chunk.length;
        chunk = buf.take();
      }
      if (buf.error !== null) throw buf.error;
      if (buf.done) break;
      await buf.wait();
    }
    if (buf.tracked) registry.unregister(this);
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
  }

  async text(): Promise<string> {
    const b = await this.bytes();
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("utf8");
  }

  /**
   * The body parsed as JSON. A body that is not JSON (an HTML error page, a truncated
   * document, an empty body) is ERR_INVALID_JSON with the response's `status` and `url`
   * and the SyntaxError as `cause`, so it can be told apart from a network failure.
   */
  async json<T = unknown>(): Promise<T> {
    const text = await this.text();
    try {
      return JSON.parse(text) as T;
    } catch (cause) {
      const owner = this._owner;
      const why = cause instanceof Error ? cause.message : String(cause);
      throw new RoundtripError(
        "ERR_INVALID_JSON",
        `response body is not JSON${owner ? ` (status ${owner.status})` : ""}: ${why}`,
        owner ? { cause, status: owner.status, url: redactURL(owner.url) } : { cause },
      );
    }
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const b = await this.bytes();
    if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer)
      return b.buffer;
    // Buffer#slice does not copy; Uint8Array's does, giving an ArrayBuffer of exactly the body.
    return Uint8Array.prototype.slice.call(b).buffer as ArrayBuffer;
  }

  /**
   * Discards the rest of the body. The connection is kept when the remainder is small
   * (up to 64 KiB, arriving within 200 ms), else destroyed. Safe to call twice.
   */
  async close(): Promise<void> {
    if (this.#used && (this.#buf.done || this.#buf.discarded)) return;
    this.#used = true;
    await discard(this.#buf, this);
  }

  /** A Node Readable over the body (created on demand; honours backpressure). */
  stream(): Readable {
    const buf = this.#claim();
    const it = this.#chunks(buf);
    const body = this;
    return new Readable({
      async read() {
        try {
          const r = await it.next();
          this.push(r.done ? null : r.value);
        } catch (err) {
          this.destroy(err as Error);
        }
      },
      // Discard first: failing the buffer wakes a read waiting for data, so destroy never
      // waits on a server that sends nothing more (a generator's return() would queue
      // behind that read).
      destroy(err, callback) {
        discard(buf, body).then(
          () => {
            void it.return(undefined);
            callback(err);
          },
          (e: Error) => callback(err ?? e),
        );
      },
    });
  }

  /** A WHATWG ReadableStream over the body (created on demand). */
  webStream(): ReadableStream<Uint8Array> {
    const buf = this.#claim();
    const it = this.#chunks(buf);
    const body = this;
    return new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          const r = await it.next();
          if (r.done) controller.close();
          else controller.enqueue(r.value);
        },
        async cancel() {
          // Discard first (it wakes a pending read); the generator may never have started.
          await discard(buf, body);
          await it.return(undefined);
        },
      },
      { highWaterMark: 0 },
    );
  }

  /**
   * Writes the rest of the body into a file: a path (opened with `flags`, default "w"), a
   * FileHandle or a file descriptor (left open). With splice(2) on plain TCP for an
   * identity body framed by Content-Length or by close; else chunk by chunk with
   * backpressure. See docs/zerocopy.md.
   */
  saveTo(dest: SaveDestination, opts: SaveOptions = {}): Promise<SaveResult> {
    let buf: BodyBuffer;
    try {
      buf = this.#claim();
    } catch (err) {
      return Promise.reject(err);
    }
    return saveBody(
      buf,
      dest,
      opts,
      () => {
        if (buf.tracked) registry.unregister(this);
      },
      () => discard(buf, this),
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

async function discard(buf: BodyBuffer, body: Body): Promise<void> {
  if (buf.tracked) registry.unregister(body);
  if (buf.done || buf.discarded) return;
  // A read still waiting (text() while close() is called) fails instead of returning a
  // truncated body as if it were whole.
  buf.fail(new RoundtripError("ERR_ABORTED", "the response body was closed before it was read to the end"));
  buf.discarded = true;
  buf.settle();
  buf.chunks.length = 0;
  buf.head = 0;
  buf.queued = 0;
  if (buf.paused) {
    buf.paused = false;
    buf.source?.resume();
  }
  await buf.source?.discard();
}
