/**
 * Response: the head of an HTTP response and its Body. Its connection is already back
 * in the pool when the whole body arrived with the head; otherwise the body holds it
 * until read to the end or closed.
 */
import type { Duplex } from "node:stream";
import { Body, type BodyBuffer } from "../body/incoming.js";
import { Headers } from "../http1/headers.js";

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
  retries = 0;
  /** How cache() answered: from the store, from the origin, after a 304, or stale; undefined without cache(). */
  cache: "hit" | "miss" | "revalidated" | "stale" | undefined = undefined;
  readonly body: Body;
  /** Only on 101 Switching Protocols: the upgraded stream. */
  socket?: Duplex;
  timings: Timings;
  conn: ConnInfo;
  #buffer: BodyBuffer;

  /** @internal */
  constructor(
    init: {
      status: number;
      statusText: string;
      httpVersion: "1.0" | "1.1" | "2";
      headers: Headers;
      contentLength: number;
      url: string;
      timings: Timings;
      conn: ConnInfo;
    },
    buffer: BodyBuffer,
  ) {
    this.status = init.status;
    this.statusText = init.statusText;
    this.httpVersion = init.httpVersion;
    this.headers = init.headers;
    this.contentLength = init.contentLength;
    this.url = init.url;
    this.timings = init.timings;
    this.conn = init.conn;
    this.#buffer = buffer;
    this.body = new Body(buffer);
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
    else b.onSettled = fn;
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
