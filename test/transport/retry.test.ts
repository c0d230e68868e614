/**
 * Retries (issue 3), after Go's TestRetryRequestsOnError, TestTransportNoReuseAfterEarlyResponse
 * and the shouldRetryRequest rules: a request that fails on a reused connection before
 * any response byte is sent again once, on a new connection, when it is replayable
 * (GET, HEAD, OPTIONS, TRACE, an Idempotency-Key, or idempotent: true, with a body that
 * can be sent again). Never on a fresh connection, never after response bytes.
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
