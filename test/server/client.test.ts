/**
 * serveFile against roundtrip's own Client and Transport: a pooled keep-alive connection
 * carries sendfile responses back to back, ranges and conditionals come through the
 * client's parser intact, and an aborted download stops the server's transfer and leaves
 * the pool and the descriptor table as they were.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Client, Transport } from "../../src/index.js";
import { serveFile } from "../../src/server/index.js";
import { type Fixtures, makeFixtures } from "./fixtures.js";
import { parseMultipart, settledFdCount, sha256, startServer, T, type TestServer } from "./helpers.js";

let fx: Fixtures;
let server: TestServer;
let transport: Transport;
let client: Client;
let base: string;

before(async () => {
  fx = makeFixtures(32 << 20);
  server = await startServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    return serveFile(req, res, decodeURIComponent(url.pathname), { root: fx.root });
  });
  base = `http://127.0.0.1:${server.port}`;
  transport = new Transport();
  client = new Client({ transport });
});
after(async () => {
  await transport.close();
  await server.close();
  fx.remove();
});

describe("roundtrip's client", () => {
  test("back-to-back sendfile responses on one pooled connection, byte-exact", T, async () => {
    const before = server.connections;
    for (let i = 0; i < 3; i++) {
      const r = await client.request(`${base}/big.bin`);
      assert.equal(r.status, 200);
      assert.equal(r.contentLength, fx.big.length);
      assert.equal(r.conn.reused, i > 0);
      assert.equal(sha256(await r.bytes()), sha256(fx.big));
      assert.equal((await server.results[server.results.length - 1]!).transfer, "socket");
    }
    assert.equal(server.connections, before + 1);
  });

  test("ranges, HEAD and conditionals through the client's parser", T, async () => {
    let r = await client.request(`${base}/small.dat`, { headers: { range: "bytes=10-19" } });
    assert.equal(r.status, 206);
    assert.deepEqual(Buffer.from(await r.bytes()), fx.small.subarray(10, 20));
    r = await client.request(`${base}/small.dat`, { headers: { range: "bytes=0-1,-2" } });
    const parts = parseMultipart(Buffer.from(await r.bytes()), r.headers.get("content-type")!);
    assert.deepEqual(
      parts.map((p) => p.body),
      [fx.small.subarray(0, 2), fx.small.subarray(998)],
    );
    const head = await client.head(`${base}/small.dat`);
    assert.equal(head.contentLength, 1000);
    await head.close();
    r = await client.request(`${base}/small.dat`, {
      headers: { "if-none-match": head.headers.get("etag")! },
    });
    assert.equal(r.status, 304);
    await r.close();
    r = await client.request(`${base}/small.dat`, { headers: { range: "bytes=2000-" } });
    assert.equal(r.status, 416);
    await r.close();
  });

  test(
    "an aborted download stops the server's transfer; pool and fds back to where they were",
    T,
    async () => {
      transport.closeIdleConnections();
      const fdsBefore = await settledFdCount(server);
      const n = server.results.length;
      const abort = new AbortController();
      const r = await client.request(`${base}/big.bin`, { signal: abort.signal });
      let got = 0;
      await assert.rejects(async () => {
        for await (const chunk of r.body) {
          got += chunk.length;
          if (got > 1 << 20) abort.abort();
        }
      });
      const result = await server.results[n]!;
      assert.ok(result.error, "the server saw the abort");
      assert.ok(result.bytes < fx.big.length);
      assert.equal(transport.stats().total, 0);
      assert.equal(await settledFdCount(server), fdsBefore);
    },
  );
});
