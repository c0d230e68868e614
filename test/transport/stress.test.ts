/**
 * Stress (issue 3), after Go's TestStressSurpriseServerCloses and TestTransportServerClosingUnexpectedly:
 * thousands of concurrent requests against a raw server that, by a seeded PRNG, answers
 * normally, slowly, chunked, with Connection: close, or closes (FIN or RST) before the
 * head, inside the head, inside the body, or while the connection is idle. Callers abort
 * some requests and close some bodies early. Every request succeeds with its own body or
 * fails with a RoundtripError of an expected code; nothing hangs; the pool ends empty and
 * no socket is left.
 */
import assert from "node:assert/strict";
import type net from "node:net";
import { test } from "node:test";
import zlib from "node:zlib";
import { RoundtripError, Transport } from "../../src/index.js";
import { assertNoLeaks, closeAfter, prng, rawServer, readMessage, serve, tcpHandles } from "../helpers.js";

const SEED = Number(process.env.ROUNDTRIP_STRESS_SEED ?? 0x5eed);
const REQUESTS = 2000;
const CONCURRENCY = 50;
const DEADLINE_MS = 20_000;
const EXPECTED = new Set(["ERR_CONNECTION_CLOSED", "ERR_UNEXPECTED_EOF", "ERR_ABORTED"]);

/**
 * The body the server sends for request `id`: recognisable, so cross-talk would show;
 * every 10th is large (more than close() drains).
 */
const bodyFor = (id: string) => `<${id}>`.repeat(Number(id) % 10 === 0 ? 20_000 : 1 + (Number(id) % 300));

type Action =
  | "ok"
  | "gzip"
  | "chunked"
  | "slow"
  | "close-header"
  | "fin-before-head"
  | "rst-before-head"
  | "fin-in-head"
  | "fin-in-body"
  | "rst-in-body"
  | "idle-close";

const ACTIONS: Array<[Action, number]> = [
  ["ok", 35],
  ["gzip", 8],
  ["chunked", 10],
  ["slow", 5],
  ["close-header", 8],
  ["fin-before-head", 8],
  ["rst-before-head", 6],
  ["fin-in-head", 5],
  ["fin-in-body", 6],
  ["rst-in-body", 4],
  ["idle-close", 8],
];
const TOTAL_WEIGHT = ACTIONS.reduce((n, [, w]) => n + w, 0);

function pick(rand: () => number): Action {
  let r = rand() * TOTAL_WEIGHT;
  for (const [a, w] of ACTIONS) {
    r -= w;
    if (r < 0) return a;
  }
  return "ok";
}

async function answer(socket: net.Socket, rand: () => number): Promise<void> {
  socket.on("error", () => {});
  while (!socket.destroyed) {
    let head: string;
    try {
      ({ head } = await readMessage(socket));
    } catch {
      return;
    }
    const id = /^\w+ \/(\d+)/.exec(head)?.[1] ?? "0";
    const body = Buffer.from(bodyFor(id));
    const full = Buffer.concat([
      Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`),
      body,
    ]);
    const cut = (b: Buffer) => b.subarray(0, 1 + Math.floor(rand() * (b.length - 1)));
    switch (pick(rand)) {
      case "ok":
        socket.write(full);
        break;
      case "gzip": {
        const gz = zlib.gzipSync(body);
        socket.write(`HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ${gz.length}\r\n\r\n`);
        socket.write(gz);
        break;
      }
      case "chunked": {
        const half = body.length >> 1;
        socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        socket.write(`${half.toString(16)}\r\n${body.subarray(0, half)}\r\n`);
        socket.write(`${(body.length - half).toString(16)}\r\n${body.subarray(half)}\r\n0\r\n\r\n`);
        break;
      }
      case "slow": {
        socket.write(full.subarray(0, full.length >> 1));
        await new Promise((r) => setTimeout(r, 1 + Math.floor(rand() * 5)));
        if (socket.destroyed) return;
        socket.write(full.subarray(full.length >> 1));
        break;
      }
      case "close-header":
        socket.end(
          Buffer.concat([
            Buffer.from(`HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n`),
            body,
          ]),
        );
        return;
      case "fin-before-head":
        socket.end();
        return;
      case "rst-before-head":
        socket.resetAndDestroy();
        return;
      case "fin-in-head":
        socket.end(cut(full.subarray(0, full.length - body.length)));
        return;
      case "fin-in-body":
        socket.end(full.subarray(0, full.length - body.length + Math.floor(rand() * body.length)));
        return;
      case "rst-in-body":
        socket.write(full.subarray(0, full.length - body.length + Math.floor(rand() * body.length)));
        setImmediate(() => socket.resetAndDestroy());
        return;
      case "idle-close":
        // A keep-alive answer, then the connection dies while idle (the keep-alive race).
        socket.write(full);
        setTimeout(() => socket.end(), Math.floor(rand() * 3));
        return;
    }
  }
}

test(`stress: ${REQUESTS} requests, ${CONCURRENCY} at a time, against a server closing at random (seed ${SEED})`, {
  timeout: DEADLINE_MS + 10_000,
}, async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, rawServer, (socket, index) => void answer(socket, prng(SEED + index)));
  const t = closeAfter(
    ctx,
    new Transport({ maxConnsPerHost: 16, maxIdleConnsPerHost: 8, responseHeaderTimeout: 10_000 }),
  );
  const rand = prng(SEED);
  const outcomes = new Map<string, number>();
  const count = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
  let attempts = 0;
  let next = 0;
  const inFlight = new Set<number>();

  const one = async (id: number) => {
    const r = rand();
    const method = r < 0.15 ? "POST" : "GET";
    const ac = rand() < 0.08 ? new AbortController() : null;
    if (ac !== null) setTimeout(() => ac.abort(), Math.floor(rand() * 4));
    const closeEarly = rand() < 0.1;
    const expected = bodyFor(String(id));
    try {
      const res = await t.roundTrip({
        url: `${peer.url}/${id}`,
        method,
        ...(method === "POST" ? { body: `payload ${id}`, idempotent: rand() < 0.5 } : {}),
        ...(ac !== null ? { signal: ac.signal } : {}),
        trace: { gotConn: () => void attempts++ },
      });
      assert.equal(res.status, 200);
      if (closeEarly) {
        await res.close();
        count("closed early");
      } else {
        assert.equal(await res.text(), expected, `request ${id} got its own body`);
        count("ok");
      }
    } catch (err) {
      if (!(err instanceof RoundtripError)) throw err;
      assert.ok(EXPECTED.has(err.code), `request ${id}: unexpected ${err.code}: ${err.message}`);
      count(err.code);
    }
  };

  const worker = async () => {
    while (next < REQUESTS) {
      const id = next++;
      inFlight.add(id);
      await one(id);
      inFlight.delete(id);
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `stuck after ${DEADLINE_MS} ms: ${inFlight.size} requests in flight (${[...inFlight].slice(0, 10)}), stats ${JSON.stringify(t.stats())}`,
          ),
        ),
      DEADLINE_MS,
    );
  });
  try {
    await Promise.race([Promise.all(Array.from({ length: CONCURRENCY }, worker)), deadline]);
  } finally {
    clearTimeout(timer);
  }
  const summary = Object.fromEntries(outcomes);
  ctx.diagnostic(
    `outcomes ${JSON.stringify(summary)}, attempts ${attempts}, connections ${peer.connections}`,
  );
  const total = [...outcomes.values()].reduce((a, b) => a + b, 0);
  assert.equal(total, REQUESTS);
  assert.ok((outcomes.get("ok") ?? 0) > REQUESTS / 3, "most requests succeed");
  assert.ok((outcomes.get("ERR_CONNECTION_CLOSED") ?? 0) > 0, "some connections died under requests");
  assert.ok(attempts > REQUESTS, "some requests were retried");
  const s = t.stats();
  assert.deepEqual(
    [s.active, s.waiting, s.dialing],
    [0, 0, 0],
    "nothing in flight once every request settled",
  );
  await peer.close();
  await assertNoLeaks(t, base);
});
