/**
 * Request bodies: every BodyInit reduced to one of three kinds the connection knows how
 * to send — bytes in memory, a file, or a stream of chunks — with its length when known
 * and whether it can be sent again.
 */
import { Readable } from "node:stream";
import { RoundtripError } from "../errors.js";
import { FileBody, fileOfBlob, type OpenFile } from "./file.js";
import { multipartBody } from "./multipart.js";

export type BodyInit =
  | string
  | Uint8Array
  | ArrayBuffer
  | ArrayBufferView
  | Blob
  | FileBody
  | URLSearchParams
  | FormData
  | Readable
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array | string>;

export type ChunkSource = () => AsyncIterable<Uint8Array | string>;

export interface OutgoingBody {
  kind: "bytes" | "file" | "stream";
  /** Known length in bytes, or null (sent chunked). Files learn theirs when opened. */
  length: number | null;
  /** Can be sent again without the caller's help (retries, 307/308). */
  replayable: boolean;
  /** Content-Type to send when the caller set none. */
  contentType: string | null;
  bytes: Buffer | null;
  file: FileBody | null;
  /** Opens the chunk stream; for one-shot sources, callable once. */
  open: ChunkSource | null;
  /**
   * The same bytes as open(), with file parts left as open files that a connection may
   * send with sendfile(2) (or read with their chunks()). Each file is closed by the
   * source when it is resumed or returned. Only replayable sources with file parts have it.
   */
  segments?: () => AsyncIterable<Buffer | OpenFile>;
  /**
   * Learns the length before the head is written (a form with file() parts stats them);
   * resolves with the length, or null when it stays unknown.
   */
  prepare?: () => Promise<number | null>;
  /** Closes a one-shot source if it was never opened (the request failed before its body). */
  dispose?: () => void;
}

export function bytesBody(bytes: Buffer, contentType: string | null): OutgoingBody {
  return {
    kind: "bytes",
    length: bytes.length,
    replayable: true,
    contentType,
    bytes,
    file: null,
    open: null,
  };
}

/** A file's length is learnt when the connection opens it, just before the head. */
function fileBody(file: FileBody, contentType: string | null): OutgoingBody {
  return { kind: "file", length: null, replayable: true, contentType, bytes: null, file, open: null };
}

export function streamBody(
  open: ChunkSource,
  length: number | null,
  replayable: boolean,
  contentType: string | null,
): OutgoingBody {
  return { kind: "stream", length, replayable, contentType, bytes: null, file: null, open };
}

export function toOutgoingBody(init: BodyInit): OutgoingBody {
  if (typeof init === "string") return bytesBody(Buffer.from(init, "utf8"), "text/plain;charset=UTF-8");
  if (init instanceof Uint8Array) {
    const b = Buffer.isBuffer(init) ? init : Buffer.from(init.buffer, init.byteOffset, init.byteLength);
    return bytesBody(b, null);
  }
  if (init instanceof ArrayBuffer) return bytesBody(Buffer.from(init), null);
  if (ArrayBuffer.isView(init))
    return bytesBody(Buffer.from(init.buffer, init.byteOffset, init.byteLength), null);
  if (init instanceof FileBody) return fileBody(init, null);
  if (init instanceof URLSearchParams) {
    return bytesBody(Buffer.from(init.toString(), "utf8"), "application/x-www-form-urlencoded;charset=UTF-8");
  }
  if (typeof Blob !== "undefined" && init instanceof Blob) {
    // A Blob from our openAsBlob() goes out as its file (sendfile); any other is streamed.
    const backing = fileOfBlob(init);
    if (backing !== undefined) return fileBody(backing, init.type || null);
    return streamBody(
      () => init.stream() as unknown as AsyncIterable<Uint8Array>,
      init.size,
      true,
      init.type || null,
    );
  }
  if (typeof FormData !== "undefined" && init instanceof FormData) return multipartBody(init);
  if (init instanceof Readable || isAsyncIterable(init)) {
    const source = init as AsyncIterable<Uint8Array | string>;
    if (isUsedSource(source)) {
      throw new RoundtripError(
        "ERR_BODY_USED",
        "the request body stream was already read (by an earlier request or by its owner); pass a new stream, or getBody to make one per request",
      );
    }
    let opened = false;
    const body = streamBody(
      () => {
        if (opened) {
          throw new RoundtripError(
            "ERR_REQUEST_BODY",
            "a stream body can be sent only once; pass getBody to resend it",
          );
        }
        opened = true;
        usedSources.add(source);
        return source;
      },
      null,
      false,
      null,
    );
    body.dispose = () => {
      if (opened) return; // the writer closes what it opened
      opened = true;
      usedSources.add(source);
      closeSource(source);
    };
    return body;
  }

  throw new RoundtripError(
    "ERR_REQUEST_BODY",
    `unsupported body type ${Object.prototype.toString.call(init)}`,
  );
}

export function jsonBody(value: unknown): OutgoingBody {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (cause) {
    throw new RoundtripError("ERR_REQUEST_BODY", "json option could not be serialized", { cause });
  }
  if (text === undefined) throw new RoundtripError("ERR_REQUEST_BODY", "json option serializes to nothing");
  return bytesBody(Buffer.from(text, "utf8"), "application/json");
}

/**
 * One-shot sources a request has opened or closed: given to another request they would
 * send nothing (an ended Readable, a finished generator) and the server would answer an
 * empty body as if it were the upload. Weak: a source the caller drops takes its entry.
 */
const usedSources = new WeakSet<object>();

/**
 * A one-shot source that cannot be sent as a whole any more: one a request already
 * opened or closed; a Readable that ended (a partly read one is sent from where its
 * reader left it, as Node streams are meant to be handed on); a ReadableStream that is
 * locked or was read from (WHATWG's "disturbed": fetch refuses those too). A generator
 * iterated by someone else cannot be told from a fresh one.
 */
function isUsedSource(source: AsyncIterable<unknown>): boolean {
  if (usedSources.has(source)) return true;
  if (source instanceof Readable) return source.readableEnded;
  if (typeof ReadableStream !== "undefined" && source instanceof ReadableStream) {
    // Node's isDisturbed reads web streams too (its types say only Readable).
    return source.locked || Readable.isDisturbed(source as unknown as Readable);
  }
  return false;
}

function isAsyncIterable(x: unknown): x is AsyncIterable<unknown> {
  return (
    typeof x === "object" &&
    x !== null &&
    typeof (x as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function"
  );
}

/** A request body source that threw: its own ERR_REQUEST_BODY as it is, anything else wrapped. */
export function bodyReadFailed(cause: unknown): RoundtripError {
  return cause instanceof RoundtripError && cause.code === "ERR_REQUEST_BODY"
    ? cause
    : new RoundtripError("ERR_REQUEST_BODY", "reading the request body failed", { cause });
}

/** The body gave more bytes than the Content-Length already sent. */
export function bodyTooLong(declared: number): RoundtripError {
  return new RoundtripError(
    "ERR_REQUEST_BODY",
    `request body is longer than its declared length ${declared}`,
  );
}

/** The body ended before the Content-Length already sent. */
export function bodyTooShort(sent: number, declared: number): RoundtripError {
  return new RoundtripError(
    "ERR_REQUEST_BODY",
    `request body ended after ${sent} of its declared ${declared} bytes`,
  );
}

/** A chunk from a stream source as bytes; strings are UTF-8. */
export function toChunk(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (typeof chunk === "string") return Buffer.from(chunk, "utf8");
  throw new RoundtripError(
    "ERR_REQUEST_BODY",
    `request body stream produced a ${typeof chunk === "object" ? Object.prototype.toString.call(chunk) : typeof chunk}, not bytes`,
  );
}

/** Closes a stream source nobody will read: destroy a Readable, cancel a ReadableStream, end a generator. */
function closeSource(source: AsyncIterable<unknown>): void {
  try {
    if (source instanceof Readable) source.destroy();
    else if (typeof ReadableStream !== "undefined" && source instanceof ReadableStream) {
      void source.cancel().catch(() => {});
    } else {
      const gen = source as Partial<AsyncGenerator<unknown>>;
      if (typeof gen.return === "function") void gen.return(undefined).catch(() => {});
    }
  } catch {
    // closing is best effort
  }
}
