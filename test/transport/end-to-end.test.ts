/**
 * One connection end to end (issue 2): sequential requests reuse one socket against
 * node:http and against a raw scripted server; the body API in all its forms.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Transport } from "../../src/index.js";
import { assertNoLeaks, httpServer, rawServer, readRequest, tcpHandles } from "../helpers.js";

test("sequential requests reuse one keep-alive connection (node:http)", async () => {
  const base = tcpHandles();
  const peer = await httpServer((req, res) => res.end(`${req.method} ${req.url}`));
  const t = new Transport();
  for (let i = 0; i < 5; i++) {
    const res = await t.roundTrip({ url: `${peer.url}/n/${i}?q=${i}` });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), `GET /n/${i}?q=${i}`);
    assert.equal(res.conn.reused, i > 0);
    assert.equal(t.stats().active, 0);
  }
  assert.equal(peer.connections, 1);
  assert.equal(t.stats().idle, 1);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a raw server sees exactly the bytes we promise", async () => {
  const base = tcpHandles();
  const heads: string[] = [];
  const peer = await rawServer(async (socket) => {
    for (let i = 0; i < 2; i++) {
      const { head, body } = await readRequest(socket);
      heads.push(head + "|" + body.toString());
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`);
    }
  });
  const t = new Transport();
  const a = await t.roundTrip({ url: `${peer.url}/a`, headers: { "X-Case": "Kept" } });
  assert.equal(await a.text(), "ok");
  const b = await t.roundTrip({ url: `${peer.url}/b`, method: "POST", body: "hi" });
  assert.equal(await b.text(), "ok");
  assert.equal(peer.connections, 1);
  assert.equal(
    heads[0],
    `GET /a HTTP/1.1\r\nHost: 127.0.0.1:${peer.port}\r\nX-Case: Kept\r\nUser-Agent: roundtrip/0.1.0\r\nAccept-Encoding: gzip, deflate, br|`,
  );
  assert.match(heads[1]!, /^POST \/b HTTP\/1\.1\r\n/);
  assert.match(heads[1]!, /\r\nContent-Length: 2\r?\n?/);
  assert.match(heads[1]!, /\|hi$/);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("Body: text, json, bytes, arrayBuffer, async iteration, stream, webStream, used-once", async () => {
  const base = tcpHandles();
  const peer = await httpServer((_req, res) => {
    res.setHeader("content-type", "application/json");
    res.write('{"a":');
    setTimeout(() => res.end("[1,2]}"), 5);
  });
  const t = new Transport({ disableCompression: true });
  assert.deepEqual(await (await t.roundTrip({ url: peer.url })).json(), { a: [1, 2] });
  assert.equal(Buffer.from(await (await t.roundTrip({ url: peer.url })).bytes()).toString(), '{"a":[1,2]}');
  assert.equal((await (await t.roundTrip({ url: peer.url })).arrayBuffer()).byteLength, 11);
  const parts: string[] = [];
  for await (const c of (await t.roundTrip({ url: peer.url })).body) parts.push(Buffer.from(c).toString());
  assert.equal(parts.join(""), '{"a":[1,2]}');
  let s = "";
  for await (const c of (await t.roundTrip({ url: peer.url })).body.stream()) s += c;
  assert.equal(s, '{"a":[1,2]}');
  const ws = (await t.roundTrip({ url: peer.url })).body.webStream();
  assert.equal(await new Response(ws).text(), '{"a":[1,2]}');
  const once = await t.roundTrip({ url: peer.url });
  await once.text();
  await assert.rejects(once.text(), { code: "ERR_BODY_USED" });
  assert.equal(peer.connections, 1, "every body read to the end gave the connection back");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("await using closes an unread body and keeps the connection when the rest is small", async () => {
  const base = tcpHandles();
  const peer = await httpServer((_req, res) => res.end("x".repeat(1000)));
  const t = new Transport();
  {
    await using res = await t.roundTrip({ url: peer.url });
    assert.equal(res.status, 200);
  }
  const again = await t.roundTrip({ url: peer.url });
  await again.text();
  assert.equal(again.conn.reused, true);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("streaming download: a large body is read chunk by chunk", async () => {
  const base = tcpHandles();
  const chunk = Buffer.alloc(64 * 1024, 97);
  const total = 64; // 4 MiB
  const peer = await httpServer(async (_req, res) => {
    for (let i = 0; i < total; i++) {
      if (!res.write(chunk)) await new Promise((r) => res.once("drain", r));
    }
    res.end();
  });
  const t = new Transport();
  const res = await t.roundTrip({ url: peer.url });
  let n = 0;
  let chunks = 0;
  for await (const c of res.body) {
    n += c.length;
    chunks++;
  }
  assert.equal(n, total * chunk.length);
  assert.ok(chunks > 1);
  await peer.close();
  await assertNoLeaks(t, base);
});
