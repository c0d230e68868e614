/**
 * The stores behind cache(): MemoryCacheStore's byte bound and LRU order, entries too
 * large for it dropped as they stream, variants replaced by equal Vary values; the
 * FileCacheStore across cache instances (a cache that outlives the process), its
 * update after a 304, its invalidation, and no body file or descriptor left behind.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, test } from "node:test";
import {
  type CacheMetadata,
  type CacheStore,
  cache,
  compose,
  FileCacheStore,
  MemoryCacheStore,
} from "../../src/index.js";
import { closeLeftovers, newTransport, recordingServer } from "../client/util.js";
import { assertNoLeaks, waitFor } from "../helpers.js";
import { manualClock } from "./util.js";

afterEach(closeLeftovers);

function meta(url: string, vary: Record<string, string | null> = {}): CacheMetadata {
  return {
    url,
    status: 200,
    statusText: "OK",
    httpVersion: "1.1",
    headers: [["content-type", "text/plain"]],
    trailers: [],
    vary,
    requestTime: 1,
    responseTime: 2,
  };
}

async function put(store: CacheStore, key: string, body: Buffer, vary: Record<string, string | null> = {}) {
  const w = await store.set(key, meta(key, vary));
  await w.write(body);
  await w.end([]);
}

async function bodyOf(store: CacheStore, key: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await store.get(key)) {
    const parts: Buffer[] = [];
    for await (const c of e.body()) parts.push(Buffer.from(c));
    out.push(Buffer.concat(parts).toString());
  }
  return out;
}

test("MemoryCacheStore: bounded in bytes, the least recently used evicted first", async () => {
  const store = new MemoryCacheStore({ maxBytes: 10_000 });
  await put(store, "a", Buffer.alloc(3000, 0x61));
  await put(store, "b", Buffer.alloc(3000, 0x62));
  await put(store, "c", Buffer.alloc(3000, 0x63));
  assert.equal(store.size, 3);
  assert.ok(store.bytes <= 10_000);
  store.get("a"); // a is now the most recently used
  await put(store, "d", Buffer.alloc(3000, 0x64));
  assert.deepEqual(
    ["a", "b", "c", "d"].map((k) => store.get(k).length),
    [1, 0, 1, 1],
  );
  assert.ok(store.bytes <= 10_000);
  store.delete("a");
  assert.equal(store.get("a").length, 0);
  assert.equal(store.size, 2);
});

test("MemoryCacheStore: an entry over maxEntryBytes is dropped as it streams; abort() keeps nothing", async () => {
  const store = new MemoryCacheStore({ maxBytes: 100_000, maxEntryBytes: 5000 });
  const w = store.set("big", meta("big"));
  for (let i = 0; i < 10; i++) w.write(Buffer.alloc(1000));
  w.end([]);
  assert.equal(store.get("big").length, 0);
  assert.equal(store.bytes, 0);
  const a = store.set("aborted", meta("aborted"));
  a.write(Buffer.from("partial"));
  a.abort();
  a.end([]);
  assert.equal(store.get("aborted").length, 0);
  assert.throws(() => new MemoryCacheStore({ maxBytes: -1 }), /maxBytes/);
});

test("MemoryCacheStore: a variant with equal Vary values replaces the old one; others stay", async () => {
  const store = new MemoryCacheStore();
  await put(store, "k", Buffer.from("en-1"), { "accept-language": "en" });
  await put(store, "k", Buffer.from("fr-1"), { "accept-language": "fr" });
  await put(store, "k", Buffer.from("en-2"), { "accept-language": "en" });
  assert.deepEqual((await bodyOf(store, "k")).sort(), ["en-2", "fr-1"]);
  const en = store.get("k").find((e) => e.meta.vary["accept-language"] === "en")!;
  store.update("k", en.id, { ...en.meta, headers: [["x-new", "1"]] });
  const updated = store.get("k").find((e) => e.meta.vary["accept-language"] === "en")!;
  assert.deepEqual(updated.meta.headers, [["x-new", "1"]]);
  assert.equal(updated.size, 4);
});

test("FileCacheStore: replace, update, delete, and no body file left behind", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "roundtrip-cache-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = new FileCacheStore(dir);
  await put(store, "http://x/a", Buffer.from("one"));
  await put(store, "http://x/a", Buffer.from("two"));
  assert.deepEqual(await bodyOf(store, "http://x/a"), ["two"]);
  const [folder] = await readdir(dir);
  assert.equal(
    (await readdir(join(dir, folder!))).length,
    2,
    "one .json and one .body: the old body was unlinked",
  );
  const [e] = await store.get("http://x/a");
  await store.update("http://x/a", e!.id, { ...e!.meta, headers: [["etag", '"z"']] });
  assert.deepEqual((await store.get("http://x/a"))[0]!.meta.headers, [["etag", '"z"']]);
  const aborted = await store.set("http://x/b", meta("http://x/b"));
  await aborted.write(Buffer.from("half"));
  aborted.abort();
  assert.deepEqual(await store.get("http://x/b"), []);
  await store.delete("http://x/a");
  assert.deepEqual(await store.get("http://x/a"), []);
});

test("FileCacheStore under cache(): a second cache over the same folder answers from it", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "roundtrip-cache-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const clock = manualClock();
  const peer = await recordingServer((_req, res) => {
    res.writeHead(200, { "Cache-Control": "max-age=600", Date: new Date(clock.now).toUTCString() });
    res.end("persisted body");
  });
  const tr = newTransport();
  const first = compose(tr, cache({ store: new FileCacheStore(dir), clock: clock.clock }));
  assert.equal(await (await first.roundTrip({ url: peer.url })).text(), "persisted body");
  const second = compose(tr, cache({ store: new FileCacheStore(dir), clock: clock.clock }));
  const hit = await second.roundTrip({ url: peer.url });
  assert.equal(hit.cache, "hit");
  assert.equal(await hit.text(), "persisted body");
  // A hit closed before its end closes its file.
  const closed = await second.roundTrip({ url: peer.url });
  await closed.close();
  assert.equal(peer.seen.length, 1);
  await peer.close();
  await assertNoLeaks(tr);
  // The closed hit's file is closed (its close may still be in flight for a moment).
  const fsWork = () =>
    process.getActiveResourcesInfo().filter((r) => r === "FileHandle" || r === "FSReqCallback");
  await waitFor(() => fsWork().length === 0, 2000, `file handles to close (${fsWork().join(", ")})`);
});
