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
import { assertNoLeaks, closeAfter, deferred, rejectsWith, tcpHandles, waitFor } from "../helpers.js";
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
  // With allowHTTP1, HTTP/1.1 requests arrive here (HTTP/2 ones are the handler's).
  server.on("request", (req, res) => {
    if (req.httpVersion !== "2.0") res.end(`h${req.httpVersion}`);
  });
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
