/**
 * Transport: Go's http.Transport for Node. roundTrip() prepares a request and runs Go's
 * attempt loop — get a connection from the pool, run one exchange on it, and if it
 * failed the way shouldRetryRequest allows, rewind the body and go round again — and
 * knows nothing of redirects or cookies. The pool (pool.ts) owns the connections; the
 * connections (h1/, h2/) own their sockets; the exchange (exchange.ts) is the one
 * protocol-neutral attempt. Nothing here branches on the protocol.
 */
import { toOutgoingBody } from "../body/outgoing.js";
import { RoundtripError } from "../errors.js";
import { connFactory } from "./conn-factory.js";
import { ConnectMethods } from "./connect-method.js";
import { abortError, Exchange, type ExchangeResult, type RetryHint } from "./exchange.js";
import { type ResolvedOptions, resolveOptions, type TransportOptions } from "./options.js";
import { type HostPool, Pool, type PooledConn, type TransportStats } from "./pool.js";
import {
  canReplay,
  type PreparedRequest,
  prepareRequest,
  replayBody,
  type TransportRequest,
} from "./prepared.js";
import { newTimings, type Response, type Timings } from "./response.js";
import type { Waiter } from "./wait-queue.js";

export { type TransportOptions, VERSION } from "./options.js";
export type { HostStats, TransportStats } from "./pool.js";

export interface RoundTripper {
  roundTrip(req: TransportRequest): Promise<Response>;
}

/** What a round trip needs of its transport: the pool, the connect methods, the limits. */
interface Core {
  readonly pool: Pool;
  readonly methods: ConnectMethods;
  /** Attempts a request may take at most (options.ts: maxIdleConnsPerHost + 2). */
  readonly maxAttempts: number;
}

export class Transport implements RoundTripper {
  readonly options: ResolvedOptions;
  readonly #core: Core;
  readonly #protocols = new Map<string, RoundTripper>();
  readonly #callSites: boolean;
  #closed = false;

  constructor(options: TransportOptions = {}) {
    const settings = resolveOptions(options);
    this.options = settings.options;
    this.#callSites = settings.callSites;
    this.#core = {
      pool: new Pool({
        options: settings.options,
        dial: settings.dial,
        sweepEvery: settings.sweepEvery,
        proxyConnectHeaders: settings.proxyConnectHeaders,
        connect: connFactory(settings.options.allowHTTP2),
      }),
      methods: new ConnectMethods(settings),
      maxAttempts: settings.maxAttempts,
    };
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
    // Where the request was made, for the unconsumed-body warning; formatted only if used.
    // Recording where each request was made costs 3-5 µs; only when asked for.
    const stack = this.#callSites ? captureSite(Transport.prototype.roundTrip) : null;
    const core = this.#core;
    return new Promise<Response>((resolve, reject) => {
      new RoundTrip(core, req, t0, stack, resolve, reject).run();
    });
  }

  stats(): TransportStats {
    return this.#core.pool.stats();
  }

  /** Closes idle connections now, and those that late dials park until the next request. */
  closeIdleConnections(): void {
    this.#core.pool.closeIdle();
  }

  /**
   * Rejects new requests with ERR_TRANSPORT_CLOSED, fails waiting and in-flight ones with
   * the same code (bodies being read error), closes every connection and stops dials.
   * Resolves when every socket has closed.
   */
  close(): Promise<void> {
    this.#closed = true;
    return this.#core.pool.close();
  }
}

/**
 * One request's way through the transport: Go's roundTrip loop, as callbacks. Each
 * attempt asks the pool for a connection (Waiter), runs one Exchange on it
 * (ExchangeResult), and on failure goes round again while shouldRetry allows.
 */
class RoundTrip implements Waiter<PooledConn>, ExchangeResult {
  #attempt = 0;
  #host: HostPool | null = null;
  /** The attempt's connection had carried an exchange before (Go's pconn.isReused()). */
  #reused = false;
  #resolve: ((res: Response) => void) | null;
  #reject: ((err: unknown) => void) | null;

  constructor(
    readonly core: Core,
    readonly req: PreparedRequest,
    readonly t0: number,
    readonly stack: (() => string) | null,
    resolve: (res: Response) => void,
    reject: (err: unknown) => void,
  ) {
    this.#resolve = resolve;
    this.#reject = reject;
  }

  /** One attempt: a connection for the request, then an exchange on it. */
  run(): void {
    const { pool, methods } = this.core;
    let host: HostPool;
    try {
      const target = methods.target(this.req);
      host = pool.host(target, () => methods.settings(target));
    } catch (err) {
      // A caller's proxy function (or its URL) threw: a rejection, never a throw.
      this.#fail(err);
      return;
    }
    this.#host = host;
    this.req.trace?.getConn?.(host.target.hostPort);
    pool.acquire(host, this.req, this);
  }

  gotConn(conn: PooledConn, fromIdle: boolean, reserved: boolean, at: number): void {
    const { pool } = this.core;
    const host = this.#host!;
    const req = this.req;
    if (pool.closed) {
      if (reserved) conn.unreserve();
      if (!conn.multiplexed) conn.destroy(null);
      this.#fail(new RoundtripError("ERR_TRANSPORT_CLOSED", "the transport was closed"));
      return;
    }
    if (req.signal?.aborted) {
      // Aborted after it was handed the connection but before the exchange began:
      // nothing was sent, so the connection goes to the next waiter or idles.
      pool.giveBack(host, conn, reserved);
      this.#fail(abortError(req));
      return;
    }
    if (reserved) conn.unreserve();
    // An HTTP/2 session that stopped taking streams since the slot was promised: wait again.
    if (conn.multiplexed && conn.available <= 0) {
      this.run();
      return;
    }
    const now = at >= 0 ? at : performance.now();
    const timings = newTimings();
    fillQueueTimings(timings, conn, fromIdle, this.t0, now);
    const info = conn.connInfo(fromIdle, now);
    // gotConn sees Go's three facts (a copy: the hook must not reach response.conn).
    req.trace?.gotConn?.({ reused: info.reused, wasIdle: info.wasIdle, idleTime: info.idleTime });
    this.#reused = info.reused;
    const ex = new Exchange(req, this, host.settings, timings, this.t0, this.stack);
    ex.connInfo = info;
    conn.start(ex, now);
    pool.exchangeStarted();
  }

  connFailed(err: Error): void {
    this.#fail(err);
  }

  onResponse(res: Response): void {
    const resolve = this.#resolve;
    this.#resolve = this.#reject = null;
    resolve?.(res);
  }

  onFailure(err: Error, hint: RetryHint): void {
    if (!this.#shouldRetry(err, hint)) {
      this.#fail(err);
      return;
    }
    try {
      // Go's rewindBody: the body is sent again, or made again with getBody.
      this.req.body = replayBody(this.req);
    } catch (e) {
      this.#fail(e);
      return;
    }
    this.#attempt++;
    this.run();
  }

  /**
   * Go's shouldRetryRequest, narrowed: a connection that died under us and a replayable
   * request — any method when the server never processed it, an idempotent one when the
   * reused connection failed before any response byte — at most maxAttempts in all.
   */
  #shouldRetry(err: Error, hint: RetryHint): boolean {
    if (hint === "none" || this.#attempt + 1 >= this.core.maxAttempts) return false;
    if (!(err instanceof RoundtripError) || err.code !== "ERR_CONNECTION_CLOSED") return false;
    if (this.req.signal?.aborted || this.core.pool.closed) return false;
    if (hint === "unanswered" && !(this.#reused && this.req.idempotent)) return false;
    return canReplay(this.req);
  }

  /**
   * The request failed for good. A one-shot source it never got to read is closed, as Go
   * closes a request body on every path (read now: a retry may have replaced the body).
   */
  #fail(err: unknown): void {
    this.req.body?.dispose?.();
    const reject = this.#reject;
    this.#resolve = this.#reject = null;
    reject?.(err);
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
  conn: PooledConn,
  fromIdle: boolean,
  t0: number,
  now: number,
): void {
  // Only its first exchange waited for the dial.
  const d = fromIdle || conn.requests > 0 ? null : conn.takeDialTimes();
  if (d === null) {
    timings.queued = now - t0;
    return;
  }
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
