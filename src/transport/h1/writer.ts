/**
 * Writing one HTTP/1.1 request: the head through the codec's serializer, the single-write
 * fast path (a bodiless or small in-memory request goes out in one write, without a
 * promise), and the RequestWire the body writer drives for everything else (chunk
 * framing through the codec, sendfile on the socket for a Content-Length body).
 */
import type { Duplex } from "node:stream";
import { chunkHeader, type Framing, lastChunk, planFraming, serializeHead } from "../../http1/request.js";
import type { RequestWire } from "../body-writer.js";
import { type Exchange, wantsDecoding } from "../exchange.js";
import type { ConnSettings } from "../options.js";

/** Bodies up to this size go out in the same write as the head. */
export const COALESCE_LIMIT = 64 * 1024;

/** Whether `ex`'s request can go out in one synchronous write (no body, or small bytes, no 100-continue). */
export function fitsOneWrite(ex: Exchange): boolean {
  const body = ex.req.body;
  return (
    body === null || (body.kind === "bytes" && !ex.req.expectContinue && body.bytes!.length <= COALESCE_LIMIT)
  );
}

/**
 * Heads of requests without headers of their own, per connection settings (they hold the
 * default User-Agent, Accept-Encoding and proxy credentials): the same request line and
 * Host serialize to the same string, checked once. Strings only, so nothing shared can
 * change under a request; emptied when full.
 */
const plainHeads = new WeakMap<ConnSettings, Map<string, string>>();
const PLAIN_HEADS_MAX = 256;

/** The request head as a latin1 string; `close` asks the server to close after it. */
export function requestHead(ex: Exchange, framing: Framing, close: boolean): string {
  const req = ex.req;
  const trace = req.trace;
  const s = ex.settings;
  if (req.headers !== null || trace?.wroteHeaderField !== undefined) return serialize(ex, framing, close);
  if (framing.kind === "none" && !close && s.absoluteTarget === null && req.host === req.target.host) {
    // The most common request of all: the URL's own slot, no key to build.
    return req.target.plainHead(s, req.method, () => serialize(ex, framing, close));
  }
  let heads = plainHeads.get(s);
  if (heads === undefined) {
    heads = new Map();
    plainHeads.set(s, heads);
  }
  const key = `${req.method} ${req.target.path} ${req.host} ${framingKey(framing)}${close ? " close" : ""}${req.expectContinue ? " expect" : ""}${s.absoluteTarget !== null ? ` ${req.target.href}` : ""}`;
  let head = heads.get(key);
  if (head === undefined) {
    head = serialize(ex, framing, close);
    if (heads.size >= PLAIN_HEADS_MAX) heads.clear();
    heads.set(key, head);
  }
  return head;
}

function framingKey(f: Framing): string {
  return f.kind === "length" ? String(f.length) : f.kind;
}

function serialize(ex: Exchange, framing: Framing, close: boolean): string {
  const req = ex.req;
  const trace = req.trace;
  const s = ex.settings;
  return serializeHead(
    {
      method: req.method,
      target: s.absoluteTarget !== null ? s.absoluteTarget(req) : req.target.path,
      host: req.host,
      headers: req.headers,
      framing,
      userAgent: s.userAgent,
      close,
      expectContinue: req.expectContinue,
      acceptEncoding: s.acceptEncoding !== null && wantsDecoding(req) ? s.acceptEncoding : null,
      proxyAuthorization: s.proxyAuthorization,
    },
    trace?.wroteHeaderField ? (k, v) => trace.wroteHeaderField!(k, v) : undefined,
  );
}

/**
 * Sockets corked by writeSmall during this event-loop turn, uncorked together at its end
 * (setImmediate runs after the turn's I/O callbacks): the requests that responses of one
 * turn set off reach the server as one burst, which wakes it once instead of once per
 * write. The bytes leave in the same turn either way. Only worth it with other exchanges
 * in flight: alone, the setImmediate costs more than it saves (`batch` says which).
 */
const corkedThisTurn: Duplex[] = [];
let flushScheduled = false;

function corkForThisTurn(socket: Duplex): void {
  if (socket.writableCorked > 0) return;
  socket.cork();
  corkedThisTurn.push(socket);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushThisTurn);
  }
}

function flushThisTurn(): void {
  flushScheduled = false;
  const sockets = corkedThisTurn.splice(0);
  for (const s of sockets) s.uncork();
}

/** Writes a request that fitsOneWrite: head and body in a single write. Throws on a request that cannot be sent. */
export function writeSmall(socket: Duplex, ex: Exchange, close: boolean, batch: boolean, now: number): void {
  const req = ex.req;
  const bytes = req.body === null ? null : req.body.bytes!;
  const framing = planFraming(req.method, bytes === null ? undefined : bytes.length, req.headers);
  const head = requestHead(ex, framing, close);
  if (batch) corkForThisTurn(socket);
  if (framing.kind === "chunked") {
    const n = bytes === null ? 0 : bytes.length;
    if (n === 0) socket.write(head + "0\r\n\r\n", "latin1");
    else {
      socket.write(head + chunkHeader(n), "latin1");
      socket.write(bytes!);
      socket.write("\r\n0\r\n\r\n", "latin1");
    }
  } else if (bytes === null || bytes.length === 0) {
    socket.write(head, "latin1");
  } else {
    socket.write(head, "latin1");
    socket.write(bytes);
  }
  // One write, in the same synchronous call as the caller's clock read: one timestamp.
  ex.wroteHeaders(now);
  if (bytes !== null) ex.progress(bytes.length, bytes.length, true);
  ex.wroteRequest(now);
}

/** The wire of one request on one connection, for the body writer. */
export class H1Wire implements RequestWire {
  #chunked = false;

  constructor(
    readonly socket: Duplex,
    readonly ex: Exchange,
    /** Whether the exchange is still the connection's and the socket open. */
    readonly current: () => boolean,
    readonly close: boolean,
  ) {}

  head(length: number | null): number {
    const req = this.ex.req;
    const framing = planFraming(req.method, length, req.headers);
    this.#chunked = framing.kind === "chunked";
    this.socket.write(requestHead(this.ex, framing, this.close), "latin1");
    return framing.kind === "length" ? framing.length : -1;
  }

  write(chunk: Buffer): boolean {
    const socket = this.socket;
    if (!this.#chunked) return socket.write(chunk);
    socket.cork();
    socket.write(chunkHeader(chunk.length), "latin1");
    socket.write(chunk);
    const ok = socket.write("\r\n", "latin1");
    socket.uncork();
    return ok;
  }

  end(): void {
    if (this.#chunked) this.socket.write(lastChunk(null), "latin1");
  }

  get emitter(): Duplex {
    return this.socket;
  }

  get closed(): boolean {
    return !this.current();
  }

  get endsAtLength(): boolean {
    return !this.#chunked;
  }

  get fileSocket(): Duplex {
    return this.socket;
  }
}
