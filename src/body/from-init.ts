/**
 * A BodyBuffer fed from a BodyInit instead of a connection: what `new Response(body)`
 * and `new Body(init)` read from, so that a constructed body behaves as a received one
 * (same Body, same single use, backpressure, close(), trailers at EOF).
 *
 * Bytes in memory (string, bytes, URLSearchParams) are queued at once and the body is
 * complete from the start, as a response whose body came with its head. Every other
 * source (Blob, file(), FormData, Readable, ReadableStream, async iterable, another
 * Body) is pumped from the start, as a connection pushes what arrives: paused above the
 * buffer's high-water mark, and cancelled when the reader closes the body.
 */
import { Readable } from "node:stream";
import { RoundtripError } from "../errors.js";
import type { Headers } from "../http1/headers.js";
import { Body, BodyBuffer, type BodySource } from "./incoming.js";
import { type BodyInit, type OutgoingBody, toOutgoingBody } from "./outgoing.js";

export interface FedBuffer {
  buffer: BodyBuffer;
  /** Bytes the body will hold when known before reading (bytes, Blob, a form without file() parts), else null. */
  length: number | null;
  /** The Content-Type the source implies (text/plain for a string, a form's boundary), or null. */
  contentType: string | null;
}

/**
 * A buffer holding `init`'s bytes. `trailers`, when given, appear on the buffer only
 * once the body has reached its end (as received trailers do).
 */
export function bufferFromInit(init: BodyInit | null | undefined, trailers: Headers | null): FedBuffer {
  if (init == null) {
    const buffer = new BodyBuffer(null, 0);
    buffer.trailers = trailers;
    buffer.end();
    return { buffer, length: 0, contentType: null };
  }
  let body: OutgoingBody;
  try {
    body = toOutgoingBody(init);
  } catch (cause) {
    throw new RoundtripError(
      "ERR_INVALID_REQUEST",
      `unsupported response body type ${Object.prototype.toString.call(init)}`,
      { cause },
    );
  }
  if (body.kind === "bytes") {
    const bytes = body.bytes!;
    const buffer = new BodyBuffer(null, bytes.length);
    if (bytes.length > 0) buffer.push(bytes);
    buffer.trailers = trailers;
    buffer.end();
    return { buffer, length: bytes.length, contentType: body.contentType };
  }
  const buffer = new BodyBuffer(null, body.length);
  const open =
    body.kind === "file"
      ? () => fileChunks(body)
      : init instanceof Body
        ? // Closing a wrapped Body must not wait behind a read pending on its source.
          () => bodySource(init)
        : body.open!;
  const pump = new Pump(buffer, trailers);
  buffer.source = pump;
  pump.start(open);
  return { buffer, length: body.length, contentType: body.contentType };
}

async function* fileChunks(body: OutgoingBody): AsyncGenerator<Buffer> {
  const opened = await body.file!.open();
  try {
    yield* opened.chunks();
  } finally {
    await opened.close();
  }
}

function bodySource(body: Body): AsyncIterable<Uint8Array> & { cancel(): void } {
  const it = body[Symbol.asyncIterator]();
  return {
    [Symbol.asyncIterator]: () => it,
    cancel: () => void body.close().catch(() => {}),
  };
}

/** One way to read each kind of source, and to stop it while a read may be pending. */
interface Reader {
  next(): Promise<IteratorResult<unknown>>;
  cancel(): void;
}

function readerOf(source: AsyncIterable<unknown>): Reader {
  if (typeof ReadableStream !== "undefined" && source instanceof ReadableStream) {
    // reader.cancel() settles a pending read at once; the stream's iterator return() would
    // wait for it.
    const reader = (source as ReadableStream<unknown>).getReader();
    return {
      next: () => reader.read() as Promise<IteratorResult<unknown>>,
      cancel: () => void reader.cancel().catch(() => {}),
    };
  }
  const it = source[Symbol.asyncIterator]();
  if (source instanceof Readable) {
    return { next: () => it.next(), cancel: () => void source.destroy() };
  }
  const own = (source as { cancel?: () => void }).cancel;
  return {
    next: () => it.next(),
    cancel:
      typeof own === "function"
        ? own
        : () => {
            // An async generator's return() waits for a pending next(); nothing to await.
            if (typeof it.return === "function") void it.return(undefined).catch(() => {});
          },
  };
}

/** Feeds a BodyBuffer from a source; the buffer's BodySource. Owned by its buffer. */
class Pump implements BodySource {
  readonly #buffer: BodyBuffer;
  readonly #trailers: Headers | null;
  #reader: Reader | null = null;
  #paused = false;
  #wake: (() => void) | null = null;
  /** The reader gave up (close(), break, GC): stop reading and cancel the source. */
  #stopped = false;

  constructor(buffer: BodyBuffer, trailers: Headers | null) {
    this.#buffer = buffer;
    this.#trailers = trailers;
  }

  start(open: () => AsyncIterable<unknown>): void {
    void this.#run(open);
  }

  async #run(open: () => AsyncIterable<unknown>): Promise<void> {
    const buffer = this.#buffer;
    try {
      const reader = readerOf(open());
      this.#reader = reader;
      if (this.#stopped) {
        reader.cancel();
        return;
      }
      while (true) {
        while (this.#paused && !this.#stopped) await new Promise<void>((r) => (this.#wake = r));
        if (this.#stopped) return;
        const r = await reader.next();
        if (this.#stopped) return;
        if (r.done) break;
        const chunk = toBuffer(r.value);
        if (chunk.length > 0) buffer.push(chunk);
      }
      buffer.trailers = this.#trailers;
      buffer.end();
    } catch (err) {
      // The source's own error, as it is: a fake that throws ERR_UNEXPECTED_EOF is one.
      if (!this.#stopped) buffer.fail(err instanceof Error ? err : new Error(String(err)));
      this.#stop();
    }
  }

  #stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#reader?.cancel();
    this.#resumePump();
  }

  #resumePump(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  pause(): void {
    this.#paused = true;
  }
  resume(): void {
    this.#paused = false;
    this.#resumePump();
  }
  discard(): Promise<void> {
    this.#stop();
    return Promise.resolve();
  }
  abandon(): void {
    this.#stop();
  }
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (typeof chunk === "string") return Buffer.from(chunk, "utf8");
  throw new RoundtripError(
    "ERR_INVALID_REQUEST",
    `response body stream produced a ${typeof chunk === "object" ? Object.prototype.toString.call(chunk) : typeof chunk}, not bytes`,
  );
}
