/**
 * Client redirects, ported from the behaviour Go's net/http client_test.go checks
 * (TestClientRedirects, TestPostRedirects, TestClientRedirectTypes, TestClientRedirect308NoGetBody,
 * TestShouldCopyHeaderOnRedirect, TestClientCopyHostOnRedirect, ...), against real loopback peers.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, test } from "node:test";
import {
  BODY_HEADERS,
  isRelativeLocation,
  keepsCredentials,
  redirectPlan,
  resolveLocation,
} from "../../src/client/redirect.js";
import {
  Client,
  file,
  type RedirectRequest,
  RoundtripError,
  type TransportRequest,
} from "../../src/index.js";
import { MockTransport } from "../../src/testing/index.js";
import { assertNoLeaks, readRequest, rejectsWith, tcpHandles, waitFor } from "../helpers.js";
import { noSockets } from "../testing/sockets.js";
import {
  closeLeftovers,
  fakeDNS,
  httpPeer,
  newTransport,
  rawPeer,
  recordingServer,
  redirect,
} from "./util.js";

afterEach(closeLeftovers);

// ---- the rules, as pure functions ------------------------------------------------

test("redirectPlan: 301/302/303 turn other methods into GET without a body; 307/308 keep both", () => {
  const cases: Array<[number, string, string, boolean]> = [
    [301, "GET", "GET", false],
    [301, "HEAD", "HEAD", false],
    [301, "POST", "GET", false],
    [301, "PUT", "GET", false],
    [302, "POST", "GET", false],
    [302, "DELETE", "GET", false],
    [303, "POST", "GET", false],
    [303, "HEAD", "HEAD", false],
    [303, "PATCH", "GET", false],
    [307, "POST", "POST", true],
    [307, "HEAD", "HEAD", true],
    [308, "PUT", "PUT", true],
    [308, "DELETE", "DELETE", true],
  ];
  for (const [status, method, want, keep] of cases) {
    assert.deepEqual(redirectPlan(status, method), { method: want, keepBody: keep }, `${status} ${method}`);
  }
});

test("keepsCredentials: Go's shouldCopyHeaderOnRedirect table (same host or a subdomain)", () => {
  const cases: Array<[string, string, boolean]> = [
    ["http://foo.com/", "http://bar.com/", false],
    ["http://foo.com/", "https://foo.com/", true],
    ["http://foo.com:1234/", "http://foo.com:4321/", true],
    ["http://foo.com/", "http://foo.com/", true],
    ["http://foo.com/", "http://sub.foo.com/", true],
    ["http://foo.com/", "http://a.b.sub.foo.com/", true],
    ["http://foo.com/", "http://notfoo.com/", false],
    ["http://foo.com/", "http://foo.com.evil.net/", false],
    ["http://sub.foo.com/", "http://foo.com/", false],
    ["http://foo.com:80/", "http://sub.foo.com/", true],
    ["http://foo.com:443/", "https://sub.foo.com/", true],
    ["http://FOO.com/", "http://sub.foo.COM/", true],
    ["http://[::1]/", "http://[::1]:8080/", true],
    ["http://[::1]/", "http://[::2]/", false],
    ["http://127.0.0.1/", "http://localhost/", false],
    ["http://0.1/", "http://127.0.0.1/", false],
  ];
  for (const [from, to, want] of cases) {
    assert.equal(keepsCredentials(new URL(from), new URL(to)), want, `${from} → ${to}`);
  }
});

test("resolveLocation: relative references, and the fragment kept as browsers keep it", () => {
  const base = new URL("http://h.test/a/b?x=1#frag");
  const cases: Array<[string, string]> = [
    ["next", "http://h.test/a/next#frag"],
    ["../up", "http://h.test/up#frag"],
    ["/root?q=2", "http://h.test/root?q=2#frag"],
    ["?only=query", "http://h.test/a/b?only=query#frag"],
    ["//other.test/p", "http://other.test/p#frag"],
    ["https://s.test/", "https://s.test/#frag"],
    ["/own#new", "http://h.test/own#new"],
    ["/empty#", "http://h.test/empty#"],
  ];
  for (const [loc, want] of cases) assert.equal(resolveLocation(loc, base).href, want, loc);
  assert.equal(resolveLocation("/x", new URL("http://h.test/")).href, "http://h.test/x");
  // Header values arrive one char per byte: UTF-8 bytes mean UTF-8, others go back as sent.
  const root = new URL("http://h.test/");
  assert.equal(
    resolveLocation("/caf\u00c3\u00a9?q=\u00c3\u00a9", root).href,
    "http://h.test/caf%C3%A9?q=%C3%A9",
  );
  assert.equal(resolveLocation("/caf\u00e9", root).href, "http://h.test/caf%E9");
  assert.equal(resolveLocation("http://b\u00c3\u00bccher.test/", root).href, "http://xn--bcher-kva.test/");
});

test("isRelativeLocation: only references without a scheme or authority", () => {
  for (const rel of ["/a", "a", "../a", "?q", "#f", ""]) assert.equal(isRelativeLocation(rel), true, rel);
  for (const abs of ["http://h/", "HTTPS://h/", "//h/a", "x-y+z.w:opaque"]) {
    assert.equal(isRelativeLocation(abs), false, abs);
  }
});

// ---- limits ------------------------------------------------------------------------

/** /?n=k redirects to /?n=k+1 while k < last, then answers "n=<k>". */
async function chain(last: number) {
  return recordingServer((req, res) => {
    const n = Number(new URL(req.url ?? "/", "http://x").searchParams.get("n") ?? 0);
    if (n < last) redirect(res, 302, `/?n=${n + 1}`);
    else res.end(`n=${n}`);
  });
}

test("default maxRedirects is 10: ten are followed, the eleventh is ERR_TOO_MANY_REDIRECTS", async () => {
  const base = tcpHandles();
  const ok = await chain(10);
  const t = newTransport();
  const c = new Client({ transport: t });
  assert.equal(c.maxRedirects, 10);
  const res = await c.get(ok.url);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "n=10");
  assert.equal(res.redirected, true);
  assert.equal(res.url, `${ok.url}/?n=10`);
  assert.equal(ok.seen.length, 11);
  assert.equal(ok.connections, 1, "every redirect body drained, one connection for the chain");

  const tooMany = await chain(11);
  const err = await rejectsWith(c.get(tooMany.url), "ERR_TOO_MANY_REDIRECTS");
  assert.ok(err instanceof RoundtripError);
  assert.equal(err.message, `GET ${tooMany.url}/?n=11: stopped after 10 redirects`);
  assert.equal((err as RoundtripError).url, `${tooMany.url}/?n=11`);
  assert.equal(tooMany.seen.length, 11, "the refused hop is never sent");
  // HEAD follows too, and fails the same way.
  const headErr = await rejectsWith(c.head(tooMany.url), "ERR_TOO_MANY_REDIRECTS");
  assert.match(headErr.message, /^HEAD http:\/\/127\.0\.0\.1:\d+\/\?n=11: stopped after 10 redirects$/);
  assert.equal(tooMany.connections, 1, "the 3xx bodies were drained and the connection reused");
  await ok.close();
  await tooMany.close();
  await assertNoLeaks(t, base);
});

/** The chain of redirects as interceptors: /?n=k redirects to /?n=k+1 up to `last`, which answers. */
function mockedChain(last: number): MockTransport {
  const mock = new MockTransport();
  mock
    .intercept({ origin: ORIGIN, path: "/" })
    .reply(302, "moved", { headers: { location: "/?n=1" } })
    .persist();
  for (let n = 1; n < last; n++) {
    mock
      .intercept({ origin: ORIGIN, path: "/", query: { n } })
      .reply(302, "moved", { headers: { location: `/?n=${n + 1}` } })
      .persist();
  }
  mock
    .intercept({ origin: ORIGIN, path: "/", query: { n: last } })
    .reply(200, `n=${last}`)
    .persist();
  return mock;
}
const ORIGIN = "http://chain.test";

test("a custom maxRedirects, and 0 meaning no redirect is followed", async (t) => {
  noSockets(t);
  const mock = mockedChain(3);
  const two = new Client({ transport: mock, maxRedirects: 2 });
  await rejectsWith(two.get(ORIGIN), "ERR_TOO_MANY_REDIRECTS").then((e) =>
    assert.match(e.message, /stopped after 2 redirects$/),
  );
  const three = new Client({ transport: mock, maxRedirects: 3 });
  assert.equal(await (await three.get(ORIGIN)).text(), "n=3");
  const none = new Client({ transport: mock, maxRedirects: 0 });
  const before = mock.calls.length;
  await rejectsWith(none.get(ORIGIN), "ERR_TOO_MANY_REDIRECTS").then((e) =>
    assert.match(e.message, /stopped after 0 redirects$/),
  );
  assert.equal(mock.calls.length, before + 1);
});

// ---- methods and bodies per status --------------------------------------------------

/** /r/<status> redirects to /final with `status`; /final answers 200. */
async function statusServer() {
  return recordingServer((req, res) => {
    const m = /^\/r\/(\d+)/.exec(req.url ?? "");
    if (m) redirect(res, Number(m[1]), "/final", "x".repeat(100));
    else res.end("final");
  });
}

test("301/302/303: POST, PUT, DELETE, PATCH become GET with no body and no body headers; HEAD stays HEAD", async () => {
  const base = tcpHandles();
  const peer = await statusServer();
  const t = newTransport();
  const c = new Client({ transport: t });
  for (const status of [301, 302, 303]) {
    for (const method of ["POST", "PUT", "DELETE", "PATCH", "GET", "HEAD"]) {
      peer.seen.length = 0;
      const hasBody = method !== "GET" && method !== "HEAD";
      const res = await c.request(`${peer.url}/r/${status}`, {
        method,
        headers: { "content-type": "application/x-test", "content-language": "fr", "x-keep": "1" },
        ...(hasBody ? { body: "payload" } : {}),
      });
      assert.equal(res.status, 200, `${status} ${method}`);
      assert.equal(res.redirected, true);
      await res.close();
      assert.equal(peer.seen.length, 2);
      const [first, second] = peer.seen as [(typeof peer.seen)[0], (typeof peer.seen)[0]];
      assert.equal(first.method, method);
      if (hasBody) assert.equal(first.body.toString(), "payload");
      const want = method === "HEAD" ? "HEAD" : "GET";
      assert.equal(second.method, want, `${status} ${method} → ${want}`);
      assert.equal(second.url, "/final");
      assert.equal(second.body.length, 0);
      for (const h of BODY_HEADERS) assert.equal(second.headers[h], undefined, `${status} ${method}: ${h}`);
      assert.equal(second.headers["x-keep"], "1", "other headers follow");
    }
  }
  await peer.close();
  await assertNoLeaks(t, base);
});

test("303 after a streamed POST with getBody: the GET carries no body (getBody is not called again)", async () => {
  const base = tcpHandles();
  const peer = await statusServer();
  const t = newTransport();
  const c = new Client({ transport: t });
  let calls = 0;
  const res = await c.post(`${peer.url}/r/303`, {
    body: Readable.from([Buffer.from("one-")]),
    getBody: () => {
      calls++;
      return Readable.from([Buffer.from("again")]);
    },
  });
  assert.equal(await res.text(), "final");
  assert.equal(peer.seen[0]!.body.toString(), "one-");
  assert.equal(peer.seen[1]!.method, "GET");
  assert.equal(peer.seen[1]!.body.length, 0);
  assert.equal(peer.seen[1]!.headers["transfer-encoding"], undefined);
  assert.equal(peer.seen[1]!.headers["content-length"], undefined);
  assert.equal(calls, 0);

  // getBody alone (no body) is a body too: dropped by a 303 as well.
  peer.seen.length = 0;
  const res2 = await c.post(`${peer.url}/r/303`, { getBody: () => "from-getBody" });
  assert.equal(await res2.text(), "final");
  assert.equal(peer.seen[0]!.body.toString(), "from-getBody");
  assert.equal(peer.seen[1]!.method, "GET");
  assert.equal(peer.seen[1]!.body.length, 0);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("307/308 keep method and body for every replayable body kind and for streams with getBody", async () => {
  const base = tcpHandles();
  const dir = mkdtempSync(join(tmpdir(), "rt-client-"));
  const path = join(dir, "body.bin");
  const fileBytes = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff));
  writeFileSync(path, fileBytes);
  const peer = await statusServer();
  const t = newTransport();
  const c = new Client({ transport: t });
  const bytes = new Uint8Array([0, 1, 2, 250, 255]);
  const cases: Array<{
    name: string;
    opts: Omit<TransportRequest, "url">;
    body: Buffer;
    type?: RegExp;
  }> = [
    { name: "string", opts: { body: "héllo" }, body: Buffer.from("héllo"), type: /^text\/plain/ },
    { name: "Uint8Array", opts: { body: bytes }, body: Buffer.from(bytes) },
    { name: "ArrayBuffer", opts: { body: bytes.slice().buffer }, body: Buffer.from(bytes) },
    {
      name: "Blob",
      opts: { body: new Blob(["bl", "ob"], { type: "application/x-blob" }) },
      body: Buffer.from("blob"),
      type: /^application\/x-blob$/,
    },
    { name: "file()", opts: { body: file(path) }, body: fileBytes },
    {
      name: "file() range",
      opts: { body: file(path, { start: 10, end: 19 }) },
      body: fileBytes.subarray(10, 20),
    },
    {
      name: "URLSearchParams",
      opts: { body: new URLSearchParams({ a: "1", b: "x y" }) },
      body: Buffer.from("a=1&b=x+y"),
      type: /^application\/x-www-form-urlencoded/,
    },
    {
      name: "json",
      opts: { json: { k: [1, "v"] } },
      body: Buffer.from('{"k":[1,"v"]}'),
      type: /^application\/json$/,
    },
    {
      name: "Readable + getBody",
      opts: {
        body: Readable.from([Buffer.from("str"), Buffer.from("eam")]),
        getBody: () => Readable.from([Buffer.from("str"), Buffer.from("eam")]),
      },
      body: Buffer.from("stream"),
    },
    {
      name: "ReadableStream + getBody",
      opts: {
        body: new Blob(["web-stream"]).stream(),
        getBody: () => new Blob(["web-stream"]).stream(),
      },
      body: Buffer.from("web-stream"),
    },
    {
      name: "async generator + getBody",
      opts: {
        body: (async function* () {
          yield "gen";
        })(),
        getBody: () =>
          (async function* () {
            yield "gen";
          })(),
      },
      body: Buffer.from("gen"),
    },
  ];
  for (const status of [307, 308]) {
    for (const method of ["POST", "PUT"]) {
      for (const k of cases) {
        peer.seen.length = 0;
        // Streams are one-shot: build a fresh case object each round.
        const opts =
          k.opts.body instanceof Readable || k.name.includes("getBody") ? freshStreamOpts(k.name) : k.opts;
        const res = await c.request(`${peer.url}/r/${status}`, { ...opts, method });
        assert.equal(res.status, 200, `${status} ${method} ${k.name}`);
        assert.equal(await res.text(), "final");
        assert.equal(peer.seen.length, 2, `${status} ${k.name}: followed`);
        for (const s of peer.seen) {
          assert.equal(s.method, method);
          assert.deepEqual(s.body, k.body, `${status} ${method} ${k.name}: body at ${s.url}`);
          if (k.type) assert.match(String(s.headers["content-type"]), k.type);
        }
      }
    }
  }
  // multipart form: same fields on both hops (each hop has its own boundary).
  peer.seen.length = 0;
  await (await c.post(`${peer.url}/r/307`, { form: { f: "v", blob: new Blob(["zz"]) } })).close();
  assert.equal(peer.seen.length, 2);
  for (const s of peer.seen) {
    const ct = String(s.headers["content-type"]);
    const boundary = /boundary=(.+)$/.exec(ct)![1]!;
    assert.match(
      s.body.toString(),
      new RegExp(`^--${boundary}\\r\\nContent-Disposition: form-data; name="f"`),
    );
    assert.match(s.body.toString(), /\r\n\r\nzz\r\n/);
  }
  rmSync(dir, { recursive: true, force: true });
  await peer.close();
  await assertNoLeaks(t, base);
});

function freshStreamOpts(name: string): Omit<TransportRequest, "url"> {
  switch (name) {
    case "Readable + getBody":
      return {
        body: Readable.from([Buffer.from("str"), Buffer.from("eam")]),
        getBody: () => Readable.from([Buffer.from("str"), Buffer.from("eam")]),
      };
    case "ReadableStream + getBody":
      return { body: new Blob(["web-stream"]).stream(), getBody: () => new Blob(["web-stream"]).stream() };
    case "async generator + getBody":
      return {
        body: (async function* () {
          yield "gen";
        })(),
        getBody: () =>
          (async function* () {
            yield "gen";
          })(),
      };
    default:
      throw new Error(name);
  }
}

test("307/308 with a one-shot stream and no getBody: the 3xx itself is returned, body readable", async () => {
  const base = tcpHandles();
  const peer = await statusServer();
  const t = newTransport();
  const c = new Client({ transport: t });
  for (const status of [307, 308]) {
    peer.seen.length = 0;
    for (const body of [Readable.from([Buffer.from("once")]), new Blob(["once"]).stream()]) {
      peer.seen.length = 0;
      const res = await c.post(`${peer.url}/r/${status}`, { body });
      assert.equal(res.status, status);
      assert.equal(res.redirected, false);
      assert.equal(res.headers.get("location"), "/final");
      assert.equal(res.url, `${peer.url}/r/${status}`);
      assert.equal(await res.text(), "x".repeat(100));
      assert.equal(peer.seen.length, 1, "the redirect was not followed");
      assert.equal(peer.seen[0]!.body.toString(), "once");
    }
  }
  // A 303 after a one-shot stream is followed: the GET needs no body.
  peer.seen.length = 0;
  const res = await c.post(`${peer.url}/r/303`, { body: Readable.from([Buffer.from("once")]) });
  assert.equal(res.status, 200);
  await res.close();
  assert.deepEqual(
    peer.seen.map((s) => s.method),
    ["POST", "GET"],
  );
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a 3xx without Location, 304, and 300 are returned as they are", async () => {
  const base = tcpHandles();
  const peer = await recordingServer((req, res) => {
    const status = Number((req.url ?? "/").slice(1));
    if (status === 300) res.writeHead(300, { location: "/elsewhere" });
    else if (status === 304) res.writeHead(304, { location: "/elsewhere", etag: '"e"' });
    else res.writeHead(status, { "x-status": String(status) });
    res.end(status === 304 ? undefined : `body ${status}`);
  });
  const t = newTransport();
  const c = new Client({ transport: t });
  for (const status of [301, 302, 303, 307, 308, 300]) {
    const res = await c.get(`${peer.url}/${status}`);
    assert.equal(res.status, status);
    assert.equal(res.redirected, false);
    assert.equal(await res.text(), `body ${status}`);
  }
  const res = await c.get(`${peer.url}/304`);
  assert.equal(res.status, 304);
  assert.equal(res.headers.get("etag"), '"e"');
  assert.equal(await res.text(), "");
  assert.equal(peer.seen.length, 7);
  assert.equal(peer.connections, 1);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("relative Locations resolve against the current URL; the fragment is kept; the server never sees it", async () => {
  const base = tcpHandles();
  const peer = await recordingServer((req, res) => {
    const u = req.url ?? "/";
    if (u === "/dir/start") redirect(res, 302, "next?x=1");
    else if (u === "/dir/next?x=1") redirect(res, 301, "../up");
    else if (u === "/up") redirect(res, 302, "?only");
    else if (u === "/up?only") redirect(res, 307, `//127.0.0.1:${peer.port}/abs`);
    else if (u === "/abs") redirect(res, 308, "/own#second");
    else res.end(`at ${u}`);
  });
  const t = newTransport();
  const c = new Client({ transport: t });
  const res = await c.get(`${peer.url}/dir/start#first`);
  assert.equal(await res.text(), "at /own");
  assert.equal(res.url, `${peer.url}/own#second`);
  assert.deepEqual(
    peer.seen.map((s) => s.url),
    ["/dir/start", "/dir/next?x=1", "/up", "/up?only", "/abs", "/own"],
  );
  const via: string[] = [];
  const c2 = new Client({
    transport: t,
    checkRedirect: (req) => {
      via.push(req.url.href);
    },
  });
  await (await c2.get(`${peer.url}/dir/start#first`)).close();
  assert.equal(
    via[0],
    `${peer.url}/dir/next?x=1#first`,
    "the fragment rides along until a Location has its own",
  );
  assert.equal(via[4], `${peer.url}/own#second`);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("an unparseable Location is ERR_BAD_RESPONSE; a non-http(s) one returns the 3xx", async () => {
  const base = tcpHandles();
  const peer = await httpPeer((req, res) => {
    if (req.url === "/bad") redirect(res, 302, "http://[oops/");
    else redirect(res, 302, "ftp://files.example/x");
  });
  const t = newTransport();
  const c = new Client({ transport: t });
  const err = await rejectsWith(c.get(`${peer.url}/bad`), "ERR_BAD_RESPONSE");
  assert.match(err.message, /invalid Location "http:\/\/\[oops\/"/);
  const res = await c.get(`${peer.url}/ftp`);
  assert.equal(res.status, 302);
  assert.equal(await res.text(), "moved");
  await peer.close();
  await assertNoLeaks(t, base);
});

// ---- checkRedirect -----------------------------------------------------------------

test("checkRedirect returning false stops: the last 3xx comes back with its body readable", async () => {
  const base = tcpHandles();
  const peer = await chain(5);
  const t = newTransport();
  let calls = 0;
  const c = new Client({
    transport: t,
    checkRedirect: (_req, via) => {
      calls++;
      return via.length >= 2 ? false : undefined;
    },
  });
  const res = await c.get(peer.url);
  assert.equal(res.status, 302);
  assert.equal(res.redirected, true, "one redirect was followed before the stop");
  assert.equal(res.url, `${peer.url}/?n=1`);
  assert.equal(res.headers.get("location"), "/?n=2");
  assert.equal(await res.text(), "moved");
  assert.equal(calls, 2);
  assert.equal(peer.seen.length, 2);
  // The stopped response's connection goes back to the pool once read.
  assert.equal(await (await c.get(`${peer.url}/?n=5`)).text(), "n=5");
  assert.equal(peer.connections, 1);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("checkRedirect throwing fails with ERR_REDIRECT, the thrown error as cause, nothing more sent", async () => {
  const base = tcpHandles();
  const peer = await chain(5);
  const t = newTransport();
  const mine = new Error("no redirects allowed");
  const c = new Client({
    transport: t,
    checkRedirect: () => {
      throw mine;
    },
  });
  const err = await rejectsWith(c.get(peer.url), "ERR_REDIRECT");
  assert.equal(err.cause, mine);
  assert.equal(err.message, `GET ${peer.url}/?n=1: checkRedirect refused the redirect: no redirects allowed`);
  assert.equal((err as RoundtripError).url, `${peer.url}/?n=1`);
  assert.equal(peer.seen.length, 1);
  // The refused 3xx body was drained: the next call reuses the connection.
  await (await c.get(`${peer.url}/?n=5`)).close();
  assert.equal(peer.connections, 1);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("checkRedirect sees the next request and the chain so far (via), oldest first", async (t) => {
  noSockets(t);
  const api = "http://via.test";
  const mock = new MockTransport();
  const moved = (status: number, to: string) => ({
    status,
    body: "moved",
    headers: { location: to, "content-type": "text/plain" },
  });
  mock.intercept({ origin: api, path: "/a", method: "POST" }).reply(() => moved(301, "/b"));
  mock.intercept({ origin: api, path: "/b" }).reply(() => moved(307, "/c"));
  mock.intercept({ origin: api, path: "/c" }).reply(() => moved(303, "/d"));
  mock.intercept({ origin: api, path: "/d" }).reply(200, "done");
  const seen: Array<{ req: RedirectRequest; via: RedirectRequest[] }> = [];
  const c = new Client({
    transport: mock,
    checkRedirect: (req, via) => {
      seen.push({ req, via });
      if (req.url.pathname === "/d") req.headers.set("X-Added-By-Check", "yes");
    },
  });
  const res = await c.post(`${api}/a`, { body: "b", headers: { "X-Trace": "t" } });
  assert.equal(await res.text(), "done");
  assert.equal(seen.length, 3);
  const describe = (r: RedirectRequest) => `${r.method} ${r.url.pathname} ${r.response?.status ?? "-"}`;
  assert.deepEqual(
    seen.map((s) => describe(s.req)),
    ["GET /b 301", "GET /c 307", "GET /d 303"],
  );
  assert.deepEqual(
    seen.map((s) => s.via.map(describe)),
    [["POST /a -"], ["POST /a -", "GET /b 301"], ["POST /a -", "GET /b 301", "GET /c 307"]],
  );
  // via entries are the very requests checkRedirect was shown before.
  assert.equal(seen[2]!.via[1], seen[0]!.req);
  assert.equal(seen[0]!.via[0]!.headers.get("x-trace"), "t");
  assert.equal(seen[0]!.req.response!.headers.get("location"), "/b");
  assert.equal(
    mock.calls[3]!.headers.get("x-added-by-check"),
    "yes",
    "checkRedirect may edit the next request's headers",
  );
  mock.assertNoPendingInterceptors();
});

// ---- headers across hosts ------------------------------------------------------------

const SENSITIVE = {
  authorization: "Bearer secret",
  cookie: "sid=1",
  "proxy-authorization": "Basic cHJveHk6cA==",
  "www-authenticate": "Basic realm=x",
  "x-other": "kept",
};

test("Authorization, Cookie, Proxy-Authorization, WWW-Authenticate: kept for the same host and subdomains, dropped elsewhere", async () => {
  const base = tcpHandles();
  const peer = await recordingServer((req, res) => {
    const to = new URL(req.url ?? "/", "http://x").searchParams.get("to");
    if (to) redirect(res, 302, to);
    else res.end("ok");
  });
  const t = newTransport(fakeDNS(peer));
  const c = new Client({ transport: t });
  const cases: Array<[string, string, boolean]> = [
    ["http://a.example/", "http://a.example/next", true],
    ["http://a.example/", "/relative", true],
    ["http://a.example/", "http://a.example:8080/port", true],
    ["http://a.example/", "http://sub.a.example/", true],
    ["http://a.example/", "http://deep.sub.a.example/", true],
    ["http://a.example/", "http://b.example/", false],
    ["http://a.example/", "http://nota.example/", false],
    ["http://sub.a.example/", "http://a.example/", false],
    ["http://a.example/", "http://a.example.b.example/", false],
  ];
  for (const [from, to, kept] of cases) {
    peer.seen.length = 0;
    const res = await c.get(`${from}?to=${encodeURIComponent(to)}`, { headers: SENSITIVE });
    assert.equal(await res.text(), "ok");
    const [first, second] = peer.seen as [(typeof peer.seen)[0], (typeof peer.seen)[0]];
    for (const [name, value] of Object.entries(SENSITIVE)) assert.equal(first.headers[name], value);
    for (const [name, value] of Object.entries(SENSITIVE)) {
      const want = name === "x-other" || kept ? value : undefined;
      assert.equal(second.headers[name], want, `${from} → ${to}: ${name}`);
    }
  }
  // Once dropped, they stay dropped even if the chain comes back to the first host.
  peer.seen.length = 0;
  const back = encodeURIComponent(`http://b.example/?to=${encodeURIComponent("http://a.example/home")}`);
  await (await c.get(`http://a.example/?to=${back}`, { headers: SENSITIVE })).close();
  assert.equal(peer.seen.length, 3);
  assert.equal(peer.seen[2]!.host, "a.example");
  assert.equal(peer.seen[2]!.headers.authorization, undefined);
  assert.equal(peer.seen[2]!.headers.cookie, undefined);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("Proxy-Authorization and Proxy-Authenticate are dropped on a redirect to another domain (Go CVE-2025-4673)", async () => {
  const base = tcpHandles();
  const peer = await recordingServer((req, res) => {
    const to = new URL(req.url ?? "/", "http://x").searchParams.get("to");
    if (to) redirect(res, 302, to);
    else res.end("ok");
  });
  const t = newTransport(fakeDNS(peer));
  const c = new Client({ transport: t });
  const proxyHeaders = { "proxy-authorization": "Basic cHJveHk6cA==", "proxy-authenticate": "Basic realm=p" };
  for (const [to, kept] of [
    ["http://b.example/", false],
    ["http://a.example/same", true],
    ["http://sub.a.example/", true],
  ] as const) {
    peer.seen.length = 0;
    await (await c.get(`http://a.example/?to=${encodeURIComponent(to)}`, { headers: proxyHeaders })).close();
    assert.equal(peer.seen.length, 2);
    for (const [name, value] of Object.entries(proxyHeaders)) {
      assert.equal(peer.seen[0]!.headers[name], value);
      assert.equal(peer.seen[1]!.headers[name], kept ? value : undefined, `${to}: ${name}`);
    }
  }
  await peer.close();
  await assertNoLeaks(t, base);
});

test("stripHeadersOnCrossOriginRedirect: X-Api-Key leaves on a hop to another origin (host, subdomain or port) and stays gone (undici's option)", async () => {
  const base = tcpHandles();
  const peer = await recordingServer((req, res) => {
    const to = new URL(req.url ?? "/", "http://x").searchParams.get("to");
    if (to) redirect(res, 302, to);
    else res.end("ok");
  });
  const t = newTransport(fakeDNS(peer));
  const c = new Client({ transport: t, stripHeadersOnCrossOriginRedirect: ["X-Api-Key", "x-tenant"] });
  const headers = { "X-API-KEY": "secret", "X-Tenant": "t1", "X-Other": "kept", Authorization: "Bearer a" };
  const cases: Array<[string, boolean, boolean]> = [
    // [to, custom headers kept?, Authorization kept? (Go's domain rule)]
    ["http://a.example/next", true, true],
    ["/relative", true, true],
    ["http://a.example:8080/port", false, true],
    ["http://sub.a.example/", false, true],
    ["http://b.example/", false, false],
  ];
  for (const [to, kept, authKept] of cases) {
    peer.seen.length = 0;
    await (await c.get(`http://a.example/?to=${encodeURIComponent(to)}`, { headers })).close();
    const [first, second] = peer.seen as [(typeof peer.seen)[0], (typeof peer.seen)[0]];
    assert.equal(first.headers["x-api-key"], "secret");
    assert.equal(second.headers["x-api-key"], kept ? "secret" : undefined, `${to}: x-api-key`);
    assert.equal(second.headers["x-tenant"], kept ? "t1" : undefined, `${to}: x-tenant`);
    assert.equal(second.headers["x-other"], "kept", `${to}: x-other`);
    assert.equal(second.headers.authorization, authKept ? "Bearer a" : undefined, `${to}: authorization`);
  }
  // Once dropped, they stay dropped, even back on the first origin; checkRedirect sees that.
  peer.seen.length = 0;
  const seenByCheck: Array<string | null> = [];
  const checked = new Client({
    transport: t,
    stripHeadersOnCrossOriginRedirect: ["x-api-key"],
    checkRedirect: (req) => {
      seenByCheck.push(req.headers.get("x-api-key"));
    },
  });
  const back = encodeURIComponent(`http://a.example:8080/?to=${encodeURIComponent("http://a.example/home")}`);
  await (await checked.get(`http://a.example/?to=${back}`, { headers })).close();
  assert.deepEqual(
    peer.seen.map((s) => s.headers["x-api-key"] ?? null),
    ["secret", null, null],
  );
  assert.deepEqual(seenByCheck, [null, null]);
  // Client-wide default headers are stripped the same way.
  peer.seen.length = 0;
  const defaults = new Client({
    transport: t,
    headers: { "x-api-key": "default" },
    stripHeadersOnCrossOriginRedirect: ["X-Api-Key"],
  });
  await (await defaults.get(`http://a.example/?to=${encodeURIComponent("http://b.example/")}`)).close();
  assert.deepEqual(
    peer.seen.map((s) => s.headers["x-api-key"] ?? null),
    ["default", null],
  );
  for (const bad of [["bad name"], ["x\r\ny"], "x-api-key"]) {
    assert.throws(() => new Client({ stripHeadersOnCrossOriginRedirect: bad as string[] }), {
      code: "ERR_INVALID_REQUEST",
    });
  }
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a custom Host (option or header) survives only relative redirects", async () => {
  const base = tcpHandles();
  const peer = await recordingServer((req, res) => {
    const to = new URL(req.url ?? "/", "http://x").searchParams.get("to");
    if (to) redirect(res, 302, to);
    else res.end("ok");
  });
  const t = newTransport();
  const c = new Client({ transport: t });
  const abs = `${peer.url}/abs`;
  const forms: Array<{ host?: string; headers?: Record<string, string> }> = [
    { host: "virtual.test" },
    { headers: { Host: "virtual.test" } },
  ];
  for (const form of forms) {
    peer.seen.length = 0;
    await (await c.get(`${peer.url}/?to=/rel`, form)).close();
    assert.deepEqual(
      peer.seen.map((s) => s.host),
      ["virtual.test", "virtual.test"],
      JSON.stringify(form),
    );
    peer.seen.length = 0;
    await (await c.get(`${peer.url}/?to=${encodeURIComponent(abs)}`, form)).close();
    assert.deepEqual(
      peer.seen.map((s) => s.host),
      ["virtual.test", `127.0.0.1:${peer.port}`],
      JSON.stringify(form),
    );
    peer.seen.length = 0;
    await (await c.get(`${peer.url}/?to=${encodeURIComponent(`//127.0.0.1:${peer.port}/sr`)}`, form)).close();
    assert.deepEqual(
      peer.seen.map((s) => s.host),
      ["virtual.test", `127.0.0.1:${peer.port}`],
      "a scheme-relative Location names its host",
    );
  }
  await peer.close();
  await assertNoLeaks(t, base);
});

// ---- draining and reuse ----------------------------------------------------------------

test("redirect bodies are drained so the next hop reuses the connection (fixed and chunked)", async () => {
  const base = tcpHandles();
  const peer = await recordingServer((req, res) => {
    if (req.url === "/fixed") redirect(res, 302, "/chunked", "f".repeat(32 * 1024));
    else if (req.url === "/chunked") {
      res.writeHead(301, { location: "/end" });
      res.write("c".repeat(10_000));
      setImmediate(() => res.end("c".repeat(10_000)));
    } else res.end("end");
  });
  const t = newTransport();
  const c = new Client({ transport: t });
  const gotConn: boolean[] = [];
  const res = await c.get(`${peer.url}/fixed`, { trace: { gotConn: (i) => gotConn.push(i.reused) } });
  assert.equal(await res.text(), "end");
  assert.deepEqual(gotConn, [false, true, true]);
  assert.equal(res.conn.reused, true);
  assert.equal(peer.connections, 1);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a redirect body too large to drain costs its connection, not the redirect", async () => {
  const base = tcpHandles();
  const big = Buffer.alloc(4 << 20, 0x62);
  const peer = await recordingServer((req, res) => {
    if (req.url === "/big") redirect(res, 302, "/end", big.toString());
    else res.end("end");
  });
  const t = newTransport();
  const c = new Client({ transport: t });
  const res = await c.get(`${peer.url}/big`);
  assert.equal(await res.text(), "end");
  assert.equal(peer.connections, 2);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("checkRedirect may be async: a promised false stops, a rejection is ERR_REDIRECT, a hang is bounded by the deadline", async () => {
  const base = tcpHandles();
  const peer = await chain(3);
  const t = newTransport();
  const stop = new Client({ transport: t, checkRedirect: async () => false });
  const res = await stop.get(peer.url);
  assert.equal(res.status, 302);
  assert.equal(await res.text(), "moved");

  const why = new Error("async no");
  const refuse = new Client({
    transport: t,
    checkRedirect: async () => {
      await new Promise((r) => setImmediate(r));
      throw why;
    },
  });
  assert.equal((await rejectsWith(refuse.get(peer.url), "ERR_REDIRECT")).cause, why);

  const follow = new Client({ transport: t, checkRedirect: async () => undefined });
  assert.equal(await (await follow.get(peer.url)).text(), "n=3");

  const hang = new Client({ transport: t, timeout: 50, checkRedirect: () => new Promise<void>(() => {}) });
  const err = await rejectsWith(hang.get(peer.url), "ERR_TIMEOUT");
  assert.equal(err.phase, "client");
  const ac = new AbortController();
  const pending = new Client({ transport: t, checkRedirect: () => new Promise<void>(() => {}) }).get(
    peer.url,
    {
      signal: ac.signal,
    },
  );
  const before = peer.seen.length;
  await waitFor(() => peer.seen.length > before, 2000, "first hop");
  const reason = new Error("caller");
  ac.abort(reason);
  assert.equal((await rejectsWith(pending, "ERR_ABORTED")).cause, reason);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a Location in raw UTF-8 bytes is followed to the URL it names (as Node's fetch does)", async () => {
  const base = tcpHandles();
  const lines: string[] = [];
  const peer = await rawPeer(async (socket) => {
    const { head } = await readRequest(socket);
    const line = head.split("\r\n")[0]!;
    lines.push(line);
    if (line.startsWith("GET /start ")) {
      socket.write(
        Buffer.concat([
          Buffer.from("HTTP/1.1 302 Found\r\nLocation: /caf"),
          Buffer.from("é/ü?x=✓", "utf8"),
          Buffer.from("\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        ]),
      );
    } else {
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    }
    socket.end();
  });
  const t = newTransport();
  const res = await new Client({ transport: t }).get(`${peer.url}/start`);
  assert.equal(await res.text(), "ok");
  assert.equal(res.url, `${peer.url}/caf%C3%A9/%C3%BC?x=%E2%9C%93`);
  const theirs = await globalThis.fetch(`${peer.url}/start`);
  assert.equal(await theirs.text(), "ok");
  assert.equal(theirs.url, res.url);
  assert.deepEqual(lines, [
    "GET /start HTTP/1.1",
    "GET /caf%C3%A9/%C3%BC?x=%E2%9C%93 HTTP/1.1",
    "GET /start HTTP/1.1",
    "GET /caf%C3%A9/%C3%BC?x=%E2%9C%93 HTTP/1.1",
  ]);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a lower-case standard method follows a redirect as the method it was sent as (head stays HEAD, post becomes GET on a 302)", async () => {
  const base = tcpHandles();
  const peer = await recordingServer((req, res) => {
    if (req.url === "/a") redirect(res, 301, "/b");
    else if (req.url === "/p") redirect(res, 302, "/b");
    else res.end(req.method === "HEAD" ? undefined : "ok");
  });
  const t = newTransport();
  const c = new Client({ transport: t });
  // The lean path (no client options) and the full one (a deadline) decide alike.
  for (const client of [c, new Client({ transport: t, timeout: 10_000 })]) {
    peer.seen.length = 0;
    await (await client.request(`${peer.url}/a`, { method: "head" })).close();
    assert.deepEqual(
      peer.seen.map((s) => `${s.method} ${s.url}`),
      ["HEAD /a", "HEAD /b"],
    );
    peer.seen.length = 0;
    await (await client.request(`${peer.url}/p`, { method: "post", body: "x" })).close();
    assert.deepEqual(
      peer.seen.map((s) => `${s.method} ${s.url}`),
      ["POST /p", "GET /b"],
    );
  }
  await peer.close();
  await assertNoLeaks(t, base);
});
