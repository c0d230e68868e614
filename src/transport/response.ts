/**
 * Response: the head of an HTTP response and its Body. Its connection is already back
 * in the pool when the whole body arrived with the head; otherwise the body holds it
 * until read to the end or closed.
 */
import { createRequire } from "node:module";
import type { Duplex } from "node:stream";
import { bufferFromInit } from "../body/from-init.js";
import { Body, BodyBuffer } from "../body/incoming.js";
import type { BodyInit } from "../body/outgoing.js";
import { RoundtripError } from "../errors.js";
import { Headers, type HeadersInit } from "../http1/headers.js";

/**
 * Milliseconds since the request was handed to the transport, in the order they happen;
 * -1 when it did not happen (no DNS for an IP literal, no dial on a pooled connection).
 */
export interface Timings {
  /** The wait for a connection ended: the dial that serves it started, or it got a pooled one. */
  queued: number;
  /** Name resolved (names only, on a new connection). */
  dnsDone: number;
  /** TCP (or the custom dial) connected, on a new connection. */
  connectDone: number;
  /** TLS handshake done (https, new connection). */
  tlsDone: number;
  wroteHeaders: number;
  wroteRequest: number;
  /** First byte of the response (1xx included). */
  firstByte: number;
  /** The response has fully arrived (the body may still be unread). */
  end: number;
}

export interface ConnInfo {
  reused: boolean;
  wasIdle: boolean;
  /** ms the connection sat idle before this request; 0 when new. */
  idleTime: number;
  localAddress?: string;
  remoteAddress?: string;
}

export function newTimings(): Timings {
  return {
    queued: -1,
    dnsDone: -1,
    connectDone: -1,
    tlsDone: -1,
    wroteHeaders: -1,
    wroteRequest: -1,
    firstByte: -1,
    end: -1,
  };
}

const EMPTY_TRAILERS = new Headers();

/** What `new Response(body, init)` takes; every field optional. */
export interface ResponseInit {
  /** Default 200; an integer from 100 to 999. */
  status?: number;
  /** Default: the standard reason phrase of `status` ("OK"), or "" for an unregistered one. */
  statusText?: string;
  headers?: HeadersInit;
  /** Visible on `trailers` once the body has been read to its end, as received trailers are. */
  trailers?: HeadersInit;
  /** Default "". */
  url?: string;
  /** Default "1.1". */
  httpVersion?: "1.0" | "1.1" | "2";
}

/** The head the transport parsed, as a connection hands it over. @internal */
export interface ReceivedHead {
  status: number;
  statusText: string;
  httpVersion: "1.0" | "1.1" | "2";
  headers: Headers;
  contentLength: number;
  url: string;
  timings: Timings;
  conn: ConnInfo;
}

const HTTP_VERSIONS = new Set(["1.0", "1.1", "2"]);
/** RFC 9112 reason-phrase: HTAB, SP, VCHAR, obs-text. */
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;
const CONTENT_LENGTH = /^[0-9]{1,15}$/;

/** The head and buffer of `new Response(body, init)`, every field checked. */
function headFromInit(
  body: BodyInit | null | undefined,
  o: ResponseInit,
): ReceivedHead & { buffer: BodyBuffer } {
  const status = o.status ?? 200;
  if (!Number.isInteger(status) || status < 100 || status > 999) {
    throw new RoundtripError(
      "ERR_INVALID_REQUEST",
      `Response status must be an integer from 100 to 999, got ${String(status)}`,
    );
  }
  const statusText = o.statusText ?? reasonPhrase(status);
  if (typeof statusText !== "string" || !REASON_PHRASE.test(statusText)) {
    throw new RoundtripError(
      "ERR_INVALID_REQUEST",
      "Response statusText holds CR, LF, NUL or another control byte",
    );
  }
  const httpVersion = o.httpVersion ?? "1.1";
  if (!HTTP_VERSIONS.has(httpVersion)) {
    throw new RoundtripError(
      "ERR_INVALID_REQUEST",
      `Response httpVersion must be "1.0", "1.1" or "2", got ${String(httpVersion)}`,
    );
  }
  const headers = new Headers(o.headers ?? null);
  const trailers = o.trailers === undefined ? null : new Headers(o.trailers);
  const fed = bufferFromInit(body, trailers);
  if (fed.contentType !== null && !headers.has("content-type")) headers.set("Content-Type", fed.contentType);
  const declared = headers.get("content-length");
  const contentLength =
    declared !== null && CONTENT_LENGTH.test(declared) ? Number(declared) : (fed.length ?? -1);
  // Download progress reports this total, as for a received body with a Content-Length.
  if (contentLength >= 0) fed.buffer.total = contentLength;
  return {
    status,
    statusText,
    httpVersion,
    headers,
    contentLength,
    url: o.url ?? "",
    timings: newTimings(),
    conn: { reused: false, wasIdle: false, idleTime: 0 },
    buffer: fed.buffer,
  };
}

// node:http only for its table of reason phrases, loaded when a Response is first built by hand.
let reasons: Record<number, string | undefined> | null = null;
function reasonPhrase(status: number): string {
  reasons ??= (createRequire(import.meta.url)("node:http") as typeof import("node:http")).STATUS_CODES;
  return reasons[status] ?? "";
}

/** Reads a Response's body buffer; for the layers inside the package (the testing kit). */
let bufferOf: (res: Response) => BodyBuffer;

export class Response implements AsyncDisposable {
  status: number;
  statusText: string;
  httpVersion: "1.0" | "1.1" | "2";
  headers: Headers;
  /** -1 when unknown (chunked, read-to-close, or transparently decoded). */
  contentLength: number;
  /** The body was transparently decompressed (Content-Encoding and Content-Length removed). */
  uncompressed = false;
  url: string;
  redirected = false;
  /** Resends retry() made for this response (0 without retry()); see docs/middleware.md. */
  declare retries: number;
  /** How cache() answered: from the store, from the origin, after a 304, or stale; undefined without cache(). */
  declare cache: "hit" | "miss" | "revalidated" | "stale" | undefined;
  readonly body: Body;
  /** Only on 101 Switching Protocols: the upgraded stream. */
  socket?: Duplex;
  timings: Timings;
  conn: ConnInfo;
  #buffer: BodyBuffer;

  static {
    bufferOf = (res) => res.#buffer;
  }

  /**
   * A response built by hand (a fake RoundTripper, a middleware, a cache) that behaves
   * as a received one: its body is read once, streams with backpressure, is cancelled by
   * close(), and shows `trailers` at its end. `contentLength` is the Content-Length
   * header's when it has a valid one, else the body's length when known before reading
   * (string, bytes, Blob), else -1. A Content-Type the body implies (text/plain for a
   * string, a form's boundary) is added when `headers` has none, as WHATWG's Response does.
   * Invalid status, statusText, httpVersion or header fields are ERR_INVALID_REQUEST.
   */
  constructor(body?: BodyInit | null, init?: ResponseInit);
  /** @internal the transport's path: a parsed head and the buffer its connection feeds. */
  constructor(head: ReceivedHead, buffer: BodyBuffer);
  constructor(body?: BodyInit | ReceivedHead | null, init?: ResponseInit | BodyBuffer) {
    // The transport's path is the first test; the constructor stays as small as it was
    // without the public path (its bytecode size decides whether V8 inlines it).
    let head: ReceivedHead;
    let buffer: BodyBuffer;
    if (init instanceof BodyBuffer) {
      head = body as ReceivedHead;
      buffer = init;
    } else {
      const made = headFromInit(body as BodyInit | null | undefined, init ?? {});
      head = made;
      buffer = made.buffer;
    }
    this.status = head.status;
    this.statusText = head.statusText;
    this.httpVersion = head.httpVersion;
    this.headers = head.headers;
    this.contentLength = head.contentLength;
    this.url = head.url;
    this.timings = head.timings;
    this.conn = head.conn;
    this.#buffer = buffer;
    this.body = new Body(buffer);
    this.body._owner = this;
  }

  /** True for 2xx statuses. */
  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  /** Trailer fields; filled once the body reached its end. */
  get trailers(): Headers {
    return this.#buffer.trailers ?? EMPTY_TRAILERS;
  }

  /** @internal runs `fn` once the body has ended, failed or been discarded. */
  _onBodySettled(fn: () => void): void {
    const b = this.#buffer;
    if (b.done || b.discarded) fn();
    else {
      // Chained: a fake RoundTripper may watch the body too (the Client's deadline comes after).
      const before = b.onSettled;
      b.onSettled =
        before === null
          ? fn
          : () => {
              before();
              fn();
            };
    }
  }

  text(): Promise<string> {
    return this.body.text();
  }
  json<T = unknown>(): Promise<T> {
    return this.body.json<T>();
  }
  bytes(): Promise<Uint8Array> {
    return this.body.bytes();
  }
  arrayBuffer(): Promise<ArrayBuffer> {
    return this.body.arrayBuffer();
  }
  /** Discards the rest of the body; see Body.close(). */
  close(): Promise<void> {
    return this.body.close();
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await this.body.close();
  }
}

// The middleware fields' defaults live on the prototype: a response no middleware touched
// costs nothing more to build (the constructor stays as small as it was); retry() and
// cache() set their own.
Object.defineProperties(Response.prototype, {
  retries: { value: 0, writable: true, enumerable: false, configurable: true },
  cache: { value: undefined, writable: true, enumerable: false, configurable: true },
});

/** The buffer behind `res`'s body. @internal */
export function responseBuffer(res: Response): BodyBuffer {
  return bufferOf(res);
}
