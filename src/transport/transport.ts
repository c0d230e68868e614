/**
 * Transport: Go's http.Transport for Node. It owns pooled persistent connections per
 * connect-method key, hands each request a connection (an idle one, last in first out,
 * or a new dial), enforces the per-host and global limits with FIFO waiters, retries
 * what Go's shouldRetryRequest allows, and knows nothing of redirects or cookies.
 *
 * Pool invariants (all state below is owned by the Transport, on the event loop):
 *  - every open connection is in exactly one pool and is either active (carrying an
 *    exchange whose response has not fully arrived) or idle (in `idle`, and in the
 *    global LRU `#idleLRU`);
 *  - a waiter is a request without a connection; it is served FIFO by the first
 *    connection released or dialed for its key; an aborted waiter leaves at once;
 *  - a dial belongs to no request: when it completes it serves the first waiter, or
 *    goes idle (late binding, Go's `queueForDial`).
 *
 * HTTP/2 (allowHTTP2, see h2.ts): a dial whose TLS handshake picked "h2" becomes an
 * H2Session, the pool's `h2`, shared by every request to the key; it counts as one
 * connection (in `sessions`, not in `conns`/`idle`). Requests wait only when it has no
 * free stream slot (the server's SETTINGS_MAX_CONCURRENT_STREAMS), in the same FIFO
 * `waiters`. While a key may speak h2, it is dialed once at a time.
 */
import type { TLSSocket } from "node:tls";
import { toOutgoingBody } from "../body/outgoing.js";
import { RoundtripError, withURL } from "../errors.js";
import { absoluteForm } from "../http1/url.js";
import { Conn, type ConnOwner, Exchange } from "./conn.js";
import { type DialResult, type DialSettings, dial } from "./dial.js";
import { H2Exchange, type H2Owner, type H2Retry, H2Session } from "./h2.js";
import { type ConnSettings, type ResolvedOptions, resolveOptions, type TransportOptions } from "./options.js";
import {
  canReplay,
  type PreparedRequest,
  prepareRequest,
  replayBody,
  type TransportRequest,
} from "./prepared.js";
import { parseProxyURL, proxyAuthorization } from "./proxy.js";
import { type ConnInfo, newTimings, type Response, type Timings } from "./response.js";
import type { ClientTrace } from "./trace.js";

export { type TransportOptions, VERSION } from "./options.js";

export interface RoundTripper {
  roundTrip(req: TransportRequest): Promise<Response>;
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

interface Waiter {
  req: PreparedRequest;
  /** A connection, or an HTTP/2 session with a stream slot reserved for this waiter. */
  resolve(conn: Conn | H2Session): void;
  reject(err: Error): void;
  done: boolean;
}

class HostPool {
  readonly idle: Conn[] = [];
  readonly conns = new Set<Conn>();
  readonly waiters: Waiter[] = [];
  active = 0;
  dialing = 0;
  /** allowHTTP2: the HTTP/2 session taking new streams for this key, or null. */
  h2: H2Session | null = null;
  /** Every open HTTP/2 session of this key: `h2` and those draining after a GOAWAY. */
  readonly sessions = new Set<H2Session>();
  /** allowHTTP2, https, and not seen answering in HTTP/1.1: dial one at a time. */
  h2Capable = false;
  constructor(
    readonly key: string,
    readonly hostPort: string,
    readonly scheme: string,
    readonly hostname: string,
    readonly port: number,
    readonly proxy: URL | null,
    readonly settings: ConnSettings,
  ) {}
  get open(): number {
    return this.conns.size + this.sessions.size;
  }
  isEmpty(): boolean {
    return (
      this.conns.size === 0 && this.dialing === 0 && this.waiters.length === 0 && this.sessions.size === 0
    );
  }
}

const kPool = Symbol("pool");
const kActive = Symbol("active");
type PooledConn = Conn & { [kPool]?: HostPool; [kActive]?: boolean };
type PooledSession = H2Session & { [kPool]?: HostPool; [kActive]?: boolean };

export class Transport implements RoundTripper, ConnOwner, H2Owner {
  readonly options: ResolvedOptions;
  #pools = new Map<string, HostPool>();
  /** Idle connections of every pool, least recently idled first (Map keeps insertion order). */
  #idleLRU = new Map<Conn, true>();
  #protocols = new Map<string, RoundTripper>();
  #closing = new AbortController();
  #closed = false;
  /** Go's closeIdle: conns that late dials park are closed until the next request. */
  #closeIdleMode = false;
  #connSettings: ConnSettings;
  #dialSettings: DialSettings;
  #sweepTimer: NodeJS.Timeout | null = null;
  /** Dials in progress, settled or not; close() waits for them. */
  #dials = new Set<Promise<unknown>>();
  #sweepEvery: number;
  #callSites: boolean;
  /** The proxy choice, with "env" resolved against a snapshot of the environment. */
  #proxy: ((url: URL) => URL | string | null) | null;
  /** Proxy decisions per scheme://host:port, when they cannot change (env or fixed). */
  #proxyCache: Map<string, URL | null> | null;
  #proxyConnectHeaders: Record<string, string>;
  /**
   * Attempts a request may take at most. Go has no bound (each retry follows a reused
   * connection's death, and that connection leaves the pool); this guards against a
   * loop nothing else would end, e.g. an HTTP/2 server refusing every stream.
   */
  #maxAttempts: number;

  constructor(options: TransportOptions = {}) {
    const settings = resolveOptions(options);
    this.options = settings.options;
    this.#proxy = settings.proxy;
    this.#proxyCache = settings.proxyCacheable ? new Map() : null;
    this.#proxyConnectHeaders = settings.proxyConnectHeaders;
    this.#callSites = settings.callSites;
    this.#connSettings = settings.conn;
    this.#dialSettings = settings.dial;
    this.#maxAttempts = settings.maxAttempts;
    this.#sweepEvery = settings.sweepEvery;
  }

  /** Makes `rt` handle URLs of `scheme` (like Go's RegisterProtocol). */
  registerProtocol(scheme: string, rt: RoundTripper): void {
    const s = scheme.toLowerCase().replace(/:$/, "");
    if (s === "http" || s === "https")
      throw new RoundtripError("ERR_INVALID_REQUEST", `scheme ${s} is built in`);
    this.#protocols.set(s, rt);
  }

  roundTrip(opts: TransportRequest): Promise<Response> {
    // Every refusal closes the caller's one-shot body, as Go closes a request body on
    // every path: a file stream would otherwise keep its fd.
    if (this.#closed)
      return refuse(opts, new RoundtripError("ERR_TRANSPORT_CLOSED", "the transport is closed"));
    // A registered scheme is handed over before any http-specific check (it may have no
    // default port, for one), as Go's alternate round trippers are.
    if (this.#protocols.size > 0) {
      const alt = this.#protocols.get(schemeOf(opts.url));
      if (alt !== undefined) return alt.roundTrip(opts);
    }
    const t0 = performance.now();
    let req: PreparedRequest;
    try {
      req = prepareRequest(opts);
    } catch (err) {
      return refuse(opts, err);
    }
    const scheme = req.target.scheme;
    if (scheme !== "http" && scheme !== "https") {
      req.body?.dispose?.();
      return Promise.reject(
        new RoundtripError("ERR_INVALID_REQUEST", `unsupported protocol scheme "${scheme}"`, {
          url: req.displayURL,
        }),
      );
    }
    if (req.signal?.aborted) {
      req.body?.dispose?.();
      return Promise.reject(abortError(req));
    }
    this.#closeIdleMode = false;
    // Where the request was made, for the unconsumed-body warning; formatted only if used.
    // Recording where each request was made costs 3-5 µs; only when asked for.
    const stack = this.#callSites ? captureSite(Transport.prototype.roundTrip) : null;
    let sent: Promise<Response>;
    try {
      sent = this.#attempt(req, 0, t0, stack);
    } catch (err) {
      // A caller's proxy function (or its URL) threw: a rejection, never a throw.
      sent = Promise.reject(err);
    }
    // A one-shot source the request never got to read is closed, as Go closes a request
    // body on every path (a file stream would otherwise keep its fd). Read at failure
    // time: a retry may have replaced the body through getBody.
    if (req.body?.dispose === undefined && req.getBody === null) return sent;
    return sent.catch((err: unknown) => {
      req.body?.dispose?.();
      throw err;
    });
  }

  #attempt(
    req: PreparedRequest,
    attempt: number,
    t0: number,
    stack: (() => string) | null,
  ): Promise<Response> {
    const pool = this.#pool(req);
    req.trace?.getConn?.(pool.hostPort);
    const timings = newTimings();
    // An HTTP/2 session with a free stream slot serves at once (never set without allowHTTP2).
    const h2 = pool.h2;
    if (h2 !== null && h2.available > 0 && pool.waiters.length === 0)
      return this.#exchangeH2(h2, false, req, attempt, t0, stack, timings);
    // A retry looks for an idle connection too, as Go's getConn does: it may find another
    // stale one, fail on it before any response byte and go round again (each failure
    // takes that connection out of the pool, so the loop ends; #maxAttempts guards it).
    const idle = this.#takeIdle(pool);
    if (idle !== null) return this.#exchange(idle, true, req, attempt, t0, stack, timings);
    return this.#waitForConn(pool, req).then((conn) =>
      conn instanceof H2Session
        ? this.#exchangeH2(conn, true, req, attempt, t0, stack, timings)
        : this.#exchange(conn, false, req, attempt, t0, stack, timings),
    );
  }

  /**
   * Runs one attempt on `conn`. `fromIdle`: taken from the idle list (Go's WasIdle); a
   * connection handed straight from a finished exchange or a new dial was not idle.
   */
  #exchange(
    conn: Conn,
    fromIdle: boolean,
    req: PreparedRequest,
    attempt: number,
    t0: number,
    stack: (() => string) | null,
    timings: ReturnType<typeof newTimings>,
  ): Promise<Response> {
    if (this.#closed) {
      conn.destroy(null);
      return Promise.reject(new RoundtripError("ERR_TRANSPORT_CLOSED", "the transport was closed"));
    }
    if (req.signal?.aborted) {
      // Aborted after its waiter was handed the connection but before the exchange
      // began: nothing was sent, so the connection goes to the next waiter or idles.
      this.#handOver((conn as PooledConn)[kPool]!, conn, null);
      return Promise.reject(abortError(req));
    }
    fillQueueTimings(timings, conn, fromIdle, t0);
    const reused = conn.requests > 0;
    const info = {
      reused,
      wasIdle: fromIdle,
      idleTime: fromIdle ? Math.max(0, performance.now() - conn.idleSince) : 0,
    };
    req.trace?.gotConn?.(info);
    this.#markActive(conn);
    return new Promise<Response>((resolve, reject) => {
      const ex = new Exchange(
        conn,
        req,
        resolve,
        (err, nothingReceived) => {
          if (reused && nothingReceived && this.#shouldRetry(req, err, attempt)) {
            this.#retry(req, attempt, t0, stack, resolve, reject);
            return;
          }
          reject(err);
        },
        stack,
        timings,
        t0,
      );
      ex.connInfo = connInfoOf(info, conn.addresses());
      conn.start(ex);
      this.#ensureSweep();
    });
  }

  /**
   * Runs one attempt as a stream of `session`. `reserved`: a waiter was handed a slot
   * of it (see #serveH2). Go's gotConn for HTTP/2: reused once it carried a stream,
   * wasIdle when no response is arriving on it now.
   */
  #exchangeH2(
    session: H2Session,
    reserved: boolean,
    req: PreparedRequest,
    attempt: number,
    t0: number,
    stack: (() => string) | null,
    timings: Timings,
  ): Promise<Response> {
    if (reserved) session.unreserve();
    const pool = (session as PooledSession)[kPool]!;
    if (this.#closed)
      return Promise.reject(new RoundtripError("ERR_TRANSPORT_CLOSED", "the transport was closed"));
    if (req.signal?.aborted) {
      this.#serveH2(pool);
      return Promise.reject(abortError(req));
    }
    // The session stopped taking streams since the slot was promised: wait again.
    if (session.available <= 0 && (reserved || session !== pool.h2))
      return this.#attempt(req, attempt, t0, stack);
    fillQueueTimings(timings, session, false, t0);
    const reused = session.requests > 0;
    const wasIdle = reused && session.busy === 0;
    const info = {
      reused,
      wasIdle,
      idleTime: wasIdle ? Math.max(0, performance.now() - session.idleSince) : 0,
    };
    req.trace?.gotConn?.(info);
    return new Promise<Response>((resolve, reject) => {
      const ex = new H2Exchange(
        session,
        req,
        resolve,
        (err: Error, retry: H2Retry) => {
          if (this.#shouldRetryH2(req, err, retry, reused, attempt)) {
            this.#retry(req, attempt, t0, stack, resolve, reject);
            return;
          }
          reject(err);
        },
        stack,
        timings,
        t0,
      );
      ex.connInfo = connInfoOf(info, session.addresses());
      session.start(ex);
      this.#ensureSweep();
    });
  }

  /** Go's http2 shouldRetryRequest: an unprocessed stream for any method, else as HTTP/1.1. */
  #shouldRetryH2(
    req: PreparedRequest,
    err: Error,
    retry: H2Retry,
    reused: boolean,
    attempt: number,
  ): boolean {
    if (retry === "none" || attempt + 1 >= this.#maxAttempts) return false;
    if (retry === "idempotent" && !reused) return false;
    if (!(err instanceof RoundtripError) || err.code !== "ERR_CONNECTION_CLOSED") return false;
    if (req.signal?.aborted || this.#closed) return false;
    return (retry === "any" || req.idempotent) && canReplay(req);
  }

  /**
   * The next attempt of a request whose last one failed retryably (Go's roundTrip loop):
   * the body is rewound (replayed, or made again with getBody) and a connection looked
   * for again.
   */
  #retry(
    req: PreparedRequest,
    attempt: number,
    t0: number,
    stack: (() => string) | null,
    resolve: (res: Response | Promise<Response>) => void,
    reject: (err: unknown) => void,
  ): void {
    try {
      req.body = replayBody(req);
      resolve(this.#attempt(req, attempt + 1, t0, stack));
    } catch (e) {
      reject(e);
    }
  }

  /**
   * Go's shouldRetryRequest, narrowed: only a (reused) connection that died under us
   * before any response byte, and a replayable request; at most #maxAttempts in all.
   */
  #shouldRetry(req: PreparedRequest, err: Error, attempt: number): boolean {
    if (attempt + 1 >= this.#maxAttempts) return false;
    if (!(err instanceof RoundtripError) || err.code !== "ERR_CONNECTION_CLOSED") return false;
    if (req.signal?.aborted || this.#closed) return false;
    return req.idempotent && canReplay(req);
  }

  #pool(req: PreparedRequest): HostPool {
    const t = req.target;
    const direct = `${t.scheme}://${t.hostPort}`;
    const proxy = this.#proxyFor(direct, t.url);
    // The connect-method key: scheme, host:port and the proxy (its credentials included).
    const key = proxy === null ? direct : `${direct}|${proxy.href}`;
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      pool = new HostPool(
        key,
        t.hostPort,
        t.scheme,
        t.hostname,
        t.port,
        proxy,
        this.#settingsFor(t.scheme, proxy),
      );
      pool.h2Capable = this.options.allowHTTP2 && t.scheme === "https";
      this.#pools.set(key, pool);
    }
    return pool;
  }

  #proxyFor(direct: string, url: URL): URL | null {
    const cache = this.#proxyCache;
    if (cache !== null) {
      const hit = cache.get(direct);
      if (hit !== undefined) return hit;
    }
    const chosen = this.#proxy === null ? null : this.#proxy(url);
    const proxy = chosen === null || chosen === "" ? null : parseProxyURL(chosen);
    cache?.set(direct, proxy);
    return proxy;
  }

  /** Plain http through an HTTP(S) proxy: absolute-form targets and Proxy-Authorization. */
  #settingsFor(scheme: string, proxy: URL | null): ConnSettings {
    if (proxy === null || scheme !== "http" || (proxy.protocol !== "http:" && proxy.protocol !== "https:")) {
      return this.#connSettings;
    }
    return {
      ...this.#connSettings,
      absoluteTarget: (req) => absoluteForm(req.target.url),
      proxyAuthorization: proxyAuthorization(proxy),
    };
  }

  /** The most recently idled usable connection of `pool`, or null. Dead ones are closed. */
  #takeIdle(pool: HostPool): Conn | null {
    const now = performance.now();
    while (pool.idle.length > 0) {
      const conn = pool.idle.pop()!;
      this.#idleLRU.delete(conn);
      if (conn.isUsable(now)) {
        refSocket(conn, true);
        return conn;
      }
      conn.destroy(null);
    }
    return null;
  }

  #waitForConn(pool: HostPool, req: PreparedRequest): Promise<Conn | H2Session> {
    return new Promise<Conn | H2Session>((resolve, reject) => {
      const signal = req.signal;
      const waiter: Waiter = {
        req,
        done: false,
        resolve: (conn) => {
          if (waiter.done) return;
          waiter.done = true;
          signal?.removeEventListener("abort", onAbort);
          resolve(conn);
        },
        reject: (err) => {
          if (waiter.done) return;
          waiter.done = true;
          signal?.removeEventListener("abort", onAbort);
          reject(err);
        },
      };
      const onAbort = () => {
        const i = pool.waiters.indexOf(waiter);
        if (i >= 0) pool.waiters.splice(i, 1);
        waiter.reject(abortError(req));
        this.#forget(pool);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      pool.waiters.push(waiter);
      this.#dialIfAllowed(pool, req);
    });
  }

  /** Starts dials while waiters outnumber dials in progress and maxConnsPerHost allows. */
  #dialIfAllowed(pool: HostPool, req: PreparedRequest | null): void {
    const max = this.options.maxConnsPerHost;
    while (pool.waiters.length > pool.dialing && (max === 0 || pool.open + pool.dialing < max)) {
      // An origin that may speak HTTP/2 is dialed once at a time, and not while its
      // session takes streams: the waiters share that one connection (Go's http2 dialCall).
      if (pool.h2Capable && (pool.dialing > 0 || pool.h2 !== null)) break;
      const first = req ?? pool.waiters[pool.dialing]!.req;
      this.#startDial(pool, first);
      req = null;
    }
  }

  /**
   * Dials for `pool`; `req` lends its trace. The connection belongs to no request: it
   * serves the first waiter when it is ready, or goes idle.
   */
  #startDial(pool: HostPool, req: PreparedRequest): void {
    pool.dialing++;
    const started = performance.now();
    const settled: Promise<unknown> = dial(
      { scheme: pool.scheme, hostname: pool.hostname, port: pool.port },
      this.#dialSettings,
      req.trace,
      this.#closing.signal,
      started,
      pool.proxy === null ? null : { proxy: pool.proxy, connectHeaders: this.#proxyConnectHeaders },
    ).then(
      (result) => {
        pool.dialing--;
        if (this.#closed) {
          result.socket.destroy();
          this.#forget(pool);
          return;
        }
        if (this.options.allowHTTP2 && (result.socket as TLSSocket).alpnProtocol === "h2") {
          this.#addSession(pool, result, started);
          return;
        }
        const conn: PooledConn = new Conn(result.socket, pool.key, pool.hostPort, this, pool.settings);
        conn[kPool] = pool;
        const at = (offset: number) => (offset < 0 ? -1 : started + offset);
        conn.dialTimes = {
          started,
          dnsDone: at(result.dnsDone),
          connectDone: at(result.connectDone),
          tlsDone: at(result.tlsDone),
        };
        pool.conns.add(conn);
        this.#handOver(pool, conn, null);
        if (pool.h2Capable) {
          // The server answered in HTTP/1.1: the other waiters dial as usual from now on.
          pool.h2Capable = false;
          if (!this.#closed) this.#dialIfAllowed(pool, null);
        }
      },
      (err: Error) => {
        pool.dialing--;
        if (pool.h2Capable && pool.dialing === 0) {
          // Every waiter was waiting on this one dial: they all learn why (Go's dialCall).
          for (const w of pool.waiters.splice(0)) w.reject(withURL(err, w.req.displayURL));
          this.#forget(pool);
          return;
        }
        // The dial failed: the oldest waiter without a dial of its own learns why.
        const w = pool.waiters.length > pool.dialing ? pool.waiters.splice(pool.dialing, 1)[0] : undefined;
        w?.reject(withURL(err, w.req.displayURL));
        this.#dialIfAllowed(pool, null);
        this.#forget(pool);
      },
    );
    this.#dials.add(settled);
    const forget = () => void this.#dials.delete(settled);
    settled.then(forget, forget);
  }

  /**
   * A connection is free (new or released): the first waiter gets it, else it goes idle.
   * `trace`: of the exchange that released it, told the decision (Go's tryPutIdleConn).
   */
  #handOver(pool: HostPool, conn: Conn, trace: ClientTrace | null): void {
    while (pool.waiters.length > 0) {
      const w = pool.waiters.shift()!;
      if (w.done) continue;
      refSocket(conn, true);
      trace?.putIdleConn?.(null);
      w.resolve(conn);
      return;
    }
    this.#putIdle(pool, conn, trace);
  }

  /** A dial negotiated HTTP/2: its session becomes the key's shared connection. */
  #addSession(pool: HostPool, result: DialResult, started: number): void {
    if (pool.h2 !== null) {
      // One session per key: a second one (dials started while the key spoke HTTP/1.1) goes.
      result.socket.destroy();
      this.#serveH2(pool);
      this.#forget(pool);
      return;
    }
    const session: PooledSession = new H2Session(
      result.socket as TLSSocket,
      pool.hostPort,
      this,
      pool.settings,
    );
    session[kPool] = pool;
    const at = (offset: number) => (offset < 0 ? -1 : started + offset);
    session.dialTimes = {
      started,
      dnsDone: at(result.dnsDone),
      connectDone: at(result.connectDone),
      tlsDone: at(result.tlsDone),
    };
    pool.sessions.add(session);
    pool.h2 = session;
    pool.h2Capable = true;
    if (this.#closeIdleMode && pool.waiters.length === 0) {
      session.close();
      return;
    }
    this.#serveH2(pool);
    this.#ensureSweep();
  }

  /** Hands the key's HTTP/2 session to waiters, FIFO, while it has free stream slots. */
  #serveH2(pool: HostPool): void {
    const session = pool.h2;
    if (session === null) return;
    while (pool.waiters.length > 0 && session.available > 0) {
      const w = pool.waiters.shift()!;
      if (w.done) continue;
      session.reserve();
      w.resolve(session);
    }
  }

  #putIdle(pool: HostPool, conn: Conn, trace: ClientTrace | null): void {
    const o = this.options;
    const refused = this.#closeIdleMode
      ? "closeIdleConnections() was called"
      : o.disableKeepAlives
        ? "keep-alives are disabled"
        : o.maxIdleConnsPerHost > 0 && pool.idle.length >= o.maxIdleConnsPerHost
          ? `too many idle connections for host (maxIdleConnsPerHost ${o.maxIdleConnsPerHost})`
          : null;
    if (refused !== null) {
      trace?.putIdleConn?.(new Error(`connection not kept idle: ${refused}`));
      conn.destroy(null);
      return;
    }
    if (o.maxIdleConns > 0 && this.#idleLRU.size >= o.maxIdleConns) {
      const oldest = this.#idleLRU.keys().next().value as PooledConn | undefined;
      if (oldest !== undefined) {
        this.#idleLRU.delete(oldest);
        const p = oldest[kPool]!;
        const i = p.idle.indexOf(oldest);
        if (i >= 0) p.idle.splice(i, 1);
        oldest.destroy(null);
      }
    }
    const now = performance.now();
    conn.idleSince = now;
    let ttl = o.idleConnTimeout > 0 ? o.idleConnTimeout : Number.POSITIVE_INFINITY;
    if (conn.keepAliveHint > 0) {
      // Leave before the server does: it may close at its timeout while our request is in flight.
      ttl = Math.min(ttl, conn.keepAliveHint - Math.min(1000, conn.keepAliveHint / 2));
    }
    conn.expiresAt = now + ttl;
    pool.idle.push(conn);
    this.#idleLRU.set(conn, true);
    // An idle connection must not keep the process alive (as undici and node:http's Agent).
    refSocket(conn, false);
    trace?.putIdleConn?.(null);
    this.#ensureSweep();
  }

  #markActive(conn: PooledConn): void {
    if (conn[kActive]) return;
    conn[kActive] = true;
    conn[kPool]!.active++;
  }

  // ---- ConnOwner -----------------------------------------------------------------

  inactive(conn: PooledConn): void {
    if (!conn[kActive]) return;
    conn[kActive] = false;
    conn[kPool]!.active--;
  }

  release(conn: PooledConn, trace: ClientTrace | null): void {
    const pool = conn[kPool]!;
    if (this.#closed) {
      trace?.putIdleConn?.(new Error("connection not kept idle: the transport is closed"));
      conn.destroy(null);
      return;
    }
    this.#handOver(pool, conn, trace);
  }

  closed(conn: PooledConn): void {
    const pool = conn[kPool];
    if (pool === undefined) return;
    this.inactive(conn);
    pool.conns.delete(conn);
    this.#idleLRU.delete(conn);
    const i = pool.idle.indexOf(conn);
    if (i >= 0) pool.idle.splice(i, 1);
    // A slot opened: waiters held back by maxConnsPerHost may dial now.
    if (!this.#closed && pool.waiters.length > pool.dialing) this.#dialIfAllowed(pool, null);
    this.#forget(pool);
  }

  // ---- H2Owner -------------------------------------------------------------------

  h2Busy(session: PooledSession, busy: boolean): void {
    const pool = session[kPool]!;
    if ((session[kActive] ?? false) === busy) return;
    session[kActive] = busy;
    pool.active += busy ? 1 : -1;
  }

  h2Slots(session: PooledSession): void {
    const pool = session[kPool]!;
    if (pool.h2 === session && !this.#closed) this.#serveH2(pool);
  }

  h2Draining(session: PooledSession): void {
    const pool = session[kPool]!;
    if (pool.h2 !== session) return;
    pool.h2 = null;
    // Requests waiting for a stream slot need a new connection now.
    if (!this.#closed && pool.waiters.length > pool.dialing) this.#dialIfAllowed(pool, null);
  }

  h2Closed(session: PooledSession): void {
    const pool = session[kPool]!;
    this.h2Draining(session);
    this.h2Busy(session, false);
    pool.sessions.delete(session);
    if (!this.#closed && pool.waiters.length > pool.dialing) this.#dialIfAllowed(pool, null);
    this.#forget(pool);
  }

  #forget(pool: HostPool): void {
    if (pool.isEmpty() && this.#pools.get(pool.key) === pool) this.#pools.delete(pool.key);
  }

  // ---- sweeping: idle expiry and body stalls, on one shared timer -----------------

  #ensureSweep(): void {
    if (this.#sweepTimer !== null) return;
    this.#sweepTimer = setInterval(() => this.#sweep(), this.#sweepEvery);
    this.#sweepTimer.unref();
  }

  #sweep(): void {
    const now = performance.now();
    const bodyTimeout = this.options.bodyTimeout;
    let busy = false;
    for (const pool of this.#pools.values()) {
      for (const session of pool.sessions) {
        busy = true;
        session.sweep(now, this.options.idleConnTimeout, bodyTimeout);
      }
      for (const conn of pool.conns) {
        busy = true;
        const ex = conn.exchange;
        if (ex === null) {
          if (now >= conn.expiresAt) conn.destroy(null);
        } else if (
          bodyTimeout > 0 &&
          conn.readingBody &&
          !conn.readingPausedByReader &&
          now - conn.lastRead > bodyTimeout
        ) {
          conn.destroy(
            new RoundtripError("ERR_TIMEOUT", `response body stalled for ${bodyTimeout} ms`, {
              phase: "body",
              url: ex.req.displayURL,
            }),
          );
        }
      }
    }
    if (!busy && this.#sweepTimer !== null) {
      clearInterval(this.#sweepTimer);
      this.#sweepTimer = null;
    }
  }

  // ---- inspection and shutdown ------------------------------------------------------

  stats(): TransportStats {
    const out: TransportStats = { total: 0, active: 0, idle: 0, dialing: 0, waiting: 0, perHost: {} };
    for (const pool of this.#pools.values()) {
      const waiting = pool.waiters.length;
      // An HTTP/2 session is one connection: active while a response on it is arriving.
      let idle = pool.idle.length;
      for (const session of pool.sessions) if (session.busy === 0) idle++;
      const h = pool.hostPort;
      const prev = out.perHost[h] ?? { active: 0, idle: 0, dialing: 0, waiting: 0 };
      out.perHost[h] = {
        active: prev.active + pool.active,
        idle: prev.idle + idle,
        dialing: prev.dialing + pool.dialing,
        waiting: prev.waiting + waiting,
      };
      out.active += pool.active;
      out.idle += idle;
      out.dialing += pool.dialing;
      out.waiting += waiting;
      out.total += pool.open;
    }
    return out;
  }

  /** Closes idle connections now, and those that late dials park until the next request. */
  closeIdleConnections(): void {
    this.#closeIdleMode = true;
    for (const conn of [...this.#idleLRU.keys()]) conn.destroy(null);
    for (const pool of [...this.#pools.values()]) {
      for (const session of [...pool.sessions]) {
        // Graceful: streams still sending a request body (their response is in) finish.
        if (session.busy === 0 && session.reserved === 0) session.close();
      }
    }
  }

  /**
   * Rejects new requests with ERR_TRANSPORT_CLOSED, fails waiting and in-flight ones with
   * the same code (bodies being read error), closes every connection and stops dials.
   * Resolves when every socket has closed.
   */
  async close(): Promise<void> {
    // Every socket open now, collected before destroying them forgets them.
    const sockets: Array<Promise<void>> = [];
    for (const pool of this.#pools.values()) {
      for (const conn of pool.conns) {
        if (!conn.socket.closed) sockets.push(new Promise((r) => conn.socket.once("close", () => r())));
      }
      for (const session of pool.sessions) {
        const s = session.socket;
        if (!s.closed) sockets.push(new Promise((r) => s.once("close", () => r())));
      }
    }
    if (!this.#closed) {
      this.#closed = true;
      this.#closing.abort(new RoundtripError("ERR_TRANSPORT_CLOSED", "the transport is closed"));
      const err = () => new RoundtripError("ERR_TRANSPORT_CLOSED", "the transport was closed");
      for (const pool of this.#pools.values()) {
        for (const w of pool.waiters.splice(0)) w.reject(err());
        for (const conn of [...pool.conns]) conn.destroy(conn.exchange !== null ? err() : null);
        for (const session of [...pool.sessions]) session.destroy(err());
      }
      for (const pool of [...this.#pools.values()]) this.#forget(pool);
      if (this.#sweepTimer !== null) clearInterval(this.#sweepTimer);
      this.#sweepTimer = null;
    }
    // Dials stop on the closing signal; wait until each has given up (or closed its socket).
    await Promise.allSettled([...sockets, ...this.#dials]);
  }
}

/**
 * Where the request's wait ended. A request served by a new connection left the queue
 * when that dial started (dns/connect/tls follow); one served by a pooled or handed-over
 * connection, when it got it. Offsets are ms after roundTrip(), never below 0 (a dial
 * may have started before the request it ends up serving).
 */
function fillQueueTimings(
  timings: Timings,
  conn: Pick<Conn, "dialTimes" | "requests">,
  fromIdle: boolean,
  t0: number,
): void {
  const d = conn.dialTimes;
  if (fromIdle || conn.requests > 0 || d === null) {
    timings.queued = performance.now() - t0;
    return;
  }
  conn.dialTimes = null; // only its first exchange waited for this dial
  const rel = (at: number) => (at < 0 ? -1 : Math.max(0, at - t0));
  timings.queued = rel(d.started);
  timings.dnsDone = rel(d.dnsDone);
  timings.connectDone = rel(d.connectDone);
  timings.tlsDone = rel(d.tlsDone);
}

/** The URL's scheme, lower case without ":", or "" when it does not parse. */
function schemeOf(url: string | URL): string {
  try {
    return (url instanceof URL ? url : new URL(String(url))).protocol.slice(0, -1).toLowerCase();
  } catch {
    return "";
  }
}

/**
 * Rejects a request refused before it was prepared, closing the caller's one-shot body
 * (Readable, ReadableStream, async iterable) first; other bodies hold nothing open.
 */
function refuse(opts: TransportRequest, err: unknown): Promise<never> {
  const init = opts.body;
  if (init != null && typeof init === "object") {
    try {
      toOutgoingBody(init).dispose?.();
    } catch {
      // not a body we know: nothing of ours to close
    }
  }
  return Promise.reject(err);
}

function refSocket(conn: Conn, on: boolean): void {
  const s = conn.socket as { ref?: () => void; unref?: () => void };
  if (on) s.ref?.();
  else s.unref?.();
}

function abortError(req: PreparedRequest): RoundtripError {
  const reason = req.signal?.reason;
  if (reason instanceof RoundtripError) return reason;
  return new RoundtripError("ERR_ABORTED", "the request was aborted", { cause: reason, url: req.displayURL });
}

/** The caller's stack above `fn`, captured now and formatted only when asked for. */
// biome-ignore lint/complexity/noBannedTypes: any function object marks where the stack is cut
export function captureSite(fn: Function): () => string {
  const holder: { stack?: string } = {};
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 8;
  Error.captureStackTrace(holder, fn);
  Error.stackTraceLimit = limit;
  return () => (holder.stack ?? "").split("\n").slice(1).join("\n");
}

/** What a response says of its connection: gotConn's facts plus the socket's addresses. */
function connInfoOf(
  info: { reused: boolean; wasIdle: boolean; idleTime: number },
  addr: { localAddress?: string; remoteAddress?: string },
): ConnInfo {
  return {
    reused: info.reused,
    wasIdle: info.wasIdle,
    idleTime: info.idleTime,
    localAddress: addr.localAddress,
    remoteAddress: addr.remoteAddress,
  };
}
