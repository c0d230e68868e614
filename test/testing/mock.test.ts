/**
 * MockTransport: interceptor rules (strings, RegExps, predicates), replies, errors,
 * delays, counts, the not-matched report, passthrough, calls and pending interceptors.
 * Every test but the passthrough ones asserts that no connection was attempted.
 */
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { Readable } from "node:stream";
import { test } from "node:test";
import {
  Client,
  fetch,
  Headers,
  isRoundtripError,
  Response,
  type RoundTripper,
  RoundtripError,
  Transport,
} from "../../src/index.js";
import { MockTransport } from "../../src/testing/index.js";
import { assertNoLeaks, httpServer, rejectsWith, tcpHandles } from "../helpers.js";
import { countConnections, noSockets } from "./sockets.js";

const API = "http://api.test";

/** Code under test that takes any RoundTripper, as code written against a Transport does. */
async function fetchUserName(rt: RoundTripper, id: number): Promise<string> {
  const res = await rt.roundTrip({ url: `${API}/users/${id}` });
  const user = (await res.json()) as { name: string };
  return user.name;
}

test("the connection counter sees a real dial (so the no-socket assertions below can fail)", async () => {
  const peer = await httpServer((_req, res) => res.end("real"));
  const counter = countConnections();
  const t = new Transport();
  try {
    assert.equal(await (await t.roundTrip({ url: peer.url })).text(), "real");
    assert.equal(counter.count, 1);
  } finally {
    counter.restore();
    await peer.close();
    await assertNoLeaks(t);
  }
});

test("MockTransport: a Client, fetch with a client, and code taking a Transport all run without a socket opening", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  mock
    .intercept({ origin: API, path: "/users/1" })
    .reply(200, undefined, { json: { name: "Ada" } })
    .persist();
  const client = new Client({ transport: mock });

  const viaClient = await client.get(`${API}/users/1`);
  assert.equal(viaClient.status, 200);
  assert.equal(viaClient.headers.get("content-type"), "application/json");
  assert.deepEqual(await viaClient.json(), { name: "Ada" });

  const viaFetch = await fetch(`${API}/users/1`, { client });
  assert.ok(viaFetch instanceof globalThis.Response);
  assert.deepEqual(await viaFetch.json(), { name: "Ada" });

  assert.equal(await fetchUserName(mock, 1), "Ada");
  assert.deepEqual(
    mock.calls.map((c) => `${c.method} ${c.url}`),
    [`GET ${API}/users/1`, `GET ${API}/users/1`, `GET ${API}/users/1`],
  );
  mock.assertNoPendingInterceptors();
});

test("intercept origin: a string (normalized), a RegExp, a predicate; absent matches any origin", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  mock.intercept({ origin: "HTTP://API.test:80", path: "/a" }).reply(200, "string");
  mock.intercept({ origin: /\.example$/, path: "/a" }).reply(200, "regexp");
  mock.intercept({ origin: (o) => o.endsWith(":8443"), path: "/a" }).reply(200, "predicate");
  mock.intercept({ path: "/a" }).reply(200, "any");
  const text = async (url: string) => (await mock.roundTrip({ url })).text();
  assert.equal(await text("http://api.test/a"), "string");
  assert.equal(await text("https://b.example/a"), "regexp");
  assert.equal(await text("https://c.test:8443/a"), "predicate");
  assert.equal(await text("http://elsewhere.test/a"), "any");
  assert.throws(() => mock.intercept({ origin: "http://api.test/path", path: "/" }), {
    code: "ERR_INVALID_REQUEST",
  });
  assert.throws(() => mock.intercept({ origin: "not a url", path: "/" }), { code: "ERR_INVALID_REQUEST" });
});

test("intercept path: a string is the pathname (percent-encoded as sent), a RegExp and a predicate see path and query", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  mock.intercept({ path: "/a b" }).reply(200, "encoded");
  mock.intercept({ path: /^\/items\/\d+\?full=1$/ }).reply(200, "regexp");
  mock.intercept({ path: (p) => p.startsWith("/fn/") }).reply(200, "predicate");
  const text = async (url: string) => (await mock.roundTrip({ url })).text();
  assert.equal(await text(`${API}/a%20b`), "encoded");
  assert.equal(await text(`${API}/items/42?full=1`), "regexp");
  assert.equal(await text(`${API}/fn/x?y=1`), "predicate");
  assert.throws(() => mock.intercept({ path: "relative" }), { code: "ERR_INVALID_REQUEST" });
  assert.throws(() => mock.intercept({} as { path: string }), { code: "ERR_INVALID_REQUEST" });
});

test("intercept query: a string path without '?' matches only requests without a query; query in path or query: in any order", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  mock.intercept({ path: "/q" }).reply(200, "none").persist();
  mock.intercept({ path: "/q?b=2&a=1" }).reply(200, "in path").persist();
  mock.intercept({ path: "/s", query: "x=1&y=2" }).reply(200, "string");
  mock.intercept({ path: "/r", query: { tag: ["a", "b"], n: 3 } }).reply(200, "record");
  mock.intercept({ path: "/u", query: new URLSearchParams({ k: "v" }) }).reply(200, "params");
  mock.intercept({ path: "/re", query: /^page=\d+$/ }).reply(200, "regexp");
  mock.intercept({ path: "/p", query: (p) => p.get("token") === "t" }).reply(200, "predicate");
  const text = async (url: string) => (await mock.roundTrip({ url })).text();
  assert.equal(await text(`${API}/q`), "none");
  assert.equal(await text(`${API}/q?a=1&b=2`), "in path");
  assert.equal(await text(`${API}/s?y=2&x=1`), "string");
  assert.equal(await text(`${API}/r?n=3&tag=b&tag=a`), "record");
  assert.equal(await text(`${API}/u?k=v`), "params");
  assert.equal(await text(`${API}/re?page=7`), "regexp");
  assert.equal(await text(`${API}/p?token=t&other=1`), "predicate");
  const err = await rejectsWith(mock.roundTrip({ url: `${API}/q?unexpected=1` }), "ERR_MOCK_NOT_MATCHED");
  assert.match(err.message, /query: the interceptor expects none, got unexpected=1/);
  assert.throws(() => mock.intercept({ path: "/x?a=1", query: { a: 1 } }), { code: "ERR_INVALID_REQUEST" });
});

test("intercept method: GET by default, strings case-insensitive, RegExp and predicate", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  mock.intercept({ path: "/m" }).reply(200, "get");
  mock.intercept({ path: "/m", method: "post" }).reply(201, "post");
  mock.intercept({ path: "/m", method: /^(PUT|PATCH)$/ }).reply(200, "put-or-patch");
  mock.intercept({ path: "/m", method: (m) => m === "DELETE" }).reply(204);
  assert.equal(await (await mock.roundTrip({ url: `${API}/m` })).text(), "get");
  assert.equal((await mock.roundTrip({ url: `${API}/m`, method: "POST" })).status, 201);
  assert.equal(await (await mock.roundTrip({ url: `${API}/m`, method: "PATCH" })).text(), "put-or-patch");
  assert.equal((await mock.roundTrip({ url: `${API}/m`, method: "DELETE" })).status, 204);
  await rejectsWith(mock.roundTrip({ url: `${API}/m`, method: "HEAD" }), "ERR_MOCK_NOT_MATCHED");
});

test("intercept headers: each named field by string, RegExp or predicate (null when absent), or one predicate", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  mock
    .intercept({
      path: "/h",
      headers: { authorization: "Bearer t0k", "x-trace": /^[0-9a-f]{4}$/, "x-absent": (v) => v === null },
    })
    .reply(200, "fields");
  mock.intercept({ path: "/all", headers: (h) => h.getAll("x-multi").length === 2 }).reply(200, "predicate");
  const ok = await mock.roundTrip({
    url: `${API}/h`,
    headers: { Authorization: "Bearer t0k", "X-Trace": "beef" },
  });
  assert.equal(await ok.text(), "fields");
  const multi = await mock.roundTrip({
    url: `${API}/all`,
    headers: [
      ["x-multi", "1"],
      ["x-multi", "2"],
    ],
  });
  assert.equal(await multi.text(), "predicate");
  const err = await rejectsWith(
    mock.roundTrip({
      url: `${API}/h`,
      headers: { Authorization: "Bearer other", "X-Trace": "beef", "X-Absent": "1" },
    }),
    "ERR_MOCK_NOT_MATCHED",
  );
  assert.match(err.message, /header authorization: expected "Bearer t0k", got "Bearer other"/);
  assert.match(err.message, /header x-absent: "1" does not match \[predicate/);
});

test("intercept body: a string, bytes, a RegExp, a JSON object, a predicate; json/form/stream bodies are read as sent", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  const post = { method: "POST" } as const;
  mock.intercept({ ...post, path: "/text", body: "exact" }).reply(200, "text");
  mock.intercept({ ...post, path: "/bytes", body: new Uint8Array([0, 255]) }).reply(200, "bytes");
  mock.intercept({ ...post, path: "/re", body: /"id":\s*7/ }).reply(200, "regexp");
  mock.intercept({ ...post, path: "/json", body: { b: [1, 2], a: "x" } }).reply(200, "json");
  mock
    .intercept({ ...post, path: "/fn", body: (text, bytes) => text.length === 3 && bytes[0] === 0x61 })
    .reply(200, "fn");
  const send = async (path: string, init: Record<string, unknown>) =>
    (await mock.roundTrip({ url: `${API}${path}`, method: "POST", ...init })).text();
  assert.equal(await send("/text", { body: "exact" }), "text");
  assert.equal(await send("/bytes", { body: Buffer.from([0, 255]) }), "bytes");
  assert.equal(await send("/re", { json: { id: 7 } }), "regexp");
  assert.equal(await send("/json", { json: { a: "x", b: [1, 2] } }), "json");
  assert.equal(await send("/fn", { body: Readable.from([Buffer.from("a"), Buffer.from("bc")]) }), "fn");
  const err = await rejectsWith(
    mock.roundTrip({ url: `${API}/json`, method: "POST", json: { a: "y", b: [1, 2] } }),
    "ERR_MOCK_NOT_MATCHED",
  );
  assert.match(
    err.message,
    /body: expected JSON "\{\\"b\\":\[1,2\],\\"a\\":\\"x\\"\}", got "\{\\"a\\":\\"y\\",\\"b\\":\[1,2\]\}"/,
  );
});

test("reply(status, body, { headers, trailers }): the response as given, trailers at EOF, url of the request", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  mock
    .intercept({ path: "/r" })
    .reply(201, "created", { headers: { "X-Id": "9" }, trailers: { "X-Sum": "ok" }, statusText: "Made" });
  const res = await mock.roundTrip({ url: `${API}/r` });
  assert.equal(res.status, 201);
  assert.equal(res.statusText, "Made");
  assert.equal(res.url, `${API}/r`);
  assert.deepEqual(res.headers.raw(), [
    ["X-Id", "9"],
    ["Content-Type", "text/plain;charset=UTF-8"],
  ]);
  assert.equal(res.contentLength, 7);
  assert.equal(await res.text(), "created");
  assert.equal(res.trailers.get("x-sum"), "ok");
  assert.throws(() => mock.intercept({ path: "/bad" }).reply(99), { code: "ERR_INVALID_REQUEST" });
  assert.throws(() => mock.intercept({ path: "/bad" }).reply(200, "x", { json: 1 }), {
    code: "ERR_INVALID_REQUEST",
  });
  assert.throws(
    () => mock.intercept({ path: "/bad" }).reply(200, { a: 1 } as unknown as string),
    /pass it as json/,
  );
});

test("reply(fn): sync or async, given the request (method, url, headers, body, json()); returns a Response or a ReplySpec", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  mock.intercept({ path: "/echo", method: "PUT" }).reply((req) => ({
    status: 200,
    json: { method: req.method, url: req.url, type: req.headers.get("content-type"), got: req.json() },
  }));
  mock.intercept({ path: "/async", query: { n: 5 } }).reply(async (req) => {
    await new Promise((r) => setTimeout(r, 5));
    return new Response(`async ${new URL(req.url).searchParams.get("n")}`, { status: 202 });
  });
  mock.intercept({ path: "/throws" }).reply(() => {
    throw new Error("handler failed");
  });
  const echo = await mock.roundTrip({ url: `${API}/echo`, method: "PUT", json: { x: 1 } });
  assert.deepEqual(await echo.json(), {
    method: "PUT",
    url: `${API}/echo`,
    type: "application/json",
    got: { x: 1 },
  });
  const a = await mock.roundTrip({ url: `${API}/async?n=5` });
  assert.equal(a.status, 202);
  assert.equal(a.url, `${API}/async?n=5`, "a Response without url gets the request's");
  assert.equal(await a.text(), "async 5");
  await assert.rejects(mock.roundTrip({ url: `${API}/throws` }), /handler failed/);
});

test("reply with a streamed body: a download in chunks, with onDownloadProgress and a body that fails midway", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  const chunk = Buffer.alloc(100_000, 7);
  mock.intercept({ path: "/big.bin" }).reply(() => ({
    headers: { "Content-Length": String(5 * chunk.length) },
    body: (async function* () {
      for (let i = 0; i < 5; i++) yield chunk;
    })(),
  }));
  mock.intercept({ path: "/cut.bin" }).reply(() => ({
    body: (async function* () {
      yield chunk;
      throw new RoundtripError("ERR_UNEXPECTED_EOF", "the server went away");
    })(),
  }));
  const progress: Array<{ loaded: number; total: number | null }> = [];
  const res = await new Client({ transport: mock }).get(`${API}/big.bin`, {
    onDownloadProgress: (p) => progress.push(p),
  });
  assert.equal(res.contentLength, 500_000);
  let n = 0;
  let chunks = 0;
  for await (const c of res.body) {
    n += c.length;
    chunks++;
  }
  assert.equal(n, 500_000);
  assert.ok(chunks >= 5, "streamed, not one buffer");
  assert.deepEqual(progress.at(-1), { loaded: 500_000, total: 500_000 });
  const cut = await mock.roundTrip({ url: `${API}/cut.bin` });
  await rejectsWith(cut.bytes(), "ERR_UNEXPECTED_EOF");
});

test("reply with a stream body serves one request; a second use says to use reply(fn)", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  mock
    .intercept({ path: "/once" })
    .reply(200, Readable.from([Buffer.from("x")]))
    .times(2);
  assert.equal(await (await mock.roundTrip({ url: `${API}/once` })).text(), "x");
  const err = await rejectsWith(mock.roundTrip({ url: `${API}/once` }), "ERR_INVALID_REQUEST");
  assert.match(err.message, /serves one request; use \.reply\(\(req\) => \.\.\.\)/);
});

test("replyWithError(err | code): the request fails with that error", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  const own = new RoundtripError("ERR_CONNECTION_CLOSED", "peer reset");
  mock.intercept({ path: "/reset" }).replyWithError(own);
  mock.intercept({ path: "/refused" }).replyWithError("ERR_CONNECT");
  await assert.rejects(mock.roundTrip({ url: `${API}/reset` }), (e) => e === own);
  const client = new Client({ transport: mock });
  const err = await rejectsWith(client.get(`${API}/refused`), "ERR_CONNECT");
  assert.ok(isRoundtripError(err, "ERR_CONNECT"));
  assert.match(
    err.message,
    /^GET http:\/\/api\.test\/refused: /,
    "the Client prefixes it as any transport error",
  );
});

test("delay(ms): the head waits; a Client timeout and the caller's abort cut it short; the timer is cleared", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  mock.intercept({ path: "/slow" }).reply(200, "late").delay(10_000).persist();
  mock.intercept({ path: "/brief" }).reply(200, "soon").delay(20);
  const client = new Client({ transport: mock, timeout: 30 });
  const timedOut = await rejectsWith(client.get(`${API}/slow`), "ERR_TIMEOUT");
  assert.equal(timedOut.phase, "client");
  const ac = new AbortController();
  const aborted = mock.roundTrip({ url: `${API}/slow`, signal: ac.signal });
  ac.abort(new Error("user gave up"));
  const e = await rejectsWith(aborted, "ERR_ABORTED");
  assert.equal((e.cause as Error).message, "user gave up");
  // Without the 30 ms deadline: a loaded machine may take longer than that for a 20 ms delay.
  assert.equal(await (await new Client({ transport: mock }).get(`${API}/brief`)).text(), "soon");
  // A pending 10 s timer would keep the process (and this test) alive: none is left.
  assert.ok(!process.getActiveResourcesInfo().includes("Timeout"), "no timer left behind");
});

test("a Client timeout fails a mocked body still streaming (ERR_TIMEOUT), as with a real connection", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  let cancelled = false;
  mock.intercept({ path: "/trickle" }).reply(() => ({
    body: new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(Buffer.from("first"));
      },
      cancel() {
        cancelled = true;
      },
    }),
  }));
  const res = await new Client({ transport: mock, timeout: 50 }).get(`${API}/trickle`);
  const e = await rejectsWith(res.text(), "ERR_TIMEOUT");
  assert.equal(e.phase, "client");
  assert.ok(cancelled, "the body's source was cancelled");
});

test("the request's signal is let go once a mocked body has been read to its end", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  mock.intercept({ path: "/s" }).reply(() => ({ body: Readable.from([Buffer.from("a"), Buffer.from("b")]) }));
  const ac = new AbortController();
  const res = await mock.roundTrip({ url: `${API}/s`, signal: ac.signal });
  assert.equal(getEventListeners(ac.signal, "abort").length, 1, "watched while the body streams");
  assert.equal(await res.text(), "ab");
  assert.equal(getEventListeners(ac.signal, "abort").length, 0);
  ac.abort(); // too late to matter
});

test("times(n) and persist(): interceptors answer in order, then are used up; used-up ones are named first", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  mock.intercept({ path: "/flaky" }).reply(503).times(2);
  mock.intercept({ path: "/flaky" }).reply(200, "ok");
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) statuses.push((await mock.roundTrip({ url: `${API}/flaky` })).status);
  assert.deepEqual(statuses, [503, 503, 200]);
  const err = await rejectsWith(mock.roundTrip({ url: `${API}/flaky` }), "ERR_MOCK_NOT_MATCHED");
  assert.match(
    err.message,
    /1\. GET \(any origin\) \/flaky — used up: it replied 2 times of 2 \(add \.times\(n\) or \.persist\(\)\)/,
  );
  mock.intercept({ path: "/always" }).reply(200).persist();
  for (let i = 0; i < 5; i++) assert.equal((await mock.roundTrip({ url: `${API}/always` })).status, 200);
  assert.throws(() => mock.intercept({ path: "/x" }).times(0), { code: "ERR_INVALID_REQUEST" });
});

test("ERR_MOCK_NOT_MATCHED lists the closest interceptors, ranked, with why each did not match", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  mock.intercept({ origin: "http://other.test", path: "/nothing/alike", method: "DELETE" }).reply(200);
  mock.intercept({ origin: API, path: "/users", method: "POST" }).reply(201);
  mock.intercept({ origin: API, path: "/users", query: { page: 1 } }).reply(200);
  mock.intercept({ origin: API, path: "/user" }).reply(200);
  mock.intercept({ origin: "http://far.test", path: "/x" }).reply(200);
  const err = await rejectsWith(mock.roundTrip({ url: `${API}/users?page=2` }), "ERR_MOCK_NOT_MATCHED");
  assert.ok(err instanceof RoundtripError);
  assert.equal(err.url, `${API}/users?page=2`);
  const lines = err.message.split("\n");
  assert.equal(lines[0], `no interceptor matches GET ${API}/users?page=2; closest interceptors:`);
  assert.equal(lines[1], `  1. GET ${API} /users — query: expected page=1, got page=2`);
  assert.equal(
    lines[2],
    `  2. POST ${API} /users — method: expected POST, got GET; query: the interceptor expects none, got page=2 (add query: or put it in path)`,
  );
  assert.equal(
    lines[3],
    `  3. GET ${API} /user — path: expected /user, got /users; query: the interceptor expects none, got page=2 (add query: or put it in path)`,
  );
  assert.equal(lines[4], "  (2 more not shown)");
  const empty = await rejectsWith(new MockTransport().roundTrip({ url: API }), "ERR_MOCK_NOT_MATCHED");
  assert.match(empty.message, /no interceptors are registered/);
});

test("calls: method, url, headers and body bytes of every request, in order", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  mock
    .intercept({ path: /^\/c(\?|$)/, method: /.*/ })
    .reply(200)
    .persist();
  const client = new Client({ transport: mock, headers: { "User-Agent": "tests/1" } });
  await (await client.post(`${API}/c`, { json: { a: 1 } })).close();
  await (
    await client.put(`${API}/c?x=1`, { body: Readable.from([Buffer.from("st"), Buffer.from("ream")]) })
  ).close();
  await (await client.get(`${API}/c#fragment`, { headers: { Accept: "text/plain" } })).close();
  assert.equal(mock.calls.length, 3);
  const [post, put, get] = mock.calls;
  assert.equal(post!.method, "POST");
  assert.equal(post!.url, `${API}/c`);
  assert.equal(post!.headers.get("content-type"), "application/json");
  assert.equal(post!.headers.get("user-agent"), "tests/1");
  assert.deepEqual(Buffer.from(post!.body).toString(), '{"a":1}');
  assert.equal(put!.url, `${API}/c?x=1`);
  assert.equal(Buffer.from(put!.body).toString(), "stream");
  assert.equal(get!.url, `${API}/c`, "no fragment, as on the wire");
  assert.ok(get!.headers instanceof Headers);
  assert.equal(get!.headers.get("accept"), "text/plain");
  assert.equal(get!.body.length, 0);
});

test("assertNoPendingInterceptors: names what was not used up; a persisted one is pending until used once", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  mock.intercept({ path: "/once" }).reply(200);
  mock.intercept({ path: "/twice" }).reply(200).times(2);
  mock.intercept({ path: "/always" }).reply(200).persist();
  await mock.roundTrip({ url: `${API}/twice` });
  assert.throws(
    () => mock.assertNoPendingInterceptors(),
    (err: Error) =>
      err.name === "AssertionError" &&
      err.message ===
        "3 interceptors were not used up:\n" +
          "  - GET (any origin) /once (replied 0 times)\n" +
          "  - GET (any origin) /twice (replied 1 time)\n" +
          "  - GET (any origin) /always (replied 0 times)",
  );
  await mock.roundTrip({ url: `${API}/once` });
  await mock.roundTrip({ url: `${API}/twice` });
  await mock.roundTrip({ url: `${API}/always` });
  mock.assertNoPendingInterceptors();
  assert.deepEqual(mock.pendingInterceptors(), []);
});

test("passthrough: unmatched requests to the chosen origins go to the real transport; others fail", async () => {
  const base = tcpHandles();
  const peer = await httpServer((req, res) => res.end(`real ${req.url}`));
  const real = new Transport();
  try {
    const mock = new MockTransport({ passthrough: real, passthroughOrigins: [peer.url] });
    mock.intercept({ origin: peer.url, path: "/mocked" }).reply(200, "mocked");
    const counter = countConnections();
    try {
      assert.equal(await (await mock.roundTrip({ url: `${peer.url}/mocked` })).text(), "mocked");
      assert.equal(counter.count, 0, "an intercepted request opens nothing");
      const res = await mock.roundTrip({ url: `${peer.url}/live`, method: "POST", json: { a: 1 } });
      assert.equal(await res.text(), "real /live");
      assert.equal(counter.count, 1);
    } finally {
      counter.restore();
    }
    await rejectsWith(mock.roundTrip({ url: `${API}/live` }), "ERR_MOCK_NOT_MATCHED");
    assert.deepEqual(
      mock.calls.map((c) => c.url),
      [`${peer.url}/mocked`, `${peer.url}/live`, `${API}/live`],
    );
    const everything = new MockTransport({ passthrough: real });
    assert.equal(await (await everything.roundTrip({ url: `${peer.url}/any` })).text(), "real /any");
    assert.throws(() => new MockTransport({ passthroughOrigins: [API] }), { code: "ERR_INVALID_REQUEST" });
  } finally {
    await peer.close();
    await assertNoLeaks(real, base);
  }
});

test("close(): new requests are ERR_TRANSPORT_CLOSED and a request waiting on a delay fails; stats are zero", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  mock.intercept({ path: "/wait" }).reply(200).delay(10_000);
  assert.deepEqual(mock.stats(), { total: 0, active: 0, idle: 0, dialing: 0, waiting: 0, perHost: {} });
  const waiting = mock.roundTrip({ url: `${API}/wait` });
  await new Promise((r) => setTimeout(r, 5));
  mock.closeIdleConnections();
  await mock.close();
  await rejectsWith(waiting, "ERR_TRANSPORT_CLOSED");
  await rejectsWith(mock.roundTrip({ url: `${API}/wait` }), "ERR_TRANSPORT_CLOSED");
});

test("the request is validated as the Transport validates it (bad header, bad scheme, control bytes)", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  mock.intercept({ path: "/", method: /.*/ }).reply(200).persist();
  await rejectsWith(mock.roundTrip({ url: API, headers: { "X-A": "1\r\nX-B: 2" } }), "ERR_INVALID_REQUEST");
  await rejectsWith(mock.roundTrip({ url: "ftp://api.test/" }), "ERR_INVALID_REQUEST");
  await rejectsWith(mock.roundTrip({ url: `${API}/\n` }), "ERR_INVALID_REQUEST");
  await rejectsWith(mock.roundTrip({ url: API, method: "GET /x" }), "ERR_INVALID_REQUEST");
  assert.equal(mock.calls.length, 0, "nothing invalid reaches the interceptors");
});

test("an interceptor without a reply fails the request and says so", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  mock.intercept({ path: "/forgot" });
  const err = await rejectsWith(mock.roundTrip({ url: `${API}/forgot` }), "ERR_MOCK_NOT_MATCHED");
  assert.match(err.message, /matched but has no reply: call \.reply\(\) or \.replyWithError\(\)/);
});
