/**
 * The pool, white-box (issue 14), as Go's transport_internal_test.go drives its pieces:
 * a Pool over fake PooledConns and an in-memory dialer, no sockets and no timing. Late
 * binding (Go's dialConnFor), the idle list's LIFO and the global LRU, maxConnsPerHost
 * with FIFO waiters and waiters waiting to dial, cancellation in O(1), closeIdle mode,
 * the putIdleConn decisions, and the HTTP/2 shape: one dial at a time per key, a shared
 * connection's slots reserved for waiters in order.
 */
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import type { DialResult } from "../../src/transport/dial.js";
import type { Exchange } from "../../src/transport/exchange.js";
import { resolveOptions, type TransportOptions } from "../../src/transport/options.js";
import {
  type ConnEvents,
  type DialTimes,
  type HostPool,
  type HostTarget,
  Pool,
  type PooledConn,
} from "../../src/transport/pool.js";
import { type PreparedRequest, prepareRequest } from "../../src/transport/prepared.js";
import type { ClientTrace } from "../../src/transport/trace.js";
import type { Waiter } from "../../src/transport/wait-queue.js";

/** A connection the test drives by hand. */
class FakeConn implements PooledConn {
  requests = 0;
  inFlight = 0;
  reserved = 0;
  closed = false;
  draining = false;
  idleSince = performance.now();
  readonly keepAliveHint = -1;
  readonly socket = new PassThrough();
  takeDialTimes(): DialTimes | null {
    return null;
  }

  constructor(
    readonly name: string,
    readonly events: ConnEvents,
    readonly multiplexed: boolean,
    /** Stream slots of a multiplexed connection. */
    readonly slots = 1,
  ) {}

  get available(): number {
    if (this.closed || this.draining) return 0;
    if (!this.multiplexed) return this.inFlight === 0 ? 1 : 0;
    return Math.max(0, this.slots - this.inFlight - this.reserved);
  }
  get active(): boolean {
    return this.inFlight > 0;
  }
  get idle(): boolean {
    return this.inFlight === 0 && this.reserved === 0 && !this.closed;
  }
  isUsable(): boolean {
    return !this.closed;
  }
  start(_ex: Exchange): void {
    this.requests++;
    this.inFlight++;
  }
  /** The exchange it carries ended; the connection may take another. */
  finish(trace: ClientTrace | null = null): void {
    this.inFlight--;
    this.idleSince = performance.now();
    this.events.available(trace);
  }
  drain(): void {
    this.draining = true;
    this.events.draining();
  }
  reserve(): void {
    this.reserved++;
  }
  unreserve(): void {
    this.reserved--;
  }
  close(): void {
    if (this.idle) this.destroy(null);
  }
  destroy(_err: Error | null): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.events.closed();
  }
  sweep(): void {}
  addresses(): { localAddress?: string; remoteAddress?: string } {
    return {};
  }
  connInfo(fromIdle: boolean): { reused: boolean; wasIdle: boolean; idleTime: number } {
    return { reused: this.requests > 0, wasIdle: fromIdle, idleTime: 0 };
  }
}

/** The waiter of one request: what it got, in order. */
class Recorder implements Waiter<PooledConn> {
  got: Array<{ conn: FakeConn; fromIdle: boolean; reserved: boolean }> = [];
  errors: Error[] = [];
  gotConn(conn: PooledConn, fromIdle: boolean, reserved: boolean, _now: number): void {
    this.got.push({ conn: conn as FakeConn, fromIdle, reserved });
  }
  connFailed(err: Error): void {
    this.errors.push(err);
  }
  /** The one connection it got (it starts its exchange on it, as a round trip would). */
  conn(): FakeConn {
    assert.equal(this.got.length, 1, "got one connection");
    const { conn, reserved } = this.got[0]!;
    if (reserved) conn.unreserve();
    conn.start(null as unknown as Exchange);
    return conn;
  }
}

interface Dial {
  target: HostTarget;
  trace: ClientTrace | null;
  succeed(opts?: { multiplexed?: boolean; slots?: number }): void;
  fail(err: Error): void;
}

/** A pool over fake connections; every dial waits until the test settles it. */
function fakePool(opts: TransportOptions = {}) {
  const settings = resolveOptions({ proxy: null, ...opts });
  const dials: Dial[] = [];
  const conns: FakeConn[] = [];
  const kinds = new WeakMap<object, { multiplexed: boolean; slots: number }>();
  const pool = new Pool({
    options: settings.options,
    dial: settings.dial,
    sweepEvery: settings.sweepEvery,
    proxyConnectHeaders: {},
    dialer: (target, trace, closing) =>
      new Promise<DialResult>((resolve, reject) => {
        // Like dial.ts: the transport closing stops a dial in progress.
        closing.addEventListener("abort", () => reject(closing.reason), { once: true });
        dials.push({
          target,
          trace,
          succeed(o = {}) {
            const socket = new PassThrough();
            kinds.set(socket, { multiplexed: o.multiplexed ?? false, slots: o.slots ?? 1 });
            resolve({ socket, dnsDone: -1, connectDone: 0, tlsDone: -1 });
          },
          fail: reject,
        });
      }),
    connect: {
      multiplexed: (d) => kinds.get(d.socket)?.multiplexed ?? false,
      make(_host: HostPool, d: DialResult, events: ConnEvents, _times: DialTimes): PooledConn {
        const k = kinds.get(d.socket)!;
        const conn = new FakeConn(`c${conns.length}`, events, k.multiplexed, k.slots);
        conns.push(conn);
        return conn;
      },
    },
  });
  // Asked of the pool each time, as a round trip does: an emptied host is forgotten.
  const host = (name = "a.test", scheme = "http") => {
    const key = `${scheme}://${name}:80`;
    const target: HostTarget = { key, hostPort: `${name}:80`, scheme, hostname: name, port: 80, proxy: null };
    return pool.host(target, () => settings.conn);
  };
  const want = (h: HostPool, extra: { signal?: AbortSignal; trace?: ClientTrace } = {}) => {
    const r = new Recorder();
    const req: PreparedRequest = prepareRequest({
      url: `${h.target.scheme}://${h.target.hostPort}/`,
      ...extra,
    });
    pool.acquire(h, req, r);
    return r;
  };
  return { pool, dials, conns, host, want };
}

/** Lets queued microtasks and settled promises run. */
const settle = () => new Promise((r) => setImmediate(r));

test("Go's late binding (dialConnFor): a dial whose request was served by a released connection goes idle", async () => {
  const { pool, dials, host, want } = fakePool();
  const h = host();
  const first = want(h);
  dials[0]!.succeed();
  await settle();
  const c0 = first.conn();
  const second = want(h); // no idle connection: a dial starts for it
  assert.equal(dials.length, 2);
  c0.finish(); // ...but c0 comes back first and serves it
  await settle();
  assert.equal(second.conn(), c0);
  dials[1]!.succeed();
  await settle();
  assert.deepEqual(pool.stats().idle, 1, "the late dial's connection went idle");
  assert.equal(pool.stats().total, 2);
  await pool.close();
});

test("a dial's connection goes to the request it was started for when that one still waits", async () => {
  const { dials, host, want } = fakePool();
  const h = host();
  const a = want(h);
  const b = want(h);
  dials[1]!.succeed(); // b's dial finishes first: b gets it, not the older a
  await settle();
  assert.equal(b.got.length, 1);
  assert.equal(a.got.length, 0);
  dials[0]!.succeed();
  await settle();
  assert.equal(a.got.length, 1);
});

test("the idle list is LIFO; an idle connection is given at once, marked fromIdle", async () => {
  const { pool, dials, host, want } = fakePool();
  const h = host();
  const a = want(h);
  const b = want(h);
  dials[0]!.succeed();
  dials[1]!.succeed();
  await settle();
  const ca = a.conn();
  const cb = b.conn();
  ca.finish();
  cb.finish();
  assert.equal(pool.stats().idle, 2);
  const next = want(h);
  assert.equal(next.got.length, 1, "synchronously");
  assert.equal(next.got[0]!.conn, cb, "the most recently idled");
  assert.equal(next.got[0]!.fromIdle, true);
  await pool.close();
});

test("maxIdleConns: the least recently idled connection of any host is closed (the global LRU)", async () => {
  const { pool, dials, conns, host, want } = fakePool({ maxIdleConns: 2 });
  const rs = ["a.test", "b.test", "c.test"].map((n) => want(host(n)));
  for (const d of dials) d.succeed();
  await settle();
  const cs = rs.map((r) => r.conn());
  cs[0]!.finish();
  cs[1]!.finish();
  cs[2]!.finish(); // a third idle connection: the oldest, of another host, goes
  assert.deepEqual(
    conns.map((c) => c.closed),
    [true, false, false],
  );
  assert.equal(pool.stats().idle, 2);
  await pool.close();
});

test("maxIdleConnsPerHost: a connection released beyond it is closed, and putIdleConn says why", async () => {
  const { pool, dials, host, want } = fakePool({ maxIdleConnsPerHost: 1 });
  const h = host();
  const a = want(h);
  const b = want(h);
  dials[0]!.succeed();
  dials[1]!.succeed();
  await settle();
  const reports: Array<string | null> = [];
  const trace: ClientTrace = { putIdleConn: (e) => void reports.push(e?.message ?? null) };
  const ca = a.conn();
  const cb = b.conn();
  ca.finish(trace);
  cb.finish(trace);
  assert.equal(reports[0], null);
  assert.match(String(reports[1]), /too many idle connections for host/);
  assert.equal(cb.closed, true);
  await pool.close();
});

test("Go's TestTransportMaxConnsPerHost: dials in progress count; waiters beyond the limit wait to dial, FIFO", async () => {
  const { pool, dials, host, want } = fakePool({ maxConnsPerHost: 2 });
  const h = host();
  const rs = [want(h), want(h), want(h)];
  assert.equal(dials.length, 2, "two dials at most");
  assert.deepEqual(
    { dialing: pool.stats().dialing, waiting: pool.stats().waiting },
    { dialing: 2, waiting: 3 },
  );
  dials[0]!.succeed();
  dials[1]!.succeed();
  await settle();
  const c0 = rs[0]!.conn();
  rs[1]!.conn();
  assert.equal(pool.stats().waiting, 1);
  c0.finish(); // released: to the oldest waiter, not the idle list
  await settle();
  assert.equal(rs[2]!.conn(), c0);
  // A closed connection frees a slot: the next waiter may dial.
  const r3 = want(h);
  assert.equal(dials.length, 2);
  c0.destroy(null);
  assert.equal(dials.length, 3);
  dials[2]!.succeed();
  await settle();
  assert.equal(r3.got.length, 1);
  await pool.close();
});

test("an aborted waiter leaves every queue at once; its dial goes on and the connection idles", async () => {
  const { pool, dials, host, want } = fakePool({ maxConnsPerHost: 1 });
  const h = host();
  const ac = new AbortController();
  const a = want(h, { signal: ac.signal });
  const ac2 = new AbortController();
  const b = want(h, { signal: ac2.signal }); // waits to dial (the limit)
  assert.equal(pool.stats().waiting, 2);
  ac2.abort();
  assert.equal(pool.stats().waiting, 1, "b left at once");
  assert.equal(b.errors[0]?.message, "the request was aborted");
  ac.abort();
  assert.equal(pool.stats().waiting, 0);
  assert.equal(pool.stats().dialing, 1, "a's dial goes on");
  dials[0]!.succeed();
  await settle();
  assert.equal(a.got.length, 0);
  assert.equal(pool.stats().idle, 1);
  assert.equal(dials.length, 1, "b never dialed");
  await pool.close();
});

test("a dial that fails fails the request it was started for; the others keep waiting", async () => {
  const { pool, dials, host, want } = fakePool();
  const h = host();
  const a = want(h);
  const b = want(h);
  dials[0]!.fail(new Error("refused"));
  await settle();
  assert.match(String(a.errors[0]?.message), /refused/);
  assert.equal(b.errors.length, 0);
  dials[1]!.succeed();
  await settle();
  assert.equal(b.got.length, 1);
  await pool.close();
});

test("closeIdle mode: idle connections close now, a late dial's connection closes too, until the next request", async () => {
  const { pool, dials, conns, host, want } = fakePool();
  const h = host();
  const a = want(h);
  const ac = new AbortController();
  want(h, { signal: ac.signal });
  dials[0]!.succeed();
  await settle();
  const c0 = a.conn();
  ac.abort(); // its dial now belongs to nobody
  c0.finish();
  pool.closeIdle();
  assert.equal(conns[0]!.closed, true);
  dials[1]!.succeed();
  await settle();
  assert.equal(conns[1]!.closed, true, "parked by a late dial: closed");
  const c = want(host()); // a request ends the mode
  dials[2]!.succeed();
  await settle();
  c.conn().finish();
  assert.equal(pool.stats().idle, 1);
  await pool.close();
});

test("HTTP/2 (Go's dialCall): one dial for every waiter; the shared connection's slots are reserved FIFO", async () => {
  const { pool, dials, host, want } = fakePool({ allowHTTP2: true });
  const h = host("h2.test", "https");
  const rs = [want(h), want(h), want(h)];
  assert.equal(dials.length, 1, "dialed once at a time");
  dials[0]!.succeed({ multiplexed: true, slots: 2 });
  await settle();
  assert.deepEqual(
    rs.map((r) => r.got.length),
    [1, 1, 0],
  );
  assert.equal(rs[0]!.got[0]!.reserved, true);
  const shared = rs[0]!.conn();
  rs[1]!.conn();
  assert.equal(pool.stats().active, 1, "one connection");
  shared.finish(); // a slot opened
  await settle();
  assert.equal(rs[2]!.conn(), shared);
  // A GOAWAY: the session takes no new stream, so a waiter needs a new connection.
  shared.drain();
  const later = want(h);
  assert.equal(dials.length, 2);
  dials[1]!.succeed({ multiplexed: true, slots: 10 });
  await settle();
  assert.notEqual(later.conn(), shared);
  await pool.close();
});

test("HTTP/2: when the one dial fails, every waiter learns why", async () => {
  const { dials, host, want } = fakePool({ allowHTTP2: true });
  const h = host("h2.test", "https");
  const rs = [want(h), want(h)];
  dials[0]!.fail(new Error("handshake failed"));
  await settle();
  assert.deepEqual(
    rs.map((r) => r.errors.length),
    [1, 1],
  );
});

test("HTTP/2: an origin that answers in HTTP/1.1 dials as usual from then on", async () => {
  const { pool, dials, host, want } = fakePool({ allowHTTP2: true });
  const h = host("h1.test", "https");
  const rs = [want(h), want(h), want(h)];
  assert.equal(dials.length, 1);
  dials[0]!.succeed(); // ALPN said http/1.1
  await settle();
  assert.equal(rs[0]!.got.length, 1);
  assert.equal(dials.length, 3, "the other two dial now");
  await pool.close();
});

test("a connection given to a waiter that could not use it goes to the next waiter", async () => {
  const { pool, dials, host, want } = fakePool({ maxConnsPerHost: 1 });
  const h = host();
  const a = want(h);
  dials[0]!.succeed();
  await settle();
  const c0 = a.conn();
  const b = want(h);
  const c = want(h);
  c0.finish();
  await settle();
  assert.equal(b.got.length, 1);
  c0.inFlight = 0; // b never started on it
  pool.giveBack(h, c0, false);
  await settle();
  assert.equal(c.got[0]?.conn, c0);
  await pool.close();
});

test("close(): waiting requests fail with ERR_TRANSPORT_CLOSED; every connection is destroyed", async () => {
  const { pool, dials, conns, host, want } = fakePool({ maxConnsPerHost: 1 });
  const h = host();
  const a = want(h);
  dials[0]!.succeed();
  await settle();
  a.conn();
  const b = want(h);
  await pool.close();
  assert.equal((b.errors[0] as Error & { code?: string }).code, "ERR_TRANSPORT_CLOSED");
  assert.equal(conns[0]!.closed, true);
  assert.deepEqual(pool.stats().total, 0);
});
