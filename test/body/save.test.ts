/**
 * Body.saveTo (src/body/save.ts): the body into a path, a FileHandle or an fd, byte-exact,
 * with the connection back in the pool; the faults: a short body (ERR_UNEXPECTED_EOF, the
 * partial file kept or removed), an abort, a full disk (ERR_FILE_WRITE with the errno as
 * cause), a body already used.
 */
import assert from "node:assert/strict";
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Transport } from "../../src/index.js";
import { assertNoLeaks, httpServer, rawServer, rejectsWith, seededBytes, waitFor } from "../helpers.js";

let dir = "";
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "rt-save-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const openFds = (): number => readdirSync("/proc/self/fd").length;
const body = seededBytes(2 * 1024 * 1024 + 3, 11);

test("saveTo(path): byte-exact, bytes reported, connection reused", async () => {
  const fds = openFds();
  const peer = await httpServer((_req, res) => res.end(body));
  const t = new Transport();
  const path = join(dir, "a.bin");
  const res = await t.roundTrip({ url: peer.url });
  const r = await res.body.saveTo(path);
  assert.equal(r.bytes, body.length);
  assert.equal(typeof r.zeroCopy, "boolean");
  assert.ok(readFileSync(path).equals(body));
  assert.equal(res.body.used, true);
  await waitFor(() => t.stats().idle === 1, 2000, "the connection back in the pool");
  const again = await t.roundTrip({ url: peer.url });
  assert.equal(again.conn.reused, true);
  await again.close();
  await peer.close();
  await assertNoLeaks(t);
  assert.equal(openFds(), fds, "the file saveTo opened is closed");
});

test("saveTo(FileHandle) and saveTo(fd) write at the current position and leave the file open", async () => {
  const peer = await httpServer((_req, res) => res.end("world"));
  const t = new Transport();
  const path = join(dir, "b.txt");
  const fh = await open(path, "w");
  await fh.write("hello ");
  const r1 = await (await t.roundTrip({ url: peer.url })).body.saveTo(fh);
  assert.equal(r1.bytes, 5);
  const r2 = await (await t.roundTrip({ url: peer.url })).body.saveTo(fh.fd);
  assert.equal(r2.bytes, 5);
  await fh.write("!"); // still open
  await fh.close();
  assert.equal(readFileSync(path, "utf8"), "hello worldworld!");
  await peer.close();
  await assertNoLeaks(t);
});

test("flags 'a' appends (the zero-copy path cannot append: the fallback does it)", async () => {
  const peer = await httpServer((_req, res) => res.end("two"));
  const t = new Transport();
  const path = join(dir, "c.txt");
  await (await t.roundTrip({ url: peer.url })).body.saveTo(path);
  const r = await (await t.roundTrip({ url: peer.url })).body.saveTo(path, { flags: "a" });
  assert.deepEqual(r, { bytes: 3, zeroCopy: false });
  assert.equal(readFileSync(path, "utf8"), "twotwo");
  await peer.close();
  await assertNoLeaks(t);
});

test("a short body is ERR_UNEXPECTED_EOF and the partial file is kept by default", async () => {
  const peer = await rawServer((s) => {
    s.once("data", () => s.end("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"));
  });
  const t = new Transport();
  const path = join(dir, "short.bin");
  const res = await t.roundTrip({ url: peer.url });
  await rejectsWith(res.body.saveTo(path), "ERR_UNEXPECTED_EOF");
  assert.equal(readFileSync(path, "utf8"), "0123456789");
  await peer.close();
  await assertNoLeaks(t);
});

test("removeOnError: the partial file is removed", async () => {
  const peer = await rawServer((s) => {
    s.once("data", () => s.end("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"));
  });
  const t = new Transport();
  const path = join(dir, "short-removed.bin");
  const res = await t.roundTrip({ url: peer.url });
  await rejectsWith(res.body.saveTo(path, { removeOnError: true }), "ERR_UNEXPECTED_EOF");
  assert.equal(existsSync(path), false);
  await peer.close();
  await assertNoLeaks(t);
});

test("an abort stops a body that stalls, rejects with the signal's reason, frees the connection", async () => {
  const fds = openFds();
  const peer = await rawServer((s) => {
    s.once("data", () => s.write("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nsome")); // then stall
  });
  const t = new Transport();
  const res = await t.roundTrip({ url: peer.url });
  const ac = new AbortController();
  const p = res.body.saveTo(join(dir, "abort.bin"), { signal: ac.signal });
  setTimeout(() => ac.abort(new Error("user gave up")), 30);
  await assert.rejects(p, /user gave up/);
  await peer.close();
  await assertNoLeaks(t);
  await waitFor(() => openFds() <= fds, 2000, "every fd closed");
});

test("a full disk is ERR_FILE_WRITE with the ENOSPC error as cause; the connection is freed", async () => {
  const peer = await httpServer((_req, res) => res.end(body));
  const t = new Transport();
  const res = await t.roundTrip({ url: peer.url });
  const err = await rejectsWith(res.body.saveTo("/dev/full"), "ERR_FILE_WRITE");
  assert.equal((err.cause as { code?: string }).code, "ENOSPC");
  await peer.close();
  await assertNoLeaks(t);
});

test("a body already read is ERR_BODY_USED; a path that cannot be opened is ERR_FILE_WRITE", async () => {
  const peer = await httpServer((_req, res) => res.end("x"));
  const t = new Transport();
  const res = await t.roundTrip({ url: peer.url });
  await res.text();
  await rejectsWith(res.body.saveTo(join(dir, "used.bin")), "ERR_BODY_USED");
  const res2 = await t.roundTrip({ url: peer.url });
  await rejectsWith(res2.body.saveTo(join(dir, "no", "such", "dir.bin")), "ERR_FILE_WRITE");
  await peer.close();
  await assertNoLeaks(t);
});

test("download progress fires through saveTo, ending at the full length", async () => {
  const peer = await httpServer((_req, res) => res.end(body));
  const t = new Transport();
  const seen: number[] = [];
  const res = await t.roundTrip({
    url: peer.url,
    onDownloadProgress: (p) => seen.push(p.loaded),
  });
  const fd = openSync(join(dir, "progress.bin"), "w");
  await res.body.saveTo(fd);
  closeSync(fd);
  assert.ok(seen.length >= 2, `progress fired ${seen.length} times`);
  assert.equal(seen.at(-1), body.length);
  await peer.close();
  await assertNoLeaks(t);
});
