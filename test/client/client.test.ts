/**
 * Client: cookies across hops (tough-cookie), basic auth from userinfo and password
 * masking, the whole-exchange timeout told apart from the caller's abort, and the
 * conveniences (baseURL, default headers, searchParams, json, form).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, test } from "node:test";
import busboy from "busboy";
import { CookieJar } from "tough-cookie";
import {
  Client,
  fetch,
  file,
  getDefaultClient,
  getDefaultTransport,
  isRoundtripError,
  RoundtripError,
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

// ---- cookies ------------------------------------------------------------------------

test("tough-cookie: a cookie set on hop 1 is sent on hop 2, and the last hop's cookies are stored", async () => {
  const base = tcpHandles();
  const peer = await recordingServer((req, res) => {
    if (req.url === "/login") {
      res.setHeader("set-cookie", ["sid=abc; Path=/", "theme=dark; Path=/app"]);
      redirect(res, 302, "/app/home");
    } else {
      res.setHeader("set-cookie", "last=1; Path=/");
      res.end("home");
    }
  });
  const t = newTransport();
  const jar = new CookieJar();
  const c = new Client({ transport: t, jar });
  const res = await c.get(`${peer.url}/login`);
  assert.equal(await res.text(), "home");
  assert.equal(peer.seen[0]!.headers.cookie, undefined);
  // RFC 6265 order, as tough-cookie gives it: longer paths first.
  assert.equal(peer.seen[1]!.headers.cookie, "theme=dark; sid=abc");
  assert.equal(await jar.getCookieString(`${peer.url}/`), "sid=abc; last=1");
  // The caller's own Cookie header goes first, the jar's follow.
  await (await c.get(`${peer.url}/app/x`, { headers: { cookie: "mine=1" } })).close();
  assert.equal(peer.seen[2]!.headers.cookie, "mine=1; theme=dark; sid=abc; last=1");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("cookies follow their domain across hosts; a cookie for a foreign domain is ignored, not fatal", async () => {
  const base = tcpHandles();
  const peer = await recordingServer((req, res) => {
    const host = req.headers.host;
    const to = new URL(req.url ?? "/", "http://x").searchParams.get("to");
    if (host === "sub.a.example") {
      res.setHeader("set-cookie", [
        "wide=1; Domain=a.example; Path=/",
        "narrow=1; Path=/",
        "evil=1; Domain=b.example",
      ]);
    }
    if (to) redirect(res, 302, to);
    else res.end(`hi ${host}`);
  });
  const t = newTransport(fakeDNS(peer));
  const jar = new CookieJar();
  const c = new Client({ transport: t, jar });
  const res = await c.get(
    `http://sub.a.example/?to=${encodeURIComponent("http://a.example/?to=" + encodeURIComponent("http://b.example/"))}`,
  );
  assert.equal(await res.text(), "hi b.example");
  assert.deepEqual(
    peer.seen.map((s) => `${s.host} ${s.headers.cookie ?? "-"}`),
    ["sub.a.example -", "a.example wide=1", "b.example -"],
  );
  await peer.close();
  await assertNoLeaks(t, base);
});

test("the jar is asked and told in order, once per hop (Go's TestJarCalls)", async () => {
  const base = tcpHandles();
  const peer = await httpPeer((req, res) => {
    if (req.url === "/nosetcookie") return res.end();
    res.setHeader("set-cookie", `name${req.url!.slice(1)}=val`);
    if (req.url === "/") redirect(res, 302, "http://second.example/secondpath");
    else res.end();
  });
  const t = newTransport(fakeDNS(peer));
  const log: string[] = [];
  const c = new Client({
    transport: t,
    jar: {
      getCookieString: async (url) => {
        log.push(`get ${url}`);
        return "";
      },
      setCookie: (cookie, url) => {
        log.push(`set ${url} ${cookie}`);
      },
    },
  });
  await (await c.get("http://first.example/")).close();
  await (await c.get("http://first.example/nosetcookie")).close();
  assert.deepEqual(log, [
    "get http://first.example/",
    "set http://first.example/ name=val",
    "get http://second.example/secondpath",
    "set http://second.example/secondpath namesecondpath=val",
    "get http://first.example/nosetcookie",
  ]);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a jar that hangs or throws cannot outlive the deadline nor leak the response", async () => {
  const base = tcpHandles();
  const peer = await recordingServer((_req, res) => {
    res.setHeader("set-cookie", "a=1");
    res.end("x");
  });
  const t = newTransport();
  const hangGet = new Client({
    transport: t,
    timeout: 50,
    jar: { getCookieString: () => new Promise<string>(() => {}), setCookie: () => {} },
  });
  assert.equal((await rejectsWith(hangGet.get(peer.url), "ERR_TIMEOUT")).phase, "client");
  const hangSet = new Client({
    transport: t,
    timeout: 50,
    jar: { getCookieString: () => "", setCookie: () => new Promise(() => {}) },
  });
  assert.equal((await rejectsWith(hangSet.get(peer.url), "ERR_TIMEOUT")).phase, "client");
  const boom = new Error("jar broken");
  const throwing = new Client({
    transport: t,
    jar: {
      getCookieString: () => {
        throw boom;
      },
      setCookie: () => {},
    },
  });
  await assert.rejects(throwing.get(peer.url), (e) => e === boom);
  await peer.close();
  await assertNoLeaks(t, base);
});

// ---- basic auth from userinfo --------------------------------------------------------

function basic(user: string, pass: string): string {
  return "Basic " + Buffer.from(`${user}:${pass}`).toString("base64");
}

test("basic auth from URL userinfo: percent-decoded, never on the wire, kept on the same host only", async () => {
  const base = tcpHandles();
  const peer = await recordingServer((req, res) => {
    const to = new URL(req.url ?? "/", "http://x").searchParams.get("to");
    if (to) redirect(res, 302, to);
    else res.end("ok");
  });
  const t = newTransport(fakeDNS(peer));
  const c = new Client({ transport: t });
  const res = await c.get(`http://us%40er:p%3As%20s%C3%A9@a.example/start?to=${encodeURIComponent("/same")}`);
  assert.equal(await res.text(), "ok");
  assert.equal(res.url, "http://a.example/same", "the response URL carries no credentials");
  assert.equal(peer.seen[0]!.headers.authorization, basic("us@er", "p:s sé"));
  assert.equal(peer.seen[0]!.url, `/start?to=${encodeURIComponent("/same")}`);
  assert.equal(peer.seen[0]!.host, "a.example");
  assert.equal(peer.seen[1]!.headers.authorization, basic("us@er", "p:s sé"), "same host keeps it");

  peer.seen.length = 0;
  await (await c.get(`http://u:p@a.example/?to=${encodeURIComponent("http://b.example/")}`)).close();
  assert.equal(peer.seen[0]!.headers.authorization, basic("u", "p"));
  assert.equal(peer.seen[1]!.headers.authorization, undefined, "never carried to another host");

  // A Location with its own userinfo uses that one.
  peer.seen.length = 0;
  await (await c.get(`http://u:p@a.example/?to=${encodeURIComponent("http://x:y@b.example/")}`)).close();
  assert.equal(peer.seen[1]!.headers.authorization, basic("x", "y"));

  // An Authorization header wins over userinfo.
  peer.seen.length = 0;
  await (await c.get("http://u:p@a.example/", { headers: { authorization: "Bearer tok" } })).close();
  assert.equal(peer.seen[0]!.headers.authorization, "Bearer tok");

  // Username only: an empty password.
  peer.seen.length = 0;
  await (await c.get("http://only@a.example/")).close();
  assert.equal(peer.seen[0]!.headers.authorization, basic("only", ""));
  await peer.close();
  await assertNoLeaks(t, base);
});

test("passwords are shown as *** in every error message and in err.url", async () => {
  const base = tcpHandles();
  // A closed port: ERR_CONNECT.
  const probe = net.createServer().listen(0, "127.0.0.1");
  await new Promise((r) => probe.once("listening", r));
  const closedPort = (probe.address() as net.AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const hang = await rawPeer(() => {});
  const loop = await httpPeer((_req, res) => redirect(res, 302, "/again"));
  const t = newTransport();
  const secret = "s3cr3t-PW";
  const check = (err: Error & { url?: string }, code: string) => {
    assert.ok(isRoundtripError(err), `${code}: ${err}`);
    assert.equal(err.code, code);
    assert.ok(!err.message.includes(secret), `${code} message leaks: ${err.message}`);
    assert.ok(!String(err.url).includes(secret), `${code} url leaks: ${err.url}`);
    assert.ok(!String(err.stack).includes(secret), `${code} stack leaks`);
    assert.match(err.message, /\*\*\*/, `${code}: ${err.message}`);
    assert.match(String(err.url), /user:\*\*\*@/, `${code}: ${err.url}`);
  };
  const c = new Client({ transport: t });
  check(
    await rejectsWith(c.get(`http://user:${secret}@127.0.0.1:${closedPort}/`), "ERR_CONNECT"),
    "ERR_CONNECT",
  );
  check(
    await rejectsWith(c.get(`http://user:${secret}@127.0.0.1:${hang.port}/`, { timeout: 50 }), "ERR_TIMEOUT"),
    "ERR_TIMEOUT",
  );
  check(
    await rejectsWith(
      new Client({ transport: t, maxRedirects: 1 }).get(`http://user:${secret}@127.0.0.1:${loop.port}/`),
      "ERR_TOO_MANY_REDIRECTS",
    ),
    "ERR_TOO_MANY_REDIRECTS",
  );
  const refuse = new Client({
    transport: t,
    checkRedirect: () => {
      throw new Error("no");
    },
  });
  check(
    await rejectsWith(refuse.get(`http://user:${secret}@127.0.0.1:${loop.port}/`), "ERR_REDIRECT"),
    "ERR_REDIRECT",
  );
  check(
    await rejectsWith(c.get(`ftp://user:${secret}@127.0.0.1/`), "ERR_INVALID_REQUEST"),
    "ERR_INVALID_REQUEST",
  );
  // Invalid URLs cannot be parsed to find the password; it is masked all the same.
  const bad = await rejectsWith(c.get(`http://user:${secret}@exa mple.com/`), "ERR_INVALID_REQUEST");
  assert.ok(!bad.message.includes(secret), bad.message);
  assert.match(bad.message, /user:\*\*\*@/);
  // Malformed percent-encoding in userinfo.
  const enc = await rejectsWith(
    c.get(`http://user:${secret}%zz@127.0.0.1:${loop.port}/`),
    "ERR_INVALID_REQUEST",
  );
  assert.ok(!enc.message.includes(secret), enc.message);
  await hang.close();
  await loop.close();
  await assertNoLeaks(t, base);
});

// ---- timeout and abort -----------------------------------------------------------------

test("timeout: ERR_TIMEOUT phase client while waiting for the head, across redirects, and during a slow body", async () => {
  const base = tcpHandles();
  const release: Array<() => void> = [];
  const peer = await httpPeer((req, res) => {
    if (req.url === "/hang") release.push(() => res.end("late"));
    else if (req.url === "/hop") redirect(res, 302, "/hang");
    else {
      res.writeHead(200, { "content-length": "10" });
      res.write("12345");
      release.push(() => res.end("67890"));
    }
  });
  const t = newTransport();
  const c = new Client({ transport: t, timeout: 100 });
  let err = await rejectsWith(c.get(`${peer.url}/hang`), "ERR_TIMEOUT");
  assert.equal(err.phase, "client");
  assert.match(err.message, /^GET http:\/\/127\.0\.0\.1:\d+\/hang: client timeout of 100 ms exceeded$/);

  err = await rejectsWith(c.get(`${peer.url}/hop`), "ERR_TIMEOUT");
  assert.equal(err.phase, "client");

  const res = await c.get(`${peer.url}/slow-body`);
  assert.equal(res.status, 200);
  err = await rejectsWith(res.text(), "ERR_TIMEOUT");
  assert.equal(err.phase, "client");

  // A per-call timeout overrides the client's; 0 turns it off.
  const d = await rejectsWith(
    new Client({ transport: t }).get(`${peer.url}/hang`, { timeout: 30 }),
    "ERR_TIMEOUT",
  );
  assert.equal(d.phase, "client");
  const noLimit = c.get(`${peer.url}/hang`, { timeout: 0 });
  await waitFor(() => release.length === 5, 2000, "the untimed request to arrive");
  for (const r of release) r();
  assert.equal(await (await noLimit).text(), "late");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("the caller's abort is ERR_ABORTED (cause: the reason), never ERR_TIMEOUT, with or without a timeout", async () => {
  const base = tcpHandles();
  let arrived = 0;
  const peer = await httpPeer((req, res) => {
    arrived++;
    if (req.url === "/body") {
      res.writeHead(200, { "content-length": "4" });
      res.write("ab");
    }
  });
  const t = newTransport();
  for (const timeout of [0, 60_000]) {
    const c = new Client({ transport: t, timeout });
    const ac = new AbortController();
    const reason = new Error("user gave up");
    const n = arrived;
    const p = c.get(`${peer.url}/head`, { signal: ac.signal });
    await waitFor(() => arrived > n, 2000, "request to arrive");
    ac.abort(reason);
    const err = await rejectsWith(p, "ERR_ABORTED");
    assert.equal(err.cause, reason, `timeout ${timeout}`);
    assert.equal(err.phase, undefined);

    // Aborting while the body is read.
    const ac2 = new AbortController();
    const res = await c.get(`${peer.url}/body`, { signal: ac2.signal });
    const text = res.text();
    ac2.abort(reason);
    const err2 = await rejectsWith(text, "ERR_ABORTED");
    assert.equal(err2.cause, reason);

    // Already aborted.
    const ac3 = new AbortController();
    ac3.abort(reason);
    assert.equal((await rejectsWith(c.get(peer.url, { signal: ac3.signal }), "ERR_ABORTED")).cause, reason);
  }
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a finished exchange leaves no deadline timer behind", async () => {
  const base = tcpHandles();
  const peer = await httpPeer((req, res) => {
    if (req.url === "/r") redirect(res, 302, "/");
    else res.end("x".repeat(100_000));
  });
  const t = newTransport();
  const c = new Client({ transport: t, timeout: 600_000 });
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
  await (await c.get(peer.url)).text();
  const before = timers();
  for (let i = 0; i < 5; i++) {
    await (await c.get(`${peer.url}/r`)).text();
    await (await c.head(peer.url)).close();
    await (await c.get(peer.url)).close();
    await c.get(`${peer.url}/r`, { signal: AbortSignal.abort() }).catch(() => {});
  }
  assert.equal(timers(), before);
  await peer.close();
  await assertNoLeaks(t, base);
  for (const bad of [{ timeout: -1 }, { timeout: Number.NaN }, { maxRedirects: -1 }, { maxRedirects: 1.5 }]) {
    assert.throws(() => new Client(bad), { code: "ERR_INVALID_REQUEST" }, JSON.stringify(bad));
  }
  assert.throws(
    () => new Client({ baseURL: "http://u:pw@bad host/" }),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, "ERR_INVALID_REQUEST");
      assert.ok(!e.message.includes("pw"), e.message);
      return true;
    },
  );
});

// ---- conveniences ------------------------------------------------------------------------

test("baseURL, default headers, searchParams", async (t) => {
  noSockets(t);
  const api = "http://base.test";
  const mock = new MockTransport();
  mock.intercept({ origin: api, path: /.*/ }).reply(200, "ok").persist();
  const c = new Client({
    transport: mock,
    baseURL: `${api}/api/v1/`,
    headers: { "X-Default": "d", Accept: "application/json" },
  });
  await (await c.get("users?sort=asc", { searchParams: { page: 2, all: true, q: "a b&c" } })).close();
  await (
    await c.get("/root", { headers: { accept: "text/html" }, searchParams: new URLSearchParams("x=1&x=2") })
  ).close();
  await (await c.get(`${api}/absolute`, { searchParams: "k=v" })).close();
  const target = (url: string) => url.slice(api.length);
  assert.deepEqual(
    mock.calls.map((s) => target(s.url)),
    // "/root" joins under the base path (got/ky/axios); an absolute URL of the base's origin is allowed.
    ["/api/v1/users?sort=asc&page=2&all=true&q=a+b%26c", "/api/v1/root?x=1&x=2", "/absolute?k=v"],
  );
  assert.equal(mock.calls[0]!.headers.get("x-default"), "d");
  assert.equal(mock.calls[0]!.headers.get("accept"), "application/json");
  assert.equal(
    mock.calls[1]!.headers.get("accept"),
    "text/html",
    "the request's header wins, whatever its case",
  );
  assert.equal(mock.calls[1]!.headers.getAll("accept").length, 1, "one Accept line, not the default as well");
  assert.equal(mock.calls[1]!.headers.get("x-default"), "d");
});

test("baseURL joins paths as got, ky and axios do; another origin is refused unless allowAbsoluteUrls (axios CVE-2025-27152, CVE-2024-39338)", async () => {
  const base = tcpHandles();
  const peer = await recordingServer((_req, res) => res.end("ok"));
  const t = newTransport(fakeDNS(peer));
  const joined: Array<[string, string]> = [
    ["json", "/v1/json"],
    ["/json", "/v1/json"],
    ["json/deep?q=1", "/v1/json/deep?q=1"],
    ["", "base"], // the base itself, as given
    ["?q=1", "/v1/?q=1"],
    ["./here", "/v1/here"],
    ["../up", "/up"],
    [" json", "/v1/json"],
    ["http://a.example/abs", "/abs"],
    ["//a.example/same-origin", "/same-origin"],
  ];
  for (const baseURL of ["http://a.example/v1", "http://a.example/v1/"]) {
    const c = new Client({ transport: t, baseURL, headers: { Authorization: "Bearer client-wide" } });
    for (const [input, path] of joined) {
      peer.seen.length = 0;
      await (await c.get(input)).close();
      const want = path === "base" ? new URL(baseURL).pathname : path;
      assert.equal(peer.seen[0]?.url, want, `${baseURL} + ${JSON.stringify(input)}`);
      assert.equal(peer.seen[0]?.host, "a.example");
    }
  }
  const c = new Client({
    transport: t,
    baseURL: "http://a.example/v1",
    headers: { Authorization: "Bearer c" },
  });
  peer.seen.length = 0;
  for (const input of [
    "http://b.example/steal",
    "//b.example/steal",
    "/\\b.example/steal",
    "\\\\b.example/steal",
    "\\/b.example/steal",
    " //b.example/steal",
    "/\t/b.example/steal",
    "https://a.example/other-scheme",
    "http://a.example:8080/other-port",
    "b.example:80/looks-like-a-scheme",
    new URL("http://b.example/url-object"),
  ]) {
    const err = await rejectsWith(c.get(input), "ERR_INVALID_REQUEST");
    assert.match(err.message, /allowAbsoluteUrls/, String(input));
  }
  assert.equal(peer.seen.length, 0, "nothing sent anywhere");
  // fetch through the Client: the same rules, as fetch's TypeError.
  await (await fetch("json", { client: c })).text();
  assert.equal(peer.seen[0]?.url, "/v1/json");
  await assert.rejects(fetch("http://b.example/", { client: c }), (err: Error) => {
    assert.ok(err instanceof TypeError);
    assert.match(err.message, /allowAbsoluteUrls/);
    assert.equal((err.cause as RoundtripError).code, "ERR_INVALID_REQUEST");
    return true;
  });
  // Opting in: another origin is resolved against the base, the WHATWG way.
  const open = new Client({ transport: t, baseURL: "http://a.example/v1", allowAbsoluteUrls: true });
  peer.seen.length = 0;
  await (await open.get("http://b.example/x")).close();
  await (await open.get("//b.example/y")).close();
  await (await open.get("json")).close();
  assert.deepEqual(
    peer.seen.map((s) => `${s.host}${s.url}`),
    ["b.example/x", "b.example/y", "a.example/v1/json"],
  );
  assert.throws(() => new Client({ baseURL: "http://a.example/v1?key=1" }), { code: "ERR_INVALID_REQUEST" });
  assert.throws(() => new Client({ baseURL: "http://a.example/v1#f" }), { code: "ERR_INVALID_REQUEST" });
  await peer.close();
  await assertNoLeaks(t, base);
});

test("json option and res.json(); response.url and redirected on a direct answer", async () => {
  const base = tcpHandles();
  const peer = await recordingServer((req, res, body) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ got: JSON.parse(body.toString()), type: req.headers["content-type"] }));
  });
  const t = newTransport();
  const c = new Client({ transport: t });
  const res = await c.post(`${peer.url}/j#frag`, { json: { a: [1, "ü", null] } });
  assert.deepEqual(await res.json(), { got: { a: [1, "ü", null] }, type: "application/json" });
  assert.equal(res.redirected, false);
  assert.equal(res.url, `${peer.url}/j#frag`);
  assert.equal(peer.seen[0]!.headers["content-length"], String(Buffer.byteLength('{"a":[1,"ü",null]}')));
  const custom = await c.put(`${peer.url}/j`, {
    json: 5,
    headers: { "content-type": "application/vnd.x+json" },
  });
  assert.equal((await custom.json<{ type: string }>()).type, "application/vnd.x+json");
  await rejectsWith(c.post(peer.url, { json: 1, body: "x" }), "ERR_INVALID_REQUEST");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("form option: multipart parsed by busboy, byte-exact fields and files", async () => {
  const base = tcpHandles();
  const dir = mkdtempSync(join(tmpdir(), "rt-form-"));
  const onDisk = randomBytes(200_000);
  const path = join(dir, "data.bin");
  writeFileSync(path, onDisk);
  const blobBytes = randomBytes(5000);
  type Part = { name: string; value: Buffer; filename?: string; mime?: string };
  const parsed: Part[][] = [];
  const raw: Array<{ ct: string; body: Buffer; length?: string }> = [];
  const peer = await recordingServer((req, res, body) => {
    raw.push({ ct: String(req.headers["content-type"]), body, length: req.headers["content-length"] });
    const parts: Part[] = [];
    const bb = busboy({ headers: req.headers });
    bb.on("field", (name, value) => parts.push({ name, value: Buffer.from(value) }));
    bb.on("file", (name, stream, info) => {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () =>
        parts.push({ name, value: Buffer.concat(chunks), filename: info.filename, mime: info.mimeType }),
      );
    });
    bb.on("close", () => {
      parsed.push(parts);
      res.end("ok");
    });
    bb.end(body);
  });
  const t = newTransport();
  const c = new Client({ transport: t });
  const res = await c.post(peer.url, {
    form: {
      plain: "value",
      unicode: "ünï ✓",
      lines: "a\nb\r\nc\rd",
      many: ["1", "2"],
      blob: new File([blobBytes], "pic.png", { type: "image/png" }),
      anon: new Blob(["anon"]),
      disk: file(path),
      'we"ird\nname': "x",
    },
  });
  assert.equal(await res.text(), "ok");
  const parts = parsed[0]!;
  const byName = (n: string) => parts.filter((p) => p.name === n);
  assert.equal(byName("plain")[0]!.value.toString(), "value");
  assert.equal(byName("unicode")[0]!.value.toString(), "ünï ✓");
  assert.equal(
    byName("lines")[0]!.value.toString(),
    "a\r\nb\r\nc\r\nd",
    "line breaks normalized as browsers do",
  );
  assert.deepEqual(
    byName("many").map((p) => p.value.toString()),
    ["1", "2"],
  );
  const blob = byName("blob")[0]!;
  assert.deepEqual(blob.value, blobBytes);
  assert.equal(blob.filename, "pic.png");
  assert.equal(blob.mime, "image/png");
  assert.equal(byName("anon")[0]!.filename, "blob");
  assert.equal(byName("anon")[0]!.mime, "application/octet-stream");
  const disk = byName("disk")[0]!;
  assert.deepEqual(disk.value, onDisk);
  assert.equal(disk.filename, "data.bin");
  assert.equal(byName("we%22ird%0Aname")[0]!.value.toString(), "x");
  // Issue 4: a form goes out with a Content-Length whenever every part's size is known;
  // file() parts are stat'ed just before the head, so this one has one too.
  assert.equal(
    raw[0]!.length,
    String(raw[0]!.body.length),
    "file() parts stat'ed up front: exact Content-Length",
  );

  // Without a file part the length is known and the bytes are exactly the multipart grammar.
  await (await c.post(peer.url, { form: { a: "1", b: new Blob(["zz"], { type: "text/x" }) } })).close();
  const { ct, body, length } = raw[1]!;
  const boundary = /^multipart\/form-data; boundary=(.+)$/.exec(ct)![1]!;
  const want =
    `--${boundary}\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="b"; filename="blob"\r\nContent-Type: text/x\r\n\r\nzz\r\n` +
    `--${boundary}--\r\n`;
  assert.equal(body.toString("latin1"), want);
  assert.equal(length, String(body.length));
  rmSync(dir, { recursive: true, force: true });
  await peer.close();
  await assertNoLeaks(t, base);
});

test("do/request/get/head/post/put/patch/delete send their method; defaults are shared and exported", async () => {
  const base = tcpHandles();
  const peer = await recordingServer((req, res) => res.end(req.method));
  const t = newTransport();
  const c = new Client({ transport: t });
  const out: string[] = [];
  out.push(await (await c.do({ url: peer.url, method: "OPTIONS" })).text());
  out.push(await (await c.request(peer.url)).text());
  out.push(await (await c.get(peer.url)).text());
  await (await c.head(peer.url)).close();
  out.push(await (await c.post(peer.url, { body: "b" })).text());
  out.push(await (await c.put(peer.url, { body: "b" })).text());
  out.push(await (await c.patch(peer.url, { body: "b" })).text());
  out.push(await (await c.delete(peer.url)).text());
  assert.deepEqual(out, ["OPTIONS", "GET", "GET", "POST", "PUT", "PATCH", "DELETE"]);
  assert.deepEqual(
    peer.seen.map((s) => s.method),
    ["OPTIONS", "GET", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
  );
  // The method given to get() wins over one in the options.
  await (await c.get(peer.url, { method: "POST" })).close();
  assert.equal(peer.seen.at(-1)!.method, "GET");
  assert.equal(getDefaultClient(), getDefaultClient());
  assert.equal(getDefaultClient().transport, getDefaultTransport());
  assert.equal(new Client().transport, getDefaultTransport());
  await rejectsWith(c.get("not a url"), "ERR_INVALID_REQUEST");
  await rejectsWith(c.request(peer.url, { method: "BAD METHOD" }), "ERR_INVALID_REQUEST");
  assert.ok(new RoundtripError("ERR_REDIRECT", "x") instanceof Error);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a request sent through the Client is the same bytes the Transport would send", async () => {
  const base = tcpHandles();
  const heads: string[] = [];
  const peer = await rawPeer(async (socket) => {
    for (;;) {
      const { head } = await readRequest(socket).catch(() => ({ head: "" }));
      if (head === "") return;
      heads.push(head);
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    }
  });
  const t = newTransport();
  await (await new Client({ transport: t }).get(`${peer.url}/p?q=1`, { headers: { "X-A": "1" } })).close();
  await (await t.roundTrip({ url: `${peer.url}/p?q=1`, headers: { "X-A": "1" } })).close();
  assert.equal(heads.length, 2);
  assert.equal(heads[0], heads[1]);
  await peer.close();
  await assertNoLeaks(t, base);
});
