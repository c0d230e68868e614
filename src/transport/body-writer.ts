/**
 * The request body writer, for both protocols: it learns the body's length (a file is
 * opened, a form with files stats them), has the connection write the head, waits at the
 * 100-continue gate, then drives the body — bytes, a file (sendfile(2) where the sink
 * allows it), a form's segments, or a stream of chunks — into the sink with
 * backpressure, enforcing a declared length, reporting upload progress, and closing the
 * caller's source on every exit, once.
 *
 * The sink is where the bytes go: an HTTP/1.1 connection (which frames chunks) or an
 * HTTP/2 stream. The writer never touches a socket itself except through sendFileToSocket
 * on the sink's `fileSocket`.
 */
import type { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";
import type { OpenFile } from "../body/file.js";
import { bodyReadFailed, bodyTooLong, bodyTooShort, toChunk } from "../body/outgoing.js";
import { sendFileToSocket } from "../body/zerocopy.js";
import { RoundtripError } from "../errors.js";
import type { Exchange } from "./exchange.js";

/** Where one request's head and body go. */
export interface RequestWire {
  /**
   * Writes the head for a body of `length` bytes (null: unknown) and returns the length
   * it declared, or -1 (chunked). Throws on a request that cannot be sent.
   */
  head(length: number | null): number;
  /** Writes body bytes (framed as the head said); false when full: wait for 'drain'. */
  write(chunk: Buffer): boolean;
  /** The body is complete: the last chunk, END_STREAM (nothing with a Content-Length over HTTP/1.1). */
  end(): void;
  /** Emits 'drain' when it takes more and 'close' when it takes nothing more. */
  readonly emitter: EventEmitter;
  /** The sink takes nothing more for this exchange (the connection moved on, the stream closed). */
  readonly closed: boolean;
  /**
   * True when the body ends with its last byte (HTTP/1.1 with a Content-Length): the
   * request is written then, and a check that follows (a file's size) cannot withhold
   * the end. False when end() is a mark of its own that a failed check withholds.
   */
  readonly endsAtLength: boolean;
  /** A socket sendfile(2) may write to (plain TCP, Content-Length framing), else null. */
  readonly fileSocket: Duplex | null;
  /** The 100-continue gate said the body is not to be sent. */
  skipped?(): void;
}

/** Sends a request that has a body; rejects with what the carrier must fail the exchange with. */
export async function sendBody(ex: Exchange, wire: RequestWire): Promise<void> {
  const req = ex.req;
  const body = req.body!;
  if (body.kind === "bytes") {
    const bytes = body.bytes!;
    wire.head(bytes.length);
    ex.wroteHeaders();
    if (req.expectContinue && bytes.length > 0 && !(await passGate(ex, wire))) return;
    if (stopped(ex, wire)) return;
    // Written once the sink has taken it all: an early response finds the write unfinished.
    if (bytes.length > 0 && !wire.write(bytes)) await drained(ex, wire);
    if (stopped(ex, wire)) return;
    ex.progress(bytes.length, bytes.length, true);
    await finish(ex, wire, null);
    return;
  }
  if (body.kind === "file") {
    const opened = await body.file!.open();
    try {
      if (stopped(ex, wire)) return;
      const declared = wire.head(opened.length);
      ex.wroteHeaders();
      if (req.expectContinue && !(await passGate(ex, wire))) return;
      if (declared >= 0 && wire.fileSocket !== null) {
        await sendFile(ex, wire, opened, 0, opened.length);
        if (stopped(ex, wire)) return;
        ex.progress(opened.length, opened.length, true);
      } else if (!(await writeChunks(ex, wire, opened.chunks(), declared, opened.length))) {
        return;
      }
      // A file that changed size under us sent a body that may not be what it was.
      await finish(ex, wire, opened);
    } finally {
      await opened.close();
    }
    return;
  }
  // A stream of chunks: length declared by the source or the caller, else chunked.
  const length = body.prepare !== undefined ? await body.prepare() : body.length;
  if (stopped(ex, wire)) {
    body.dispose?.();
    return;
  }
  const declared = wire.head(length);
  ex.wroteHeaders();
  if (req.expectContinue && !(await passGate(ex, wire))) return;
  // A form with file parts and a Content-Length: each file goes out through
  // sendFileToSocket between the parts' bytes: sendfile(2) on plain TCP, else its pooled
  // read/write loop (bounded memory, no per-chunk garbage).
  if (declared >= 0 && body.segments !== undefined && wire.fileSocket !== null) {
    if (await writeSegments(ex, wire, declared, body.segments())) await finish(ex, wire, null);
    return;
  }
  if (await writeChunks(ex, wire, body.open!(), declared, declared >= 0 ? declared : length))
    await finish(ex, wire, null);
}

function stopped(ex: Exchange, wire: RequestWire): boolean {
  return ex.writeStopped || wire.closed;
}

/** The 100-continue gate; false (the sink told) when the body is not to be sent. */
async function passGate(ex: Exchange, wire: RequestWire): Promise<boolean> {
  if (await ex.waitContinue()) return true;
  wire.skipped?.();
  return false;
}

/**
 * Every byte went out: end the body and report the request written, after the file's
 * check when that can still withhold the end, before it when the last byte was the end.
 */
async function finish(ex: Exchange, wire: RequestWire, file: OpenFile | null): Promise<void> {
  if (wire.endsAtLength) {
    wire.end();
    ex.wroteRequest();
    await file?.checkUnchanged();
    return;
  }
  await file?.checkUnchanged();
  if (stopped(ex, wire)) return;
  wire.end();
  ex.wroteRequest();
}

/** Resolves on 'drain', or 'close', or when the exchange stops writing. */
function drained(ex: Exchange, wire: RequestWire): Promise<void> {
  const emitter = wire.emitter;
  return new Promise((resolve) => {
    const done = () => {
      emitter.off("drain", done);
      emitter.off("close", done);
      ex.wakeWriter = null;
      resolve();
    };
    ex.wakeWriter = done;
    emitter.on("drain", done);
    emitter.on("close", done);
  });
}

/**
 * Runs `step` for each item of the caller's source until it ends. Resolves true when it
 * ran to its end, false when the exchange stopped first. Any early exit (stopped, failed,
 * too long) closes the source, as Go closes a request body on every path: a file stream
 * must not keep its fd, and a form's source closes the file it is paused on.
 */
async function eachItem<T>(
  ex: Exchange,
  wire: RequestWire,
  source: AsyncIterable<T>,
  step: (item: T) => Promise<void> | undefined,
): Promise<boolean> {
  let iterated: AsyncIterator<T> | null = null;
  let ended = false; // the source ran to its end (or threw): nothing to close
  try {
    iterated = source[Symbol.asyncIterator]();
    while (true) {
      if (stopped(ex, wire)) return false;
      let r: IteratorResult<T>;
      try {
        r = await iterated.next();
      } catch (cause) {
        ended = true;
        throw bodyReadFailed(cause);
      }
      if (r.done) {
        ended = true;
        return !stopped(ex, wire);
      }
      if (stopped(ex, wire)) return false;
      const waiting = step(r.value);
      if (waiting !== undefined) await waiting;
    }
  } finally {
    if (iterated !== null && !ended) void iterated.return?.(undefined)?.catch(() => {});
  }
}

/**
 * Writes chunks with backpressure; enforces a declared length (-1: none). Resolves true
 * when every byte went out, false when the exchange stopped first.
 */
async function writeChunks(
  ex: Exchange,
  wire: RequestWire,
  source: AsyncIterable<unknown>,
  declared: number,
  total: number | null,
): Promise<boolean> {
  let sent = 0;
  const whole = await eachItem(ex, wire, source, (item) => {
    const chunk = toChunk(item);
    if (chunk.length === 0) return undefined;
    sent += chunk.length;
    if (declared >= 0 && sent > declared) throw bodyTooLong(declared);
    return put(ex, wire, chunk, sent, total);
  });
  if (!whole) return false;
  if (declared >= 0 && sent !== declared) throw bodyTooShort(sent, declared);
  ex.progress(sent, total, true);
  return true;
}

/** Writes `chunk` (`sent` bytes with it); returns what to wait for when the sink is full. */
function put(
  ex: Exchange,
  wire: RequestWire,
  chunk: Buffer,
  sent: number,
  total: number | null,
): Promise<void> | undefined {
  const ok = wire.write(chunk);
  ex.progress(sent, total, false);
  return ok ? undefined : drained(ex, wire);
}

/** Sends a body of bytes and open files, in order, for a declared Content-Length. */
async function writeSegments(
  ex: Exchange,
  wire: RequestWire,
  declared: number,
  source: AsyncIterable<Buffer | OpenFile>,
): Promise<boolean> {
  let sent = 0;
  const whole = await eachItem(ex, wire, source, (seg) => {
    if (sent + seg.length > declared) throw bodyTooLong(declared);
    if (Buffer.isBuffer(seg)) {
      if (seg.length === 0) return undefined;
      sent += seg.length;
      return put(ex, wire, seg, sent, declared);
    }
    // sendFileToSocket waits for the bytes queued before it (the part's head).
    const before = sent;
    sent += seg.length;
    return sendFile(ex, wire, seg, before, declared).then(() => {
      if (!stopped(ex, wire)) return seg.checkUnchanged();
    });
  });
  if (!whole) return false;
  if (sent !== declared) throw bodyTooShort(sent, declared);
  ex.progress(sent, declared, true);
  return true;
}

/** Sends an open file's range to the sink's socket; `before` bytes of a `total`-byte body went before it. */
async function sendFile(
  ex: Exchange,
  wire: RequestWire,
  opened: OpenFile,
  before: number,
  total: number,
): Promise<void> {
  const controller = new AbortController();
  ex.abortFileSend = () => controller.abort(new RoundtripError("ERR_ABORTED", "file upload stopped"));
  let sent = before;
  try {
    await sendFileToSocket(wire.fileSocket!, opened.fd, opened.offset, opened.length, {
      signal: controller.signal,
      onProgress: (n) => {
        sent += n;
        ex.progress(sent, total, false);
      },
    });
  } catch (err) {
    if (stopped(ex, wire)) return;
    throw err instanceof RoundtripError
      ? err
      : new RoundtripError("ERR_REQUEST_BODY", `sending ${opened.path} failed`, { cause: err });
  } finally {
    ex.abortFileSend = null;
  }
}
