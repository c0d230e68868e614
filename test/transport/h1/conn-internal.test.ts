/**
 * H1Conn, white-box (issue 14), over an in-memory duplex: every reading and writing state
 * it steps through, and each reuse decision tryKeepAlive() takes (Go's
 * transport_internal_test.go and hyper's conn.rs tests drive a connection the same way,
 * without a pool or a socket).
 */
import assert from "node:assert/strict";
import { Duplex } from "node:stream";
import { test } from "node:test";
import { type Exchange as Ex, Exchange, type RetryHint } from "../../../src/transport/exchange.js";
import { H1Conn, Reading, Writing } from "../../../src/transport/h1/conn.js";
import { resolveOptions } from "../../../src/transport/options.js";
import type { ConnEvents } from "../../../src/transport/pool.js";
import { prepareRequest, type TransportRequest } from "../../../src/transport/prepared.js";
import { newTimings, type Response } from "../../../src/transport/response.js";
import type { ClientTrace } from "../../../src/transport/trace.js";

/** Two ends of an in-memory byte stream; ending one ends the other's reading side. */
function memoryPair(): { client: Duplex; server: Duplex } {
  const ends: Duplex[] = [];
  const make = (other: () => Duplex) =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        other().push(chunk);
        cb();
      },
      final(cb) {
        other().push(null);
        cb();
      },
    });
  ends.push(
    make(() => ends[1]!),
    make(() => ends[0]!),
  );
  return { client: ends[0]!, server: ends[1]! };
}

/** A connection, its events, and a way to run exchanges on it. */
function harness() {
  const { client, server } = memoryPair();
  const events = { available: [] as Array<ClientTrace | null>, draining: 0, closed: 0 };
  const sink: ConnEvents = {
    available: (trace) => void events.available.push(trace),
    draining: () => void events.draining++,
    closed: () => void events.closed++,
  };
  const settings = resolveOptions({ proxy: null }).conn;
  const conn = new H1Conn(client, "h.test:80", sink, settings);
  let received = "";
  server.on("data", (c: Buffer) => {
    received += c.toString("latin1");
  });
  /** Starts an exchange for `opts`; resolves with its response or its failure. */
  const start = (opts: Partial<TransportRequest> = {}) => {
    const outcome: { res?: Response; err?: Error; hint?: RetryHint } = {};
    const reports: Array<string | null> = [];
    const trace: ClientTrace = { putIdleConn: (e) => void reports.push(e?.message ?? null) };
    const req = prepareRequest({ url: "http://h.test/", trace, ...opts });
    const ex: Ex = new Exchange(
      req,
      {
        onResponse: (res) => {
          outcome.res = res;
        },
        onFailure: (err, hint) => {
          outcome.err = err;
          outcome.hint = hint;
        },
      },
      settings,
      newTimings(),
      performance.now(),
      null,
    );
    conn.start(ex);
    return { ex, outcome, reports };
  };
  return { conn, server, events, start, received: () => received };
}

const tick = () => new Promise((r) => setImmediate(r));

test("a bodiless GET: HEAD/BUSY → writing DONE → BODY → both IDLE, and the connection goes back", async () => {
  const h = harness();
  assert.equal(h.conn.reading, Reading.IDLE);
  const { outcome, reports } = h.start();
  assert.equal(h.conn.reading, Reading.HEAD);
  assert.equal(h.conn.writing, Writing.DONE, "written in one synchronous write");
  assert.equal(h.conn.active, true);
  await tick();
  assert.match(h.received(), /^GET \/ HTTP\/1\.1\r\nHost: h\.test\r\n/);
  h.server.write("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab");
  await tick();
  assert.equal(outcome.res?.status, 200);
  assert.equal(h.conn.reading, Reading.BODY);
  h.server.write("cd");
  await tick();
  assert.equal(h.conn.reading, Reading.IDLE);
  assert.equal(h.conn.writing, Writing.IDLE);
  assert.equal(h.events.available.length, 1, "events.available: the pool decides");
  assert.deepEqual(reports, [], "the trace hears the pool's decision, not the connection's");
  assert.equal(h.conn.available, 1);
  assert.equal(await outcome.res!.text(), "abcd");
  // A second exchange on the same connection.
  const second = h.start();
  h.server.write("HTTP/1.1 204 No Content\r\n\r\n");
  await tick();
  assert.equal(second.outcome.res?.status, 204);
  assert.equal(h.events.available.length, 2);
  assert.equal(h.conn.requests, 2);
  h.conn.destroy(null);
  assert.equal(h.events.closed, 1);
});

const noReuse: Array<{ why: RegExp; opts?: Partial<TransportRequest>; response: string }> = [
  {
    why: /the response closes the connection/,
    response: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
  },
  {
    why: /the request asked to close/,
    opts: { close: true },
    response: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
  },
  { why: /bytes arrived after the response/, response: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nextra" },
  {
    why: /the response closes the connection/,
    response: "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
  },
];

for (const c of noReuse) {
  test(`tryKeepAlive: not reused when ${c.why.source}; the trace says so and the pool is told it closed`, async () => {
    const h = harness();
    const { outcome, reports } = h.start(c.opts);
    h.server.write(c.response);
    await tick();
    assert.equal(outcome.res?.status, 200);
    assert.equal(h.events.available.length, 0);
    assert.match(String(reports[0]), c.why);
    assert.equal(h.events.closed, 1);
    assert.equal(h.conn.reading, Reading.CLOSED);
  });
}

test("Go's maxWriteWaitBeforeConnReuse: a response complete before the request is written waits for the write, then goes back", async () => {
  const h = harness();
  let finish!: () => void;
  const ended = new Promise<void>((r) => {
    finish = r;
  });
  async function* body() {
    yield "part";
    await ended;
    yield "rest";
  }
  const { outcome } = h.start({ method: "POST", body: body(), headers: { "content-length": "8" } });
  await tick();
  h.server.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  await tick();
  assert.equal(outcome.res?.status, 200);
  assert.equal(h.conn.reading, Reading.DONE, "the response is in");
  assert.equal(h.conn.writing, Writing.BUSY, "the request is not");
  assert.equal(h.conn.active, true, "still active: the exchange is not over");
  finish();
  await tick();
  await tick();
  assert.equal(h.conn.writing, Writing.IDLE);
  assert.equal(h.events.available.length, 1, "reused once the write ended");
  h.conn.destroy(null);
});

test("a write that does not end within the wait is stopped (STOPPED) and the connection is not reused", async () => {
  const h = harness();
  async function* endless() {
    yield "part";
    await new Promise(() => {}); // never more
  }
  const { reports } = h.start({ method: "POST", body: endless(), headers: { "content-length": "100" } });
  await tick();
  h.server.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  await tick();
  assert.equal(h.conn.writing, Writing.BUSY);
  const end = Date.now() + 2000;
  while (h.events.closed === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  assert.equal(h.events.closed, 1);
  assert.equal(h.events.available.length, 0);
  assert.match(String(reports[0]), /still being written when the response ended/);
});

test("an error status before the body went out stops the writer (STOPPED): not reused", async () => {
  const h = harness();
  async function* slow() {
    yield "a";
    await new Promise((r) => setTimeout(r, 20));
    yield "b";
  }
  const { ex, reports } = h.start({ method: "POST", body: slow(), headers: { "content-length": "2" } });
  await tick();
  h.server.write("HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n");
  await tick();
  assert.equal(ex.writeStopped, true);
  assert.match(String(reports[0]), /the response came before the request body was sent/);
  assert.equal(h.events.closed, 1);
});

test("a failure before any response byte is retryable ('unanswered'); after one, it is not", async () => {
  const silent = harness();
  const a = silent.start();
  silent.server.end();
  await tick();
  assert.equal((a.outcome.err as Error & { code?: string }).code, "ERR_CONNECTION_CLOSED");
  assert.equal(a.outcome.hint, "unanswered");

  const partial = harness();
  const b = partial.start();
  partial.server.end("HTTP/1.1 20");
  await tick();
  assert.ok(b.outcome.err);
  assert.equal(b.outcome.hint, "none");
});

test("a body framed by close ends at the end of the stream; the connection closes", async () => {
  const h = harness();
  const { outcome, reports } = h.start();
  h.server.write("HTTP/1.1 200 OK\r\n\r\nuntil the end");
  await tick();
  assert.equal(h.conn.reading, Reading.BODY);
  h.server.end();
  await tick();
  assert.equal(await outcome.res!.text(), "until the end");
  assert.match(String(reports[0]), /the response closes the connection/);
  assert.equal(h.events.closed, 1);
});

test("discard: a small remainder is read and dropped (DISCARDING), and the connection goes back", async () => {
  const h = harness();
  const { outcome } = h.start();
  h.server.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  await tick();
  const closing = outcome.res!.close();
  assert.equal(h.conn.reading, Reading.DISCARDING);
  h.server.write("defghij");
  await closing;
  assert.equal(h.conn.reading, Reading.IDLE);
  assert.equal(h.events.available.length, 1);
  h.conn.destroy(null);
});

test("bytes on an idle connection close it", async () => {
  const h = harness();
  h.server.write("HTTP/1.1 200 OK\r\n\r\n");
  await tick();
  assert.equal(h.events.closed, 1);
  assert.equal(h.conn.isUsable(), false);
});
