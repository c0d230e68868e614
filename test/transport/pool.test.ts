/**
 * The connection pool (issue 3), after Go's TestTransportKeepAlives,
 * TestTransportConnectionCloseOnResponse/Request, TestTransportIdleCacheKeys,
 * TestTransportMaxPerHostIdleConns, TestTransportMaxConnsPerHost(IncludeDialInProgress),
 * TestTransportRemovesDeadIdleConnections and TestTransportDialerLateBinding: scripted
 * servers count TCP connections; every test ends with the pool empty and no socket open.
 */
import assert from "node:assert/strict";
import type net from "node:net";
import { test } from "node:test";
import tls from "node:tls";
import { Transport, type TransportOptions } from "../../src/index.js";
import type { RequestOptions } from "../../src/transport/prepared.js";
import {
  assertNoLeaks,
  closeAfter,
  deferred,
  gatedDial,
  holdingServer,
  rawServer,
  readRequest,
  rejectsWith,
  reply,
  scriptedServer,
  serve,
  tcpHandles,
  waitFor,
} from "../helpers.js";
import { TLS_CERT, TLS_KEY } from "../server/helpers.js";

interface KeepAliveCase {
  name: string;
  /** The raw response; the server closes after it when `serverCloses`. */
  response: string;
  serverCloses?: boolean;
  request?: RequestOptions;
  transport?: TransportOptions;
  /** TCP connections for three sequential requests. */
  conns: number;
  /** The request head must say Connection: close. */
  askedClose?: boolean;
}

const keepAliveCases: KeepAliveCase[] = [
  { name: "HTTP/1.1 keep-alive by default", response: reply("hi"), conns: 1 },
  {
    name: "server says Connection: close",
    response: reply("hi", "200 OK", ["Connection: close"]),
    serverCloses: true,
    conns: 3,
  },
  {
    name: "server says Connection: close but keeps the socket open",
    response: reply("hi", "200 OK", ["Connection: close"]),
    conns: 3,
  },
  { name: "client close: true", response: reply("hi"), request: { close: true }, conns: 3, askedClose: true },
  {
    name: "client Connection: close header",
    response: reply("hi"),
    request: { headers: { Connection: "close" } },
    conns: 3,
    askedClose: true,
  },
  {
    name: "disableKeepAlives",
    response: reply("hi"),
    transport: { disableKeepAlives: true },
    conns: 3,
    askedClose: true,
  },
  {
    name: "HTTP/1.0 response without keep-alive",
    response: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    serverCloses: true,
    conns: 3,
  },
  {
    name: "HTTP/1.0 response with Connection: keep-alive",
    response: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi",
    conns: 1,
  },
  {
    name: "body framed by close",
    response: "HTTP/1.1 200 OK\r\n\r\nhi",
    serverCloses: true,
    conns: 3,
  },
];

for (const c of keepAliveCases) {
  test(`keep-alives: ${c.name}`, async (ctx) => {
    const base = tcpHandles();
    const peer = await serve(ctx, scriptedServer, (req) => {
      req.socket.write(c.response);
      return c.serverCloses ? "close" : undefined;
    });
    const t = closeAfter(ctx, new Transport(c.transport));
    for (let i = 0; i < 3; i++) {
      const res = await t.roundTrip({ url: `${peer.url}/${i}`, ...c.request });
      assert.equal(await res.text(), "hi");
      assert.equal(res.conn.reused, c.conns === 1 && i > 0);
      // The client closes what it will not reuse, whoever said close.
      if (c.conns > 1) await waitFor(() => t.stats().total === 0, 2000, "the used connection to close");
    }
    assert.equal(peer.connections, c.conns);
    assert.equal(t.stats().idle, c.conns === 1 ? 1 : 0);
    for (const r of peer.requests) assert.equal(/\r\nConnection: close/i.test(r.head), c.askedClose === true);
    await waitFor(() => peer.sockets.size === (c.conns === 1 ? 1 : 0), 2000, "server sockets to close");
    await peer.close();
    await assertNoLeaks(t, base);
  });
}

test("idle cache keys: one pool per host:port, stats().perHost by host:port", async (ctx) => {
  const base = tcpHandles();
  const a = await serve(ctx, scriptedServer, (req) => void req.socket.write(reply("a")));
  const b = await serve(ctx, scriptedServer, (req) => void req.socket.write(reply("b")));
  const t = closeAfter(ctx, new Transport());
  const urls = [`http://127.0.0.1:${a.port}/`, `http://localhost:${a.port}/`, `http://127.0.0.1:${b.port}/`];
  for (let round = 0; round < 2; round++) {
    for (const url of urls) {
      const res = await t.roundTrip({ url });
      await res.text();
      assert.equal(res.conn.reused, round === 1, `${url} round ${round}`);
    }
  }
  assert.equal(a.connections, 2, "127.0.0.1 and localhost are different keys");
  assert.equal(b.connections, 1);
  const s = t.stats();
  assert.equal(s.idle, 3);
  assert.equal(s.total, 3);
  assert.deepEqual(
    Object.keys(s.perHost).sort(),
    [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`, `localhost:${a.port}`].sort(),
  );
  for (const h of Object.values(s.perHost))
    assert.deepEqual(h, { active: 0, idle: 1, dialing: 0, waiting: 0 });
  await a.close();
  await b.close();
  await assertNoLeaks(t, base);
});

test("idle cache keys: http and https to the same host:port are different pools", async (ctx) => {
  const base = tcpHandles();
  // One port that speaks TLS or plain HTTP, by the first byte.
  const answer = async (socket: net.Socket, scheme: string) => {
    socket.on("error", () => {});
    while (true) {
      try {
        await readRequest(socket);
      } catch {
        return;
      }
      socket.write(reply(scheme));
    }
  };
  const peer = await serve(ctx, rawServer, (socket) => {
    socket.on("error", () => {});
    socket.once("data", (first) => {
      socket.pause();
      socket.unshift(first);
      if (first[0] === 0x16) {
        const secure = new tls.TLSSocket(socket, { isServer: true, key: TLS_KEY, cert: TLS_CERT });
        void answer(secure, "https");
      } else {
        void answer(socket, "http");
        socket.resume();
      }
    });
  });
  const t = closeAfter(ctx, new Transport({ tls: { rejectUnauthorized: false } }));
  for (let round = 0; round < 2; round++) {
    for (const scheme of ["http", "https"]) {
      const res = await t.roundTrip({ url: `${scheme}://127.0.0.1:${peer.port}/` });
      assert.equal(await res.text(), scheme);
      assert.equal(res.conn.reused, round === 1);
    }
  }
  assert.equal(peer.connections, 2);
  assert.equal(t.stats().idle, 2);
  assert.equal(t.stats().perHost[`127.0.0.1:${peer.port}`]?.idle, 2);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("maxIdleConnsPerHost: extra connections are closed, not pooled", async (ctx) => {
  const base = tcpHandles();
  // The server answers once four requests are in, so four connections are open at once.
  let gate = deferred();
  let seen = 0;
  const peer = await serve(ctx, scriptedServer, async (req) => {
    const g = gate;
    if (++seen === 4) g.resolve();
    await g.promise;
    req.socket.write(reply(req.path));
  });
  const t = closeAfter(ctx, new Transport({ maxIdleConnsPerHost: 2 }));
  const round = () =>
    Promise.all(
      [0, 1, 2, 3].map(async (i) => {
        const res = await t.roundTrip({ url: `${peer.url}/${i}` });
        assert.equal(await res.text(), `/${i}`);
        return res.conn.reused;
      }),
    );
  assert.deepEqual(await round(), [false, false, false, false]);
  assert.equal(peer.connections, 4);
  assert.equal(t.stats().idle, 2);
  assert.equal(t.stats().total, 2);
  await waitFor(() => peer.sockets.size === 2, 2000, "the two extra connections to close");
  // The two kept are reused; two more are dialed.
  seen = 0;
  gate = deferred();
  assert.equal((await round()).filter(Boolean).length, 2);
  assert.equal(peer.connections, 6);
  assert.equal(t.stats().idle, 2);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("maxIdleConns: the least recently used idle connection, of any host, is closed", async (ctx) => {
  const base = tcpHandles();
  const peers = await Promise.all(
    ["a", "b", "c"].map((name) => serve(ctx, scriptedServer, (req) => void req.socket.write(reply(name)))),
  );
  const [a, b, c] = peers as [(typeof peers)[0], (typeof peers)[0], (typeof peers)[0]];
  const t = closeAfter(ctx, new Transport({ maxIdleConns: 2 }));
  const get = async (p: typeof a) => {
    const res = await t.roundTrip({ url: p.url });
    await res.text();
    return res.conn.reused;
  };
  assert.equal(await get(a), false);
  assert.equal(await get(b), false);
  assert.equal(await get(c), false);
  await waitFor(() => a.sockets.size === 0, 2000, "a's idle connection (LRU) to close");
  assert.deepEqual(
    Object.keys(t.stats().perHost).sort(),
    [`127.0.0.1:${b.port}`, `127.0.0.1:${c.port}`].sort(),
  );
  assert.equal(await get(b), true, "b is still pooled; using it makes it the most recent");
  assert.equal(await get(a), false, "a was evicted");
  await waitFor(() => c.sockets.size === 0, 2000, "c (now least recently used) to close");
  assert.equal(b.sockets.size, 1);
  assert.equal(t.stats().idle, 2);
  for (const p of peers) await p.close();
  await assertNoLeaks(t, base);
});

test("maxConnsPerHost counts dials in progress; waiters are served FIFO on the freed connection", async (ctx) => {
  const base = tcpHandles();
  const gates: Array<() => void> = [];
  const peer = await serve(ctx, scriptedServer, async (req) => {
    await new Promise<void>((r) => gates.push(r));
    req.socket.write(reply(req.path));
  });
  const dialer = gatedDial();
  const t = closeAfter(ctx, new Transport({ maxConnsPerHost: 1, dial: dialer.dial }));
  const host = `127.0.0.1:${peer.port}`;
  const order: string[] = [];
  const all = [0, 1, 2, 3].map(async (i) => {
    const res = await t.roundTrip({ url: `${peer.url}/${i}` });
    order.push(await res.text());
    return res.conn.reused;
  });
  await waitFor(() => dialer.started === 1, 2000, "the first dial");
  assert.equal(dialer.pending, 1);
  assert.deepEqual(t.stats().perHost[host], { active: 0, idle: 0, dialing: 1, waiting: 4 });
  assert.equal(t.stats().waiting, 4);
  dialer.open();
  for (let served = 1; served <= 4; served++) {
    await waitFor(() => gates.length === 1, 2000, `request ${served} at the server`);
    const s = t.stats();
    assert.equal(s.active, 1);
    assert.equal(s.waiting, 4 - served);
    assert.equal(dialer.started, 1, "no dial beyond the limit");
    gates.shift()!();
  }
  assert.deepEqual(await Promise.all(all), [false, true, true, true]);
  assert.deepEqual(order, ["/0", "/1", "/2", "/3"], "FIFO");
  assert.deepEqual(
    peer.requests.map((r) => r.path),
    ["/0", "/1", "/2", "/3"],
  );
  assert.equal(peer.connections, 1);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("maxConnsPerHost: with two slots, two dials at most", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, (req) => void req.socket.write(reply(req.path)));
  const dialer = gatedDial();
  const t = closeAfter(ctx, new Transport({ maxConnsPerHost: 2, dial: dialer.dial }));
  const all = Array.from({ length: 10 }, (_, i) =>
    t.roundTrip({ url: `${peer.url}/${i}` }).then((r) => r.text()),
  );
  await waitFor(() => dialer.started === 2, 2000, "two dials");
  assert.equal(t.stats().dialing, 2);
  assert.equal(t.stats().waiting, 10);
  dialer.open();
  assert.deepEqual(
    await Promise.all(all),
    Array.from({ length: 10 }, (_, i) => `/${i}`),
  );
  assert.equal(dialer.started, 2);
  assert.equal(peer.connections, 2);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("maxConnsPerHost: a connection that closes opens the slot for the next waiter", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, (req) => {
    req.socket.write(reply(req.path, "200 OK", ["Connection: close"]));
    return "close";
  });
  const t = closeAfter(ctx, new Transport({ maxConnsPerHost: 1 }));
  const texts = await Promise.all(
    [0, 1, 2].map(async (i) => (await t.roundTrip({ url: `${peer.url}/${i}` })).text()),
  );
  assert.deepEqual(texts, ["/0", "/1", "/2"]);
  assert.equal(peer.connections, 3);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("maxConnsPerHost: an aborted waiter leaves the count at once and is never sent", async (ctx) => {
  const base = tcpHandles();
  const gates: Array<() => void> = [];
  const peer = await serve(ctx, scriptedServer, async (req) => {
    await new Promise<void>((r) => gates.push(r));
    req.socket.write(reply(req.path));
  });
  const t = closeAfter(ctx, new Transport({ maxConnsPerHost: 1 }));
  const first = t.roundTrip({ url: `${peer.url}/0` });
  await waitFor(() => gates.length === 1, 2000, "the first request at the server");
  const ac = new AbortController();
  const aborted = t.roundTrip({ url: `${peer.url}/1`, signal: ac.signal });
  const third = t.roundTrip({ url: `${peer.url}/2` });
  assert.equal(t.stats().waiting, 2);
  ac.abort();
  assert.equal(t.stats().waiting, 1, "the aborted waiter left synchronously");
  await rejectsWith(aborted, "ERR_ABORTED");
  gates.shift()!();
  assert.equal(await (await first).text(), "/0");
  await waitFor(() => gates.length === 1, 2000, "the third request at the server");
  gates.shift()!();
  const res = await third;
  assert.equal(await res.text(), "/2");
  assert.equal(res.conn.reused, true);
  assert.deepEqual(
    peer.requests.map((r) => r.path),
    ["/0", "/2"],
  );
  await peer.close();
  await assertNoLeaks(t, base);
});

for (const how of ["FIN", "RST"] as const) {
  test(`dead idle connections are removed: the server closes an idle socket (${how})`, async (ctx) => {
    const base = tcpHandles();
    const peer = await serve(ctx, scriptedServer, (req) => {
      req.socket.write(reply(`${req.conn}`));
      // Keep-alive promised, then the socket goes away while idle.
      setTimeout(() => (how === "FIN" ? req.socket.end() : req.socket.resetAndDestroy()), 10);
      return "hold";
    });
    const t = closeAfter(ctx, new Transport());
    for (let i = 0; i < 3; i++) {
      const res = await t.roundTrip({ url: peer.url });
      assert.equal(await res.text(), `${i}`);
      assert.equal(res.conn.reused, false);
      await waitFor(() => t.stats().total === 0, 2000, "the dead idle connection to leave the pool");
    }
    assert.equal(peer.connections, 3);
    await peer.close();
    await assertNoLeaks(t, base);
  });
}

test("late binding: a dial started for a request served by another connection goes idle", async (ctx) => {
  const base = tcpHandles();
  const { peer, hold } = await holdingServer(ctx, "/slow");
  const dialer = gatedDial();
  const t = closeAfter(ctx, new Transport({ dial: dialer.dial }));
  const slow = t.roundTrip({ url: `${peer.url}/slow` });
  await waitFor(() => dialer.pending === 1, 2000, "first dial");
  dialer.step();
  await waitFor(() => peer.requests.length === 1, 2000, "/slow at the server");
  // No idle connection: a second dial starts and stalls at the gate.
  const second = t.roundTrip({ url: `${peer.url}/second` });
  await waitFor(() => dialer.pending === 1, 2000, "second dial");
  assert.equal(t.stats().dialing, 1);
  hold.resolve();
  assert.equal(await (await slow).text(), "/slow");
  const res = await second;
  assert.equal(await res.text(), "/second");
  assert.equal(res.conn.reused, true, "served by the first connection once it was free");
  // The second dial completes for nobody: its connection goes idle.
  dialer.step();
  await waitFor(() => t.stats().idle === 2, 2000, "the late dial to park its connection");
  assert.equal(t.stats().dialing, 0);
  const both = await Promise.all([0, 1].map((i) => t.roundTrip({ url: `${peer.url}/${i}` })));
  for (const r of both) {
    await r.text();
    assert.equal(r.conn.wasIdle, true, "both came from the idle pool");
  }
  assert.deepEqual(
    both.map((r) => r.conn.reused).sort(),
    [false, true],
    "the parked one never carried a request",
  );
  assert.equal(dialer.started, 2);
  assert.equal(peer.connections, 2);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("late binding: a dial whose request was aborted goes idle for the next request", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, (req) => void req.socket.write(reply(req.path)));
  const dialer = gatedDial();
  const t = closeAfter(ctx, new Transport({ dial: dialer.dial }));
  const ac = new AbortController();
  const p = t.roundTrip({ url: peer.url, signal: ac.signal });
  await waitFor(() => dialer.pending === 1, 2000, "the dial");
  ac.abort();
  await rejectsWith(p, "ERR_ABORTED");
  assert.equal(t.stats().waiting, 0);
  assert.equal(t.stats().dialing, 1);
  dialer.step();
  await waitFor(() => t.stats().idle === 1, 2000, "the connection to go idle");
  const res = await t.roundTrip({ url: `${peer.url}/next` });
  assert.equal(await res.text(), "/next");
  assert.equal(res.conn.reused, false, "a parked, never-used connection is not 'reused'");
  assert.equal(res.conn.wasIdle, true, "but it came from the idle pool");
  assert.equal(dialer.started, 1);
  assert.equal(peer.connections, 1);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("the idle list is last in, first out", async (ctx) => {
  const base = tcpHandles();
  const gates = new Map<string, () => void>();
  const peer = await serve(ctx, scriptedServer, async (req) => {
    if (req.path !== "/which") await new Promise<void>((r) => gates.set(req.path, r));
    req.socket.write(reply(`conn${req.conn}`));
  });
  const t = closeAfter(ctx, new Transport());
  const a = t.roundTrip({ url: `${peer.url}/a` });
  const b = t.roundTrip({ url: `${peer.url}/b` });
  await waitFor(() => gates.size === 2, 2000, "both requests at the server");
  // /a's connection goes idle first, /b's last.
  gates.get("/a")!();
  const connA = await (await a).text();
  gates.get("/b")!();
  const connB = await (await b).text();
  assert.notEqual(connA, connB);
  assert.equal(t.stats().idle, 2);
  const which = await t.roundTrip({ url: `${peer.url}/which` });
  assert.equal(await which.text(), connB, "the most recently idled connection is used");
  await peer.close();
  await assertNoLeaks(t, base);
});
