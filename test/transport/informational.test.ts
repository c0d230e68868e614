/**
 * Informational and upgrade responses (issue 3), after Go's TestTransportRespectsMax1xx...,
 * TestTransportBehaviorOn1xx (Transport1xx) and TestTransportReuseAfter101... : 1xx heads
 * are skipped and reported to trace.got1xxResponse, more than 5 fail with
 * ERR_TOO_MANY_1XX; a 101 is final, hands over the socket with the bytes already read,
 * and its connection leaves the pool; a 101 nobody asked for is ERR_BAD_RESPONSE.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import type { Duplex } from "node:stream";
import { test } from "node:test";
import { Transport } from "../../src/index.js";
import {
  assertNoLeaks,
  closeAfter,
  rejectsWith,
  reply,
  scriptedServer,
  serve,
  tcpHandles,
  waitFor,
} from "../helpers.js";

const early = (i: number) => `HTTP/1.1 103 Early Hints\r\nLink: </style${i}.css>; rel=preload\r\n\r\n`;

for (const count of [1, 5, 6]) {
  test(`${count} informational response(s) before the final one`, async (ctx) => {
    const base = tcpHandles();
    const peer = await serve(ctx, scriptedServer, (req) => {
      if (req.n > 0) {
        req.socket.write(reply("again"));
        return;
      }
      // Each 1xx in its own write, then the final response.
      for (let i = 0; i < count; i++) req.socket.write(early(i));
      req.socket.write(reply("final"));
    });
    const t = closeAfter(ctx, new Transport());
    const got: Array<[number, string | null]> = [];
    const p = t.roundTrip({
      url: peer.url,
      trace: { got1xxResponse: (code, headers) => got.push([code, headers.get("link")]) },
    });
    if (count > 5) {
      await rejectsWith(p, "ERR_TOO_MANY_1XX");
      assert.equal(got.length, 5);
      await waitFor(() => peer.sockets.size === 0, 2000, "the failed connection to close");
    } else {
      const res = await p;
      assert.equal(res.status, 200);
      assert.equal(await res.text(), "final");
      assert.deepEqual(
        got,
        Array.from({ length: count }, (_, i) => [103, `</style${i}.css>; rel=preload`]),
      );
      const again = await t.roundTrip({ url: peer.url });
      assert.equal(await again.text(), "again");
      assert.equal(again.conn.reused, true, "the connection is reused after 1xx");
    }
    await peer.close();
    await assertNoLeaks(t, base);
  });
}

test("1xx heads arriving in the same read as the final one are skipped too", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, (req) => {
    req.socket.write(`HTTP/1.1 100 Continue\r\n\r\n${early(0)}HTTP/1.1 102 Processing\r\n\r\n${reply("x")}`);
  });
  const t = closeAfter(ctx, new Transport());
  const codes: number[] = [];
  const res = await t.roundTrip({ url: peer.url, trace: { got1xxResponse: (c) => codes.push(c) } });
  assert.equal(await res.text(), "x");
  assert.deepEqual(codes, [100, 103, 102]);
  await peer.close();
  await assertNoLeaks(t, base);
});

/** Reads from a paused duplex until `n` bytes arrived. */
async function readN(s: Duplex, n: number): Promise<string> {
  let got = Buffer.alloc(0);
  while (got.length < n) {
    const c = s.read() as Buffer | null;
    if (c !== null) got = Buffer.concat([got, c]);
    else await once(s, "readable");
  }
  return got.toString();
}

test("101 Switching Protocols: response.socket is the upgraded stream, buffered bytes first", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, (req) => {
    assert.match(req.head, /\r\nUpgrade: echo/i);
    assert.match(req.head, /\r\nConnection: Upgrade/i);
    // The 101 head and the new protocol's first bytes in one write.
    req.socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nhello");
    req.socket.on("data", (c: Buffer) => req.socket.write(c));
    return "hold";
  });
  const t = closeAfter(ctx, new Transport());
  const res = await t.roundTrip({ url: peer.url, headers: { Connection: "Upgrade", Upgrade: "echo" } });
  assert.equal(res.status, 101);
  assert.ok(res.socket, "an upgraded socket");
  assert.equal(t.stats().total, 0, "the connection left the pool");
  assert.deepEqual(t.stats().perHost, {});
  const socket = res.socket!;
  assert.equal(await readN(socket, 5), "hello");
  socket.write("ping");
  assert.equal(await readN(socket, 4), "ping");
  assert.equal(await res.text(), "", "the 101 response itself has no body");
  // The transport does not own it: closing idle conns or the transport leaves it alone.
  t.closeIdleConnections();
  socket.write("pong");
  assert.equal(await readN(socket, 4), "pong");
  socket.destroy();
  const next = await t.roundTrip({ url: peer.url, headers: { Connection: "Upgrade", Upgrade: "echo" } });
  assert.equal(next.conn.reused, false);
  next.socket!.destroy();
  assert.equal(peer.connections, 2);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("101 to a request that asked for no upgrade is ERR_BAD_RESPONSE", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, (req) => {
    req.socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: surprise\r\n\r\n");
    return "hold";
  });
  const t = closeAfter(ctx, new Transport());
  await rejectsWith(t.roundTrip({ url: peer.url }), "ERR_BAD_RESPONSE");
  await waitFor(() => peer.sockets.size === 0, 2000, "the connection to close");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("maxResponseHeaderBytes bounds each 1xx head on its own, and the final head", async (ctx) => {
  const base = tcpHandles();
  const big = `X-Big: ${"b".repeat(300)}\r\n`;
  const peer = await serve(ctx, scriptedServer, (req) => {
    if (req.path === "/many") {
      // Three 1xx heads of ~330 bytes each: over the limit together, not one by one.
      for (let i = 0; i < 3; i++) req.socket.write(`HTTP/1.1 103 Early Hints\r\n${big}\r\n`);
      req.socket.write(reply("fine"));
    } else if (req.path === "/big1xx") {
      req.socket.write(`HTTP/1.1 103 Early Hints\r\n${big}${big}\r\n`);
      return "hold";
    } else {
      req.socket.write(`HTTP/1.1 200 OK\r\n${big}${big}Content-Length: 0\r\n\r\n`);
    }
  });
  const t = closeAfter(ctx, new Transport({ maxResponseHeaderBytes: 512 }));
  assert.equal(await (await t.roundTrip({ url: `${peer.url}/many` })).text(), "fine");
  await rejectsWith(t.roundTrip({ url: `${peer.url}/big1xx` }), "ERR_HEADERS_TOO_LARGE");
  await rejectsWith(t.roundTrip({ url: `${peer.url}/bigfinal` }), "ERR_HEADERS_TOO_LARGE");
  await waitFor(() => peer.sockets.size === 0, 2000, "the failed connections to close");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("maxResponseHeaderBytes: 0 means the default (1 MiB), as Go's MaxResponseHeaderBytes", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, (req) => {
    // A 4 KiB head is fine under the default; one over 1 MiB is not.
    const size = req.path === "/huge" ? (1 << 20) + 1024 : 4096;
    req.socket.write(`HTTP/1.1 200 OK\r\nX-Big: ${"b".repeat(size)}\r\nContent-Length: 2\r\n\r\nok`);
    return req.path === "/huge" ? "hold" : undefined;
  });
  const t = closeAfter(ctx, new Transport({ maxResponseHeaderBytes: 0 }));
  assert.equal(await (await t.roundTrip({ url: `${peer.url}/small` })).text(), "ok");
  await rejectsWith(t.roundTrip({ url: `${peer.url}/huge` }), "ERR_HEADERS_TOO_LARGE");
  await peer.close();
  await assertNoLeaks(t, base);
});
