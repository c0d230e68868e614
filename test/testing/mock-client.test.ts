/**
 * MockTransport under a Client and fetch: what runs above the Transport (redirects,
 * cookies, a middleware decorator) runs as in production, and replies are shaped as the
 * Transport shapes received responses (Content-Encoding decoded with the Transport's
 * decoder, no body for HEAD/204/304). No connection is attempted in any test.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { brotliCompressSync, deflateSync, gzipSync } from "node:zlib";
import { CookieJar } from "tough-cookie";
import {
  Client,
  compose,
  fetch,
  type Response,
  type RoundTripper,
  retry,
  type TransportRequest,
} from "../../src/index.js";
import { MockTransport } from "../../src/testing/index.js";
import { rejectsWith } from "../helpers.js";
import { noSockets } from "./sockets.js";

const API = "http://api.test";

test("redirects: the Client follows a mocked 302 and 307 (body resent), and stops at checkRedirect's false", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  mock.intercept({ path: "/old" }).reply(302, null, { headers: { Location: "/new" } });
  mock.intercept({ path: "/new" }).reply(200, "moved here");
  mock.intercept({ path: "/upload", method: "POST" }).reply(307, null, { headers: { Location: "/upload2" } });
  mock.intercept({ path: "/upload2", method: "POST", body: "payload" }).reply(201, "stored");
  mock.intercept({ path: "/stop" }).reply(301, null, { headers: { Location: "/never" } });
  const client = new Client({ transport: mock });
  const res = await client.get(`${API}/old`);
  assert.equal(await res.text(), "moved here");
  assert.equal(res.redirected, true);
  assert.equal(res.url, `${API}/new`);
  const up = await client.post(`${API}/upload`, { body: "payload" });
  assert.equal(up.status, 201);
  const stopped = await new Client({ transport: mock, checkRedirect: () => false }).get(`${API}/stop`);
  assert.equal(stopped.status, 301);
  await stopped.close();
  assert.deepEqual(
    mock.calls.map((c) => `${c.method} ${new URL(c.url).pathname} ${Buffer.from(c.body).toString()}`),
    ["GET /old ", "GET /new ", "POST /upload payload", "POST /upload2 payload", "GET /stop "],
  );
  mock.assertNoPendingInterceptors();
});

test("cookies: a Set-Cookie from a mocked reply goes into the jar and back on the next request", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  mock.intercept({ path: "/login", method: "POST" }).reply(204, null, {
    headers: [
      ["Set-Cookie", "sid=abc; Path=/"],
      ["Set-Cookie", "pref=dark; Path=/"],
    ],
  });
  mock
    .intercept({ path: "/me", headers: { cookie: "sid=abc; pref=dark" } })
    .reply(200, undefined, { json: { user: "ada" } });
  const client = new Client({ transport: mock, jar: new CookieJar() });
  await (await client.post(`${API}/login`)).close();
  assert.deepEqual(await (await client.get(`${API}/me`)).json(), { user: "ada" });
});

test("Content-Encoding: gzip, deflate and br replies are decoded (uncompressed, headers removed), streamed ones too", async (t) => {
  noSockets(t);
  const text = "compressible ".repeat(2000);
  const mock = new MockTransport();
  const codings: Array<[string, Buffer]> = [
    ["gzip", gzipSync(text)],
    ["deflate", deflateSync(text)],
    ["br", brotliCompressSync(text)],
  ];
  for (const [coding, bytes] of codings) {
    mock
      .intercept({ path: `/${coding}` })
      .reply(200, bytes, { headers: { "Content-Encoding": coding, "Content-Length": String(bytes.length) } });
  }
  const gz = gzipSync(text);
  mock.intercept({ path: "/streamed" }).reply(() => ({
    headers: { "content-encoding": "gzip" },
    body: (async function* () {
      for (let i = 0; i < gz.length; i += 100) yield gz.subarray(i, i + 100);
    })(),
    trailers: { "x-after": "1" },
  }));
  const client = new Client({ transport: mock });
  for (const [coding] of codings) {
    const res = await client.get(`${API}/${coding}`);
    assert.equal(res.uncompressed, true, coding);
    assert.equal(res.headers.has("content-encoding"), false);
    assert.equal(res.headers.has("content-length"), false);
    assert.equal(res.contentLength, -1);
    assert.equal(await res.text(), text, coding);
  }
  const streamed = await client.get(`${API}/streamed`);
  assert.equal(await streamed.text(), text);
  assert.equal(streamed.trailers.get("x-after"), "1", "trailers survive decoding");
});

test("Content-Encoding stays encoded when the Transport would not decode: caller's Accept-Encoding, Range, disableCompression; corrupt data is ERR_BAD_RESPONSE", async (t) => {
  noSockets(t);
  const gz = gzipSync("raw");
  const reply = (m: MockTransport) =>
    m
      .intercept({ path: "/z" })
      .reply(200, gz, { headers: { "Content-Encoding": "gzip" } })
      .persist();
  const mock = new MockTransport();
  reply(mock);
  mock
    .intercept({ path: "/corrupt" })
    .reply(200, Buffer.from("not gzip at all"), { headers: { "Content-Encoding": "gzip" } });
  mock.intercept({ path: "/zstd" }).reply(200, "as is", { headers: { "Content-Encoding": "zstd" } });
  const own = await mock.roundTrip({ url: `${API}/z`, headers: { "Accept-Encoding": "gzip" } });
  assert.equal(own.uncompressed, false);
  assert.deepEqual(Buffer.from(await own.bytes()), gz);
  const ranged = await mock.roundTrip({ url: `${API}/z`, headers: { Range: "bytes=0-" } });
  assert.equal(ranged.uncompressed, false);
  await ranged.close();
  const off = new MockTransport({ disableCompression: true });
  reply(off);
  const raw = await off.roundTrip({ url: `${API}/z` });
  assert.equal(raw.headers.get("content-encoding"), "gzip");
  assert.deepEqual(Buffer.from(await raw.bytes()), gz);
  const corrupt = await mock.roundTrip({ url: `${API}/corrupt` });
  await rejectsWith(corrupt.text(), "ERR_BAD_RESPONSE");
  const unknown = await mock.roundTrip({ url: `${API}/zstd` });
  assert.equal(unknown.uncompressed, false, "a coding the Transport does not decode is left as is");
  assert.equal(await unknown.text(), "as is");
});

test("HEAD, 204 and 304 replies carry no body, whatever the interceptor gave; HEAD keeps its Content-Length", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  mock
    .intercept({ path: "/f", method: "HEAD" })
    .reply(200, "would be the body", { headers: { "Content-Length": "17" } });
  mock.intercept({ path: "/none" }).reply(204, "ignored");
  mock.intercept({ path: "/same" }).reply(304, "ignored");
  const head = await mock.roundTrip({ url: `${API}/f`, method: "HEAD" });
  assert.equal(head.contentLength, 17);
  assert.equal(await head.text(), "");
  const none = await mock.roundTrip({ url: `${API}/none` });
  assert.equal(none.contentLength, 0);
  assert.equal(await none.text(), "");
  const same = await mock.roundTrip({ url: `${API}/same` });
  assert.equal(same.contentLength, -1, "a 304 without Content-Length announces no length");
  assert.equal(await same.text(), "");
});

test("fetch({ client }) over a mock: gzip decoded, redirect: manual, a mocked network error as fetch's TypeError", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  mock.intercept({ path: "/data" }).reply(200, gzipSync('{"ok":true}'), {
    headers: { "Content-Type": "application/json", "Content-Encoding": "gzip" },
  });
  mock.intercept({ path: "/go" }).reply(302, null, { headers: { Location: "/elsewhere" } });
  mock.intercept({ path: "/down" }).replyWithError("ERR_CONNECT");
  const client = new Client({ transport: mock });
  const res = await fetch(`${API}/data`, { client });
  assert.deepEqual(await res.json(), { ok: true });
  const manual = await fetch(`${API}/go`, { client, redirect: "manual" });
  assert.equal(manual.status, 302);
  assert.equal(manual.headers.get("location"), "/elsewhere");
  await assert.rejects(fetch(`${API}/down`, { client }), (err: TypeError) => {
    assert.equal(err.message, "fetch failed");
    assert.equal((err.cause as { code: string }).code, "ERR_CONNECT");
    return true;
  });
});

test("a middleware (RoundTripper decorator) above the mock sees every attempt: a hand-written retry on 503", async (t) => {
  noSockets(t);
  // What the retry middleware is: next is any RoundTripper, so a mock below it needs nothing special.
  const retryOn503 = (next: RoundTripper): RoundTripper => ({
    async roundTrip(req: TransportRequest): Promise<Response> {
      for (let attempt = 0; ; attempt++) {
        const res = await next.roundTrip(req);
        if (res.status !== 503 || attempt === 2) return res;
        await res.close();
      }
    },
  });
  const mock = new MockTransport();
  mock.intercept({ path: "/busy", method: "PUT", body: "v" }).reply(503).times(2);
  mock.intercept({ path: "/busy", method: "PUT", body: "v" }).reply(200, "done");
  const client = new Client({ transport: retryOn503(mock) });
  const res = await client.put(`${API}/busy`, { body: "v" });
  assert.equal(await res.text(), "done");
  assert.equal(mock.calls.length, 3);
  mock.assertNoPendingInterceptors();
});

test("retry() over a MockTransport: two 503s with Retry-After, then 200; the waits asked of the injected timers", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  mock
    .intercept({ path: "/flaky" })
    .reply(503, "busy", { headers: { "retry-after": "2" } })
    .times(2);
  mock.intercept({ path: "/flaky" }).reply(200, "ok");
  const waits: number[] = [];
  // No real sleeping: each wait is recorded and run at once.
  const timers = {
    setTimeout(fn: () => void, ms: number) {
      waits.push(ms);
      queueMicrotask(fn);
      return waits.length;
    },
    clearTimeout() {},
  };
  const client = new Client({ transport: compose(mock, retry({ timers })) });
  const res = await client.get(`${API}/flaky`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "ok");
  assert.equal(res.retries, 2);
  assert.deepEqual(waits, [2000, 2000], "Retry-After: 2 seconds, twice");
  assert.equal(mock.calls.length, 3);
  mock.assertNoPendingInterceptors();
});
