/**
 * Retries (issues 3 and 12), after Go's TestRetryRequestsOnError,
 * TestTransportNoReuseAfterEarlyResponse and the shouldRetryRequest rules: a request that
 * fails on a reused connection before any response byte is sent again when it is
 * replayable (GET, HEAD, OPTIONS, TRACE, an Idempotency-Key, or idempotent: true, with a
 * body that can be sent again), on the next connection the pool gives it (which may be
 * another stale idle one: Go's roundTrip loop), until an attempt fails on a fresh
 * connection or gets response bytes. Never retried after a fresh connection failed,
 * never after response bytes.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, test } from "node:test";
import { file, Transport } from "../../src/index.js";
import type { RequestOptions } from "../../src/transport/prepared.js";
import {
  assertNoLeaks,
  closeAfter,
  rawServer,
  readRequest,
  rejectsWith,
  reply,
  type ScriptedRequest,
  scriptedServer,
  serve,
  tcpHandles,
} from "../helpers.js";

type Kill = "FIN" | "RST";

/** Connection 0 answers its first request and dies on the second; later connections answer. */
function dieOnSecond(kill: Kill) {
  return (req: ScriptedRequest) => {
    if (req.conn === 0 && req.n === 1) {
      if (kill === "RST") req.socket.resetAndDestroy();
      return kill === "FIN" ? "close" : "hold";
    }
    req.socket.write(reply(`conn${req.conn}:${req.method}:${req.body.toString()}`));
  };
}

interface RetryCase {
  name: string;
  request: () => RequestOptions;
  kill?: Kill;
  retried: boolean;
  /** Body the server must see on the retry. */
  body?: string;
}

const dir = await mkdtemp(join(tmpdir(), "roundtrip-retry-"));
const filePath = join(dir, "body.txt");
await writeFile(filePath, "from a file");
after(() => rm(dir, { recursive: true, force: true }));

const cases: RetryCase[] = [
  { name: "GET, server FIN", request: () => ({}), retried: true },
  { name: "GET, server RST", request: () => ({}), kill: "RST", retried: true },
  { name: "HEAD", request: () => ({ method: "HEAD" }), retried: true },
  { name: "OPTIONS", request: () => ({ method: "OPTIONS" }), retried: true },
  { name: "POST", request: () => ({ method: "POST", body: "x" }), retried: false },
  { name: "POST, server RST", request: () => ({ method: "POST", body: "x" }), kill: "RST", retried: false },
  { name: "PUT", request: () => ({ method: "PUT", body: "x" }), retried: false },
  { name: "DELETE", request: () => ({ method: "DELETE" }), retried: false },
  {
    name: "POST idempotent: true",
    request: () => ({ method: "POST", body: "bytes", idempotent: true }),
    retried: true,
    body: "bytes",
  },
  {
    name: "POST with Idempotency-Key",
    request: () => ({ method: "POST", body: "k", headers: { "Idempotency-Key": "abc" } }),
    retried: true,
    body: "k",
  },
  {
    name: "POST with X-Idempotency-Key",
    request: () => ({ method: "POST", body: "xk", headers: { "X-Idempotency-Key": "abc" } }),
    retried: true,
    body: "xk",
  },
  {
    name: "idempotent POST of a file()",
    request: () => ({ method: "POST", body: file(filePath), idempotent: true }),
    retried: true,
    body: "from a file",
  },
  {
    name: "idempotent POST of a stream without getBody",
    request: () => ({ method: "POST", body: Readable.from([Buffer.from("once")]), idempotent: true }),
    retried: false,
  },
  {
    name: "idempotent POST of a stream with getBody",
    request: () => {
      const make = () => Readable.from([Buffer.from("str"), Buffer.from("eam")]);
      return { method: "POST", body: make(), getBody: make, idempotent: true };
    },
    retried: true,
    body: "stream",
  },
];

for (const c of cases) {
  test(`retry on a reused connection closed before the response: ${c.name}`, async (ctx) => {
    const base = tcpHandles();
    const peer = await serve(ctx, scriptedServer, dieOnSecond(c.kill ?? "FIN"));
    const t = closeAfter(ctx, new Transport());
    const first = await t.roundTrip({ url: peer.url });
    await first.text();
    const gotConn: boolean[] = [];
    const p = t.roundTrip({
      url: peer.url,
      ...c.request(),
      trace: { gotConn: (info) => gotConn.push(info.reused) },
    });
    if (c.retried) {
      const res = await p;
      assert.equal(res.status, 200);
      const text = await res.text();
      if (res.headers.get("content-length") !== null && c.request().method !== "HEAD")
        assert.match(text, /^conn1:/);
      if (c.body !== undefined) assert.equal(text.split(":")[2], c.body);
      assert.equal(res.conn.reused, false, "the retry ran on a new connection");
      assert.deepEqual(gotConn, [true, false], "gotConn once per attempt");
      assert.equal(peer.connections, 2);
    } else {
      const err = await rejectsWith(p, "ERR_CONNECTION_CLOSED");
      if (c.kill === "RST") assert.equal((err.cause as NodeJS.ErrnoException)?.code, "ECONNRESET");
      assert.deepEqual(gotConn, [true]);
      assert.equal(peer.connections, 1, "no second attempt");
    }
    await peer.close();
    await assertNoLeaks(t, base);
  });
}

test("no retry on a fresh connection", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, () => "close");
  const t = closeAfter(ctx, new Transport());
  const gotConn: boolean[] = [];
  await rejectsWith(
    t.roundTrip({ url: peer.url, trace: { gotConn: (i) => gotConn.push(i.reused) } }),
    "ERR_CONNECTION_CLOSED",
  );
  assert.deepEqual(gotConn, [false]);
  assert.equal(peer.connections, 1);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("no retry once response bytes arrived", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, (req) => {
    if (req.n === 0) {
      req.socket.write(reply());
      return;
    }
    req.socket.write("HTTP/1.1 200 OK\r\nContent-");
    return "close";
  });
  const t = closeAfter(ctx, new Transport());
  await (await t.roundTrip({ url: peer.url })).text();
  await rejectsWith(t.roundTrip({ url: peer.url }), "ERR_CONNECTION_CLOSED");
  assert.equal(peer.connections, 1);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("no retry of a body cut short: the response head had arrived", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, (req) => {
    req.socket.write(req.n === 0 ? reply() : "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    return req.n === 0 ? undefined : "close";
  });
  const t = closeAfter(ctx, new Transport());
  await (await t.roundTrip({ url: peer.url })).text();
  const res = await t.roundTrip({ url: peer.url });
  await rejectsWith(res.text(), "ERR_UNEXPECTED_EOF");
  assert.equal(peer.connections, 1);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a retry is attempted once: a retry that fails too reports the failure", async (ctx) => {
  const base = tcpHandles();
  // Connection 0 answers once then dies; every later connection dies on its first request.
  const peer = await serve(ctx, scriptedServer, (req) => {
    if (req.conn === 0 && req.n === 0) {
      req.socket.write(reply());
      return;
    }
    return "close";
  });
  const t = closeAfter(ctx, new Transport());
  await (await t.roundTrip({ url: peer.url })).text();
  const gotConn: boolean[] = [];
  await rejectsWith(
    t.roundTrip({ url: peer.url, trace: { gotConn: (i) => gotConn.push(i.reused) } }),
    "ERR_CONNECTION_CLOSED",
  );
  assert.deepEqual(gotConn, [true, false]);
  assert.equal(peer.connections, 2);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("retry when the reused connection is reset while a large idempotent body is written", async (ctx) => {
  const base = tcpHandles();
  const big = Buffer.alloc(8 << 20, 120);
  let received = 0;
  const peer = await serve(ctx, rawServer, async (socket, index) => {
    socket.on("error", () => {});
    if (index === 0) {
      await readRequest(socket);
      socket.write(reply());
      // The next request's first bytes: reset while the client is still writing.
      socket.once("data", () => socket.resetAndDestroy());
      return;
    }
    const { body } = await readRequest(socket);
    received = body.length;
    socket.write(reply("done"));
  });
  const t = closeAfter(ctx, new Transport());
  await (await t.roundTrip({ url: peer.url })).text();
  const res = await t.roundTrip({ url: peer.url, method: "PUT", body: big, idempotent: true });
  assert.equal(await res.text(), "done");
  assert.equal(received, big.length);
  assert.equal(peer.connections, 2);
  await peer.close();
  await assertNoLeaks(t, base);
});

/** `n` requests at once, held at the server until all have arrived, so each gets its own connection. */
async function warmConnections(t: Transport, url: string, n: number): Promise<void> {
  const all = await Promise.all(Array.from({ length: n }, () => t.roundTrip({ url })));
  for (const res of all) await res.text();
}

for (const kill of ["FIN", "RST"] as const) {
  test(`Go's TestRetryRequestsOnError: a GET walks through every stale idle connection, then dials (${kill})`, async (ctx) => {
    const base = tcpHandles();
    const stale = 4;
    const arrived: Array<() => void> = [];
    // Every connection answers its first request, and dies on its second (the server
    // closed it while idle, as the request arrived): every idle connection is stale.
    const peer = await serve(ctx, scriptedServer, async (req) => {
      if (req.n > 0) {
        if (kill === "RST") req.socket.resetAndDestroy();
        return kill === "FIN" ? "close" : "hold";
      }
      if (req.conn < stale) {
        // The warm-up: answered once all of them are in.
        await new Promise<void>((r) => {
          arrived.push(r);
          if (arrived.length === stale) for (const go of arrived) go();
        });
      }
      req.socket.write(reply(`conn${req.conn}`));
    });
    const t = closeAfter(ctx, new Transport());
    await warmConnections(t, peer.url, stale);
    assert.equal(t.stats().idle, stale);
    const gotConn: boolean[] = [];
    const res = await t.roundTrip({ url: peer.url, trace: { gotConn: (i) => gotConn.push(i.reused) } });
    assert.equal(await res.text(), `conn${stale}`);
    assert.deepEqual(
      gotConn,
      [true, true, true, true, false],
      "one attempt per stale connection, then a dial",
    );
    assert.equal(peer.connections, stale + 1);
    assert.equal(t.stats().idle, 1);
    await peer.close();
    await assertNoLeaks(t, base);
  });
}

test("Go's TestStressSurpriseServerCloses: a server that keeps each connection for one request only fails 0 idempotent requests", async (ctx) => {
  const base = tcpHandles();
  // No Connection: close: the server answers one request per connection, then closes
  // it when the next one arrives. With maxConnsPerHost, a retry waits for a connection
  // and may be handed one just released, which is stale too.
  const peer = await serve(ctx, scriptedServer, (req) => {
    if (req.n > 0) return "close";
    req.socket.write(reply(`conn${req.conn}`));
  });
  const t = closeAfter(ctx, new Transport({ maxConnsPerHost: 1 }));
  await (await t.roundTrip({ url: peer.url })).text();
  const results = await Promise.allSettled(
    Array.from({ length: 20 }, async (_, i) => {
      const res = await t.roundTrip({ url: `${peer.url}/${i}`, method: i % 2 ? "GET" : "HEAD" });
      await res.text();
      return res.status;
    }),
  );
  const failed = results.filter((r) => r.status === "rejected");
  assert.deepEqual(
    failed.map((r) => (r as PromiseRejectedResult).reason.message),
    [],
    "no idempotent request failed",
  );
  await peer.close();
  await assertNoLeaks(t, base);
});
