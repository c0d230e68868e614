/**
 * Transparent decompression (issue 3), after Go's TestTransportGzip, TestRoundTripGzip,
 * TestTransportGzipShort, TestTransportGzipRecursive and TestTransportNoReuseAfterEarlyResponse's
 * gzip cousin: with no caller Accept-Encoding we ask for gzip, deflate, br (not on HEAD or
 * Range) and decode; Content-Encoding and Content-Length go, contentLength is -1; corrupt
 * or truncated data is ERR_BAD_RESPONSE, never a hang; the connection is reused after a
 * fully read compressed body.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import zlib from "node:zlib";
import { Transport } from "../../src/index.js";
import {
  assertNoLeaks,
  closeAfter,
  httpServer,
  rejectsWith,
  type ScriptedRequest,
  scriptedServer,
  serve,
  tcpHandles,
} from "../helpers.js";

const text = "roundtrip compresses well. ".repeat(2000);

const codings: Array<{ name: string; encode: (b: Buffer) => Buffer }> = [
  { name: "gzip", encode: (b) => zlib.gzipSync(b) },
  { name: "x-gzip", encode: (b) => zlib.gzipSync(b) },
  { name: "deflate", encode: (b) => zlib.deflateSync(b) },
  { name: "br", encode: (b) => zlib.brotliCompressSync(b) },
];

/** A raw response with the given Content-Encoding and body bytes. */
function encoded(coding: string, body: Buffer, extra: string[] = []): Buffer {
  const head = [
    "HTTP/1.1 200 OK",
    `Content-Encoding: ${coding}`,
    `Content-Length: ${body.length}`,
    "Content-Type: text/plain",
    ...extra,
  ];
  return Buffer.concat([Buffer.from(`${head.join("\r\n")}\r\n\r\n`), body]);
}

for (const c of codings) {
  test(`${c.name}: decoded transparently, headers dropped, connection reused`, async (ctx) => {
    const base = tcpHandles();
    const body = c.encode(Buffer.from(text));
    const peer = await serve(ctx, scriptedServer, (req: ScriptedRequest) => {
      req.socket.write(encoded(c.name, body));
    });
    const t = closeAfter(ctx, new Transport());
    for (let i = 0; i < 3; i++) {
      const res = await t.roundTrip({ url: peer.url });
      assert.equal(res.uncompressed, true);
      assert.equal(res.headers.get("content-encoding"), null);
      assert.equal(res.headers.get("content-length"), null);
      assert.equal(res.headers.get("content-type"), "text/plain");
      assert.equal(res.contentLength, -1);
      assert.equal(await res.text(), text);
      assert.equal(res.conn.reused, i > 0);
    }
    assert.match(peer.requests[0]!.head, /\r\nAccept-Encoding: gzip, deflate, br/);
    assert.equal(peer.connections, 1);
    await peer.close();
    await assertNoLeaks(t, base);
  });
}

test("a large decoded body streams with backpressure from a small compressed one", async (ctx) => {
  const base = tcpHandles();
  const size = 32 << 20;
  const body = zlib.gzipSync(Buffer.alloc(size));
  const peer = await serve(ctx, scriptedServer, (req) => void req.socket.write(encoded("gzip", body)));
  const t = closeAfter(ctx, new Transport());
  const res = await t.roundTrip({ url: peer.url });
  // The compressed bytes all arrived: the connection is free while we decode.
  assert.equal(t.stats().active, 0);
  let n = 0;
  for await (const chunk of res.body) n += chunk.length;
  assert.equal(n, size);
  const again = await t.roundTrip({ url: peer.url });
  await again.close();
  assert.equal(again.conn.reused, true);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a chunked, trickling gzip body is decoded as it arrives", async (ctx) => {
  const base = tcpHandles();
  const gz = zlib.gzipSync(Buffer.from(text));
  const peer = await serve(ctx, scriptedServer, async (req) => {
    req.socket.write("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (let i = 0; i < gz.length; i += 97) {
      const part = gz.subarray(i, i + 97);
      req.socket.write(`${part.length.toString(16)}\r\n`);
      req.socket.write(part);
      req.socket.write("\r\n");
      if (i % 970 === 0) await new Promise((r) => setImmediate(r));
    }
    req.socket.write("0\r\n\r\n");
  });
  const t = closeAfter(ctx, new Transport());
  for (let i = 0; i < 2; i++) {
    const res = await t.roundTrip({ url: peer.url });
    assert.equal(await res.text(), text);
    assert.equal(res.conn.reused, i > 0);
  }
  await peer.close();
  await assertNoLeaks(t, base);
});

const broken: Array<{ name: string; coding: string; body: () => Buffer }> = [
  { name: "corrupt gzip", coding: "gzip", body: () => Buffer.from("this is not gzip at all") },
  {
    name: "gzip cut short (no trailer)",
    coding: "gzip",
    body: () => {
      const gz = zlib.gzipSync(Buffer.from(text));
      return gz.subarray(0, gz.length - 8);
    },
  },
  {
    name: "gzip with a bad checksum",
    coding: "gzip",
    body: () => {
      const gz = Buffer.from(zlib.gzipSync(Buffer.from(text)));
      gz[gz.length - 6]! ^= 0xff;
      return gz;
    },
  },
  {
    name: "deflate cut short",
    coding: "deflate",
    body: () => {
      const z = zlib.deflateSync(Buffer.from(text));
      return z.subarray(0, z.length - 6);
    },
  },
  {
    name: "br cut short",
    coding: "br",
    body: () => {
      const z = zlib.brotliCompressSync(Buffer.from(text));
      return z.subarray(0, z.length - 4);
    },
  },
  { name: "corrupt deflate", coding: "deflate", body: () => Buffer.from("nope nope nope nope") },
  { name: "corrupt br", coding: "br", body: () => Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x01]) },
];

for (const b of broken) {
  test(`${b.name}: ERR_BAD_RESPONSE, not a hang; the connection stays usable`, async (ctx) => {
    const base = tcpHandles();
    const body = b.body();
    const peer = await serve(ctx, scriptedServer, (req) => {
      req.socket.write(req.n === 0 ? encoded(b.coding, body) : encoded("identity", Buffer.from("fine")));
    });
    const t = closeAfter(ctx, new Transport());
    const res = await t.roundTrip({ url: peer.url });
    await rejectsWith(res.text(), "ERR_BAD_RESPONSE");
    const next = await t.roundTrip({ url: peer.url });
    assert.equal(await next.text(), "fine");
    await peer.close();
    await assertNoLeaks(t, base);
  });
}

test("an empty gzip body (Content-Length: 0) is an empty body", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(
    ctx,
    scriptedServer,
    (req) => void req.socket.write(encoded("gzip", Buffer.alloc(0))),
  );
  const t = closeAfter(ctx, new Transport());
  const res = await t.roundTrip({ url: peer.url });
  assert.equal(await res.text(), "");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a caller's Accept-Encoding means raw bytes", async (ctx) => {
  const base = tcpHandles();
  const gz = zlib.gzipSync(Buffer.from(text));
  const peer = await serve(ctx, scriptedServer, (req) => void req.socket.write(encoded("gzip", gz)));
  const t = closeAfter(ctx, new Transport());
  const res = await t.roundTrip({ url: peer.url, headers: { "Accept-Encoding": "gzip" } });
  assert.equal(res.uncompressed, false);
  assert.equal(res.headers.get("content-encoding"), "gzip");
  assert.equal(res.contentLength, gz.length);
  assert.deepEqual(Buffer.from(await res.bytes()), gz);
  assert.match(peer.requests[0]!.head, /\r\nAccept-Encoding: gzip(\r|$)/);
  await peer.close();
  await assertNoLeaks(t, base);
});

const notAsked: Array<{
  name: string;
  method?: string;
  headers?: Record<string, string>;
  transport?: object;
}> = [
  { name: "HEAD", method: "HEAD" },
  { name: "a Range request", headers: { Range: "bytes=0-9" } },
  { name: "disableCompression", transport: { disableCompression: true } },
];

for (const n of notAsked) {
  test(`no Accept-Encoding added for ${n.name}; an encoded answer stays raw`, async (ctx) => {
    const base = tcpHandles();
    const gz = zlib.gzipSync(Buffer.from("0123456789"));
    const peer = await serve(ctx, scriptedServer, (req) => {
      const whole = encoded("gzip", gz);
      // HEAD: the same head, no body.
      req.socket.write(req.method === "HEAD" ? whole.subarray(0, whole.length - gz.length) : whole);
    });
    const t = closeAfter(ctx, new Transport(n.transport));
    const res = await t.roundTrip({
      url: peer.url,
      ...(n.method ? { method: n.method } : {}),
      headers: n.headers,
    });
    assert.doesNotMatch(peer.requests[0]!.head, /accept-encoding/i);
    assert.equal(res.uncompressed, false);
    assert.equal(res.headers.get("content-encoding"), "gzip");
    if (n.method !== "HEAD") assert.deepEqual(Buffer.from(await res.bytes()), gz);
    else assert.equal(await res.text(), "");
    await peer.close();
    await assertNoLeaks(t, base);
  });
}

test("an unknown or stacked Content-Encoding is passed through raw", async (ctx) => {
  const base = tcpHandles();
  const raw = Buffer.from("opaque bytes");
  const peer = await serve(ctx, scriptedServer, (req) => {
    req.socket.write(encoded(req.n === 0 ? "zstd" : "gzip, br", raw));
  });
  const t = closeAfter(ctx, new Transport());
  for (const coding of ["zstd", "gzip, br"]) {
    const res = await t.roundTrip({ url: peer.url });
    assert.equal(res.uncompressed, false);
    assert.equal(res.headers.get("content-encoding"), coding);
    assert.deepEqual(Buffer.from(await res.bytes()), raw);
  }
  await peer.close();
  await assertNoLeaks(t, base);
});

test("closing a compressed body early keeps or drops the connection like any body", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, httpServer, (_req, res) => {
    res.setHeader("content-encoding", "gzip");
    const gz = zlib.createGzip();
    gz.pipe(res);
    gz.end(Buffer.from(text));
  });
  const t = closeAfter(ctx, new Transport());
  const res = await t.roundTrip({ url: peer.url });
  assert.equal(res.uncompressed, true);
  for await (const _ of res.body) break;
  const next = await t.roundTrip({ url: peer.url });
  assert.equal(await next.text(), text);
  assert.equal(next.conn.reused, true, "the small compressed remainder was drained");
  await peer.close();
  await assertNoLeaks(t, base);
});
