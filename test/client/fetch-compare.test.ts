/**
 * Our fetch against Node's built-in fetch on the same server: for the common cases the
 * observable result (status, statusText, the headers the server controls, body text,
 * redirected, url, error class) is the same. The differences docs/fetch.md lists are
 * asserted at the end, so the table cannot drift from the code.
 */
import assert from "node:assert/strict";
import type http from "node:http";
import { afterEach, test } from "node:test";
import { gzipSync } from "node:zlib";
import { Client, type FetchInit, fetch } from "../../src/index.js";
import { assertNoLeaks, tcpHandles } from "../helpers.js";
import { closeLeftovers, httpPeer, newTransport } from "./util.js";

afterEach(closeLeftovers);

const nodeFetch = globalThis.fetch;

function route(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
  const u = new URL(req.url ?? "/", "http://x");
  const echo = () => {
    res.setHeader("content-type", "application/json");
    res.end(
      JSON.stringify({
        method: req.method,
        path: u.pathname + u.search,
        body,
        mine: req.headers["x-mine"] ?? null,
      }),
    );
  };
  switch (u.pathname) {
    case "/plain":
      res.setHeader("x-custom", "c");
      res.setHeader("content-type", "text/plain; charset=utf-8");
      res.end("plain ✓");
      return;
    case "/404":
      res.statusCode = 404;
      res.statusMessage = "Nope Not Here";
      res.end("missing");
      return;
    case "/500":
      res.statusCode = 500;
      res.end("boom");
      return;
    case "/cookies":
      res.setHeader("set-cookie", ["a=1; Path=/", "b=2; HttpOnly"]);
      res.end("c");
      return;
    case "/json":
      res.setHeader("content-type", "application/json");
      res.end('{"k":[1,2]}');
      return;
    case "/gz":
      res.setHeader("content-encoding", "gzip");
      res.setHeader("content-type", "text/plain");
      res.end(gzipSync("compressed ".repeat(100)));
      return;
    case "/204":
      res.statusCode = 204;
      res.end();
      return;
    case "/echo":
      echo();
      return;
    case "/chain": {
      const n = Number(u.searchParams.get("n") ?? 0);
      if (n < 3) {
        res.writeHead(302, { location: `/chain?n=${n + 1}` });
        res.end();
        return;
      }
      echo();
      return;
    }
    case "/noloc":
      res.statusCode = 302;
      res.end("no location");
      return;
    case "/rel":
      res.writeHead(301, { location: "sub/../echo?from=rel" });
      res.end("moved");
      return;
    default: {
      const m = /^\/r(\d{3})$/.exec(u.pathname);
      if (m) {
        res.writeHead(Number(m[1]), { location: "/echo", "x-redirect": m[1]! });
        res.end("redirect body");
        return;
      }
      res.statusCode = 400;
      res.end("unknown");
    }
  }
}

interface Observed {
  status: number;
  statusText: string;
  redirected: boolean;
  url: string;
  ok: boolean;
  headers: Record<string, string | null>;
  setCookie: string[];
  text: string;
}

async function observe(res: Response): Promise<Observed> {
  const headers: Record<string, string | null> = {};
  for (const h of ["x-custom", "content-type", "location", "x-redirect"]) headers[h] = res.headers.get(h);
  return {
    status: res.status,
    statusText: res.statusText,
    redirected: res.redirected,
    url: res.url,
    ok: res.ok,
    headers,
    setCookie: res.headers.getSetCookie(),
    text: await res.text(),
  };
}

async function outcome(p: Promise<Response>): Promise<Observed | { error: string; message: string }> {
  try {
    return await observe(await p);
  } catch (err) {
    const e = err as Error;
    return { error: e.constructor.name, message: e.message };
  }
}

test("our fetch and Node's fetch agree on the common cases", async () => {
  const base = tcpHandles();
  const peer = await httpPeer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => route(req, res, Buffer.concat(parts).toString()));
  });
  const transport = newTransport();
  const client = new Client({ transport });
  const u = (p: string) => `${peer.url}${p}`;
  const cases: Array<[string, string, RequestInit]> = [
    ["plain GET", "/plain", {}],
    ["404 with reason", "/404", {}],
    ["500", "/500", {}],
    ["two Set-Cookie", "/cookies", {}],
    ["json", "/json", {}],
    ["gzip body decoded", "/gz", {}],
    ["204", "/204", {}],
    ["HEAD", "/plain", { method: "HEAD" }],
    ["fragment dropped from url", "/plain#frag", {}],
    ["302 followed", "/r302", {}],
    ["301 POST → GET", "/r301", { method: "POST", body: "p" }],
    ["302 POST → GET", "/r302", { method: "POST", body: "p" }],
    ["303 POST → GET", "/r303", { method: "POST", body: "p" }],
    ["303 DELETE → GET", "/r303", { method: "DELETE" }],
    ["307 POST kept", "/r307", { method: "POST", body: "seven" }],
    ["308 PUT kept", "/r308", { method: "PUT", body: "eight", headers: { "x-mine": "m" } }],
    ["307 POST URLSearchParams", "/r307", { method: "POST", body: new URLSearchParams({ a: "b" }) }],
    ["chain of 3", "/chain", {}],
    ["relative Location", "/rel", {}],
    ["manual 302", "/r302", { redirect: "manual" }],
    ["manual 307", "/r307", { redirect: "manual", method: "POST", body: "x" }],
    ["error mode", "/r302", { redirect: "error" }],
    ["error mode, no redirect", "/plain", { redirect: "error" }],
    ["300 is not followed", "/r300", {}],
    ["302 without Location", "/noloc", {}],
    ["bad method", "/echo", { method: "bad method" }],
    ["forbidden method", "/echo", { method: "CONNECT" }],
    ["bad header value", "/echo", { headers: { "x-bad": "a\nb" } }],
    ["custom header", "/echo", { headers: { "X-Mine": "mine" } }],
    ["lower-case method normalized", "/echo", { method: "post", body: "lc" }],
    ["GET with body rejected", "/echo", { method: "GET", body: "x" }],
  ];
  for (const [name, path, init] of cases) {
    const theirs = await outcome(nodeFetch(u(path), init));
    const ours = await outcome(fetch(u(path), { ...(init as FetchInit), client }));
    assert.deepEqual(ours, theirs, name);
  }
  // Input errors have the same class and message.
  for (const url of ["exa mple", "/relative", "http://[bad/"]) {
    assert.deepEqual(await outcome(fetch(url, { client })), await outcome(nodeFetch(url)), url);
  }
  // A body read twice.
  for (const f of [nodeFetch, (url: string) => fetch(url, { client })]) {
    const r = await f(u("/plain"));
    await r.text();
    await assert.rejects(r.text(), {
      name: "TypeError",
      message: "Body is unusable: Body has already been read",
    });
  }
  await peer.close();
  await assertNoLeaks(transport, base);
});

test("abort: both reject with the signal's reason", async () => {
  const base = tcpHandles();
  const peer = await httpPeer(() => {});
  const transport = newTransport();
  const client = new Client({ transport });
  const reason = new Error("stop");
  for (const f of [
    nodeFetch,
    (url: string, init: RequestInit) => fetch(url, { ...(init as FetchInit), client }),
  ]) {
    await assert.rejects(f(peer.url, { signal: AbortSignal.abort(reason) }), (e) => e === reason);
    const ac = new AbortController();
    const p = f(peer.url, { signal: ac.signal });
    setImmediate(() => ac.abort(reason));
    await assert.rejects(p, (e) => e === reason);
  }
  await peer.close();
  await assertNoLeaks(transport, base);
});

test("the differences docs/fetch.md lists are real", async () => {
  const base = tcpHandles();
  const heads: http.IncomingHttpHeaders[] = [];
  const peer = await httpPeer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      heads.push(req.headers);
      route(req, res, Buffer.concat(parts).toString());
    });
  });
  const transport = newTransport();
  const client = new Client({ transport });
  const ours = (p: string, init: FetchInit = {}) => fetch(`${peer.url}${p}`, { ...init, client });
  const theirs = (p: string, init: RequestInit = {}) => nodeFetch(`${peer.url}${p}`, init);

  // 1. Content-Encoding / Content-Length after transparent decompression.
  const [a, b] = [await ours("/gz"), await theirs("/gz")];
  assert.equal(a.headers.get("content-encoding"), null);
  assert.equal(b.headers.get("content-encoding"), "gzip");
  assert.equal(await a.text(), await b.text());

  // 2. 301/302 keep PUT (and its body) in fetch; Go's rules (ours) turn it into GET.
  const [p1, p2] = [
    await (await ours("/r301", { method: "PUT", body: "x" })).json(),
    await (await theirs("/r301", { method: "PUT", body: "x" })).json(),
  ];
  assert.deepEqual(p1, { method: "GET", path: "/echo", body: "", mine: null });
  assert.deepEqual(p2, { method: "PUT", path: "/echo", body: "x", mine: null });

  // 3. Default request headers.
  heads.length = 0;
  await (await ours("/echo")).text();
  await (await theirs("/echo")).text();
  const [ho, ht] = heads as [http.IncomingHttpHeaders, http.IncomingHttpHeaders];
  assert.match(String(ho["user-agent"]), /^roundtrip\//);
  assert.equal(ht["user-agent"], "node");
  assert.equal(ho.accept, "*/*");
  assert.equal(ht.accept, "*/*");
  assert.equal(ho["accept-encoding"], "gzip, deflate, br");
  assert.equal(ho["sec-fetch-mode"], undefined);
  assert.equal(ht["sec-fetch-mode"], "cors");

  // 4. Credentials in the URL: Node's fetch refuses them; ours sends Basic auth.
  const withUser = `http://u:p@127.0.0.1:${peer.port}/echo`;
  await assert.rejects(nodeFetch(withUser), TypeError);
  heads.length = 0;
  assert.equal((await fetch(withUser, { client })).status, 200);
  assert.equal(heads[0]!.authorization, `Basic ${Buffer.from("u:p").toString("base64")}`);

  // 5. Network errors: both TypeError("fetch failed"); the cause is a RoundtripError with a code.
  const probe = await httpPeer(() => {});
  await probe.close();
  const closed = `http://127.0.0.1:${probe.port}/`;
  const eo = await fetch(closed, { client }).catch((e: Error) => e);
  const et = await nodeFetch(closed).catch((e: Error) => e);
  assert.ok(eo instanceof TypeError && et instanceof TypeError);
  assert.equal(eo.message, et.message);
  assert.equal((eo.cause as { code?: string }).code, "ERR_CONNECT");
  assert.equal((et.cause as { code?: string }).code, "ECONNREFUSED");

  // 6. A one-shot stream body and a 307: Node's fetch fails, ours returns the 307.
  const stream = () => new Blob(["s"]).stream();
  const so = await ours("/r307", { method: "POST", body: stream(), duplex: "half" });
  assert.equal(so.status, 307);
  await so.body?.cancel();
  await assert.rejects(
    theirs("/r307", { method: "POST", body: stream(), duplex: "half" } as RequestInit),
    TypeError,
  );

  // 7. A stream body without duplex: "half" is accepted by ours, refused by Node's.
  assert.equal((await ours("/echo", { method: "POST", body: stream() })).status, 200);
  await assert.rejects(async () => theirs("/echo", { method: "POST", body: stream() }), TypeError);

  // 8. Response.type.
  assert.equal((await ours("/204")).type, "default");
  assert.equal((await theirs("/204")).type, "basic");

  // 9. A Request object's body is a one-shot stream to us: a 307 is returned, not followed.
  const mk = () => new Request(`${peer.url}/r307`, { method: "POST", body: "rb" });
  const ro = await fetch(mk(), { client });
  assert.equal(ro.status, 307);
  await ro.body?.cancel();
  assert.deepEqual(await (await nodeFetch(mk())).json(), {
    method: "POST",
    path: "/echo",
    body: "rb",
    mine: null,
  });

  // 10. Credentials across a port change: Go's rule (same host) keeps Authorization; fetch's (same origin) drops it.
  const other = await httpPeer((req, res) => res.end(String(req.headers.authorization)));
  const hop = await httpPeer((_req, res) => {
    res.writeHead(302, { location: `${other.url}/` });
    res.end();
  });
  const auth = { headers: { authorization: "Bearer t" } };
  assert.equal(await (await fetch(hop.url, { ...auth, client })).text(), "Bearer t");
  assert.equal(await (await nodeFetch(hop.url, auth)).text(), "undefined");

  // 11. Redirect limit: the Client's maxRedirects (10) against fetch's 20.
  const long = await httpPeer((req, res) => {
    const n = Number(new URL(req.url ?? "/", "http://x").searchParams.get("n") ?? 0);
    if (n < 15) res.writeHead(302, { location: `/?n=${n + 1}` }).end();
    else res.end("end");
  });
  assert.equal(await (await nodeFetch(long.url)).text(), "end");
  await assert.rejects(fetch(long.url, { client }), (e: Error & { cause?: { code?: string } }) => {
    assert.equal(e.cause?.code, "ERR_TOO_MANY_REDIRECTS");
    return true;
  });

  // 12. data: URLs.
  assert.equal(await (await nodeFetch("data:,hi")).text(), "hi");
  await assert.rejects(fetch("data:,hi", { client }), TypeError);
  await other.close();
  await hop.close();
  await long.close();
  await peer.close();
  await assertNoLeaks(transport, base);
});
