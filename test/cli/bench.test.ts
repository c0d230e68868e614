/**
 * `roundtrip bench` against loopback servers: counts and distributions, oha's JSON shape
 * with the pool section, keep-alive on and off, errors, -z, -H/-d, and coordinated
 * omission with -q. Nothing here asserts that anything was fast; the one time bound (-q)
 * is a lower bound caused by the server's own deliberate hold.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import http2 from "node:http2";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { TLS_CERT, TLS_KEY } from "../server/helpers.js";
import { exited, type RecordingServer, recordingServer, run, T } from "./helpers.js";

let srv: RecordingServer;
before(async () => {
  srv = await recordingServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/slow-first" && srv.seen.filter((s) => s.url === "/slow-first").length === 1) {
      // The first request is held 600 ms; the rest answer at once.
      return void setTimeout(() => res.end("late"), 600);
    }
    if (url.pathname === "/mixed") {
      const n = srv.seen.length;
      res.statusCode = n % 2 === 0 ? 200 : 500;
    }
    res.end("0123456789");
  });
});
after(() => srv.close());

interface BenchJSON {
  summary: Record<string, number | null>;
  latencyPercentiles: Record<string, number>;
  firstBytePercentiles: Record<string, number>;
  statusCodeDistribution: Record<string, number>;
  errorDistribution: Record<string, number>;
  pool: {
    connections: number;
    threads: number;
    dials: number;
    tlsHandshakes: number;
    reused: number;
    reuseRatio: number;
    connWait: Record<string, number>;
    retries: number;
  };
}

async function benchJSON(args: string[], code = 0): Promise<BenchJSON> {
  const r = await run(["bench", "--json", ...args], { limit: 25_000 });
  exited(r, code);
  return JSON.parse(r.out) as BenchJSON;
}

describe("bench", () => {
  test("text report: requests, latency percentiles, statuses, pool", T, async () => {
    const r = await run(["bench", "-n", "60", "-c", "3", `${srv.url}/`]);
    exited(r, 0);
    for (const line of [
      "Success rate:  100.00%",
      "Requests:      60",
      "Requests/sec:",
      "p99.9",
      "[200] 60 responses",
      "Dials:",
      "Reuse:",
      "Conn wait:",
      "Retries:       0",
    ]) {
      assert.ok(r.out.includes(line), `${line} in\n${r.out}`);
    }
    assert.equal(r.stderr, "", "no live line when stderr is not a terminal");
  });

  test("--json: oha's shape, plus the pool section", T, async () => {
    const before = srv.seen.length;
    const j = await benchJSON(["-n", "50", "-c", "4", `${srv.url}/`]);
    assert.equal(srv.seen.length - before, 50);
    assert.deepEqual(Object.keys(j.summary), [
      "successRate",
      "total",
      "slowest",
      "fastest",
      "average",
      "requestsPerSec",
      "totalData",
      "sizePerRequest",
      "sizePerSec",
    ]);
    assert.equal(j.summary.successRate, 1);
    assert.equal(j.summary.totalData, 500);
    assert.equal(j.summary.sizePerRequest, 10);
    assert.deepEqual(Object.keys(j.latencyPercentiles), [
      "p10",
      "p25",
      "p50",
      "p75",
      "p90",
      "p95",
      "p99",
      "p99.9",
      "p99.99",
    ]);
    const ps = Object.values(j.latencyPercentiles);
    for (let i = 1; i < ps.length; i++) assert.ok(ps[i]! >= ps[i - 1]!, "percentiles are ordered");
    assert.ok(j.latencyPercentiles.p50! <= j.summary.slowest!);
    assert.deepEqual(j.statusCodeDistribution, { "200": 50 });
    assert.deepEqual(j.errorDistribution, {});
    assert.ok(j.pool.dials >= 1 && j.pool.dials <= 4, `dials ${j.pool.dials} within -c 4`);
    assert.equal(j.pool.reused + j.pool.dials, 50, "every response on a new or a reused connection");
    assert.equal(j.pool.tlsHandshakes, 0);
    assert.equal(j.pool.retries, 0);
  });

  test("--disable-keepalive: a dial per request, nothing reused", T, async () => {
    const j = await benchJSON(["-n", "20", "-c", "2", "--disable-keepalive", `${srv.url}/`]);
    assert.equal(j.pool.dials, 20);
    assert.equal(j.pool.reused, 0);
    assert.equal(srv.seen[srv.seen.length - 1]!.headers.connection, "close");
  });

  test(
    "statuses and errors: 500s are responses, a refused port is errors; exit 1 when nothing answered",
    T,
    async () => {
      const mixed = await benchJSON(["-n", "20", "-c", "1", `${srv.url}/mixed`]);
      assert.equal(
        (mixed.statusCodeDistribution["200"] ?? 0) + (mixed.statusCodeDistribution["500"] ?? 0),
        20,
      );
      assert.ok(mixed.statusCodeDistribution["500"]! > 0);
      const probe = net.createServer();
      probe.listen(0, "127.0.0.1");
      await new Promise((r) => probe.once("listening", r));
      const port = (probe.address() as net.AddressInfo).port;
      await new Promise((r) => probe.close(r));
      const down = await benchJSON(["-n", "5", "-c", "1", `http://127.0.0.1:${port}/`], 1);
      assert.equal(down.summary.successRate, 0);
      const [[message, count]] = Object.entries(down.errorDistribution) as [[string, number]];
      assert.equal(count, 5);
      assert.match(message, /^ERR_CONNECT: cannot connect to 127\.0\.0\.1:\d+ \(ECONNREFUSED\)$/);
    },
  );

  test("-z runs for a duration instead of a count", T, async () => {
    const j = await benchJSON(["-z", "300ms", "-c", "2", `${srv.url}/`]);
    assert.ok(j.statusCodeDistribution["200"]! >= 1);
    assert.ok(j.summary.total! >= 0.3, "ran at least the duration");
  });

  test("-H and -d reach the server; -d makes it a POST", T, async () => {
    const before = srv.seen.length;
    await benchJSON(["-n", "3", "-c", "1", "-H", "X-Bench: yes", "-d", "payload", `${srv.url}/`]);
    const got = srv.seen.slice(before);
    assert.equal(got.length, 3);
    for (const s of got) {
      assert.equal(s.method, "POST");
      assert.equal(s.headers["x-bench"], "yes");
      assert.equal(s.body.toString(), "payload");
    }
  });

  test("-q: latency counts from the scheduled send time (coordinated omission)", T, async () => {
    // At 20/s on one connection, requests 2..8 are due every 50 ms while the first is held
    // 600 ms: each waits behind it, and that wait must show in its latency (≥ 250 ms for
    // the last one due, at 350 ms). Measured from the actual send they would look instant.
    const j = await benchJSON(["-q", "20", "-n", "8", "-c", "1", `${srv.url}/slow-first`]);
    assert.deepEqual(j.statusCodeDistribution, { "200": 8 });
    assert.ok(j.latencyPercentiles.p10! >= 0.25, `p10 ${j.latencyPercentiles.p10} s from the schedule`);
    assert.ok(j.firstBytePercentiles.p10! >= 0.25, `first byte p10 ${j.firstBytePercentiles.p10} s`);
  });

  test("--threads: the load split over worker threads, their stats merged", T, async () => {
    const before = srv.seen.length;
    const j = await benchJSON(["-n", "41", "-c", "4", "--threads", "2", `${srv.url}/`]);
    assert.equal(srv.seen.length - before, 41);
    assert.deepEqual(j.statusCodeDistribution, { "200": 41 });
    assert.equal(j.pool.reused + j.pool.dials, 41);
    assert.ok(
      j.pool.dials >= 2 && j.pool.dials <= 4,
      `dials ${j.pool.dials}: a Transport per thread, 2 connections each`,
    );
    assert.equal(j.summary.totalData, 410);
    // With -q the threads share one schedule.
    const q = await benchJSON(["-n", "10", "-c", "2", "--threads", "2", "-q", "200", `${srv.url}/`]);
    assert.deepEqual(q.statusCodeDistribution, { "200": 10 });
    const r = await run(["bench", "-c", "1", "--threads", "2", srv.url]);
    exited(r, 1);
    assert.match(r.stderr, /-c must be at least --threads/);
  });

  test("https: a TLS handshake per dial; --http2: one h2 connection carries every stream", T, async (t) => {
    const server = http2.createSecureServer({ key: TLS_KEY, cert: TLS_CERT, allowHTTP1: true }, (req, res) =>
      res.end(`v${req.httpVersion}`),
    );
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    t.after(() => new Promise((r) => server.close(r)));
    const url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}/`;
    const h1 = await benchJSON(["-k", "-n", "30", "-c", "3", url]);
    assert.deepEqual(h1.statusCodeDistribution, { "200": 30 });
    assert.equal(h1.pool.tlsHandshakes, h1.pool.dials);
    assert.equal(h1.summary.totalData, 30 * "v1.1".length);
    const h2 = await benchJSON(["-k", "--http2", "-n", "30", "-c", "3", url]);
    assert.deepEqual(h2.statusCodeDistribution, { "200": 30 });
    assert.equal(h2.summary.totalData, 30 * "v2.0".length);
    assert.equal(h2.pool.dials, 1);
    assert.equal(h2.pool.tlsHandshakes, 1);
    assert.equal(h2.pool.reused, 29);
  });

  test("usage: one URL, -c at least 1", T, async () => {
    let r = await run(["bench"]);
    exited(r, 1);
    r = await run(["bench", "-c", "0", srv.url]);
    exited(r, 1);
    assert.match(r.stderr, /-c must be at least 1/);
    r = await run(["bench", "--help"]);
    exited(r, 0);
    assert.match(r.out, /^Usage: roundtrip bench URL/);
  });
});
