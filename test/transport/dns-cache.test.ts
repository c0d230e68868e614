/**
 * The Transport's resolver (issue 20): in-flight lookups of a name coalesced (Go's
 * singleflight, reported as DNSDoneInfo.Coalesced), and the optional cache: maxTTL, the
 * resolver's own TTL when it gives one, maxEntries (least recently used out), failures
 * never cached (an EAI_AGAIN storm must not be remembered). A fake lookup and a fake clock.
 */
import assert from "node:assert/strict";
import type { LookupAddress } from "node:dns";
import { test } from "node:test";
import { type ClientTrace, Transport } from "../../src/index.js";
import { Resolver } from "../../src/transport/dns-cache.js";
import { assertNoLeaks, httpServer, tcpHandles, waitFor } from "../helpers.js";

type Callback = (err: NodeJS.ErrnoException | null, a: LookupAddress[] | string, family?: number) => void;

/**
 * A lookup whose answers the test gives: each call waits in `pending` until answered
 * (or answers at once with `auto`). Counts calls per name.
 */
function fakeLookup(auto?: (host: string) => (LookupAddress & { ttl?: number })[] | Error) {
  const calls: string[] = [];
  const pending: { host: string; cb: Callback }[] = [];
  const lookup = (host: string, opts: { all?: boolean }, cb: Callback) => {
    assert.equal(opts.all, true, "the resolver asks for every address");
    calls.push(host);
    if (auto === undefined) return void pending.push({ host, cb });
    const a = auto(host);
    queueMicrotask(() => (a instanceof Error ? cb(a, []) : cb(null, a)));
  };
  return { lookup, calls, pending };
}

const addr = (address: string, ttl?: number) => ({
  address,
  family: 4,
  ...(ttl === undefined ? {} : { ttl }),
});

function clock(start = 1_000_000) {
  const c = { now: start, fn: () => c.now };
  return c;
}

test("no cache by default: every resolve asks the lookup", async () => {
  const f = fakeLookup(() => [addr("127.0.0.1")]);
  const r = new Resolver(f.lookup, undefined);
  await r.resolve("a.test");
  await r.resolve("a.test");
  assert.deepEqual(f.calls, ["a.test", "a.test"]);
});

test("dnsCache: true keeps an answer maxTTL (default 30 s) by the injected clock, names case-insensitive", async () => {
  const c = clock();
  const f = fakeLookup(() => [addr("127.0.0.1"), { address: "::1", family: 6 }]);
  const r = new Resolver(f.lookup, true, c.fn);
  const first = await r.resolve("a.test");
  assert.deepEqual(
    first.addresses.map((a) => a.address),
    ["127.0.0.1", "::1"],
  );
  c.now += 29_999;
  const again = await r.resolve("A.Test");
  assert.deepEqual(again, { addresses: first.addresses, coalesced: false });
  assert.deepEqual(f.calls, ["a.test"]);
  c.now += 1; // 30 s after the question: stale
  await r.resolve("a.test");
  assert.deepEqual(f.calls, ["a.test", "a.test"]);
});

test("a TTL from the lookup (seconds, the smallest of the addresses) shortens the entry; maxTTL caps it; TTL 0 is not cached", async () => {
  const c = clock();
  const ttls: Record<string, (LookupAddress & { ttl?: number })[]> = {
    "short.test": [addr("127.0.0.1", 10), addr("127.0.0.2", 5)],
    "long.test": [addr("127.0.0.1", 3600)],
    "zero.test": [addr("127.0.0.1", 0)],
  };
  const f = fakeLookup((h) => ttls[h]!);
  const r = new Resolver(f.lookup, { maxTTL: 60_000 }, c.fn);
  for (const h of Object.keys(ttls)) await r.resolve(h);
  c.now += 4_999;
  for (const h of Object.keys(ttls)) await r.resolve(h);
  assert.deepEqual(f.calls, ["short.test", "long.test", "zero.test", "zero.test"]);
  c.now += 1; // 5 s: short.test is stale
  await r.resolve("short.test");
  await r.resolve("long.test");
  assert.deepEqual(f.calls.slice(4), ["short.test"]);
  c.now += 60_000 - 5_000; // 60 s: maxTTL, although long.test's TTL is an hour
  await r.resolve("long.test");
  assert.deepEqual(f.calls.slice(5), ["long.test"]);
});

test("maxEntries: the least recently used name goes first", async () => {
  const c = clock();
  const f = fakeLookup(() => [addr("127.0.0.1")]);
  const r = new Resolver(f.lookup, { maxEntries: 2 }, c.fn);
  await r.resolve("a.test");
  await r.resolve("b.test");
  await r.resolve("a.test"); // hit: a is now the most recently used
  await r.resolve("c.test"); // evicts b
  assert.deepEqual(f.calls, ["a.test", "b.test", "c.test"]);
  await r.resolve("a.test");
  await r.resolve("c.test");
  assert.deepEqual(f.calls, ["a.test", "b.test", "c.test"], "a and c still cached");
  await r.resolve("b.test");
  assert.deepEqual(f.calls, ["a.test", "b.test", "c.test", "b.test"], "b was evicted");
});

for (const cache of [false, true] as const) {
  test(`concurrent lookups of one name are coalesced into one (dnsCache: ${cache}), as Go's singleflight`, async () => {
    const f = fakeLookup();
    const r = new Resolver(f.lookup, cache, clock().fn);
    const all = Promise.all([
      r.resolve("a.test"),
      r.resolve("a.test"),
      r.resolve("b.test"),
      r.resolve("A.TEST"),
    ]);
    assert.deepEqual(f.calls, ["a.test", "b.test"]);
    for (const p of f.pending) p.cb(null, [addr(p.host === "a.test" ? "127.0.0.1" : "127.0.0.2")]);
    const [a1, a2, b, a3] = await all;
    assert.deepEqual(
      [a1, a2, b, a3].map((x) => [x.addresses[0]!.address, x.coalesced]),
      [
        ["127.0.0.1", false],
        ["127.0.0.1", true],
        ["127.0.0.2", false],
        ["127.0.0.1", true],
      ],
    );
    // Once settled, the next resolve asks again unless cached.
    const next = r.resolve("a.test");
    assert.equal(f.calls.length, cache ? 2 : 3);
    if (!cache) f.pending[2]!.cb(null, [addr("127.0.0.3")]);
    assert.equal((await next).addresses[0]!.address, cache ? "127.0.0.1" : "127.0.0.3");
  });
}

test("failures are not cached (EAI_AGAIN storms), and are shared by the coalesced callers", async () => {
  const c = clock();
  const f = fakeLookup();
  const r = new Resolver(f.lookup, true, c.fn);
  const a = r.resolve("a.test");
  const b = r.resolve("a.test");
  f.pending[0]!.cb(Object.assign(new Error("getaddrinfo EAI_AGAIN a.test"), { code: "EAI_AGAIN" }), []);
  await assert.rejects(a, { code: "EAI_AGAIN" });
  await assert.rejects(b, { code: "EAI_AGAIN" });
  const next = r.resolve("a.test");
  assert.equal(f.calls.length, 2, "asked again at once");
  f.pending[1]!.cb(null, []); // no address at all is a failure too
  await assert.rejects(next, { code: "ENOTFOUND" });
  const last = r.resolve("a.test");
  assert.equal(f.calls.length, 3);
  f.pending[2]!.cb(null, [addr("127.0.0.1")]);
  await last;
  await r.resolve("a.test");
  assert.equal(f.calls.length, 3, "a success is cached");
});

test("a lookup in net's single-address form (address, family) is accepted", async () => {
  const lookup = (_h: string, _o: unknown, cb: Callback) => cb(null, "::1", 6);
  const r = new Resolver(lookup, false);
  assert.deepEqual((await r.resolve("a.test")).addresses, [{ address: "::1", family: 6 }]);
});

test("bad dnsCache, lookup and fallbackDelay options are ERR_INVALID_REQUEST", () => {
  for (const o of [
    { dnsCache: { maxTTL: 0 } },
    { dnsCache: { maxTTL: -1 } },
    { dnsCache: { maxTTL: Number.NaN } },
    { dnsCache: { maxEntries: 0 } },
    { dnsCache: { maxEntries: 1.5 } },
    { dnsCache: "yes" as unknown as boolean },
    { lookup: "dns" as unknown as undefined },
    { fallbackDelay: Number.NaN },
    { fallbackDelay: Number.POSITIVE_INFINITY },
  ]) {
    assert.throws(() => new Transport(o), { code: "ERR_INVALID_REQUEST" }, JSON.stringify(o));
  }
});

// ---- through the Transport ---------------------------------------------------------------

function dnsRecorder(): { done: boolean[]; trace: ClientTrace } {
  const done: boolean[] = [];
  return { done, trace: { dnsDone: (i) => done.push(i.coalesced) } };
}

test("Transport: concurrent dials to a new name share one lookup; dnsDone says which were coalesced", async (ctx) => {
  const base = tcpHandles();
  const peer = await httpServer((_req, res) => res.end("ok"));
  ctx.after(() => peer.close());
  const f = fakeLookup();
  const t = new Transport({ lookup: f.lookup });
  const d = dnsRecorder();
  const reqs = [0, 1, 2].map(() => t.roundTrip({ url: `http://app.test:${peer.port}/`, trace: d.trace }));
  await waitFor(() => t.stats().dialing === 3, 2000, "three dials");
  assert.deepEqual(f.calls, ["app.test"]);
  f.pending[0]!.cb(null, [addr("127.0.0.1")]);
  for (const res of await Promise.all(reqs)) assert.equal(await res.text(), "ok");
  assert.deepEqual(d.done.sort(), [false, true, true]);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("Transport: with dnsCache a new connection to a known name asks no lookup; without, it does", async (ctx) => {
  const base = tcpHandles();
  const peer = await httpServer((_req, res) => res.end("ok"));
  ctx.after(() => peer.close());
  for (const dnsCache of [true, false]) {
    const f = fakeLookup(() => [addr("127.0.0.1")]);
    // No keep-alive: every request dials, so every request resolves.
    const t = new Transport({ lookup: f.lookup, dnsCache, disableKeepAlives: true });
    for (let i = 0; i < 3; i++) await (await t.roundTrip({ url: `http://app.test:${peer.port}/` })).text();
    assert.equal(f.calls.length, dnsCache ? 1 : 3, `dnsCache: ${dnsCache}`);
    await assertNoLeaks(t, base + 1);
  }
  await peer.close();
  await waitFor(() => tcpHandles() <= base, 2000, "the peer closed");
});

test("Transport: a proxy's own name goes through the same lookup; the origin's name is left to the proxy", async (ctx) => {
  const base = tcpHandles();
  const seen: string[] = [];
  const proxy = await httpServer((req, res) => {
    seen.push(String(req.url));
    res.end("via proxy");
  });
  ctx.after(() => proxy.close());
  const f = fakeLookup(() => [addr("127.0.0.1")]);
  const t = new Transport({ lookup: f.lookup, proxy: `http://proxy.test:${proxy.port}` });
  const res = await t.roundTrip({ url: "http://origin.test/x" });
  assert.equal(await res.text(), "via proxy");
  assert.deepEqual(seen, ["http://origin.test/x"]);
  assert.deepEqual(f.calls, ["proxy.test"]);
  await proxy.close();
  await assertNoLeaks(t, base);
});
