/**
 * The connection pool: connect-method key → HostPool, over one PooledConn interface that
 * an HTTP/1.1 connection and an HTTP/2 session both implement. It hands each request a
 * connection — an HTTP/2 session with a free stream slot, the most recently idled
 * HTTP/1.1 connection (LIFO), or later one released or dialed — and enforces the limits:
 * idle per host and overall (a global LRU), connections per host with FIFO waiters.
 *
 * Go's model (transport.go): a waiter is a WantConn; a dial is started for one
 * (queueForDial) or the WantConn waits for permission to dial (maxConnsPerHost); a dial
 * belongs to no request once started (late binding): its connection goes to the WantConn
 * it was started for if that one still waits, else to the oldest waiter, else idle. A
 * released connection goes to the oldest waiter, else idle. While a key may speak HTTP/2
 * it is dialed once at a time and every waiter shares that dial (Go's http2 dialCall).
 *
 * Invariants (all state here is owned by the pool, on the event loop; connections never
 * write it, they report through their ConnEvents):
 *  - every open connection is in exactly one HostPool's `conns`; an HTTP/1.1 one is idle
 *    (in `idle` and in the global LRU) or carrying an exchange or being handed to one;
 *  - a WantConn is in its host's `waiting` queue until it settles, and in `toDial` while
 *    it waits for permission to dial;
 *  - `dialing` counts dials in progress; open + dialing ≤ maxConnsPerHost (when set).
 */
import type { Duplex } from "node:stream";
import { RoundtripError, withURL } from "../errors.js";
import { type DialResult, type DialSettings, dial } from "./dial.js";
import type { Exchange } from "./exchange.js";
import { abortError } from "./exchange.js";
import type { ConnSettings, ResolvedOptions } from "./options.js";
import type { PreparedRequest } from "./prepared.js";
import type { ConnInfo } from "./response.js";
import type { ClientTrace } from "./trace.js";
import { type Waiter, WaitQueue, WantConn } from "./wait-queue.js";

/** performance.now() of a dial's moments (-1: did not happen), for its first exchange's timings. */
export interface DialTimes {
  started: number;
  dnsDone: number;
  connectDone: number;
  tlsDone: number;
}

/** What a connection reports to the pool; the pool gives each connection its own. */
export interface ConnEvents {
  /**
   * It can take new exchanges: an HTTP/1.1 connection's exchange ended and it may be
   * reused (`trace`, of that exchange, is told what the pool decided), or an HTTP/2
   * session's stream slots opened.
   */
  available(trace: ClientTrace | null): void;
  /** It takes no new exchange from now on (GOAWAY, an error, a request asking to close). */
  draining(): void;
  /** It is closed, or handed over to an upgrade: forget it. */
  closed(): void;
}

/** A connection as the pool sees it: an HTTP/1.1 connection or an HTTP/2 session. */
export interface PooledConn {
  /** Carries many exchanges at once (HTTP/2). */
  readonly multiplexed: boolean;
  /** Exchanges started on it so far. */
  readonly requests: number;
  /** Exchanges it can start now: HTTP/1.1, 1 while it carries none; HTTP/2, its free stream slots. */
  readonly available: number;
  /** A response is arriving on it (stats: active). */
  readonly active: boolean;
  /** It carries nothing (and no slot is promised): idle expiry and closeIdleConnections apply. */
  readonly idle: boolean;
  /** performance.now() when it last became idle (stopped carrying a response). */
  readonly idleSince: number;
  /** The server's keep-alive hint in ms (`Keep-Alive: timeout=N`), or -1. */
  readonly keepAliveHint: number;
  readonly socket: Duplex;
  /** The dial's moments, for its first exchange's timings: given once, then null. */
  takeDialTimes(): DialTimes | null;
  /** Open, readable and writable. */
  isUsable(): boolean;
  /** Starts `ex` (at `now`, the caller's clock read): the pool gave it this connection (or a slot of it). */
  start(ex: Exchange, now?: number): void;
  /** A stream slot promised to a waiter (HTTP/2; nothing for HTTP/1.1), until start() or unreserve(). */
  reserve(): void;
  unreserve(): void;
  /** Takes no new exchange and closes once the ones it carries are done. */
  close(): void;
  /** Closes now; exchanges it carries fail with `err` (quietly when null, if they can). */
  destroy(err: Error | null): void;
  /** From the pool's sweep: fail bodies stalled longer than `bodyTimeout` (0: none). */
  sweep(now: number, bodyTimeout: number): void;
  addresses(): { localAddress?: string; remoteAddress?: string };
  /** gotConn's facts for an exchange starting now, and the socket's addresses; `fromIdle`: it came from the idle list. */
  connInfo(fromIdle: boolean, now: number): ConnInfo;
}

/** Makes connections from finished dials (conn-factory.ts): the one place that knows the protocols. */
export interface ConnFactory {
  /** The dial negotiated a multiplexed protocol (ALPN h2). */
  multiplexed(dialed: DialResult): boolean;
  make(host: HostPool, dialed: DialResult, events: ConnEvents, dialTimes: DialTimes): PooledConn;
}

/** Where a key's connections go and how they are made (connect-method.ts decides). */
export interface HostTarget {
  key: string;
  /** "host:port", for stats and traces. */
  hostPort: string;
  scheme: string;
  hostname: string;
  port: number;
  proxy: URL | null;
}

export class HostPool {
  /** Every open connection of this key. */
  readonly conns = new Set<PooledConn>();
  /** Idle HTTP/1.1 connections, most recently idled last. */
  readonly idle: PooledConn[] = [];
  /** Requests waiting for a connection, FIFO. */
  readonly waiting = new WaitQueue<WantConn<PooledConn>>();
  /** Waiting requests that may not dial yet (maxConnsPerHost, or the key's one HTTP/2 dial), FIFO. */
  readonly toDial = new WaitQueue<WantConn<PooledConn>>();
  dialing = 0;
  /** The HTTP/2 session taking new streams for this key, or null. */
  shared: PooledConn | null = null;
  /** allowHTTP2, https, and not seen answering in HTTP/1.1: dialed once at a time. */
  h2Capable: boolean;

  constructor(
    readonly target: HostTarget,
    /** What the key's connections are made with (per key: a forward proxy changes them). */
    readonly settings: ConnSettings,
    h2Capable: boolean,
  ) {
    this.h2Capable = h2Capable;
  }

  get key(): string {
    return this.target.key;
  }

  isEmpty(): boolean {
    return this.conns.size === 0 && this.dialing === 0 && this.waiting.size === 0;
  }
}

export interface HostStats {
  active: number;
  idle: number;
  dialing: number;
  waiting: number;
}

export interface TransportStats extends HostStats {
  /** Open connections: active + idle. */
  total: number;
  perHost: Record<string, HostStats>;
}

/** Opens a connection for `target`; `trace` is the request's that started the dial. */
export type Dialer = (
  target: HostTarget,
  trace: ClientTrace | null,
  closing: AbortSignal,
  started: number,
) => Promise<DialResult>;

export interface PoolSettings {
  options: ResolvedOptions;
  dial: DialSettings;
  sweepEvery: number;
  proxyConnectHeaders: Record<string, string>;
  connect: ConnFactory;
  /** Replaces dial.ts (the white-box tests dial in memory). */
  dialer?: Dialer;
}

export class Pool {
  readonly #hosts = new Map<string, HostPool>();
  /** Idle HTTP/1.1 connections of every host, least recently idled first (Map keeps insertion order). */
  readonly #idleLRU = new Map<PooledConn, HostPool>();
  readonly #settings: PoolSettings;
  readonly #closing = new AbortController();
  #closed = false;
  /** Go's closeIdle: connections that late dials park are closed until the next request. */
  #closeIdleMode = false;
  /** Dials in progress, settled or not; close() waits for them. */
  readonly #dials = new Set<Promise<unknown>>();
  #sweepTimer: NodeJS.Timeout | null = null;

  readonly #dialer: Dialer;

  constructor(settings: PoolSettings) {
    this.#settings = settings;
    this.#dialer =
      settings.dialer ??
      ((t, trace, closing, started) =>
        dial(
          { scheme: t.scheme, hostname: t.hostname, port: t.port },
          settings.dial,
          trace,
          closing,
          started,
          t.proxy === null ? null : { proxy: t.proxy, connectHeaders: settings.proxyConnectHeaders },
        ));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The HostPool of `target`'s key, made with `settings` when new. */
  host(target: HostTarget, settings: () => ConnSettings): HostPool {
    let host = this.#hosts.get(target.key);
    if (host === undefined) {
      const o = this.#settings.options;
      host = new HostPool(target, settings(), o.allowHTTP2 && target.scheme === "https");
      this.#hosts.set(target.key, host);
    }
    return host;
  }

  /**
   * A connection for `req`: given to `waiter` at once when one is free (an HTTP/2 slot
   * without waiters ahead, an idle HTTP/1.1 connection), else when one is released or
   * dialed.
   */
  acquire(host: HostPool, req: PreparedRequest, waiter: Waiter<PooledConn>): void {
    this.#closeIdleMode = false;
    const shared = host.shared;
    if (shared !== null && shared.available > 0 && host.waiting.size === 0) {
      waiter.gotConn(shared, false, false, -1);
      return;
    }
    if (host.idle.length > 0) {
      const now = performance.now();
      const idle = this.#takeIdle(host, now);
      if (idle !== null) {
        waiter.gotConn(idle, true, false, now);
        return;
      }
    }
    const w = new WantConn<PooledConn>(req, waiter);
    w.waiting = host.waiting.push(w);
    const signal = req.signal;
    const onAbort = () => {
      if (w.cancel()) waiter.connFailed(abortError(req));
      this.#forget(host);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    w.onSettle = () => {
      signal?.removeEventListener("abort", onAbort);
      if (w.waiting !== null) host.waiting.remove(w.waiting);
      if (w.toDial !== null) host.toDial.remove(w.toDial);
    };
    w.toDial = host.toDial.push(w);
    this.#dialWaiting(host);
  }

  /** A connection given to a waiter that could not use it (aborted meanwhile): back to the pool. */
  giveBack(host: HostPool, conn: PooledConn, reserved: boolean): void {
    if (reserved) conn.unreserve();
    if (conn.multiplexed) this.#serveShared(host);
    else this.#handOver(host, conn, null);
  }

  /** The most recently idled usable connection of `host`, or null. Dead and expired ones are closed. */
  #takeIdle(host: HostPool, now: number): PooledConn | null {
    const idle = host.idle;
    while (idle.length > 0) {
      const conn = idle.pop()!;
      this.#idleLRU.delete(conn);
      if (conn.isUsable() && !this.#expired(conn, now)) return conn;
      conn.destroy(null);
    }
    return null;
  }

  /** An idle connection past idleConnTimeout, or past the server's keep-alive hint. */
  #expired(conn: PooledConn, now: number): boolean {
    let ttl = this.#settings.options.idleConnTimeout;
    if (ttl === 0) ttl = Number.POSITIVE_INFINITY;
    const hint = conn.keepAliveHint;
    // Leave before the server does: it may close at its timeout while our request is in flight.
    if (hint > 0) ttl = Math.min(ttl, hint - Math.min(1000, hint / 2));
    return now - conn.idleSince >= ttl;
  }

  /** Starts dials for waiting requests, oldest first, while the limits allow. */
  #dialWaiting(host: HostPool): void {
    if (this.#closed) return;
    const max = this.#settings.options.maxConnsPerHost;
    while (host.toDial.size > 0) {
      // A key that may speak HTTP/2 is dialed once at a time, and not while its session
      // takes streams: the waiters share that one connection (Go's http2 dialCall).
      if (host.h2Capable && (host.dialing > 0 || host.shared !== null)) return;
      if (max > 0 && host.conns.size + host.dialing >= max) return;
      const w = host.toDial.shift()!;
      w.toDial = null;
      this.#startDial(host, w);
    }
  }

  /** Dials for `host`; `w` lends its trace and gets the connection if it still waits. */
  #startDial(host: HostPool, w: WantConn<PooledConn>): void {
    host.dialing++;
    w.dialing = true;
    const started = performance.now();
    const settled: Promise<unknown> = this.#dialer(
      host.target,
      w.req.trace,
      this.#closing.signal,
      started,
    ).then(
      (dialed) => {
        host.dialing--;
        w.dialing = false;
        this.#dialed(host, w, dialed, started);
      },
      (err: Error) => {
        host.dialing--;
        w.dialing = false;
        if (host.h2Capable && host.dialing === 0) {
          // Every waiter was waiting on this one dial: they all learn why (Go's dialCall).
          for (const other of host.waiting.drain()) other.tryFail(withURL(err, other.req.displayURL));
        } else {
          w.tryFail(withURL(err, w.req.displayURL));
          this.#dialWaiting(host);
        }
        this.#forget(host);
      },
    );
    this.#dials.add(settled);
    const forget = () => void this.#dials.delete(settled);
    settled.then(forget, forget);
  }

  #dialed(host: HostPool, w: WantConn<PooledConn>, dialed: DialResult, started: number): void {
    if (this.#closed) {
      dialed.socket.destroy();
      this.#forget(host);
      return;
    }
    const factory = this.#settings.connect;
    if (host.shared !== null && factory.multiplexed(dialed)) {
      // One session per key: a second one (dials started while the key spoke HTTP/1.1) goes.
      dialed.socket.destroy();
      this.#serveShared(host);
      this.#forget(host);
      return;
    }
    const member = new Member(this, host);
    const at = (offset: number) => (offset < 0 ? -1 : started + offset);
    const conn = factory.make(host, dialed, member, {
      started,
      dnsDone: at(dialed.dnsDone),
      connectDone: at(dialed.connectDone),
      tlsDone: at(dialed.tlsDone),
    });
    member.conn = conn;
    host.conns.add(conn);
    if (conn.multiplexed) {
      host.shared = conn;
      host.h2Capable = true;
      if (this.#closeIdleMode && host.waiting.size === 0) {
        conn.close();
        return;
      }
      this.#serveShared(host);
      this.#ensureSweep();
      return;
    }
    // Its own waiter first, if it still waits (Go's dialConnFor), else the oldest one.
    if (w.tryDeliver(conn, false)) this.#ensureSweep();
    else this.#handOver(host, conn, null);
    if (host.h2Capable) {
      // The server answered in HTTP/1.1: the other waiters dial as usual from now on.
      host.h2Capable = false;
      this.#dialWaiting(host);
    }
  }

  /** A connection reported it can take new exchanges. */
  connAvailable(host: HostPool, conn: PooledConn, trace: ClientTrace | null): void {
    if (conn.multiplexed) {
      if (host.shared === conn) this.#serveShared(host);
      return;
    }
    if (this.#closed) {
      trace?.putIdleConn?.(new Error("connection not kept idle: the transport is closed"));
      conn.destroy(null);
      return;
    }
    this.#handOver(host, conn, trace);
  }

  /** A connection reported it takes no new exchange. */
  connDraining(host: HostPool, conn: PooledConn): void {
    if (host.shared !== conn) return;
    host.shared = null;
    // Requests waiting for a stream slot need a new connection now.
    this.#dialWaiting(host);
  }

  /** A connection reported it is closed. */
  connClosed(host: HostPool, conn: PooledConn): void {
    if (!host.conns.delete(conn)) return;
    if (host.shared === conn) host.shared = null;
    if (this.#idleLRU.delete(conn)) {
      const i = host.idle.indexOf(conn);
      if (i >= 0) host.idle.splice(i, 1);
    }
    // A slot opened: waiters held back by maxConnsPerHost may dial now.
    this.#dialWaiting(host);
    this.#forget(host);
  }

  /** A connection is free (new or released): the oldest waiter gets it, else it goes idle. */
  #handOver(host: HostPool, conn: PooledConn, trace: ClientTrace | null): void {
    for (let w = host.waiting.peek(); w !== undefined; w = host.waiting.peek()) {
      // Told before the waiter gets it (its exchange starts a microtask later).
      trace?.putIdleConn?.(null);
      if (w.tryDeliver(conn, false)) return;
    }
    this.#putIdle(host, conn, trace);
  }

  /** Hands the key's HTTP/2 session to waiters, FIFO, while it has free stream slots. */
  #serveShared(host: HostPool): void {
    const conn = host.shared;
    if (conn === null || this.#closed) return;
    while (host.waiting.size > 0 && conn.available > 0) {
      const w = host.waiting.peek()!;
      conn.reserve();
      if (!w.tryDeliver(conn, true)) conn.unreserve();
    }
  }

  #putIdle(host: HostPool, conn: PooledConn, trace: ClientTrace | null): void {
    const o = this.#settings.options;
    const refused = this.#closeIdleMode
      ? "closeIdleConnections() was called"
      : o.disableKeepAlives
        ? "keep-alives are disabled"
        : o.maxIdleConnsPerHost > 0 && host.idle.length >= o.maxIdleConnsPerHost
          ? `too many idle connections for host (maxIdleConnsPerHost ${o.maxIdleConnsPerHost})`
          : null;
    if (refused !== null) {
      trace?.putIdleConn?.(new Error(`connection not kept idle: ${refused}`));
      conn.destroy(null);
      return;
    }
    if (o.maxIdleConns > 0 && this.#idleLRU.size >= o.maxIdleConns) {
      const oldest = this.#idleLRU.keys().next().value;
      if (oldest !== undefined) {
        const other = this.#idleLRU.get(oldest)!;
        this.#idleLRU.delete(oldest);
        const i = other.idle.indexOf(oldest);
        if (i >= 0) other.idle.splice(i, 1);
        oldest.destroy(null);
      }
    }
    host.idle.push(conn);
    this.#idleLRU.set(conn, host);
    trace?.putIdleConn?.(null);
    this.#ensureSweep();
  }

  #forget(host: HostPool): void {
    if (host.isEmpty() && this.#hosts.get(host.key) === host) this.#hosts.delete(host.key);
  }

  // ---- sweeping: idle expiry and body stalls, on one shared timer -------------------------

  /** Keeps the sweep running while connections exist. */
  #ensureSweep(): void {
    if (this.#sweepTimer !== null) return;
    this.#sweepTimer = setInterval(() => this.#sweep(), this.#settings.sweepEvery);
    this.#sweepTimer.unref();
  }

  /** Called when an exchange starts, so a body stall is always watched. */
  exchangeStarted(): void {
    this.#ensureSweep();
  }

  #sweep(): void {
    const now = performance.now();
    const bodyTimeout = this.#settings.options.bodyTimeout;
    let busy = false;
    for (const host of this.#hosts.values()) {
      for (const conn of host.conns) {
        busy = true;
        if (conn.idle && this.#expired(conn, now)) conn.close();
        else conn.sweep(now, bodyTimeout);
      }
    }
    if (!busy && this.#sweepTimer !== null) {
      clearInterval(this.#sweepTimer);
      this.#sweepTimer = null;
    }
  }

  // ---- inspection and shutdown ------------------------------------------------------------

  stats(): TransportStats {
    const out: TransportStats = { total: 0, active: 0, idle: 0, dialing: 0, waiting: 0, perHost: {} };
    for (const host of this.#hosts.values()) {
      let active = 0;
      // An HTTP/2 session is one connection: active while a response on it is arriving.
      let idle = host.idle.length;
      for (const conn of host.conns) {
        if (conn.active) active++;
        else if (conn.multiplexed) idle++;
      }
      const waiting = host.waiting.size;
      const h = host.target.hostPort;
      const prev = out.perHost[h] ?? { active: 0, idle: 0, dialing: 0, waiting: 0 };
      out.perHost[h] = {
        active: prev.active + active,
        idle: prev.idle + idle,
        dialing: prev.dialing + host.dialing,
        waiting: prev.waiting + waiting,
      };
      out.active += active;
      out.idle += idle;
      out.dialing += host.dialing;
      out.waiting += waiting;
      out.total += host.conns.size;
    }
    return out;
  }

  /** Closes idle connections now, and those that late dials park until the next request. */
  closeIdle(): void {
    this.#closeIdleMode = true;
    for (const conn of [...this.#idleLRU.keys()]) conn.destroy(null);
    for (const host of [...this.#hosts.values()]) {
      for (const conn of [...host.conns]) {
        // Graceful: streams still sending a request body (their response is in) finish.
        if (conn.multiplexed && conn.idle) conn.close();
      }
    }
  }

  /**
   * Fails waiting requests and in-flight exchanges with ERR_TRANSPORT_CLOSED, closes every
   * connection and stops dials. Resolves when every socket has closed and every dial
   * has given up.
   */
  async close(): Promise<void> {
    // Every socket open now, collected before destroying them forgets them.
    const sockets: Array<Promise<void>> = [];
    for (const host of this.#hosts.values()) {
      for (const conn of host.conns) {
        const s = conn.socket;
        if (!s.closed) sockets.push(new Promise((r) => s.once("close", () => r())));
      }
    }
    if (!this.#closed) {
      this.#closed = true;
      this.#closing.abort(new RoundtripError("ERR_TRANSPORT_CLOSED", "the transport is closed"));
      const err = () => new RoundtripError("ERR_TRANSPORT_CLOSED", "the transport was closed");
      for (const host of this.#hosts.values()) {
        for (const w of host.waiting.drain()) w.tryFail(err());
        for (const conn of [...host.conns]) conn.destroy(conn.idle ? null : err());
      }
      for (const host of [...this.#hosts.values()]) this.#forget(host);
      if (this.#sweepTimer !== null) clearInterval(this.#sweepTimer);
      this.#sweepTimer = null;
    }
    await Promise.allSettled([...sockets, ...this.#dials]);
  }
}

/** A connection's events object: which pool and host it reports to (written only by the pool). */
class Member implements ConnEvents {
  conn: PooledConn | null = null;
  constructor(
    readonly pool: Pool,
    readonly host: HostPool,
  ) {}
  available(trace: ClientTrace | null): void {
    if (this.conn !== null) this.pool.connAvailable(this.host, this.conn, trace);
  }
  draining(): void {
    if (this.conn !== null) this.pool.connDraining(this.host, this.conn);
  }
  closed(): void {
    if (this.conn !== null) this.pool.connClosed(this.host, this.conn);
  }
}
