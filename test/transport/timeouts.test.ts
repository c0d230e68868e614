/**
 * Deadlines (issue 3), after Go's TestTransportResponseHeaderTimeout, TestTransportDialTimeout
 * and TestTransportTLSHandshakeTimeout, plus idle expiry (idleConnTimeout and a server's
 * `Keep-Alive: timeout=N` hint) and the body stall timeout. Each deadline fails with
 * ERR_TIMEOUT naming its phase; none leaves anything in the pool.
 */
import assert from "node:assert/strict";
import type { Duplex } from "node:stream";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Transport } from "../../src/index.js";
import {
  assertNoLeaks,
  closeAfter,
  httpServer,
  rawServer,
  rejectsWith,
  reply,
  scriptedServer,
  serve,
  tcpHandles,
  waitFor,
} from "../helpers.js";

test("responseHeaderTimeout: ERR_TIMEOUT (responseHeader) for a silent server; others go on", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, (req) => {
    if (req.path === "/slow") return "hold";
    req.socket.write(reply(req.path));
  });
  const t = closeAfter(ctx, new Transport({ responseHeaderTimeout: 100 }));
  assert.equal(await (await t.roundTrip({ url: `${peer.url}/fast` })).text(), "/fast");
  const err = await rejectsWith(t.roundTrip({ url: `${peer.url}/slow` }), "ERR_TIMEOUT");
  assert.equal(err.phase, "responseHeader");
  // /slow took the idle connection; it timed out and was closed.
  assert.equal(t.stats().total, 0);
  await waitFor(() => peer.sockets.size === 0, 2000, "the timed-out connection to close");
  const again = await t.roundTrip({ url: `${peer.url}/fast` });
  assert.equal(await again.text(), "/fast");
  assert.equal(again.conn.reused, false);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("responseHeaderTimeout does not cover the body", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, async (req) => {
    req.socket.write("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab");
    await sleep(250);
    req.socket.write("cd");
  });
  const t = closeAfter(ctx, new Transport({ responseHeaderTimeout: 50 }));
  assert.equal(await (await t.roundTrip({ url: peer.url })).text(), "abcd");
  await peer.close();
  await assertNoLeaks(t, base);
});

const neverDials: Array<{ name: string; dial: (o: { signal: AbortSignal }) => Promise<Duplex> }> = [
  { name: "a dial that ignores its signal", dial: () => new Promise<Duplex>(() => {}) },
  {
    name: "a dial that rejects on its signal",
    dial: ({ signal }) =>
      new Promise<Duplex>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
  },
];

for (const d of neverDials) {
  test(`dialTimeout: ERR_TIMEOUT (dial) with ${d.name}`, async (ctx) => {
    const base = tcpHandles();
    const t = closeAfter(ctx, new Transport({ dialTimeout: 50, dial: d.dial }));
    const events: string[] = [];
    const err = await rejectsWith(
      t.roundTrip({
        url: "http://example.invalid/",
        trace: {
          connectStart: () => events.push("connectStart"),
          connectDone: (_n, _a, e) => events.push(`connectDone:${(e as { code?: string })?.code}`),
        },
      }),
      "ERR_TIMEOUT",
    );
    assert.equal(err.phase, "dial");
    assert.deepEqual(events, ["connectStart", "connectDone:ERR_TIMEOUT"]);
    await waitFor(() => t.stats().dialing === 0, 2000, "the dial to be forgotten");
    assert.deepEqual(t.stats().perHost, {});
    await assertNoLeaks(t, base);
  });
}

test("dialTimeout also bounds a dial started for a waiter that gave up", async (ctx) => {
  const base = tcpHandles();
  const t = closeAfter(ctx, new Transport({ dialTimeout: 50, dial: () => new Promise<Duplex>(() => {}) }));
  const ac = new AbortController();
  const p = t.roundTrip({ url: "http://example.invalid/", signal: ac.signal });
  ac.abort();
  await rejectsWith(p, "ERR_ABORTED");
  await waitFor(() => t.stats().dialing === 0, 2000, "the orphan dial to time out");
  await assertNoLeaks(t, base);
});

test("tlsHandshakeTimeout: ERR_TIMEOUT (tls) against a server that never answers the hello", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, rawServer, (socket) => void socket.on("error", () => {}).resume());
  const t = closeAfter(ctx, new Transport({ tlsHandshakeTimeout: 100 }));
  const err = await rejectsWith(t.roundTrip({ url: `https://127.0.0.1:${peer.port}/` }), "ERR_TIMEOUT");
  assert.equal(err.phase, "tls");
  await waitFor(() => peer.sockets.size === 0, 2000, "the half-open TLS socket to close");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("idleConnTimeout: an idle connection is closed by the client, the next request dials", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, (req) => void req.socket.write(reply(`${req.conn}`)));
  const t = closeAfter(ctx, new Transport({ idleConnTimeout: 50 }));
  assert.equal(await (await t.roundTrip({ url: peer.url })).text(), "0");
  await waitFor(() => peer.sockets.size === 0, 3000, "the client to close the idle connection");
  assert.equal(t.stats().total, 0);
  assert.equal(await (await t.roundTrip({ url: peer.url })).text(), "1");
  await peer.close();
  await assertNoLeaks(t, base);
});

for (const hint of [true, false]) {
  test(`Keep-Alive: timeout=1 hint ${hint ? "honoured: the conn is not used past it" : "absent: the conn is reused"}`, async (ctx) => {
    const base = tcpHandles();
    const peer = await serve(ctx, scriptedServer, (req) => {
      req.socket.write(reply(`${req.conn}`, "200 OK", hint ? ["Keep-Alive: timeout=1"] : []));
    });
    const t = closeAfter(ctx, new Transport());
    assert.equal(await (await t.roundTrip({ url: peer.url })).text(), "0");
    // Past the server's announced timeout: a server would close now, racing our request.
    await sleep(1100);
    const res = await t.roundTrip({ url: peer.url });
    assert.equal(await res.text(), hint ? "1" : "0");
    assert.equal(res.conn.reused, !hint);
    if (hint)
      await waitFor(() => peer.sockets.size === 1, 3000, "the client to close the expired connection");
    await peer.close();
    await assertNoLeaks(t, base);
  });
}

test("bodyTimeout: a body that stalls fails with ERR_TIMEOUT (body)", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, (req) => {
    req.socket.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
    return "hold";
  });
  const t = closeAfter(ctx, new Transport({ bodyTimeout: 100 }));
  const res = await t.roundTrip({ url: peer.url });
  const err = await rejectsWith(res.text(), "ERR_TIMEOUT");
  assert.equal(err.phase, "body");
  await waitFor(() => peer.sockets.size === 0, 2000, "the stalled connection to close");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("bodyTimeout: a slow reader is not a stall", async (ctx) => {
  const base = tcpHandles();
  const size = 8 << 20;
  const peer = await serve(ctx, httpServer, (_req, res) => {
    res.setHeader("content-length", size);
    res.end(Buffer.alloc(size, 97));
  });
  const t = closeAfter(ctx, new Transport({ bodyTimeout: 50 }));
  const res = await t.roundTrip({ url: peer.url });
  // The reader does nothing for several body timeouts while the socket is paused for it.
  await sleep(400);
  let n = 0;
  for await (const chunk of res.body) {
    n += chunk.length;
    if (n < 2 << 20) await sleep(30);
  }
  assert.equal(n, size);
  await peer.close();
  await assertNoLeaks(t, base);
});
