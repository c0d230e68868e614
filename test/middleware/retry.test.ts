/**
 * retry(): which failures are retried (statuses, error codes and timeout phases), the
 * backoff (full jitter, factor, cap) and Retry-After (seconds, HTTP-date, maxRetryAfter)
 * with injected timers and clock, Go's idempotency rule and `methods`, body replay
 * (replayable kinds, getBody, and the refusal of a one-shot body), shouldRetry/onRetry,
 * the abort and the Client deadline during a wait, and the pool after each.
 */
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { afterEach, test } from "node:test";
import { Client, compose, type RetryContext, retry } from "../../src/index.js";
import { closeLeftovers, newTransport } from "../client/util.js";
import {
  assertNoLeaks,
  rejectsWith,
  reply,
  type ScriptedRequest,
  scriptedServer,
  serve,
  waitFor,
} from "../helpers.js";
import { heldTimers, instantTimers, manualClock } from "./util.js";

afterEach(closeLeftovers);

/**
 * Answers request i (counted over all connections) with statuses[i] (the last one
 * repeats), extra header lines headers[i], and the body "s<i>". `reset()` starts over.
 */
async function statusServer(
  t: { after(fn: () => unknown): void },
  statuses: string[],
  headers: string[][] = [],
) {
  let n = 0;
  const peer = await serve(t, scriptedServer, (req: ScriptedRequest) => {
    const i = n++;
    req.socket.write(reply(`s${i}`, statuses[Math.min(i, statuses.length - 1)], headers[i] ?? []));
  });
  return Object.assign(peer, {
    reset() {
      n = 0;
      peer.requests.length = 0;
    },
  });
}

/**
 * A 503 whose body is still arriving after its head (half of it comes 50 ms later), so it
 * holds its connection until read or closed; then 200s.
 */
async function slowFailureServer(t: { after(fn: () => unknown): void }) {
  return serve(t, scriptedServer, (req: ScriptedRequest) => {
    if (req.conn !== 0 || req.n !== 0) return void req.socket.write(reply("fine"));
    const whole = reply("x".repeat(2000), "503 Service Unavailable");
    req.socket.write(whole.slice(0, -1000));
    const timer = setTimeout(() => req.socket.write(whole.slice(-1000)), 50);
    req.socket.once("close", () => clearTimeout(timer));
  });
}

test("a 503 is retried after the backoff; the 503's connection was drained and reused", async (t) => {
  const peer = await slowFailureServer(t);
  const tr = newTransport();
  const timers = instantTimers();
  const rt = compose(tr, retry({ timers, random: () => 0.5 }));
  const res = await rt.roundTrip({ url: peer.url });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "fine");
  assert.equal(res.retries, 1);
  // Full jitter: 0.5 of the first ceiling (minDelay 500 ms).
  assert.deepEqual(timers.delays, [250]);
  assert.equal(peer.requests.length, 2);
  assert.equal(peer.connections, 1, "the retried response was closed and its connection reused");
  await peer.close();
  await assertNoLeaks(tr);
});

test("backoff: the ceiling grows by factor up to maxDelay; jitter draws below it", async (t) => {
  const peer = await statusServer(t, [
    "500 Internal Server Error",
    "500 Internal Server Error",
    "500 Internal Server Error",
    "500 Internal Server Error",
    "200 OK",
  ]);
  const tr = newTransport();
  const fixed = instantTimers();
  const res = await compose(
    tr,
    retry({ retries: 4, minDelay: 100, factor: 3, maxDelay: 500, jitter: false, timers: fixed }),
  ).roundTrip({ url: peer.url });
  assert.equal(await res.text(), "s4");
  assert.equal(res.retries, 4);
  assert.deepEqual(fixed.delays, [100, 300, 500, 500]);

  peer.reset();
  const draws = [0, 0.25, 1];
  const jittered = instantTimers();
  const res2 = await compose(
    tr,
    retry({ retries: 3, minDelay: 1000, timers: jittered, random: () => draws.shift()! }),
  ).roundTrip({ url: peer.url });
  assert.equal(await res2.text(), "s3");
  assert.deepEqual(jittered.delays, [0, 500, 4000]);
  await peer.close();
  await assertNoLeaks(tr);
});

test("retries exhausted: the last response is returned as is, with retries = the resends made", async (t) => {
  const peer = await statusServer(t, ["502 Bad Gateway"]);
  const tr = newTransport();
  const res = await compose(tr, retry({ timers: instantTimers() })).roundTrip({ url: peer.url });
  assert.equal(res.status, 502);
  assert.equal(await res.text(), "s2");
  assert.equal(res.retries, 2, "default retries: 2");
  assert.equal(peer.requests.length, 3);
  await peer.close();
  await assertNoLeaks(tr);
});

test("default statuses 408 413 429 500 502 503 504 are retried; 404, 501 and 200 are not", async (t) => {
  const tr = newTransport();
  for (const status of [408, 413, 429, 500, 502, 503, 504, 404, 501]) {
    const peer = await statusServer(t, [`${status} X`, "200 OK"]);
    const res = await compose(tr, retry({ timers: instantTimers() })).roundTrip({ url: peer.url });
    const retried = status !== 404 && status !== 501;
    assert.equal(res.status, retried ? 200 : status, `status ${status}`);
    assert.equal(res.retries, retried ? 1 : 0, `status ${status}`);
    await res.close();
    await peer.close();
  }
  const peer = await statusServer(t, ["404 Not Found", "200 OK"]);
  const res = await compose(tr, retry({ statusCodes: [404], timers: instantTimers() })).roundTrip({
    url: peer.url,
  });
  assert.equal(res.status, 200, "statusCodes replaces the default list");
  await res.close();
  await peer.close();
  await assertNoLeaks(tr);
});

test("Retry-After in seconds and as an HTTP-date (injected clock) sets the wait, unjittered", async (t) => {
  const clock = manualClock();
  const inFive = new Date(clock.now + 5000).toUTCString();
  const past = new Date(clock.now - 60_000).toUTCString();
  const peer = await statusServer(
    t,
    [
      "429 Too Many Requests",
      "503 Service Unavailable",
      "503 Service Unavailable",
      "503 Service Unavailable",
      "200 OK",
    ],
    [["Retry-After: 3"], [`Retry-After: ${inFive}`], [`Retry-After: ${past}`], ["Retry-After: soon"]],
  );
  const tr = newTransport();
  const timers = instantTimers();
  const res = await compose(
    tr,
    retry({ retries: 4, timers, clock: clock.clock, random: () => 0.5, minDelay: 100, factor: 1 }),
  ).roundTrip({ url: peer.url });
  assert.equal(res.status, 200);
  // 3 s; the date 5 s ahead; a date already past: 0; a malformed value: the backoff (0.5 × 100).
  assert.deepEqual(timers.delays, [3000, 5000, 0, 50]);
  await res.close();
  await peer.close();
  await assertNoLeaks(tr);
});

test("a Retry-After above maxRetryAfter is not waited for: the response comes back at once", async (t) => {
  const peer = await statusServer(t, ["503 Service Unavailable", "200 OK"], [["Retry-After: 120"]]);
  const tr = newTransport();
  const timers = instantTimers();
  const res = await compose(tr, retry({ timers, maxRetryAfter: 60_000 })).roundTrip({ url: peer.url });
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("retry-after"), "120");
  assert.equal(res.retries, 0);
  assert.deepEqual(timers.delays, []);
  assert.equal(peer.requests.length, 1);
  await res.close();
  await peer.close();
  await assertNoLeaks(tr);
});

test("ERR_CONNECTION_CLOSED on a fresh connection (the transport does not retry it) is retried", async (t) => {
  const peer = await serve(t, scriptedServer, (req: ScriptedRequest) => {
    if (req.conn === 0) return "close";
    req.socket.write(reply("second"));
  });
  const tr = newTransport();
  const errors: string[] = [];
  const rt = compose(
    tr,
    retry({
      timers: instantTimers(),
      onRetry: (ctx) => errors.push((ctx.error as Error & { code: string }).code),
    }),
  );
  const res = await rt.roundTrip({ url: peer.url });
  assert.equal(await res.text(), "second");
  assert.equal(res.retries, 1);
  assert.deepEqual(errors, ["ERR_CONNECTION_CLOSED"]);
  await peer.close();
  await assertNoLeaks(tr);
});

test("ERR_CONNECT is retried (a dial refused once), and fails as ERR_CONNECT when every dial fails", async (t) => {
  const peer = await serve(t, scriptedServer, (req: ScriptedRequest) => void req.socket.write(reply("up")));
  let dials = 0;
  const net = await import("node:net");
  const tr = newTransport({
    dial: ({ port }) => {
      dials++;
      if (dials === 1) return Promise.reject(Object.assign(new Error("refused"), { code: "ECONNREFUSED" }));
      return new Promise((resolve, reject) => {
        const s = net.connect(port, "127.0.0.1", () => resolve(s));
        s.once("error", reject);
      });
    },
  });
  const res = await compose(tr, retry({ timers: instantTimers() })).roundTrip({ url: peer.url });
  assert.equal(await res.text(), "up");
  assert.equal(res.retries, 1);
  assert.equal(dials, 2);

  const down = newTransport({
    dial: () => Promise.reject(Object.assign(new Error("refused"), { code: "ECONNREFUSED" })),
  });
  const timers = instantTimers();
  await rejectsWith(compose(down, retry({ timers })).roundTrip({ url: peer.url }), "ERR_CONNECT");
  assert.equal(timers.delays.length, 2, "two resends, then the error");
  await peer.close();
  await assertNoLeaks(tr);
  await assertNoLeaks(down);
});

test("ERR_TIMEOUT of phase responseHeader is retried; a Client deadline (phase client) is not", async (t) => {
  const peer = await serve(t, scriptedServer, (req: ScriptedRequest) => {
    if (req.conn === 0) return "hold"; // never answers the first request
    req.socket.write(reply("late but here"));
  });
  const tr = newTransport({ responseHeaderTimeout: 50 });
  const phases: string[] = [];
  const rt = compose(
    tr,
    retry({ timers: instantTimers(), onRetry: (ctx) => phases.push((ctx.error as { phase: string }).phase) }),
  );
  const res = await rt.roundTrip({ url: peer.url });
  assert.equal(await res.text(), "late but here");
  assert.deepEqual(phases, ["responseHeader"]);

  // A server that never answers, and a Client deadline: the deadline ends the call, once.
  const silent = await serve(t, scriptedServer, () => "hold");
  const tr2 = newTransport();
  const timers = instantTimers();
  const c = new Client({ transport: compose(tr2, retry({ timers })), timeout: 100 });
  const err = await rejectsWith(c.get(silent.url), "ERR_TIMEOUT");
  assert.equal(err.phase, "client");
  assert.deepEqual(timers.delays, []);
  assert.equal(silent.requests.length, 1);
  await peer.close();
  await silent.close();
  await assertNoLeaks(tr);
  await assertNoLeaks(tr2);
});

test("Go's idempotency rule: a POST is not retried, unless it has an Idempotency-Key; its bytes body is resent", async (t) => {
  const peer = await statusServer(t, [
    "503 Service Unavailable",
    "200 OK",
    "503 Service Unavailable",
    "200 OK",
  ]);
  const tr = newTransport();
  const rt = compose(tr, retry({ timers: instantTimers() }));
  const plain = await rt.roundTrip({ url: peer.url, method: "POST", body: "payload" });
  assert.equal(plain.status, 503);
  assert.equal(plain.retries, 0);
  await plain.close();

  peer.reset();
  const keyed = await rt.roundTrip({
    url: peer.url,
    method: "POST",
    body: "payload",
    headers: { "Idempotency-Key": "k-1" },
  });
  assert.equal(keyed.status, 200);
  assert.equal(keyed.retries, 1);
  assert.deepEqual(
    peer.requests.map((r) => r.body.toString()),
    ["payload", "payload"],
  );
  await keyed.close();

  peer.reset();
  const xkey = await rt.roundTrip({
    url: peer.url,
    method: "PATCH",
    json: { a: 1 },
    headers: { "X-Idempotency-Key": "k-2" },
  });
  assert.equal(xkey.retries, 1);
  await xkey.close();
  await peer.close();
  await assertNoLeaks(tr);
});

test("methods replaces the method list: POST retried, GET not", async (t) => {
  const peer = await statusServer(t, ["503 Service Unavailable", "200 OK"]);
  const tr = newTransport();
  const rt = compose(tr, retry({ methods: ["POST"], timers: instantTimers() }));
  const post = await rt.roundTrip({ url: peer.url, method: "POST", body: Buffer.from("b") });
  assert.equal(post.retries, 1);
  await post.close();
  peer.reset();
  const get = await rt.roundTrip({ url: peer.url });
  assert.equal(get.status, 503);
  assert.equal(get.retries, 0);
  await get.close();
  await peer.close();
  await assertNoLeaks(tr);
});

test("a one-shot body is never resent: the retry is refused with ERR_REQUEST_BODY, the 503 closed", async (t) => {
  const peer = await slowFailureServer(t);
  const tr = newTransport();
  const timers = instantTimers();
  const rt = compose(tr, retry({ timers }));
  const err = await rejectsWith(
    rt.roundTrip({
      url: peer.url,
      method: "PUT",
      headers: { "idempotency-key": "k" },
      body: Readable.from([Buffer.from("chunk-1 "), Buffer.from("chunk-2")]),
    }),
    "ERR_REQUEST_BODY",
  );
  assert.match(err.message, /not retried after status 503/);
  assert.match(err.message, /getBody/);
  assert.equal(peer.requests.length, 1, "nothing was resent (no empty body)");
  assert.equal(peer.requests[0]!.body.toString(), "chunk-1 chunk-2");
  assert.deepEqual(timers.delays, []);
  await waitFor(() => tr.stats().idle === 1, 2000, "the 503's connection to be drained back into the pool");
  await peer.close();
  await assertNoLeaks(tr);
});

test("a one-shot body after a network error: refused, the error as cause", async (t) => {
  const peer = await serve(t, scriptedServer, () => "close");
  const tr = newTransport();
  const err = await rejectsWith(
    compose(tr, retry({ timers: instantTimers() })).roundTrip({
      url: peer.url,
      method: "POST",
      idempotent: true,
      body: Readable.from([Buffer.from("once")]),
    }),
    "ERR_REQUEST_BODY",
  );
  assert.equal((err.cause as { code?: string }).code, "ERR_CONNECTION_CLOSED");
  assert.equal(peer.requests.length, 1);
  await peer.close();
  await assertNoLeaks(tr);
});

test("getBody lets a streamed body be resent whole", async (t) => {
  const peer = await statusServer(t, ["503 Service Unavailable", "503 Service Unavailable", "200 OK"]);
  const tr = newTransport();
  let made = 0;
  const stream = () => {
    made++;
    return Readable.from([Buffer.from("part-a|"), Buffer.from("part-b")]);
  };
  const res = await compose(tr, retry({ timers: instantTimers() })).roundTrip({
    url: peer.url,
    method: "PUT",
    headers: { "idempotency-key": "k" },
    body: stream(),
    getBody: stream,
  });
  assert.equal(res.status, 200);
  assert.equal(res.retries, 2);
  assert.equal(made, 3);
  assert.deepEqual(
    peer.requests.map((r) => r.body.toString()),
    ["part-a|part-b", "part-a|part-b", "part-a|part-b"],
  );
  await res.close();
  await peer.close();
  await assertNoLeaks(tr);
});

test("shouldRetry sees the context and can stop; onRetry hears each retry with its delay", async (t) => {
  const peer = await statusServer(
    t,
    ["500 Internal Server Error", "500 Internal Server Error", "200 OK"],
    [["X-Retryable: yes"], ["X-Retryable: no"]],
  );
  const tr = newTransport();
  const asked: Array<Pick<RetryContext, "attempt" | "delay">> = [];
  const told: number[] = [];
  const res = await compose(
    tr,
    retry({
      timers: instantTimers(),
      jitter: false,
      minDelay: 10,
      async shouldRetry(ctx) {
        asked.push({ attempt: ctx.attempt, delay: ctx.delay });
        assert.equal(ctx.error, undefined);
        assert.equal(ctx.request.url, peer.url);
        return ctx.response!.headers.get("x-retryable") === "yes";
      },
      onRetry: (ctx) => told.push(ctx.attempt),
    }),
  ).roundTrip({ url: peer.url });
  assert.equal(res.status, 500);
  assert.equal(await res.text(), "s1");
  assert.equal(res.retries, 1);
  assert.deepEqual(asked, [
    { attempt: 1, delay: 10 },
    { attempt: 2, delay: 20 },
  ]);
  assert.deepEqual(told, [1]);
  await peer.close();
  await assertNoLeaks(tr);
});

test("an abort during the backoff wait ends it at once with ERR_ABORTED; the timer is cleared", async (t) => {
  const peer = await statusServer(t, ["503 Service Unavailable", "200 OK"]);
  const tr = newTransport();
  const timers = heldTimers();
  const ac = new AbortController();
  const p = compose(tr, retry({ timers })).roundTrip({ url: peer.url, signal: ac.signal });
  await waitFor(() => timers.pending === 1, 2000, "the backoff wait to start");
  ac.abort(new Error("user gave up"));
  const err = await rejectsWith(p, "ERR_ABORTED");
  assert.equal((err.cause as Error).message, "user gave up");
  assert.equal(timers.pending, 0);
  assert.equal(timers.cleared, 1);
  assert.equal(peer.requests.length, 1);
  await peer.close();
  await assertNoLeaks(tr);
});

test("a Client deadline during the backoff wait ends it with ERR_TIMEOUT phase client", async (t) => {
  const peer = await statusServer(t, ["503 Service Unavailable", "200 OK"]);
  const tr = newTransport();
  const timers = heldTimers();
  const c = new Client({ transport: compose(tr, retry({ timers })), timeout: 150 });
  const err = await rejectsWith(c.get(peer.url), "ERR_TIMEOUT");
  assert.equal(err.phase, "client");
  assert.equal(timers.cleared, 1);
  assert.equal(peer.requests.length, 1);
  await peer.close();
  await assertNoLeaks(tr);
});

test("an already aborted request is not retried; a response that needs no retry has retries 0", async (t) => {
  const peer = await statusServer(t, ["200 OK"]);
  const tr = newTransport();
  const rt = compose(tr, retry({ timers: instantTimers() }));
  const res = await rt.roundTrip({ url: peer.url });
  assert.equal(res.retries, 0);
  await res.close();
  await rejectsWith(rt.roundTrip({ url: peer.url, signal: AbortSignal.abort() }), "ERR_ABORTED");
  assert.equal(peer.requests.length, 1);
  await peer.close();
  await assertNoLeaks(tr);
});

test("retry() options are validated with ERR_INVALID_REQUEST", () => {
  for (const bad of [
    { retries: -1 },
    { retries: 1.5 },
    { minDelay: -5 },
    { maxDelay: Number.NaN },
    { factor: 0.5 },
    { maxRetryAfter: -1 },
    { statusCodes: [42] },
    { shouldRetry: "yes" },
  ]) {
    assert.throws(
      () => retry(bad as never),
      (e: Error & { code?: string }) => e.code === "ERR_INVALID_REQUEST",
      JSON.stringify(bad),
    );
  }
});
