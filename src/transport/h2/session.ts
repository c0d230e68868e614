/**
 * H2Session: HTTP/2 over TLS (the Transport's `allowHTTP2`), a PooledConn. One
 * node:http2 ClientHttp2Session per connect-method key, made over the socket the dial
 * already handshook (ALPN "h2"), carrying concurrent streams (H2Stream) up to the
 * server's SETTINGS_MAX_CONCURRENT_STREAMS, as Go's http2.ClientConn. A stream problem
 * (RST_STREAM, an abort, a body timeout) costs only that stream; the session goes on.
 *
 * Ownership: the session owns the TLS socket and its streams, on the event loop. It
 * reports to its ConnEvents when stream slots open (available), when it stops taking new
 * streams (draining: GOAWAY, an error, a request asking to close) and when it is gone.
 *
 * node:http2 is loaded on the first session, so an HTTP/1.1-only process never pays for it.
 */
import type { ClientHttp2Session } from "node:http2";
import { createRequire } from "node:module";
import type { TLSSocket } from "node:tls";
import type { Exchange } from "../exchange.js";
import type { ConnSettings } from "../options.js";
import type { ConnEvents, DialTimes, PooledConn } from "../pool.js";
import type { ConnInfo } from "../response.js";
import { type Addresses, addressesOf } from "../socket-info.js";
import { H2Stream, type StreamOwner } from "./stream.js";

const require = createRequire(import.meta.url);
let http2: typeof import("node:http2") | null = null;
let statusCodes: Record<number, string | undefined> = {};

/** Streams a session is assumed to allow until the server's SETTINGS say (Go's initial 100). */
const INITIAL_MAX_STREAMS = 100;
/** Per-stream receive window: what one stream may have in flight before it is read. */
const STREAM_WINDOW = 1 << 20;
/** Connection receive window, shared by the streams. */
const SESSION_WINDOW = 16 << 20;

export class H2Session implements PooledConn, StreamOwner {
  readonly multiplexed = true;
  readonly keepAliveHint = -1;
  readonly socket: TLSSocket;
  readonly hostPort: string;
  readonly settings: ConnSettings;
  readonly session: ClientHttp2Session;
  /** Streams started so far. */
  requests = 0;
  /** Stream slots in use: streams open, or being prepared (a file opening). */
  #slots = 0;
  /** Exchanges whose response has not fully arrived (stats: active while > 0). */
  #busy = 0;
  /** Slots promised to waiters that have not started their exchange yet. */
  #reserved = 0;
  /** performance.now() when it last stopped carrying a response, for idle expiry and idleTime. */
  idleSince = performance.now();
  /** The dial's moments, until its first exchange takes them. */
  #dialTimes: DialTimes | null;

  takeDialTimes(): DialTimes | null {
    const d = this.#dialTimes;
    this.#dialTimes = null;
    return d;
  }
  /** Takes no new stream (GOAWAY, error, close asked, transport closing). */
  #draining = false;
  #closed = false;
  /** Close once the open streams are done (a request asked for Connection: close, disableKeepAlives). */
  #closeWhenDone = false;
  readonly #events: ConnEvents;
  #maxStreams = INITIAL_MAX_STREAMS;
  goawayLast = -1;
  error: Error | null = null;
  readonly #streams = new Set<H2Stream>();
  #addresses: Addresses | null = null;

  constructor(
    socket: TLSSocket,
    hostPort: string,
    events: ConnEvents,
    settings: ConnSettings,
    dialTimes: DialTimes | null = null,
  ) {
    this.#dialTimes = dialTimes;
    if (http2 === null) {
      http2 = require("node:http2") as typeof import("node:http2");
      statusCodes = (require("node:http") as typeof import("node:http")).STATUS_CODES;
    }
    this.socket = socket;
    this.hostPort = hostPort;
    this.#events = events;
    this.settings = settings;
    // The authority only names the session; every request sends its own :authority. An
    // IPv6 zone is no part of a URL.
    const session = http2.connect(`https://${hostPort.replace(/%[^\]]*/, "")}`, {
      createConnection: () => socket,
      // More fields than node's default of 128; their size is bounded by maxHeaderListSize.
      maxHeaderListPairs: 4096,
      settings: {
        enablePush: false,
        initialWindowSize: STREAM_WINDOW,
        maxHeaderListSize: Math.min(0xffffffff, Math.max(1024, settings.maxHeaderBytes)),
      },
    });
    this.session = session;
    try {
      session.setLocalWindowSize(SESSION_WINDOW);
    } catch {
      // an old node without it: the default 64 KiB window works, slower
    }
    session.on("remoteSettings", (s) => {
      this.#maxStreams = s.maxConcurrentStreams ?? INITIAL_MAX_STREAMS;
      this.#events.available(null);
    });
    session.on("goaway", (_code: number, lastStreamID: number) => {
      this.goawayLast = lastStreamID;
      this.#drain();
    });
    session.on("error", (err: Error) => {
      this.error = err;
    });
    session.on("close", () => this.#onClose());
    // Errors of the socket reach us through the session's 'error' and 'close'.
  }

  // ---- PooledConn ------------------------------------------------------------------------

  /** New streams this session can take now. */
  get available(): number {
    if (this.#draining || this.#closed) return 0;
    return Math.max(0, this.#maxStreams - this.#slots - this.#reserved);
  }

  get active(): boolean {
    return this.#busy > 0;
  }

  get idle(): boolean {
    return this.#busy === 0 && this.#reserved === 0 && !this.#closed;
  }

  get gone(): boolean {
    return this.#closed || this.session.destroyed || this.session.closed;
  }

  get maxHeaderBytes(): number {
    return this.settings.maxHeaderBytes;
  }

  readonly statusText = (status: number): string => statusCodes[status] ?? "";

  isUsable(): boolean {
    return !this.#closed && !this.#draining;
  }

  /** Go's gotConn for HTTP/2: reused once it carried a stream, wasIdle when no response is arriving on it. */
  connInfo(_fromIdle: boolean, now: number): ConnInfo {
    const reused = this.requests > 0;
    const wasIdle = reused && this.#busy === 0;
    const a = this.addresses();
    return {
      reused,
      wasIdle,
      idleTime: wasIdle ? Math.max(0, now - this.idleSince) : 0,
      localAddress: a.localAddress,
      remoteAddress: a.remoteAddress,
    };
  }

  reserve(): void {
    this.#reserved++;
    this.#refresh();
  }

  unreserve(): void {
    this.#reserved--;
    this.#refresh();
  }

  /** Local and remote addresses, read once per session. */
  addresses(): Addresses {
    this.#addresses ??= addressesOf(this.socket);
    return this.#addresses;
  }

  /** Starts `ex` on a new stream. The pool checked `available` (or holds a reservation). */
  start(ex: Exchange): void {
    this.requests++;
    this.#slots++;
    const s = new H2Stream(this, ex);
    this.#streams.add(s);
    this.#busy++;
    this.#refresh();
    if (ex.req.close || this.settings.disableKeepAlives) {
      // Go: Request.Close (or DisableKeepAlives) marks the connection not to be reused.
      this.#closeWhenDone = true;
      this.#drain();
    }
    s.start();
  }

  /** Body stalls, from the pool's sweep. */
  sweep(now: number, bodyTimeout: number): void {
    if (bodyTimeout <= 0) return;
    for (const s of this.#streams) s.sweep(now, bodyTimeout);
  }

  /** Takes no new stream and closes once the open ones are done (GOAWAY NO_ERROR to the server). */
  close(): void {
    if (this.#closed) return;
    this.#drain();
    if (!this.session.closed) this.session.close();
  }

  /** Closes now; open exchanges fail with `err` (or ERR_CONNECTION_CLOSED). */
  destroy(err: Error | null): void {
    if (this.#closed) return;
    if (err !== null) this.error = err;
    this.#drain();
    if (err !== null) for (const s of [...this.#streams]) s.sessionEnded(err);
    this.session.destroy();
    this.socket.destroy();
  }

  // ---- StreamOwner -----------------------------------------------------------------------

  settled(_s: H2Stream): void {
    if (--this.#busy === 0) this.idleSince = performance.now();
  }

  released(s: H2Stream): void {
    if (!this.#streams.delete(s)) return;
    this.#slots--;
    this.#refresh();
    if (this.#closeWhenDone && this.#slots === 0) this.close();
    this.#events.available(null);
  }

  // ---- the session's life ----------------------------------------------------------------

  /** An idle session must not keep the process alive (as an idle HTTP/1.1 connection). */
  #refresh(): void {
    if (this.#closed) return;
    if (this.#slots + this.#reserved > 0) this.session.ref();
    else this.session.unref();
  }

  #drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    this.#events.draining();
    if (this.#closeWhenDone && this.#slots === 0 && this.#reserved === 0) this.close();
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#drain();
    this.#closed = true;
    // Open streams are closed with the session; fail what is left now, each with its reason.
    for (const s of [...this.#streams]) {
      s.sessionEnded(null);
      this.released(s);
    }
    if (!this.socket.destroyed) this.socket.destroy();
    this.#events.closed();
  }
}
