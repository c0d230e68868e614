/**
 * A success response that starts before the request body is fully sent (an echo, a
 * stream processor) must not stop the upload: the exchange runs full duplex, as with
 * Go and Node's fetch. An error status still stops it (see lifecycle.test.ts).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Transport } from "../../src/index.js";
import { assertNoLeaks, httpServer, tcpHandles } from "../helpers.js";

test("full duplex: a 200 streamed back while the upload is still going completes both ways", async () => {
  const base = tcpHandles();
  const peer = await httpServer((req, res) => {
    res.writeHead(200, { "content-type": "application/octet-stream" });
    res.flushHeaders();
    req.on("data", (c: Buffer) => res.write(c));
    req.on("end", () => res.end());
  });
  const t = new Transport();
  const parts = 20;
  let release!: () => void;
  let headSeen = new Promise<void>((r) => (release = r));
  async function* upload() {
    yield Buffer.from("part-0;");
    // Wait until the response head is here, then keep sending: the write must go on.
    await headSeen;
    for (let i = 1; i < parts; i++) yield Buffer.from(`part-${i};`);
  }
  const res = await t.roundTrip({ url: peer.url, method: "POST", body: upload() });
  assert.equal(res.status, 200);
  release();
  headSeen = Promise.resolve();
  const text = await res.text();
  assert.equal(text, Array.from({ length: parts }, (_, i) => `part-${i};`).join(""));
  await peer.close();
  await assertNoLeaks(t, base);
});
