/**
 * When a connection goes back, and shutting down (issue 3), after Go's
 * TestTransportReadToEndReusesConn, TestTransportHeadChunkedResponse, TestTransportIgnores408,
 * TestTransportNoReuseAfterEarlyResponse, TestTransportCloseIdleConnsThenReturn,
 * TestTransportPersistConnLeakNeverIdle and TestTransportClose...: a connection is free as
 * soon as its response has fully arrived (read or not); close() on a body drains a small
 * remainder or destroys; an unconsumed body is reported when garbage-collected;
 * closeIdleConnections() and close() leave nothing behind.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, truncate, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Duplex, Readable } from "node:stream";
import { after, type TestContext, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { BodyInit } from "../../src/body/outgoing.js";
import { file, Transport } from "../../src/index.js";
import {
  assertNoLeaks,
  closeAfter,
  deferred,
  gatedDial,
  holdingServer,
  rawServer,
  rejectsWith,
  reply,
  scriptedServer,
  serve,
  tcpHandles,
  waitFor,
} from "../helpers.js";

// A sparse 64 MiB file for uploads the server never reads.
const dir = await mkdtemp(join(tmpdir(), "roundtrip-lifecycle-"));
const bigFile = join(dir, "big.bin");
await writeFile(bigFile, "");
await truncate(bigFile, 64 << 20);
after(() => rm(dir, { recursive: true, force: true }));

test("a response whose whole body came with the head frees its connection before it is read", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, (req) => void req.socket.write(reply(`body ${req.n}`)));
  const t = closeAfter(ctx, new Transport());
  const unread = [];
  for (let i = 0; i < 3; i++) {
    const res = await t.roundTrip({ url: peer.url });
    assert.deepEqual([t.stats().active, t.stats().idle], [0, 1], "free right after the await");
    unread.push(res);
  }
  assert.equal(peer.connections, 1, "unread small bodies never pin a connection");
  for (let i = 0; i < 3; i++) assert.equal(await unread[i]!.text(), `body ${i}`);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a body still arriving holds its connection until read to the end", async (ctx) => {
  const base = tcpHandles();
  const rest = deferred();
  const peer = await serve(ctx, scriptedServer, async (req) => {
    req.socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    await rest.promise;
    req.socket.write("6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n");
  });
  const t = closeAfter(ctx, new Transport());
  const res = await t.roundTrip({ url: peer.url });
  assert.equal(t.stats().active, 1);
  assert.equal(res.trailers.get("x-trailer"), null, "trailers come at EOF");
  rest.resolve();
  assert.equal(await res.text(), "hello world");
  assert.equal(res.trailers.get("x-trailer"), "yes");
  assert.deepEqual([t.stats().active, t.stats().idle], [0, 1]);
  await peer.close();
  await assertNoLeaks(t, base);
});

const bodiless: Array<{
  name: string;
  method?: string;
  response: string;
  reused: boolean;
  contentLength: number;
}> = [
  {
    name: "HEAD with Transfer-Encoding: chunked",
    method: "HEAD",
    response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    reused: true,
    contentLength: -1,
  },
  {
    name: "HEAD with Content-Length",
    method: "HEAD",
    response: "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n",
    reused: true,
    contentLength: 1234,
  },
  { name: "204", response: "HTTP/1.1 204 No Content\r\n\r\n", reused: true, contentLength: 0 },
  {
    name: "304 with a Content-Length",
    response: 'HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\nETag: "x"\r\n\r\n',
    reused: true,
    contentLength: 50,
  },
  {
    name: "204 followed by body bytes (ignored; conn not reused)",
    response: "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello",
    reused: false,
    contentLength: 0,
  },
  {
    name: "304 followed by body bytes (ignored; conn not reused)",
    response: "HTTP/1.1 304 Not Modified\r\n\r\nhello",
    reused: false,
    contentLength: -1,
  },
];

for (const b of bodiless) {
  test(`bodiless: ${b.name}`, async (ctx) => {
    const base = tcpHandles();
    const peer = await serve(ctx, scriptedServer, (req) => {
      req.socket.write(req.conn === 0 && req.n === 0 ? b.response : reply("next"));
    });
    const t = closeAfter(ctx, new Transport());
    const res = await t.roundTrip({ url: peer.url, ...(b.method ? { method: b.method } : {}) });
    assert.equal(t.stats().active, 0, "nothing to read: the connection is free at once");
    assert.equal(await res.text(), "");
    if (b.contentLength !== -1 || b.method === "HEAD") assert.equal(res.contentLength, b.contentLength);
    const next = await t.roundTrip({ url: peer.url });
    assert.equal(await next.text(), "next");
    assert.equal(next.conn.reused, b.reused);
    await peer.close();
    await assertNoLeaks(t, base);
  });
}

test("408 Request Timeout on an idle connection: dropped quietly, next request dials", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, async (req) => {
    req.socket.write(reply(`${req.conn}`));
    if (req.conn === 0) {
      await sleep(20);
      req.socket.write("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return "close";
    }
  });
  const t = closeAfter(ctx, new Transport());
  assert.equal(await (await t.roundTrip({ url: peer.url })).text(), "0");
  await waitFor(() => t.stats().total === 0, 2000, "the 408'd idle connection to be dropped");
  const res = await t.roundTrip({ url: peer.url });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "1");
  await peer.close();
  await assertNoLeaks(t, base);
});

const earlyBodies: Array<{ kind: string; make(): { body: BodyInit; closed: () => boolean } }> = [
  {
    kind: "an endless stream",
    make() {
      const state = { returned: false };
      const chunk = Buffer.alloc(64 * 1024, 97);
      async function* endless() {
        try {
          while (true) yield chunk;
        } finally {
          state.returned = true;
        }
      }
      return { body: endless(), closed: () => state.returned };
    },
  },
  { kind: "a 64 MiB file()", make: () => ({ body: file(bigFile), closed: () => true }) },
  { kind: "16 MiB of bytes", make: () => ({ body: Buffer.alloc(16 << 20, 98), closed: () => true }) },
];

for (const b of earlyBodies) {
  test(`an early response while sending ${b.kind} is delivered; the write stops; no reuse`, async (ctx) => {
    const base = tcpHandles();
    const early = await serve(ctx, rawServer, (socket) => {
      socket.on("error", () => {});
      socket.once("data", () => {
        // Answer at the first bytes and read nothing more.
        socket.pause();
        socket.write("HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\n\r\ntoo big!");
      });
    });
    const t = closeAfter(ctx, new Transport());
    const { body, closed } = b.make();
    const events: string[] = [];
    const res = await t.roundTrip({
      url: early.url,
      method: "POST",
      body,
      trace: { wroteRequest: (i) => events.push(i.err ? "wroteRequest:err" : "wroteRequest") },
    });
    assert.equal(res.status, 413);
    assert.equal(await res.text(), "too big!");
    await waitFor(closed, 2000, "the body source to be closed");
    assert.equal(t.stats().total, 0, "not reused");
    assert.ok(!events.includes("wroteRequest"), "the request was never fully written");
    for (const s of early.sockets) s.resume();
    await waitFor(() => early.sockets.size === 0, 2000, "the server to see the close");
    await early.close();
    await assertNoLeaks(t, base);
  });
}

test("body close(): a small remainder is drained and the connection reused", async (ctx) => {
  const base = tcpHandles();
  const rest = deferred();
  const peer = await serve(ctx, scriptedServer, async (req) => {
    if (req.n > 0) {
      req.socket.write(reply("next"));
      return;
    }
    req.socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n${"a".repeat(100)}`);
    await rest.promise;
    req.socket.write("b".repeat(19_900));
  });
  const t = closeAfter(ctx, new Transport());
  const res = await t.roundTrip({ url: peer.url });
  const closing = res.close();
  assert.equal(t.stats().active, 1, "draining");
  rest.resolve();
  await closing;
  assert.deepEqual([t.stats().active, t.stats().idle], [0, 1]);
  const next = await t.roundTrip({ url: peer.url });
  assert.equal(await next.text(), "next");
  assert.equal(next.conn.reused, true);
  await rejectsWith(res.text(), "ERR_BODY_USED");
  await res.close(); // twice is fine
  await peer.close();
  await assertNoLeaks(t, base);
});

/** A raw server that writes `head + body` to each request and then ends the connection with `end`. */
async function closingServer(ctx: TestContext, bytes: string, end: "FIN" | "RST") {
  return serve(ctx, scriptedServer, (req) => {
    // One write, then the end at once: a reset reaches the client with the bytes
    // (libuv then reports the end of a partial read as EOF, not as ECONNRESET).
    req.socket.write(bytes, () => {
      if (end === "RST") req.socket.resetAndDestroy();
    });
    return end === "FIN" ? "close" : "hold";
  });
}

for (const end of ["FIN", "RST"] as const) {
  test(`a body framed by close, ended by ${end}: ${end === "FIN" ? "a complete body" : "ERR_CONNECTION_CLOSED, not a complete body"}`, async (ctx) => {
    const base = tcpHandles();
    const peer = await closingServer(ctx, "HTTP/1.1 200 OK\r\n\r\nthe whole body?", end);
    const t = closeAfter(ctx, new Transport());
    for (let i = 0; i < 3; i++) {
      const res = await t.roundTrip({ url: peer.url });
      assert.equal(res.status, 200);
      if (end === "FIN") assert.equal(await res.text(), "the whole body?");
      else {
        const err = await rejectsWith(res.text(), "ERR_CONNECTION_CLOSED");
        assert.equal((err.cause as NodeJS.ErrnoException | undefined)?.code, "ECONNRESET");
      }
    }
    await peer.close();
    await assertNoLeaks(t, base);
  });
}

test("a reset after a complete Content-Length body does not fail it", async (ctx) => {
  const base = tcpHandles();
  const peer = await closingServer(ctx, reply("all of it"), "RST");
  const t = closeAfter(ctx, new Transport());
  const res = await t.roundTrip({ url: peer.url });
  assert.equal(await res.text(), "all of it");
  await peer.close();
  await assertNoLeaks(t, base);
});

const bigRemainders: Array<{ name: string; head: string }> = [
  { name: "a large Content-Length remainder", head: "HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n" },
  { name: "an endless chunked body", head: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" },
  { name: "a body framed by close", head: "HTTP/1.1 200 OK\r\n\r\n" },
];

for (const b of bigRemainders) {
  test(`body close() on ${b.name} destroys the connection`, async (ctx) => {
    const base = tcpHandles();
    const peer = await serve(ctx, scriptedServer, async (req) => {
      req.socket.write(b.head);
      const chunked = b.head.includes("chunked");
      const piece = Buffer.alloc(16 * 1024, 120);
      // Keep sending until the client goes away.
      while (!req.socket.destroyed && req.socket.writable) {
        const ok = chunked ? req.socket.write(`4000\r\n${piece.toString()}\r\n`) : req.socket.write(piece);
        if (!ok) await new Promise((r) => setTimeout(r, 5));
        else await new Promise((r) => setImmediate(r));
      }
      return "hold";
    });
    const t = closeAfter(ctx, new Transport());
    const res = await t.roundTrip({ url: peer.url });
    let n = 0;
    for await (const c of res.body) {
      n += c.length;
      if (n > 10_000) break; // break = close()
    }
    assert.equal(t.stats().total, 0, "destroyed, not drained");
    await waitFor(() => peer.sockets.size === 0, 3000, "the server to see the close");
    const next = await t.roundTrip({ url: peer.url });
    assert.equal(next.conn.reused, false);
    await next.close();
    await peer.close();
    await assertNoLeaks(t, base);
  });
}

/**
 * Sends two requests whose bodies never finish, drops both Responses unread, and runs
 * the GC (bounded) until both connections are gone. Returns the unconsumed-body warnings.
 */
async function dropTwoUnread(
  ctx: TestContext,
  t: Transport,
  url: (i: number) => string,
): Promise<{ warnings: Error[]; peer: { sockets: Set<unknown>; close(): unknown } }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  assert.ok(gc, "needs --expose-gc (scripts/run-tests.mjs passes it)");
  const peer = await serve(ctx, scriptedServer, (req) => {
    req.socket.write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly the start");
    return "hold";
  });
  const warnings: Error[] = [];
  const onWarning = (w: Error & { code?: string }) => {
    if (w.code === "ROUNDTRIP_UNCONSUMED_BODY") warnings.push(w);
  };
  process.on("warning", onWarning);
  ctx.after(() => process.off("warning", onWarning));
  const dropTwo = async () => {
    for (let i = 0; i < 2; i++) {
      const res = await t.roundTrip({ url: peer.url + url(i) });
      assert.equal(res.status, 200);
    }
  };
  await dropTwo();
  assert.equal(t.stats().active, 2);
  for (let i = 0; i < 100 && (t.stats().total > 0 || warnings.length === 0); i++) {
    gc();
    await sleep(10);
  }
  assert.equal(t.stats().total, 0, "both connections were destroyed");
  await waitFor(() => peer.sockets.size === 0, 2000, "the server to see both closes");
  return { warnings, peer };
}

test("a Response dropped with its body unread is reported once (ROUNDTRIP_UNCONSUMED_BODY) and its conn freed", async (ctx) => {
  const base = tcpHandles();
  const t = closeAfter(ctx, new Transport({ callSites: true }));
  // Same call site both times: one warning.
  const { warnings, peer } = await dropTwoUnread(ctx, t, () => "");
  assert.equal(warnings.length, 1, "one warning per call site");
  assert.match(warnings[0]!.message, /lifecycle\.test/, "it says where the request was made");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("without call sites (the default), the unconsumed-body warning names the method and URL, once per URL", async (ctx) => {
  const base = tcpHandles();
  const t = closeAfter(ctx, new Transport());
  // Same URL both times (query aside): one warning.
  const { warnings, peer } = await dropTwoUnread(ctx, t, (i) => `/dropped-by-default?i=${i}`);
  assert.equal(warnings.length, 1, "one warning per URL");
  assert.match(
    warnings[0]!.message,
    /GET http:\/\/127\.0\.0\.1:\d+\/dropped-by-default\?i=[01]/,
    "it names the request",
  );
  assert.match(warnings[0]!.message, /ROUNDTRIP_TRACE_BODIES=1/, "and how to get the call site");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("closeIdleConnections closes idle conns, conns that become idle, and conns late dials park", async (ctx) => {
  const base = tcpHandles();
  const { peer, hold } = await holdingServer(ctx, "/hold");
  const dialer = gatedDial();
  dialer.open();
  const t = closeAfter(ctx, new Transport({ dial: dialer.dial }));
  await (await t.roundTrip({ url: `${peer.url}/a` })).text();
  const active = t.roundTrip({ url: `${peer.url}/hold` });
  await waitFor(() => peer.requests.length === 2, 2000, "/hold at the server");
  assert.equal(await (await t.roundTrip({ url: `${peer.url}/b` })).text(), "/b");
  assert.deepEqual([t.stats().active, t.stats().idle], [1, 1]);
  t.closeIdleConnections();
  assert.equal(t.stats().idle, 0);
  await waitFor(() => peer.sockets.size === 1, 2000, "the idle connection to close");
  // The active one finishes, and is closed instead of pooled.
  hold.resolve();
  assert.equal(await (await active).text(), "/hold");
  await waitFor(() => t.stats().total === 0 && peer.sockets.size === 0, 2000, "the newly idle conn to close");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("closeIdleConnections: a connection parked by a late dial is closed; the next request ends that mode", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, (req) => void req.socket.write(reply(req.path)));
  const dialer = gatedDial();
  const t = closeAfter(ctx, new Transport({ dial: dialer.dial }));
  const ac = new AbortController();
  const p = t.roundTrip({ url: peer.url, signal: ac.signal });
  await waitFor(() => dialer.pending === 1, 2000, "the dial");
  ac.abort();
  await rejectsWith(p, "ERR_ABORTED");
  t.closeIdleConnections();
  dialer.step();
  await waitFor(
    () => peer.connections === 1 && peer.sockets.size === 0,
    2000,
    "the parked connection to close",
  );
  assert.equal(t.stats().total, 0);
  dialer.open();
  await (await t.roundTrip({ url: `${peer.url}/x` })).text();
  assert.equal(t.stats().idle, 1, "pooling is back");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("close(): rejects new work, fails waiting, dialing and in-flight requests and bodies, resolves when closed", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, (req) => {
    if (req.path === "/partial") req.socket.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc");
    else if (req.path === "/idle") req.socket.write(reply());
    return req.path === "/idle" ? undefined : "hold";
  });
  let dials = 0;
  const t = closeAfter(
    ctx,
    new Transport({
      maxConnsPerHost: 3,
      dial: async ({ host, port, signal }) => {
        if (host === "never.invalid") {
          dials++;
          return new Promise<Duplex>((_, reject) =>
            signal.addEventListener("abort", () => reject(signal.reason)),
          );
        }
        return net.connect({ host, port });
      },
    }),
  );
  await (await t.roundTrip({ url: `${peer.url}/idle` })).text();
  const partial = await t.roundTrip({ url: `${peer.url}/partial` });
  const head = t.roundTrip({ url: `${peer.url}/head` });
  const third = t.roundTrip({ url: `${peer.url}/third` });
  const waiter = t.roundTrip({ url: `${peer.url}/waiter` });
  const dialing = t.roundTrip({ url: "http://never.invalid/" });
  const body = partial.text();
  for (const p of [head, third, waiter, dialing, body]) p.catch(() => {});
  await waitFor(() => peer.requests.length === 4 && dials === 1, 2000, "everything in flight");
  // /waiter queued behind maxConnsPerHost, and the request whose dial is in progress.
  assert.equal(t.stats().waiting, 2);
  await t.close();
  assert.deepEqual(
    t.stats(),
    { total: 0, active: 0, idle: 0, dialing: 0, waiting: 0, perHost: {} },
    "nothing left the moment close() resolves",
  );
  for (const p of [head, third, waiter, dialing, body]) await rejectsWith(p, "ERR_TRANSPORT_CLOSED");
  await rejectsWith(t.roundTrip({ url: peer.url }), "ERR_TRANSPORT_CLOSED");
  await t.close(); // twice is fine
  await waitFor(() => peer.sockets.size === 0, 2000, "the server to see every close");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("registerProtocol: another scheme goes to its RoundTripper; http and https are built in", async (ctx) => {
  const t = closeAfter(ctx, new Transport());
  const seen: string[] = [];
  const inner = closeAfter(ctx, new Transport());
  const peer = await serve(ctx, scriptedServer, (req) => void req.socket.write(reply(`via ${req.path}`)));
  t.registerProtocol("mock", {
    roundTrip: (req) => {
      seen.push(String(req.url));
      return inner.roundTrip({ ...req, url: `${peer.url}/mocked` });
    },
  });
  const res = await t.roundTrip({ url: "mock://anything/x" });
  assert.equal(await res.text(), "via /mocked");
  assert.deepEqual(seen, ["mock://anything/x"]);
  assert.throws(() => t.registerProtocol("https", { roundTrip: () => Promise.reject(new Error()) }), {
    code: "ERR_INVALID_REQUEST",
  });
  await rejectsWith(t.roundTrip({ url: "ftp://example.com/" }), "ERR_INVALID_REQUEST");
  await peer.close();
  await inner.close();
  await assertNoLeaks(t);
});

test("upload and download progress end at the full size", async (ctx) => {
  const base = tcpHandles();
  const size = 1 << 20;
  const peer = await serve(ctx, scriptedServer, (req) => {
    const body = Buffer.alloc(size, 99);
    if (req.path === "/chunked") {
      req.socket.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${size.toString(16)}\r\n`);
      req.socket.write(body);
      req.socket.write("\r\n0\r\n\r\n");
    } else {
      req.socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`);
      req.socket.write(body);
    }
  });
  const t = closeAfter(ctx, new Transport());
  for (const [path, body, total] of [
    ["/length", Buffer.alloc(size, 1), size],
    ["/chunked", Readable.from([Buffer.alloc(size >> 1), Buffer.alloc(size >> 1)]), null],
  ] as const) {
    const up: Array<{ loaded: number; total: number | null }> = [];
    const down: Array<{ loaded: number; total: number | null }> = [];
    const res = await t.roundTrip({
      url: `${peer.url}${path}`,
      method: "PUT",
      body,
      onUploadProgress: (p) => up.push(p),
      onDownloadProgress: (p) => down.push(p),
    });
    assert.equal((await res.bytes()).length, size);
    assert.deepEqual(up.at(-1), { loaded: size, total }, `upload ${path}`);
    assert.deepEqual(down.at(-1), { loaded: size, total }, `download ${path}`);
    for (const list of [up, down]) {
      for (let i = 1; i < list.length; i++)
        assert.ok(list[i]!.loaded >= list[i - 1]!.loaded, "never backwards");
    }
  }
  await peer.close();
  await assertNoLeaks(t, base);
});
