/**
 * Response bodies stream with backpressure (issue 4, Downloads): a consumer that stops
 * reading stops the server after a bounded amount (kernel buffers plus a little of
 * ours), whatever the body's size; body.stream() then pipes the rest to a file with
 * stream.pipeline, byte-exact, and the connection goes back to the pool.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { after, before, test } from "node:test";
import { Transport } from "../../src/index.js";
import { assertNoLeaks, httpServer, tcpHandles, waitFor } from "../helpers.js";

let dir = "";
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "rt-download-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const MiB = 1024 * 1024;

test("a consumer that stops reading stops the server; pipeline() to a file then gets every byte", async () => {
  const base = tcpHandles();
  const total = 128 * MiB;
  // Each MiB differs (its index in the first bytes), so lost or repeated chunks show.
  const chunkAt = (i: number) => {
    const b = Buffer.alloc(MiB, 0x61 + (i % 26));
    b.writeUInt32BE(i, 0);
    return b;
  };
  const expected = createHash("sha256");
  for (let i = 0; i < total / MiB; i++) expected.update(chunkAt(i));
  let handed = 0; // bytes the server gave to res.write
  let waitingForDrain = false;
  const peer = await httpServer(async (_req, res) => {
    res.setHeader("content-length", String(total));
    for (let i = 0; i < total / MiB; i++) {
      handed += MiB;
      if (!res.write(chunkAt(i))) {
        waitingForDrain = true;
        await new Promise((r) => res.once("drain", r));
        waitingForDrain = false;
      }
    }
    res.end();
  });
  const t = new Transport();
  const res = await t.roundTrip({ url: peer.url });
  const body = res.body.stream(); // nobody reads it yet

  // Wait (bounded) until the server is blocked on a full socket and stays so.
  let last = -1;
  await waitFor(
    () => {
      const stuck = waitingForDrain && handed === last;
      last = handed;
      return stuck;
    },
    10_000,
    "the server to block on a full socket",
  );
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(waitingForDrain, "still blocked: nothing reads the body");
  // Loopback socket buffers on both sides hold a few MiB; we may add a little more.
  assert.ok(handed <= 32 * MiB, `the server got ahead by ${handed / MiB} MiB of ${total / MiB} MiB`);

  const path = join(dir, "download.bin");
  await pipeline(body, createWriteStream(path));
  assert.equal((await stat(path)).size, total);
  const got = createHash("sha256");
  for await (const c of createReadStream(path)) got.update(c as Buffer);
  assert.equal(got.digest("hex"), expected.digest("hex"));
  await waitFor(() => t.stats().idle === 1, 2000, "the connection to return to the pool");
  await peer.close();
  await assertNoLeaks(t, base);
});
