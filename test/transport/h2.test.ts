/**
 * HTTP/2 (allowHTTP2), against node:http2 secure servers on loopback: ALPN picks h2 (or
 * falls back to HTTP/1.1), one TCP connection carries concurrent streams up to the
 * server's limit, bodies go both ways byte-exact with backpressure, trailers and gzip
 * work as over HTTP/1.1, and stream-level failures (abort, RST_STREAM, GOAWAY) cost the
 * stream, not the connection, with Go's retry rules. Every test ends with the pool back
 * to zero and no TCP handle left.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http2 from "node:http2";
import https from "node:https";
import type net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import zlib from "node:zlib";
import { type ClientTrace, file, Transport, type TransportOptions } from "../../src/index.js";
import {
  assertNoLeaks,
  closeAfter,
  deferred,
  gatedDial,
  rejectsWith,
  tcpHandles,
  waitFor,
} from "../helpers.js";
import { TLS_CERT, TLS_KEY } from "../server/helpers.js";

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;

type Handler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, peer: H2Peer) => void;

interface H2Peer {
  port: number;
  url: string;
  /** HTTP/2 sessions accepted so far. */
  sessions: number;
  /** TCP connections accepted so far. */
  connections: number;
  /** Streams seen, in arrival order. */
  streams: Array<{ headers: http2.IncomingHttpHeaders; stream: http2.ServerHttp2Stream; session: number }>;
  /** rstCode of every stream once it closed, by :path. */
  closedWith: Map<string, number>;
  close(): Promise<void>;
}

/** A node:http2 secure server on 127.0.0.1 (reach it as "localhost"), closed when the test ends. */
async function h2Server(
  t: { after(fn: () => unknown): void },
  handler: Handler,
  options: http2.SecureServerOptions = {},
): Promise<H2Peer> {
  const server = http2.createSecureServer({ key: TLS_KEY, cert: TLS_CERT, ...options });
  const open = new Set<http2.ServerHttp2Session>();
  const sockets = new Set<net.Socket>();
  const sessionIds = new WeakMap<http2.Http2Session, number>();
  const peer: H2Peer = {
    port: 0,
    url: "",
    sessions: 0,
    connections: 0,
    streams: [],
    closedWith: new Map(),
    async close() {
      for (const s of open) s.destroy();
      for (const s of sockets) s.destroy();
      if (server.listening) await new Promise<void>((r) => server.close(() => r()));
    },
  };
  server.on("connection", (s: net.Socket) => {
    peer.connections++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("session", (s) => {
    sessionIds.set(s as http2.Http2Session, peer.sessions++);
    open.add(s);
    s.on("error", () => {});
    s.on("close", () => open.delete(s));
  });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    const path = String(headers[":path"]);
    stream.on("close", () => peer.closedWith.set(path, stream.rstCode ?? -1));
    peer.streams.push({ headers, stream, session: sessionIds.get(stream.session!) ?? -1 });
    handler(stream, headers, peer);
  });
  // With allowHTTP1, HTTP/1.1 requests arrive here (HTTP/2 ones are the handler's). Only
  // then: node's compatibility layer would otherwise also answer HTTP/2 streams.
  if (options.allowHTTP1) {
    server.on("request", (req, res) => {
      if (req.httpVersion !== "2.0") res.end(`h${req.httpVersion}`);
    });
  }
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  peer.port = (server.address() as net.AddressInfo).port;
  peer.url = `https://localhost:${peer.port}`;
  t.after(() => peer.close());
  return peer;
}

function transport(t: { after(fn: () => unknown): void }, opts: TransportOptions = {}): Transport {
  return closeAfter(t, new Transport({ allowHTTP2: true, tls: { ca: TLS_CERT }, proxy: null, ...opts }));
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function readAll(stream: http2.ServerHttp2Stream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

test("ALPN picks h2: httpVersion 2, headers without pseudo-headers, one session, stats", async (ctx) => {
  const base = tcpHandles();
  const peer = await h2Server(ctx, (stream) => {
    stream.respond({
      ":status": 201,
      "x-multi": ["a", "b"],
      "set-cookie": ["a=1", "b=2"],
      "content-length": "5",
    });
    stream.end("hello");
  });
  const t = transport(ctx);
  let alpn: string | undefined;
  const trace: ClientTrace = {
    tlsHandshakeDone: (i) => {
      alpn = i.alpnProtocol;
    },
  };
  const res = await t.roundTrip({
    url: `${peer.url}/a/b?c=d`,
    headers: { "X-Caller": "yes", Cookie: "k=v" },
    trace,
  });
  assert.equal(res.httpVersion, "2");
  assert.equal(res.status, 201);
  assert.equal(res.statusText, "Created");
  assert.equal(alpn, "h2");
  assert.deepEqual(res.headers.getAll("x-multi"), ["a", "b"]);
  assert.deepEqual(res.headers.getSetCookie(), ["a=1", "b=2"]);
  assert.equal(res.headers.get(":status"), null);
  assert.equal(res.contentLength, 5);
  assert.equal(await res.text(), "hello");
  const seen = peer.streams[0]!.headers;
  assert.equal(seen[":method"], "GET");
  assert.equal(seen[":path"], "/a/b?c=d");
  assert.equal(seen[":authority"], `localhost:${peer.port}`);
  assert.equal(seen[":scheme"], "https");
  assert.equal(seen["x-caller"], "yes");
  assert.equal(seen.cookie, "k=v");
  assert.match(String(seen["user-agent"]), /^roundtrip\//);
  assert.equal(seen["accept-encoding"], "gzip, deflate, br");
  await waitFor(() => t.stats().active === 0, 2000, "the stream to close");
  const s = t.stats();
  assert.deepEqual(
    { total: s.total, active: s.active, idle: s.idle, dialing: s.dialing, waiting: s.waiting },
    { total: 1, active: 0, idle: 1, dialing: 0, waiting: 0 },
  );
  assert.deepEqual(s.perHost[`localhost:${peer.port}`], { active: 0, idle: 1, dialing: 0, waiting: 0 });
  // The second request rides the same session.
  const again = await t.roundTrip({ url: peer.url });
  assert.equal(again.conn.reused, true);
  assert.equal(await again.text(), "hello");
  assert.equal(peer.sessions, 1);
  assert.equal(peer.connections, 1);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("connection-specific request fields are not sent; TE: trailers is; Host becomes :authority", async (ctx) => {
  const base = tcpHandles();
  const peer = await h2Server(ctx, (stream) => {
    stream.respond({ ":status": 200 });
    stream.end();
  });
  const t = transport(ctx);
  const res = await t.roundTrip({
    url: peer.url,
    headers: {
      Connection: "keep-alive",
      "Keep-Alive": "timeout=5",
      "Proxy-Connection": "keep-alive",
      Upgrade: "websocket",
      TE: "trailers",
      "X-Keep": "1",
    },
    host: "example.test",
  });
  await res.close();
  const seen = peer.streams[0]!.headers;
  for (const name of [
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    "transfer-encoding",
    "host",
  ]) {
    assert.equal(seen[name], undefined, name);
  }
  assert.equal(seen.te, "trailers");
  assert.equal(seen["x-keep"], "1");
  assert.equal(seen[":authority"], "example.test");
  // TE other than "trailers" is dropped, not an error.
  await (await t.roundTrip({ url: peer.url, headers: { TE: "gzip" } })).close();
  assert.equal(peer.streams[1]!.headers.te, undefined);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("fallback to HTTP/1.1: a plain https server, one that offers only http/1.1, and allowHTTP2 false", async (ctx) => {
  const base = tcpHandles();
  const servers: https.Server[] = [];
  const start = async (opts: https.ServerOptions) => {
    const server = https.createServer({ key: TLS_KEY, cert: TLS_CERT, ...opts }, (req, res) => {
      res.end(`h${req.httpVersion}`);
    });
    servers.push(server);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return `https://localhost:${(server.address() as net.AddressInfo).port}`;
  };
  ctx.after(() => {
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
  });
  const plain = await start({});
  const onlyH1 = await start({ ALPNProtocols: ["http/1.1"] });
  const t = transport(ctx);
  for (const url of [plain, onlyH1]) {
    // Concurrent first requests: one dial while the protocol is unknown, then as usual.
    const results = await Promise.all(
      [0, 1, 2, 3].map(async () => {
        const res = await t.roundTrip({ url });
        return `${res.httpVersion} ${await res.text()}`;
      }),
    );
    assert.deepEqual(results, ["1.1 h1.1", "1.1 h1.1", "1.1 h1.1", "1.1 h1.1"]);
  }
  // An h2 server that also speaks HTTP/1.1, asked by a transport without allowHTTP2.
  const peer = await h2Server(
    ctx,
    (stream) => {
      stream.respond({ ":status": 200 });
      stream.end("h2");
    },
    { allowHTTP1: true },
  );
  const t1 = closeAfter(ctx, new Transport({ tls: { ca: TLS_CERT }, proxy: null }));
  const res = await t1.roundTrip({ url: peer.url });
  assert.equal(res.httpVersion, "1.1");
  assert.equal(await res.text(), "h1.1");
  assert.equal(peer.sessions, 0);
  // And the same server with allowHTTP2: h2.
  const res2 = await t.roundTrip({ url: peer.url });
  assert.equal(res2.httpVersion, "2");
  assert.equal(await res2.text(), "h2");
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await peer.close();
  await t1.close();
  await assertNoLeaks(t, base);
});

test("many concurrent requests share ONE TCP connection (streams), stats count it once", async (ctx) => {
  const base = tcpHandles();
  const N = 40;
  const gate = deferred();
  const peer = await h2Server(ctx, async (stream, headers) => {
    await gate.promise;
    stream.respond({ ":status": 200 });
    stream.end(String(headers[":path"]));
  });
  const t = transport(ctx);
  // A cold transport: the first burst waits for one dial, then all go out as streams.
  const pending = Array.from({ length: N }, (_, i) => t.roundTrip({ url: `${peer.url}/${i}` }));
  await waitFor(() => peer.streams.length === N, 5000, `${N} streams at the server`);
  const during = t.stats();
  assert.equal(during.total, 1);
  assert.equal(during.active, 1);
  assert.equal(during.idle, 0);
  assert.equal(during.waiting, 0);
  gate.resolve();
  const bodies = await Promise.all(pending.map(async (p) => (await p).text()));
  assert.deepEqual(
    bodies,
    Array.from({ length: N }, (_, i) => `/${i}`),
  );
  assert.equal(peer.sessions, 1);
  assert.equal(peer.connections, 1);
  await waitFor(() => t.stats().active === 0, 2000, "streams to close");
  assert.equal(t.stats().total, 1);
  assert.equal(t.stats().idle, 1);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("the server's SETTINGS_MAX_CONCURRENT_STREAMS: the rest wait FIFO on the same connection", async (ctx) => {
  const base = tcpHandles();
  const release: Array<() => void> = [];
  const peer = await h2Server(
    ctx,
    (stream, headers) => {
      const answer = () => {
        stream.respond({ ":status": 200 });
        stream.end(String(headers[":path"]));
      };
      if (headers[":path"] === "/warm") answer();
      else release.push(answer);
    },
    { settings: { maxConcurrentStreams: 2 } },
  );
  const t = transport(ctx);
  // Once the server's SETTINGS are in (until then 100 streams are assumed, as in Go).
  await (await t.roundTrip({ url: `${peer.url}/warm` })).text();
  const pending = [0, 1, 2, 3, 4].map((i) => t.roundTrip({ url: `${peer.url}/${i}` }));
  await waitFor(() => release.length === 2 && t.stats().waiting === 3, 2000, "2 streams and 3 waiters");
  assert.equal(t.stats().total, 1);
  assert.equal(t.stats().dialing, 0);
  for (let answered = 0; answered < 5; answered++) {
    await waitFor(() => release.length > 0, 2000, "a stream to answer");
    release.shift()!();
  }
  const bodies = await Promise.all(pending.map(async (p) => (await p).text()));
  assert.deepEqual(bodies, ["/0", "/1", "/2", "/3", "/4"]);
  // FIFO: the server saw them in the order they were made.
  assert.deepEqual(
    peer.streams.map((s) => s.headers[":path"]),
    ["/warm", "/0", "/1", "/2", "/3", "/4"],
  );
  assert.equal(peer.connections, 1);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("request bodies go out byte-exact (bytes, stream, file) and come back (echo)", async (ctx) => {
  const base = tcpHandles();
  const dir = await mkdtemp(join(tmpdir(), "rt-h2-"));
  ctx.after(() => rm(dir, { recursive: true, force: true }));
  const peer = await h2Server(ctx, async (stream, headers) => {
    const body = await readAll(stream);
    stream.respond({
      ":status": 200,
      "x-sha": sha(body),
      "x-length": String(headers["content-length"] ?? "none"),
    });
    stream.end(body);
  });
  const t = transport(ctx);
  const bytes = randomBytes(1 << 20);
  const big = randomBytes(3 * (1 << 20) + 17);
  const path = join(dir, "upload.bin");
  await writeFile(path, big);
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (let off = 0; off < big.length; off += 100_000) {
      yield big.subarray(off, off + 100_000);
      await sleep(0);
    }
  }
  const cases: Array<{
    name: string;
    body: () => Parameters<Transport["roundTrip"]>[0]["body"];
    data: Buffer;
    length: string;
  }> = [
    { name: "bytes", body: () => bytes, data: bytes, length: String(bytes.length) },
    { name: "stream", body: () => chunks(), data: big, length: "none" },
    { name: "file", body: () => file(path), data: big, length: String(big.length) },
    {
      name: "file range",
      body: () => file(path, { start: 10, end: 99_999 }),
      data: big.subarray(10, 100_000),
      length: "99990",
    },
    { name: "empty", body: () => Buffer.alloc(0), data: Buffer.alloc(0), length: "0" },
  ];
  // All at once: the streams share the connection.
  await Promise.all(
    cases.map(async (c) => {
      let uploaded = -1;
      const res = await t.roundTrip({
        url: `${peer.url}/${c.name}`,
        method: "POST",
        body: c.body(),
        onUploadProgress: (p) => {
          uploaded = p.loaded;
        },
      });
      assert.equal(res.httpVersion, "2");
      const echoed = Buffer.from(await res.bytes());
      assert.equal(res.headers.get("x-sha"), sha(c.data), c.name);
      assert.equal(res.headers.get("x-length"), c.length, c.name);
      assert.equal(sha(echoed), sha(c.data), c.name);
      assert.equal(uploaded, c.data.length, c.name);
    }),
  );
  assert.equal(peer.connections, 1);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a request body longer than its Content-Length fails with ERR_REQUEST_BODY; the session goes on", async (ctx) => {
  const base = tcpHandles();
  const peer = await h2Server(ctx, async (stream) => {
    await readAll(stream).catch(() => {});
    if (stream.destroyed) return;
    stream.respond({ ":status": 200 });
    stream.end("ok");
  });
  const t = transport(ctx);
  async function* three(): AsyncGenerator<string> {
    yield "abc";
  }
  await rejectsWith(
    t.roundTrip({ url: peer.url, method: "PUT", body: three(), headers: { "Content-Length": "2" } }),
    "ERR_REQUEST_BODY",
  );
  const res = await t.roundTrip({ url: peer.url });
  assert.equal(await res.text(), "ok");
  assert.equal(peer.sessions, 1);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a streamed body longer than its declared length is closed over HTTP/2 too, as over HTTP/1.1", async (ctx) => {
  const base = tcpHandles();
  const peer = await h2Server(ctx, async (stream) => {
    await readAll(stream).catch(() => {});
    if (stream.destroyed) return;
    stream.respond({ ":status": 200 });
    stream.end("ok");
  });
  const t = transport(ctx);
  let closed = false;
  async function* long(): AsyncGenerator<string> {
    try {
      yield "abc"; // already longer than the 2 bytes declared
      yield "never asked for";
    } finally {
      closed = true;
    }
  }
  await rejectsWith(
    t.roundTrip({ url: peer.url, method: "PUT", body: long(), headers: { "Content-Length": "2" } }),
    "ERR_REQUEST_BODY",
  );
  await waitFor(() => closed, 2000, "the source to be closed");
  const { Readable } = await import("node:stream");
  const readable = Readable.from(["abc", "def"]);
  await rejectsWith(
    t.roundTrip({ url: peer.url, method: "PUT", body: readable, headers: { "Content-Length": "2" } }),
    "ERR_REQUEST_BODY",
  );
  await waitFor(() => readable.destroyed, 2000, "the Readable to be destroyed");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a streamed download has backpressure: a reader that stops stops the server", async (ctx) => {
  const base = tcpHandles();
  const total = 64 << 20;
  const chunk = randomBytes(64 * 1024);
  let written = 0;
  let blocked = false;
  const peer = await h2Server(ctx, async (stream) => {
    stream.respond({ ":status": 200, "content-length": String(total) });
    while (written < total && !stream.destroyed) {
      written += chunk.length;
      if (!stream.write(chunk)) {
        blocked = true;
        await new Promise((r) => {
          stream.once("drain", r);
          stream.once("close", r);
        });
        blocked = false;
      }
    }
    stream.end();
  });
  const t = transport(ctx);
  const res = await t.roundTrip({ url: peer.url });
  assert.equal(res.contentLength, total);
  const it = res.body[Symbol.asyncIterator]();
  let received = (await it.next()).value!.length;
  // The reader stops: the server must end up blocked well before the whole body is out.
  await waitFor(() => blocked, 5000, "the server to block on flow control");
  await sleep(200);
  const stalledAt = written;
  assert.ok(stalledAt < total / 4, `the server wrote ${stalledAt} bytes to a reader that stopped`);
  assert.equal(t.stats().active, 1);
  for (let r = await it.next(); !r.done; r = await it.next()) received += r.value.length;
  assert.equal(received, total);
  await waitFor(() => t.stats().active === 0, 2000, "the stream to close");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("trailers arrive with the end of the body", async (ctx) => {
  const base = tcpHandles();
  const peer = await h2Server(ctx, (stream) => {
    stream.respond({ ":status": 200, trailer: "x-checksum" }, { waitForTrailers: true });
    stream.once("wantTrailers", () => stream.sendTrailers({ "x-checksum": "abc123", "x-more": ["1", "2"] }));
    stream.write("part one, ");
    stream.end("part two");
  });
  const t = transport(ctx);
  const res = await t.roundTrip({ url: peer.url });
  assert.equal(res.trailers.get("x-checksum"), null);
  assert.equal(await res.text(), "part one, part two");
  assert.equal(res.trailers.get("x-checksum"), "abc123");
  assert.equal(res.trailers.get("x-more"), "1, 2");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("gzip is decoded transparently as over HTTP/1.1; a caller's Accept-Encoding gets the raw bytes", async (ctx) => {
  const base = tcpHandles();
  const text = "roundtrip speaks h2. ".repeat(5000);
  const gz = zlib.gzipSync(text);
  const peer = await h2Server(ctx, (stream) => {
    stream.respond({
      ":status": 200,
      "content-encoding": "gzip",
      "content-length": String(gz.length),
      "content-type": "text/plain",
    });
    stream.end(gz);
  });
  const t = transport(ctx);
  const res = await t.roundTrip({ url: peer.url });
  assert.equal(res.uncompressed, true);
  assert.equal(res.headers.get("content-encoding"), null);
  assert.equal(res.headers.get("content-length"), null);
  assert.equal(res.contentLength, -1);
  assert.equal(await res.text(), text);
  assert.equal(peer.streams[0]!.headers["accept-encoding"], "gzip, deflate, br");
  const raw = await t.roundTrip({ url: peer.url, headers: { "Accept-Encoding": "gzip" } });
  assert.equal(raw.uncompressed, false);
  assert.equal(raw.contentLength, gz.length);
  assert.deepEqual(Buffer.from(await raw.bytes()), gz);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("HEAD, 204 and 304 are bodiless; HEAD keeps the Content-Length it was told", async (ctx) => {
  const base = tcpHandles();
  const peer = await h2Server(ctx, (stream, headers) => {
    const status = headers[":path"] === "/204" ? 204 : headers[":path"] === "/304" ? 304 : 200;
    stream.respond({ ":status": status, ...(status === 200 ? { "content-length": "42" } : {}) });
    stream.end();
  });
  const t = transport(ctx);
  const head = await t.roundTrip({ url: peer.url, method: "HEAD" });
  assert.equal(head.contentLength, 42);
  assert.equal((await head.bytes()).length, 0);
  assert.equal(peer.streams[0]!.headers["accept-encoding"], undefined);
  for (const s of [204, 304]) {
    const res = await t.roundTrip({ url: `${peer.url}/${s}` });
    assert.equal(res.status, s);
    assert.equal((await res.bytes()).length, 0);
  }
  assert.equal(t.stats().active, 0);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("abort mid-body resets the stream (CANCEL); the session serves the next request", async (ctx) => {
  const base = tcpHandles();
  const peer = await h2Server(ctx, (stream, headers) => {
    stream.respond({ ":status": 200 });
    if (headers[":path"] === "/slow") stream.write("first chunk");
    else stream.end("next");
  });
  const t = transport(ctx);
  const ac = new AbortController();
  const res = await t.roundTrip({ url: `${peer.url}/slow`, signal: ac.signal });
  const it = res.body[Symbol.asyncIterator]();
  assert.equal(Buffer.from((await it.next()).value!).toString(), "first chunk");
  assert.equal(t.stats().active, 1);
  ac.abort();
  await rejectsWith(it.next(), "ERR_ABORTED");
  await waitFor(
    () => peer.closedWith.get("/slow") === NGHTTP2_CANCEL,
    2000,
    "the server to see RST_STREAM(CANCEL)",
  );
  assert.equal(t.stats().active, 0);
  assert.equal(t.stats().total, 1);
  const next = await t.roundTrip({ url: `${peer.url}/next` });
  assert.equal(await next.text(), "next");
  assert.equal(next.conn.reused, true);
  assert.equal(peer.sessions, 1);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("abort before the head, and res.close() mid-body: the stream goes, the connection stays", async (ctx) => {
  const base = tcpHandles();
  const peer = await h2Server(ctx, (stream, headers) => {
    if (headers[":path"] === "/never") return;
    stream.respond({ ":status": 200 });
    if (headers[":path"] === "/endless") stream.write(Buffer.alloc(200_000));
    else stream.end("ok");
  });
  const t = transport(ctx);
  const ac = new AbortController();
  const p = t.roundTrip({ url: `${peer.url}/never`, signal: ac.signal });
  await waitFor(() => peer.streams.length === 1, 2000, "the stream at the server");
  ac.abort();
  await rejectsWith(p, "ERR_ABORTED");
  const res = await t.roundTrip({ url: `${peer.url}/endless` });
  await res.close();
  await waitFor(() => peer.closedWith.get("/endless") === NGHTTP2_CANCEL, 2000, "RST_STREAM for /endless");
  await waitFor(() => peer.closedWith.get("/never") === NGHTTP2_CANCEL, 2000, "RST_STREAM for /never");
  assert.equal(await (await t.roundTrip({ url: peer.url })).text(), "ok");
  assert.equal(peer.sessions, 1);
  assert.equal(t.stats().active, 0);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("server RST_STREAM: before the head ERR_CONNECTION_CLOSED (not retried); a cut body fails its read", async (ctx) => {
  const base = tcpHandles();
  const peer = await h2Server(ctx, (stream, headers) => {
    const path = headers[":path"];
    if (path === "/rst") {
      stream.close(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    // node's close() ends the stream (END_STREAM) before its RST_STREAM, so the body is
    // whole as far as the protocol goes: with a Content-Length it is visibly malformed.
    // destroy() resets the stream without ending it.
    stream.respond({ ":status": 200, ...(path === "/short" ? { "content-length": "100" } : {}) });
    stream.write("some");
    setTimeout(() => {
      if (path === "/short") stream.close(NGHTTP2_INTERNAL_ERROR);
      else stream.destroy(new Error("boom"));
    }, 20);
  });
  const t = transport(ctx);
  await rejectsWith(t.roundTrip({ url: `${peer.url}/rst` }), "ERR_CONNECTION_CLOSED");
  assert.equal(peer.streams.filter((s) => s.headers[":path"] === "/rst").length, 1);
  const short = await t.roundTrip({ url: `${peer.url}/short` });
  // Malformed in HTTP/2 (RFC 9113 §8.1.1): nghttp2 resets the stream with PROTOCOL_ERROR.
  await rejectsWith(short.text(), "ERR_BAD_RESPONSE");
  const res = await t.roundTrip({ url: `${peer.url}/mid` });
  await rejectsWith(res.text(), "ERR_CONNECTION_CLOSED");
  assert.equal(peer.sessions, 1);
  await waitFor(() => t.stats().active === 0, 2000, "no active stream");
  assert.equal(t.stats().total, 1);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("REFUSED_STREAM is retried, for any method, with the body sent again", async (ctx) => {
  const base = tcpHandles();
  let refused = 0;
  const peer = await h2Server(ctx, async (stream) => {
    if (refused === 0) {
      refused++;
      stream.close(NGHTTP2_REFUSED_STREAM);
      return;
    }
    const body = await readAll(stream);
    stream.respond({ ":status": 200 });
    stream.end(body);
  });
  const t = transport(ctx);
  const res = await t.roundTrip({ url: peer.url, method: "POST", body: "payload" });
  assert.equal(await res.text(), "payload");
  assert.equal(peer.streams.length, 2);
  // A body that cannot be sent again is not retried.
  refused = 0;
  async function* once1(): AsyncGenerator<string> {
    yield "one-shot";
  }
  await rejectsWith(t.roundTrip({ url: peer.url, method: "POST", body: once1() }), "ERR_CONNECTION_CLOSED");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("the retry loop is bounded: a server refusing every stream gets maxIdleConnsPerHost + 2 attempts", async (ctx) => {
  const base = tcpHandles();
  // REFUSED_STREAM makes any replayable request retryable, on the same healthy session:
  // nothing but the guard ends the loop (Go's http2 caps it too, with a backoff).
  const peer = await h2Server(ctx, (stream) => stream.close(NGHTTP2_REFUSED_STREAM));
  const t = transport(ctx, { maxIdleConnsPerHost: 3 });
  const gotConn: boolean[] = [];
  await rejectsWith(
    t.roundTrip({ url: peer.url, trace: { gotConn: (i) => gotConn.push(i.reused) } }),
    "ERR_CONNECTION_CLOSED",
  );
  assert.equal(peer.streams.length, 5, "3 + 2 attempts");
  assert.equal(gotConn.length, 5, "gotConn once per attempt");
  assert.equal(peer.sessions, 1);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("GOAWAY: streams up to its last-stream-id complete, later ones are retried on a new connection", async (ctx) => {
  const base = tcpHandles();
  let held: http2.ServerHttp2Stream | null = null;
  const peer = await h2Server(ctx, async (stream, headers, p) => {
    const path = headers[":path"];
    if (path === "/held") {
      held = stream;
      return;
    }
    if (path === "/post" && p.sessions === 1) {
      // The first connection goes away, having processed only the held stream.
      stream.session!.goaway(NGHTTP2_NO_ERROR, held!.id!);
      return;
    }
    const body = await readAll(stream);
    stream.respond({ ":status": 200 });
    stream.end(`${path} ${body}`);
  });
  const t = transport(ctx);
  const first = t.roundTrip({ url: `${peer.url}/held` });
  await waitFor(() => held !== null, 2000, "the held stream");
  const post = await t.roundTrip({ url: `${peer.url}/post`, method: "POST", body: "data" });
  assert.equal(await post.text(), "/post data");
  assert.equal(peer.sessions, 2);
  // The held stream (id <= last-stream-id) still completes on the first connection.
  held!.respond({ ":status": 200 });
  held!.end("held done");
  assert.equal(await (await first).text(), "held done");
  // New requests use the new connection; the old one closes once its stream is done.
  assert.equal(await (await t.roundTrip({ url: `${peer.url}/after` })).text(), "/after ");
  assert.equal(peer.streams.at(-1)!.session, 1);
  await waitFor(() => t.stats().total === 1, 2000, "the GOAWAY'd connection to close");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("GOAWAY with an error code: the streams it covered fail with ERR_CONNECTION_CLOSED; the next request dials anew", async (ctx) => {
  const base = tcpHandles();
  const peer = await h2Server(ctx, (stream, headers) => {
    if (headers[":path"] === "/doomed") {
      stream.session!.goaway(NGHTTP2_INTERNAL_ERROR, stream.id!);
      return;
    }
    stream.respond({ ":status": 200 });
    stream.end("fresh");
  });
  const t = transport(ctx);
  await rejectsWith(
    t.roundTrip({ url: `${peer.url}/doomed`, method: "POST", body: "x" }),
    "ERR_CONNECTION_CLOSED",
  );
  assert.equal(await (await t.roundTrip({ url: peer.url })).text(), "fresh");
  assert.equal(peer.sessions, 2);
  await waitFor(() => t.stats().total === 1, 2000, "the first session to be gone");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a reused session that dies before any response byte: an idempotent request is retried", async (ctx) => {
  const base = tcpHandles();
  let killed = 0;
  const peer = await h2Server(ctx, (stream, headers) => {
    if (headers[":path"] === "/die" && killed++ === 0) {
      stream.session!.destroy();
      return;
    }
    stream.respond({ ":status": 200 });
    stream.end(String(headers[":path"]));
  });
  const t = transport(ctx);
  await (await t.roundTrip({ url: `${peer.url}/warm` })).text();
  const res = await t.roundTrip({ url: `${peer.url}/die` });
  assert.equal(await res.text(), "/die");
  assert.equal(peer.sessions, 2);
  // Not for a POST.
  killed = 0;
  await rejectsWith(
    t.roundTrip({ url: `${peer.url}/die`, method: "POST", body: "x" }),
    "ERR_CONNECTION_CLOSED",
  );
  await peer.close();
  await assertNoLeaks(t, base);
});

test("closeIdleConnections closes idle sessions, not busy ones; idleConnTimeout expires them", async (ctx) => {
  const base = tcpHandles();
  const gate = deferred();
  const peer = await h2Server(ctx, async (stream, headers) => {
    if (headers[":path"] === "/held") await gate.promise;
    stream.respond({ ":status": 200 });
    stream.end("ok");
  });
  const t = transport(ctx);
  await (await t.roundTrip({ url: peer.url })).text();
  await waitFor(() => t.stats().idle === 1, 2000, "an idle session");
  t.closeIdleConnections();
  await waitFor(() => t.stats().total === 0, 2000, "the idle session to close");
  const held = t.roundTrip({ url: `${peer.url}/held` });
  await waitFor(() => t.stats().active === 1, 2000, "a busy session");
  t.closeIdleConnections();
  await sleep(20);
  assert.equal(t.stats().total, 1);
  gate.resolve();
  assert.equal(await (await held).text(), "ok");
  await t.close();

  const t2 = transport(ctx, { idleConnTimeout: 50 });
  await (await t2.roundTrip({ url: peer.url })).text();
  await waitFor(() => t2.stats().total === 0, 3000, "the idle session to expire");
  await peer.close();
  await assertNoLeaks(t2, base);
});

test("close() fails a body being read with ERR_TRANSPORT_CLOSED; responseHeaderTimeout resets only the stream", async (ctx) => {
  const base = tcpHandles();
  const peer = await h2Server(ctx, (stream, headers) => {
    if (headers[":path"] === "/silent") return;
    stream.respond({ ":status": 200 });
    stream.write("start");
    if (headers[":path"] === "/quick") stream.end();
  });
  const t = transport(ctx, { responseHeaderTimeout: 100 });
  const err = await rejectsWith(t.roundTrip({ url: `${peer.url}/silent` }), "ERR_TIMEOUT");
  assert.equal(err.phase, "responseHeader");
  assert.equal(await (await t.roundTrip({ url: `${peer.url}/quick` })).text(), "start");
  assert.equal(peer.sessions, 1);
  const res = await t.roundTrip({ url: `${peer.url}/open` });
  const reading = rejectsWith(res.text(), "ERR_TRANSPORT_CLOSED");
  await t.close();
  await reading;
  await rejectsWith(t.roundTrip({ url: peer.url }), "ERR_TRANSPORT_CLOSED");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("Connection: close and disableKeepAlives: the session is not reused", async (ctx) => {
  const base = tcpHandles();
  const peer = await h2Server(ctx, (stream) => {
    stream.respond({ ":status": 200 });
    stream.end("ok");
  });
  const t = transport(ctx);
  await (await t.roundTrip({ url: peer.url, close: true })).text();
  await (await t.roundTrip({ url: peer.url })).text();
  assert.equal(peer.sessions, 2);
  const t2 = transport(ctx, { disableKeepAlives: true });
  for (let i = 0; i < 2; i++) await (await t2.roundTrip({ url: peer.url })).text();
  assert.equal(peer.sessions, 4);
  await waitFor(() => t2.stats().total === 0, 2000, "single-use sessions to close");
  await t2.close();
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a header HTTP/2 cannot carry twice is ERR_INVALID_REQUEST, nothing sent", async (ctx) => {
  const base = tcpHandles();
  const peer = await h2Server(ctx, (stream) => {
    stream.respond({ ":status": 200 });
    stream.end("ok");
  });
  const t = transport(ctx);
  await (await t.roundTrip({ url: peer.url })).text();
  await rejectsWith(
    t.roundTrip({
      url: peer.url,
      headers: [
        ["Content-Type", "a/b"],
        ["Content-Type", "c/d"],
      ],
    }),
    "ERR_INVALID_REQUEST",
  );
  assert.equal(peer.streams.length, 1);
  assert.equal(t.stats().active, 0);
  assert.equal(await (await t.roundTrip({ url: peer.url })).text(), "ok");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("trace hooks over HTTP/2: Go's order, gotConn reused/wasIdle per stream, no putIdleConn", async (ctx) => {
  const base = tcpHandles();
  const peer = await h2Server(ctx, (stream) => {
    stream.respond({ ":status": 200 });
    stream.end("ok");
  });
  const t = transport(ctx);
  const run = async () => {
    const events: string[] = [];
    const trace: ClientTrace = {
      getConn: () => events.push("getConn"),
      gotConn: (i) => events.push(`gotConn reused=${i.reused} wasIdle=${i.wasIdle}`),
      putIdleConn: () => events.push("putIdleConn"),
      tlsHandshakeStart: () => events.push("tlsHandshakeStart"),
      tlsHandshakeDone: (i) => events.push(`tlsHandshakeDone ${i.alpnProtocol}`),
      wroteHeaderField: (k) => events.push(`field ${k}`),
      wroteHeaders: () => events.push("wroteHeaders"),
      wroteRequest: () => events.push("wroteRequest"),
      gotFirstResponseByte: () => events.push("gotFirstResponseByte"),
    };
    const res = await t.roundTrip({ url: peer.url, trace });
    await res.text();
    return { events, res };
  };
  const first = await run();
  assert.deepEqual(
    first.events.filter((e) => !e.startsWith("field")),
    [
      "getConn",
      "tlsHandshakeStart",
      "tlsHandshakeDone h2",
      "gotConn reused=false wasIdle=false",
      "wroteHeaders",
      "wroteRequest",
      "gotFirstResponseByte",
    ],
  );
  assert.deepEqual(
    first.events.filter((e) => e.startsWith("field")),
    [
      "field :method",
      "field :scheme",
      "field :authority",
      "field :path",
      "field user-agent",
      "field accept-encoding",
    ],
  );
  assert.ok(first.res.timings.tlsDone >= 0 && first.res.timings.end >= first.res.timings.firstByte);
  await waitFor(() => t.stats().idle === 1, 2000, "the stream to close");
  const second = await run();
  assert.equal(second.events[1], "gotConn reused=true wasIdle=true");
  assert.equal(second.res.conn.reused, true);
  assert.equal(second.res.conn.remoteAddress, "127.0.0.1");
  assert.equal(second.res.timings.tlsDone, -1);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("Expect: 100-continue over HTTP/2: the body waits for 100; a final status instead skips it", async (ctx) => {
  const base = tcpHandles();
  const peer = await h2Server(ctx, async (stream, headers) => {
    if (headers[":path"] === "/refuse") {
      stream.respond({ ":status": 417 });
      stream.end("no");
      return;
    }
    stream.additionalHeaders({ ":status": 100 });
    const body = await readAll(stream);
    stream.respond({ ":status": 200 });
    stream.end(body);
  });
  const t = transport(ctx, { expectContinueTimeout: 60_000 });
  let got100 = 0;
  const res = await t.roundTrip({
    url: peer.url,
    method: "PUT",
    body: "the body",
    expectContinue: true,
    trace: { got100Continue: () => got100++ },
  });
  assert.equal(await res.text(), "the body");
  assert.equal(got100, 1);
  assert.equal(peer.streams[0]!.headers.expect, "100-continue");
  const refused = await t.roundTrip({
    url: `${peer.url}/refuse`,
    method: "PUT",
    body: "unsent",
    expectContinue: true,
  });
  assert.equal(refused.status, 417);
  assert.equal(await refused.text(), "no");
  await waitFor(() => t.stats().active === 0 && peer.closedWith.has("/refuse"), 2000, "the stream to close");
  assert.equal(
    await (await t.roundTrip({ url: peer.url, method: "PUT", body: "x", expectContinue: true })).text(),
    "x",
  );
  assert.equal(peer.sessions, 1);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("bodyTimeout: a stalled HTTP/2 body fails (phase body), its stream is reset, the session goes on", async (ctx) => {
  const base = tcpHandles();
  const peer = await h2Server(ctx, (stream, headers) => {
    stream.respond({ ":status": 200 });
    if (headers[":path"] === "/stall") stream.write("a little");
    else stream.end("fine");
  });
  const t = transport(ctx, { bodyTimeout: 100 });
  const res = await t.roundTrip({ url: `${peer.url}/stall` });
  const err = await rejectsWith(res.text(), "ERR_TIMEOUT");
  assert.equal(err.phase, "body");
  await waitFor(() => peer.closedWith.get("/stall") === NGHTTP2_CANCEL, 2000, "RST_STREAM(CANCEL)");
  assert.equal(await (await t.roundTrip({ url: peer.url })).text(), "fine");
  assert.equal(peer.sessions, 1);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("maxResponseHeaderBytes bounds an HTTP/2 response head: ERR_HEADERS_TOO_LARGE", async (ctx) => {
  const base = tcpHandles();
  const peer = await h2Server(ctx, (stream, headers) => {
    const big = headers[":path"] === "/big";
    stream.respond({ ":status": 200, ...(big ? { "x-big": "b".repeat(8000) } : {}) });
    stream.end("ok");
  });
  const t = transport(ctx, { maxResponseHeaderBytes: 4096 });
  await rejectsWith(t.roundTrip({ url: `${peer.url}/big` }), "ERR_HEADERS_TOO_LARGE");
  assert.equal(await (await t.roundTrip({ url: peer.url })).text(), "ok");
  await waitFor(() => t.stats().active === 0, 2000, "no active stream");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a Response dropped with its HTTP/2 body still arriving: warned once, its stream reset, the session kept", async (ctx) => {
  const gc = (globalThis as { gc?: () => void }).gc;
  assert.ok(gc, "needs --expose-gc (scripts/run-tests.mjs passes it)");
  const base = tcpHandles();
  const peer = await h2Server(ctx, (stream) => {
    stream.respond({ ":status": 200 });
    stream.write("only the start");
  });
  const t = transport(ctx);
  const warnings: Error[] = [];
  const onWarning = (w: Error & { code?: string }) => {
    if (w.code === "ROUNDTRIP_UNCONSUMED_BODY") warnings.push(w);
  };
  process.on("warning", onWarning);
  ctx.after(() => process.off("warning", onWarning));
  const drop = async () => {
    const res = await t.roundTrip({ url: `${peer.url}/h2-dropped` });
    assert.equal(res.status, 200);
  };
  await drop();
  assert.equal(t.stats().active, 1);
  for (let i = 0; i < 100 && (t.stats().active > 0 || warnings.length === 0); i++) {
    gc();
    await sleep(10);
  }
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!.message, /h2-dropped/);
  assert.equal(t.stats().active, 0);
  await waitFor(() => peer.closedWith.get("/h2-dropped") === NGHTTP2_CANCEL, 2000, "RST_STREAM(CANCEL)");
  assert.equal(t.stats().total, 1, "the session stays");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a dial whose request was aborted still parks its session idle; closeIdleConnections closes it, stats stay sane", async (ctx) => {
  const base = tcpHandles();
  const peer = await h2Server(ctx, (stream) => {
    stream.respond({ ":status": 200 });
    stream.end("ok");
  });
  const gate = gatedDial();
  const t = transport(ctx, { dial: gate.dial });
  const ac = new AbortController();
  const p = t.roundTrip({ url: peer.url, signal: ac.signal });
  await waitFor(() => gate.pending === 1, 2000, "the dial at the gate");
  ac.abort();
  await rejectsWith(p, "ERR_ABORTED");
  assert.equal(t.stats().waiting, 0);
  gate.open();
  await waitFor(() => t.stats().total === 1, 2000, "the session to be parked");
  assert.deepEqual([t.stats().active, t.stats().idle], [0, 1]);
  t.closeIdleConnections();
  await waitFor(() => t.stats().total === 0, 2000, "the idle session to close");
  assert.deepEqual([t.stats().active, t.stats().idle], [0, 0]);
  // The next request dials again and is served.
  assert.equal(await (await t.roundTrip({ url: peer.url })).text(), "ok");
  assert.equal(peer.sessions, 2);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a bodyless error answer (413 with END_STREAM) during a slow upload resets the stream and frees its slot", async (ctx) => {
  const base = tcpHandles();
  const peer = await h2Server(
    ctx,
    (stream, headers) => {
      if (headers[":path"] === "/upload") {
        // Refuse at once, ending our side on the HEADERS frame, without reading the body.
        stream.respond({ ":status": 413 }, { endStream: true });
        return;
      }
      stream.respond({ ":status": 200 });
      stream.end(String(headers[":path"]));
    },
    { settings: { maxConcurrentStreams: 1 } },
  );
  const t = transport(ctx);
  await (await t.roundTrip({ url: `${peer.url}/warm` })).text(); // SETTINGS are in: one stream at a time
  async function* slow() {
    yield Buffer.from("first");
    await sleep(50);
    yield Buffer.from("second"); // never wanted: the answer is already in
  }
  const refused = await t.roundTrip({ url: `${peer.url}/upload`, method: "POST", body: slow() });
  assert.equal(refused.status, 413);
  // With the slot leaked this would wait forever: the server allows one stream.
  const next = await t.roundTrip({ url: `${peer.url}/after` });
  assert.equal(await next.text(), "/after");
  await waitFor(() => t.stats().active === 0, 2000, "no stream left open");
  await peer.close();
  await assertNoLeaks(t, base);
});
