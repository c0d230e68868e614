/**
 * cache(): RFC 9111 as a private cache, against node:http origins whose Date follows the
 * test's clock (no test waits for max-age to pass: the clock is moved). Freshness from
 * max-age, Expires and the Last-Modified heuristic (§4.2.2), Age (§4.2.3), Vary,
 * validation (304 merges fields), no-store / no-cache / must-revalidate, s-maxage
 * ignored, stale-while-revalidate in the background, stale-if-error, the request
 * directives (no-cache, no-store, max-age, min-fresh, max-stale, only-if-cached),
 * invalidation by unsafe methods (§4.4), streaming into the store, trailers.
 */
import assert from "node:assert/strict";
import type http from "node:http";
import { afterEach, test } from "node:test";
import { Client, cache, compose, MemoryCacheStore, type Response, retry } from "../../src/index.js";
import { closeLeftovers, newTransport, recordingServer, type Seen } from "../client/util.js";
import { assertNoLeaks, deferred, rejectsWith, waitFor } from "../helpers.js";
import { instantTimers, manualClock, within } from "./util.js";

afterEach(closeLeftovers);

type Reply = (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void;

/** An origin whose Date header is the test clock's; `reply` answers request n (0-based). */
async function origin(clock: { now: number }, reply: Reply) {
  let n = 0;
  return recordingServer((req, res) => {
    res.setHeader("Date", new Date(clock.now).toUTCString());
    reply(req, res, n++);
  });
}

function setup(clock: { clock: () => number }, store = new MemoryCacheStore()) {
  const t = newTransport();
  const rt = compose(t, cache({ clock: clock.clock, store }));
  return { t, rt, store };
}

async function get(
  rt: { roundTrip(r: { url: string; headers?: Record<string, string> }): Promise<Response> },
  url: string,
  headers?: Record<string, string>,
): Promise<{ res: Response; text: string }> {
  const res = await rt.roundTrip(headers === undefined ? { url } : { url, headers });
  return { res, text: await res.text() };
}

const condHeaders = (s: Seen) => [s.headers["if-none-match"], s.headers["if-modified-since"]];

test("max-age: fresh is a hit with Age; stale is validated; a 304 merges its fields and serves the stored body", async () => {
  const clock = manualClock();
  const peer = await origin(clock, (req, res, n) => {
    if (req.headers["if-none-match"] === '"a"') {
      res.writeHead(304, {
        ETag: '"a"',
        "Cache-Control": "max-age=120",
        "X-Version": "2",
        "Content-Length": "999",
      });
      res.end();
      return;
    }
    const body = `body ${n}`;
    res.writeHead(200, {
      ETag: '"a"',
      "Cache-Control": "max-age=60",
      "X-Version": "1",
      "Content-Type": "text/plain",
      "Content-Length": String(body.length),
    });
    res.end(body);
  });
  const { t, rt } = setup(clock);
  const url = `${peer.url}/doc`;

  const first = await get(rt, url);
  assert.equal(first.res.cache, "miss");
  assert.equal(first.text, "body 0");

  clock.advance(30_000);
  const hit = await get(rt, url);
  assert.equal(hit.res.cache, "hit");
  assert.equal(hit.text, "body 0");
  assert.equal(hit.res.headers.get("age"), "30");
  assert.equal(hit.res.contentLength, 6);
  assert.equal(peer.seen.length, 1);

  clock.advance(31_000);
  const revalidated = await get(rt, url);
  assert.equal(revalidated.res.cache, "revalidated");
  assert.equal(revalidated.text, "body 0");
  assert.equal(peer.seen.length, 2);
  assert.deepEqual(condHeaders(peer.seen[1]!), ['"a"', undefined]);
  assert.equal(revalidated.res.headers.get("x-version"), "2", "the 304's fields replace the stored ones");
  assert.equal(revalidated.res.headers.get("content-length"), "6", "but not the body's framing");
  assert.equal(revalidated.res.headers.get("content-type"), "text/plain");

  // The 304's max-age=120 now applies, counted from the validation.
  clock.advance(100_000);
  const again = await get(rt, url);
  assert.equal(again.res.cache, "hit");
  assert.equal(again.res.headers.get("x-version"), "2");
  assert.equal(peer.seen.length, 2);
  await peer.close();
  await assertNoLeaks(t);
});

test("Expires − Date is the lifetime; an invalid Expires is already stale", async () => {
  const clock = manualClock();
  const peer = await origin(clock, (req, res, n) => {
    const expires = req.url === "/bad" ? "0" : new Date(clock.now + 100_000).toUTCString();
    res.writeHead(200, { Expires: expires });
    res.end(`v${n}`);
  });
  const { t, rt } = setup(clock);
  await get(rt, `${peer.url}/e`);
  clock.advance(50_000);
  assert.equal((await get(rt, `${peer.url}/e`)).res.cache, "hit");
  clock.advance(60_000);
  const stale = await get(rt, `${peer.url}/e`);
  assert.equal(stale.res.cache, "miss", "no validator: fetched again");
  assert.equal(stale.text, "v1");

  await get(rt, `${peer.url}/bad`);
  assert.equal((await get(rt, `${peer.url}/bad`)).res.cache, "miss");
  assert.equal(peer.seen.length, 4);
  await peer.close();
  await assertNoLeaks(t);
});

test("heuristic freshness (RFC 9111 §4.2.2): 10% of Date − Last-Modified, for a cacheable status only", async () => {
  const clock = manualClock();
  const tenDaysAgo = new Date(clock.now - 10 * 86_400_000).toUTCString();
  const peer = await origin(clock, (req, res, n) => {
    if (req.url === "/found") res.writeHead(302, { Location: "/x", "Last-Modified": tenDaysAgo });
    else if (req.url === "/public")
      res.writeHead(302, { Location: "/x", "Last-Modified": tenDaysAgo, "Cache-Control": "public" });
    else if (req.headers["if-modified-since"] === tenDaysAgo) res.writeHead(304, {});
    else res.writeHead(200, { "Last-Modified": tenDaysAgo });
    res.end(req.headers["if-modified-since"] ? undefined : `v${n}`);
  });
  const { t, rt } = setup(clock);
  await get(rt, `${peer.url}/lm`);
  clock.advance(23 * 3_600_000);
  assert.equal((await get(rt, `${peer.url}/lm`)).res.cache, "hit", "fresh for one day");
  clock.advance(2 * 3_600_000);
  const later = await get(rt, `${peer.url}/lm`);
  assert.equal(later.res.cache, "revalidated");
  assert.deepEqual(condHeaders(peer.seen[1]!), [undefined, tenDaysAgo]);

  // 302 is not heuristically cacheable: not stored without an explicit lifetime.
  await (await rt.roundTrip({ url: `${peer.url}/found` })).close();
  assert.equal((await get(rt, `${peer.url}/found`)).res.cache, "miss");
  assert.equal(peer.seen.filter((s) => s.url === "/found").length, 2);
  // ... unless public: then it is heuristically fresh too.
  await (await rt.roundTrip({ url: `${peer.url}/public` })).close();
  assert.equal((await get(rt, `${peer.url}/public`)).res.cache, "hit");
  await peer.close();
  await assertNoLeaks(t);
});

test("Age from the origin shortens the lifetime (RFC 9111 §4.2.3)", async () => {
  const clock = manualClock();
  const peer = await origin(clock, (_req, res, n) => {
    res.writeHead(200, { "Cache-Control": "max-age=60", Age: "50" });
    res.end(`v${n}`);
  });
  const { t, rt } = setup(clock);
  await get(rt, peer.url);
  clock.advance(5_000);
  const hit = await get(rt, peer.url);
  assert.equal(hit.res.cache, "hit");
  assert.equal(hit.res.headers.get("age"), "55");
  clock.advance(10_000);
  assert.equal((await get(rt, peer.url)).res.cache, "miss");
  await peer.close();
  await assertNoLeaks(t);
});

test("Vary: one variant per value of the named request fields; Vary: * is never stored", async () => {
  const clock = manualClock();
  const peer = await origin(clock, (req, res) => {
    if (req.url === "/star") res.writeHead(200, { "Cache-Control": "max-age=60", Vary: "*" });
    else res.writeHead(200, { "Cache-Control": "max-age=60", Vary: "Accept-Language" });
    res.end(`lang=${req.headers["accept-language"] ?? "-"}`);
  });
  const { t, rt, store } = setup(clock);
  const url = `${peer.url}/v`;
  assert.equal((await get(rt, url, { "accept-language": "en" })).text, "lang=en");
  assert.equal((await get(rt, url, { "accept-language": "fr" })).text, "lang=fr");
  const en = await get(rt, url, { "Accept-Language": "en" });
  assert.equal(en.res.cache, "hit");
  assert.equal(en.text, "lang=en");
  const fr = await get(rt, url, { "accept-language": "fr" });
  assert.equal(fr.res.cache, "hit");
  assert.equal(fr.text, "lang=fr");
  assert.equal((await get(rt, url)).res.cache, "miss", "absent is a value of its own");
  assert.equal(store.size, 3);
  await get(rt, `${peer.url}/star`);
  assert.equal((await get(rt, `${peer.url}/star`)).res.cache, "miss");
  assert.equal(store.size, 3);
  await peer.close();
  await assertNoLeaks(t);
});

test("no-store (response or request) is never stored; no-cache always validates", async () => {
  const clock = manualClock();
  const peer = await origin(clock, (req, res, n) => {
    if (req.url === "/nostore") res.writeHead(200, { "Cache-Control": "no-store, max-age=60" });
    else if (req.headers["if-none-match"] === '"n"') {
      res.writeHead(304, { ETag: '"n"' });
      res.end();
      return;
    } else
      res.writeHead(200, {
        "Cache-Control": req.url === "/nocache" ? "no-cache" : "max-age=60",
        ETag: '"n"',
      });
    res.end(`v${n}`);
  });
  const { t, rt, store } = setup(clock);
  await get(rt, `${peer.url}/nostore`);
  assert.equal((await get(rt, `${peer.url}/nostore`)).res.cache, "miss");
  assert.equal(store.size, 0);

  await get(rt, `${peer.url}/plain`, { "cache-control": "no-store" });
  assert.equal(store.size, 0, "a request no-store stores nothing");

  await get(rt, `${peer.url}/nocache`);
  const v = await get(rt, `${peer.url}/nocache`);
  assert.equal(v.res.cache, "revalidated", "no-cache: validated even when fresh");
  assert.equal(v.text, "v3", "the stored body");
  assert.equal(peer.seen.at(-1)!.headers["if-none-match"], '"n"');
  await peer.close();
  await assertNoLeaks(t);
});

test("must-revalidate: never stale — not on a 5xx (stale-if-error ignored), not with max-stale", async () => {
  const clock = manualClock();
  const peer = await origin(clock, (_req, res, n) => {
    if (n === 0) {
      res.writeHead(200, { "Cache-Control": "max-age=10, must-revalidate, stale-if-error=600", ETag: '"m"' });
      res.end("first");
    } else {
      res.writeHead(503);
      res.end("down");
    }
  });
  const { t, rt } = setup(clock);
  await get(rt, peer.url);
  clock.advance(20_000);
  const r = await get(rt, peer.url, { "cache-control": "max-stale=3600" });
  assert.equal(r.res.status, 503);
  assert.equal(r.res.cache, "miss");
  await peer.close();
  await assertNoLeaks(t);
});

test("s-maxage is a shared cache's and ignored; private responses are stored (private cache)", async () => {
  const clock = manualClock();
  const peer = await origin(clock, (_req, res, n) => {
    res.writeHead(200, { "Cache-Control": "private, max-age=10, s-maxage=1000" });
    res.end(`v${n}`);
  });
  const { t, rt } = setup(clock);
  await get(rt, peer.url);
  clock.advance(5_000);
  assert.equal((await get(rt, peer.url)).res.cache, "hit");
  clock.advance(10_000);
  assert.equal((await get(rt, peer.url)).res.cache, "miss");
  assert.throws(() => cache({ shared: true as never }), /private/);
  await peer.close();
  await assertNoLeaks(t);
});

test("stale-while-revalidate: the stale response at once, the revalidation in the background, then the new one", async () => {
  const clock = manualClock();
  const release = deferred();
  const backgroundSeen = deferred();
  const peer = await origin(clock, async (_req, res, n) => {
    if (n === 1) {
      backgroundSeen.resolve();
      await release.promise;
    }
    res.writeHead(200, { "Cache-Control": "max-age=10, stale-while-revalidate=60", ETag: `"e${n}"` });
    res.end(`version ${n}`);
  });
  const { t, rt, store } = setup(clock);
  await get(rt, peer.url);
  clock.advance(20_000);
  // Served while the origin is still holding the revalidation's answer.
  const stale = await get(rt, peer.url);
  assert.equal(stale.res.cache, "stale");
  assert.equal(stale.text, "version 0");
  await within(backgroundSeen.promise, 2000, "the background revalidation to reach the origin");
  assert.equal(peer.seen[1]!.headers["if-none-match"], '"e0"');
  // A second stale request meanwhile starts no second revalidation.
  assert.equal((await get(rt, peer.url)).res.cache, "stale");
  release.resolve();
  // The background's 200 is stored once it has been read to its end.
  await waitFor(
    () =>
      store
        .get(`${peer.url}/`)
        .some((e) => e.meta.headers.some(([k, v]) => k.toLowerCase() === "etag" && v === '"e1"')),
    2000,
    "the revalidated response to be stored",
  );
  const fresh = await get(rt, peer.url);
  assert.equal(fresh.res.cache, "hit");
  assert.equal(fresh.text, "version 1");
  assert.equal(peer.seen.length, 2);
  // Beyond the window: validated on the caller's path.
  clock.advance(100_000);
  assert.equal((await get(rt, peer.url)).res.cache, "miss");
  await peer.close();
  await assertNoLeaks(t);
});

test("stale-if-error: a 5xx or a network error within the window serves the stale one; beyond it, the error", async () => {
  const clock = manualClock();
  let mode: "ok" | "503" | "drop" = "ok";
  const peer = await origin(clock, (req, res) => {
    if (mode === "drop") {
      req.socket.destroy();
      return;
    }
    if (mode === "503") {
      res.writeHead(503);
      res.end("down");
      return;
    }
    res.writeHead(200, { "Cache-Control": "max-age=10, stale-if-error=60", ETag: '"s"' });
    res.end("good");
  });
  const { t, rt } = setup(clock);
  await get(rt, peer.url);
  clock.advance(20_000);
  mode = "503";
  const a = await get(rt, peer.url);
  assert.equal(a.res.cache, "stale");
  assert.equal(a.text, "good");
  mode = "drop";
  const b = await get(rt, peer.url);
  assert.equal(b.res.cache, "stale");
  assert.equal(b.text, "good");
  clock.advance(60_000);
  mode = "503";
  const c = await get(rt, peer.url);
  assert.equal(c.res.status, 503);
  mode = "drop";
  await rejectsWith(rt.roundTrip({ url: peer.url }), "ERR_CONNECTION_CLOSED");
  await peer.close();
  await assertNoLeaks(t);
});

test("request directives: no-cache, max-age, min-fresh validate; max-stale serves stale", async () => {
  const clock = manualClock();
  const peer = await origin(clock, (req, res, n) => {
    if (req.headers["if-none-match"] === '"r"') res.writeHead(304, { ETag: '"r"' });
    else res.writeHead(200, { "Cache-Control": "max-age=60", ETag: '"r"' });
    res.end(req.headers["if-none-match"] ? undefined : `v${n}`);
  });
  const { t, rt } = setup(clock);
  await get(rt, peer.url);
  clock.advance(20_000); // age 20 of 60
  assert.equal((await get(rt, peer.url, { "cache-control": "no-cache" })).res.cache, "revalidated");
  clock.advance(20_000); // age 20 after the revalidation
  assert.equal((await get(rt, peer.url, { "cache-control": "max-age=30" })).res.cache, "hit");
  assert.equal((await get(rt, peer.url, { "cache-control": "max-age=10" })).res.cache, "revalidated");
  clock.advance(20_000); // age 20, 40 left
  assert.equal((await get(rt, peer.url, { "cache-control": "min-fresh=30" })).res.cache, "hit");
  assert.equal((await get(rt, peer.url, { "cache-control": "min-fresh=50" })).res.cache, "revalidated");
  clock.advance(80_000); // stale by 20
  const before = peer.seen.length;
  assert.equal((await get(rt, peer.url, { "cache-control": "max-stale=30" })).res.cache, "stale");
  assert.equal((await get(rt, peer.url, { "cache-control": "max-stale" })).res.cache, "stale");
  assert.equal(peer.seen.length, before, "served without asking the origin");
  assert.equal((await get(rt, peer.url, { "cache-control": "max-stale=10" })).res.cache, "revalidated");
  // Pragma: no-cache counts as Cache-Control: no-cache when there is none.
  assert.equal((await get(rt, peer.url, { pragma: "no-cache" })).res.cache, "revalidated");
  await peer.close();
  await assertNoLeaks(t);
});

test("only-if-cached: a usable stored response, else a 504 without asking the origin", async () => {
  const clock = manualClock();
  const peer = await origin(clock, (_req, res, n) => {
    res.writeHead(200, { "Cache-Control": "max-age=60" });
    res.end(`v${n}`);
  });
  const { t, rt } = setup(clock);
  const none = await get(rt, `${peer.url}/a`, { "cache-control": "only-if-cached" });
  assert.equal(none.res.status, 504);
  assert.equal(peer.seen.length, 0);
  await get(rt, `${peer.url}/a`);
  assert.equal((await get(rt, `${peer.url}/a`, { "cache-control": "only-if-cached" })).res.cache, "hit");
  clock.advance(120_000);
  assert.equal((await get(rt, `${peer.url}/a`, { "cache-control": "only-if-cached" })).res.status, 504);
  assert.equal(
    (await get(rt, `${peer.url}/a`, { "cache-control": "only-if-cached, max-stale" })).res.cache,
    "stale",
  );
  assert.equal(peer.seen.length, 1);
  await peer.close();
  await assertNoLeaks(t);
});

test("an unsafe method's success invalidates its URL, and Location / Content-Location on the same origin (§4.4)", async () => {
  const clock = manualClock();
  const other = await origin(clock, (_req, res) => {
    res.writeHead(200, { "Cache-Control": "max-age=600" });
    res.end("elsewhere");
  });
  const peer = await origin(clock, (req, res) => {
    if (req.method === "POST") {
      const fail = req.url === "/fail";
      res.writeHead(fail ? 500 : 201, {
        Location: "/loc",
        "Content-Location": `${peer.url}/cl`,
        Link: "</r>",
      });
      res.end();
      return;
    }
    res.writeHead(200, { "Cache-Control": "max-age=600" });
    res.end(`${req.url}`);
  });
  const store = new MemoryCacheStore();
  const { t, rt } = setup(clock, store);
  for (const p of ["/r", "/loc", "/cl", "/keep", "/fail"]) await get(rt, `${peer.url}${p}`);
  await get(rt, `${other.url}/loc`);
  assert.equal(store.size, 6);

  const failed = await rt.roundTrip({ url: `${peer.url}/fail`, method: "POST", body: "x" });
  await failed.close();
  assert.equal(store.size, 6, "a 500 invalidates nothing");
  const posted = await rt.roundTrip({ url: `${peer.url}/r`, method: "POST", body: "x" });
  assert.equal(posted.cache, undefined);
  await posted.close();
  assert.equal(store.size, 3);
  assert.equal((await get(rt, `${peer.url}/keep`)).res.cache, "hit");
  assert.equal((await get(rt, `${other.url}/loc`)).res.cache, "hit", "another origin's entry stays");
  for (const p of ["/r", "/loc", "/cl"])
    assert.equal((await get(rt, `${peer.url}${p}`)).res.cache, "miss", p);
  await peer.close();
  await other.close();
  await assertNoLeaks(t);
});

test("the body streams to the caller while it goes into the store; a body closed before its end is not stored", async () => {
  const clock = manualClock();
  const half = Buffer.alloc(512 * 1024, 0x61);
  const gotFirst = deferred();
  const peer = await origin(clock, async (req, res) => {
    res.writeHead(200, { "Cache-Control": "max-age=60", "Content-Length": String(half.length * 2) });
    res.write(half);
    // The rest only once the caller has bytes (the cache did not wait for the whole body);
    // never for /closed.
    await (req.url === "/stream" ? gotFirst.promise : new Promise(() => {}));
    res.end(half);
  });
  const { t, rt, store } = setup(clock);
  const res = await rt.roundTrip({ url: `${peer.url}/stream` });
  let received = 0;
  for await (const chunk of res.body) {
    received += chunk.byteLength;
    gotFirst.resolve();
  }
  assert.equal(received, half.length * 2);
  assert.equal(store.size, 1);
  const hit = await rt.roundTrip({ url: `${peer.url}/stream` });
  assert.equal(hit.cache, "hit");
  assert.equal((await hit.bytes()).byteLength, half.length * 2);

  const early = await rt.roundTrip({ url: `${peer.url}/closed` });
  const it = early.body[Symbol.asyncIterator]();
  assert.equal((await it.next()).done, false);
  await early.close();
  assert.equal(store.size, 1, "the closed body was not stored");
  const again = await rt.roundTrip({ url: `${peer.url}/closed` });
  assert.equal(again.cache, "miss");
  await again.close();
  assert.equal(store.size, 1);
  await peer.close();
  await assertNoLeaks(t);
});

test("trailers are stored and shown on a hit at the end of the body; Set-Cookie is not stored", async () => {
  const clock = manualClock();
  // The rest of the body only once the caller has the head: it goes through the tee.
  const go = deferred();
  const peer = await origin(clock, async (_req, res) => {
    res.writeHead(200, { "Cache-Control": "max-age=60", Trailer: "X-Digest", "Set-Cookie": "a=1" });
    res.write("chunked ");
    await go.promise;
    res.addTrailers({ "X-Digest": "abc" });
    res.end("body");
  });
  const { t, rt } = setup(clock);
  const first = await rt.roundTrip({ url: peer.url });
  go.resolve();
  assert.equal(await first.text(), "chunked body");
  assert.equal(first.trailers.get("x-digest"), "abc", "trailers through the tee");
  assert.equal(first.headers.getSetCookie().length, 1);
  const hit = await rt.roundTrip({ url: peer.url });
  assert.equal(hit.cache, "hit");
  assert.equal(hit.trailers.get("x-digest"), null, "not before the end");
  assert.equal(await hit.text(), "chunked body");
  assert.equal(hit.trailers.get("x-digest"), "abc");
  assert.deepEqual(hit.headers.getSetCookie(), []);
  await peer.close();
  await assertNoLeaks(t);
});

test("a Client over cache above retry: a cached redirect is followed, a retried 503 is not stored", async () => {
  const clock = manualClock();
  const peer = await origin(clock, (req, res, n) => {
    if (req.url === "/old") {
      res.writeHead(301, { Location: "/new", "Cache-Control": "max-age=600" });
      res.end();
    } else if (n === 1) {
      res.writeHead(503, { "Cache-Control": "max-age=600" });
      res.end("busy");
    } else {
      res.writeHead(200, { "Cache-Control": "max-age=600" });
      res.end("new place");
    }
  });
  const t = newTransport();
  const c = new Client({
    transport: compose(t, cache({ clock: clock.clock }), retry({ timers: instantTimers() })),
  });
  const a = await c.get(`${peer.url}/old`);
  assert.equal(await a.text(), "new place");
  assert.equal(a.retries, 1);
  const b = await c.get(`${peer.url}/old`);
  assert.equal(await b.text(), "new place");
  assert.equal(b.cache, "hit");
  assert.equal(b.redirected, true);
  assert.deepEqual(
    peer.seen.map((s) => s.url),
    ["/old", "/new", "/new"],
  );
  await peer.close();
  await assertNoLeaks(t);
});

test("requests the cache leaves alone: HEAD, a Range, the caller's own validators", async () => {
  const clock = manualClock();
  const peer = await origin(clock, (_req, res) => {
    res.writeHead(200, { "Cache-Control": "max-age=600", ETag: '"h"' });
    res.end("content");
  });
  const { t, rt, store } = setup(clock);
  const head = await rt.roundTrip({ url: peer.url, method: "HEAD" });
  assert.equal(head.cache, undefined);
  await head.close();
  await get(rt, peer.url, { range: "bytes=0-1" });
  await get(rt, peer.url, { "if-none-match": '"x"' });
  assert.equal(store.size, 0);
  assert.equal(peer.seen.length, 3);
  await peer.close();
  await assertNoLeaks(t);
});

test("a failing store never fails a request (ROUNDTRIP_CACHE_STORE warning)", async () => {
  const clock = manualClock();
  const peer = await origin(clock, (_req, res) => {
    res.writeHead(200, { "Cache-Control": "max-age=600" });
    res.end("fine");
  });
  const broken = {
    get: () => Promise.reject(new Error("disk on fire")),
    set: () => Promise.reject(new Error("disk on fire")),
    update: () => Promise.reject(new Error("disk on fire")),
    delete: () => Promise.reject(new Error("disk on fire")),
  };
  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }) => void warnings.push(w.code ?? "");
  process.on("warning", onWarning);
  try {
    const t = newTransport();
    const rt = compose(t, cache({ store: broken, clock: clock.clock }));
    assert.equal((await get(rt, peer.url)).text, "fine");
    assert.equal((await get(rt, peer.url)).text, "fine");
    await (await rt.roundTrip({ url: peer.url, method: "DELETE" })).close();
    await waitFor(() => warnings.length > 0, 2000, "the warning");
    assert.deepEqual(warnings, ["ROUNDTRIP_CACHE_STORE"]);
    await peer.close();
    await assertNoLeaks(t);
  } finally {
    process.off("warning", onWarning);
  }
});

test("credentials are part of the key: another Authorization never gets a stored answer (implicit Vary)", async () => {
  const clock = manualClock();
  const peer = await origin(clock, (req, res) => {
    res.writeHead(200, { "Cache-Control": "private, max-age=600" });
    res.end(`for ${req.headers.authorization ?? "nobody"}`);
  });
  const { t, rt } = setup(clock);
  assert.equal((await get(rt, peer.url, { authorization: "Bearer alice" })).text, "for Bearer alice");
  const bob = await get(rt, peer.url, { authorization: "Bearer bob" });
  assert.equal(bob.res.cache, "miss");
  assert.equal(bob.text, "for Bearer bob");
  assert.equal((await get(rt, peer.url)).text, "for nobody");
  const alice = await get(rt, peer.url, { authorization: "Bearer alice" });
  assert.equal(alice.res.cache, "hit");
  assert.equal(alice.text, "for Bearer alice");
  assert.equal(peer.seen.length, 3);
  // A Host override names another virtual host: passed through.
  const other = await rt.roundTrip({ url: peer.url, host: "other.example" });
  assert.equal(other.cache, "miss");
  await other.close();
  assert.equal(peer.seen.length, 4);
  await peer.close();
  await assertNoLeaks(t);
});
