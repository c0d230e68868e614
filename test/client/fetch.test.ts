/**
 * fetch() over roundtrip's Client: a standard globalThis.Response, every body kind both
 * ways (streams included), redirect modes, abort with the signal's reason, Request input.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import net from "node:net";
import { Readable } from "node:stream";
import { afterEach, test } from "node:test";
import { gzipSync } from "node:zlib";
import { Client, fetch } from "../../src/index.js";
import { assertNoLeaks, rejectsWith, tcpHandles, waitFor } from "../helpers.js";
import { closeLeftovers, httpPeer, newTransport, recordingServer, redirect } from "./util.js";

afterEach(closeLeftovers);

function setup(opts: ConstructorParameters<typeof Client>[0] = {}) {
  const transport = newTransport();
  const client = new Client({ ...opts, transport });
  return { transport, client };
}

test("status, statusText, headers (Set-Cookie apart), body; a standard Response", async () => {
  const base = tcpHandles();
  const peer = await httpPeer((_req, res) => {
    res.statusMessage = "Made It";
    res.setHeader("x-one", "1");
    res.setHeader("set-cookie", ["a=1", "b=2"]);
    res.setHeader("content-type", "text/plain; charset=utf-8");
    res.writeHead(201);
    res.end("héllo");
  });
  const { transport, client } = setup();
  const res = await fetch(`${peer.url}/p?q=1#frag`, { client });
  assert.ok(res instanceof globalThis.Response);
  assert.equal(res.status, 201);
  assert.equal(res.statusText, "Made It");
  assert.equal(res.ok, true);
  assert.equal(res.headers.get("x-one"), "1");
  assert.deepEqual(res.headers.getSetCookie(), ["a=1", "b=2"]);
  assert.equal(res.headers.get("content-type"), "text/plain; charset=utf-8");
  assert.equal(res.url, `${peer.url}/p?q=1`, "no fragment, as Node's fetch");
  assert.equal(res.redirected, false);
  assert.equal(res.bodyUsed, false);
  assert.equal(await res.text(), "héllo");
  assert.equal(res.bodyUsed, true);
  await peer.close();
  await assertNoLeaks(transport, base);
});

test("every request body kind arrives byte-exact with its Content-Type", async () => {
  const base = tcpHandles();
  const peer = await recordingServer((_req, res) => res.end("ok"));
  const { transport, client } = setup();
  const form = new FormData();
  form.append("f", "v");
  const bytes = new Uint8Array([1, 2, 3, 255]);
  const b = (s: string) => Buffer.from(s);
  const cases: Array<
    [string, () => NonNullable<Parameters<typeof fetch>[1]>["body"], Buffer | null, RegExp | null]
  > = [
    ["string", () => "text ü", b("text ü"), /^text\/plain;charset=UTF-8$/],
    [
      "URLSearchParams",
      () => new URLSearchParams({ a: "1 2" }),
      b("a=1+2"),
      /^application\/x-www-form-urlencoded;charset=UTF-8$/,
    ],
    ["Blob", () => new Blob(["blob"], { type: "x/y" }), b("blob"), /^x\/y$/],
    ["Uint8Array", () => bytes, Buffer.from(bytes), null],
    ["ArrayBuffer", () => bytes.slice().buffer, Buffer.from(bytes), null],
    ["ReadableStream", () => new Blob(["str", "eam"]).stream(), b("stream"), null],
    ["Node Readable", () => Readable.from([Buffer.from("node")]), b("node"), null],
    ["FormData", () => form, null, /^multipart\/form-data; boundary=/],
  ];
  for (const [name, body, want, type] of cases) {
    peer.seen.length = 0;
    const res = await fetch(peer.url, { client, method: "POST", body: body(), duplex: "half" });
    assert.equal(await res.text(), "ok");
    const s = peer.seen[0]!;
    if (want !== null) assert.deepEqual(s.body, want, name);
    else assert.match(s.body.toString(), /name="f"\r\n\r\nv\r\n/);
    if (type) assert.match(String(s.headers["content-type"]), type, name);
    else assert.equal(s.headers["content-type"], undefined, name);
  }
  await peer.close();
  await assertNoLeaks(transport, base);
});

test("streaming both ways: an upload is sent as it is produced, a download read as it arrives", async () => {
  const base = tcpHandles();
  const received: string[] = [];
  let push: ((s: string | null) => void) | null = null;
  const peer = await httpPeer((req, res) => {
    if (req.url === "/up") {
      req.on("data", (c: Buffer) => received.push(c.toString()));
      req.on("end", () => res.end(received.join("")));
      return;
    }
    res.writeHead(200, { "content-type": "text/plain" });
    res.flushHeaders();
    push = (s) => (s === null ? res.end() : res.write(s));
  });
  const { transport, client } = setup();

  // Upload: the producer hands out chunk n+1 only after the server has seen chunk n.
  let n = 0;
  const upload = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const prev = `part${n - 1}|`;
      if (n > 0) await waitFor(() => received.join("").endsWith(prev), 5000, `server to receive ${prev}`);
      if (n === 3) return controller.close();
      controller.enqueue(new TextEncoder().encode(`part${n}|`));
      n++;
    },
  });
  const up = await fetch(`${peer.url}/up`, { client, method: "PUT", body: upload, duplex: "half" });
  assert.equal(await up.text(), "part0|part1|part2|");

  // Download: the server writes the next piece only after the reader got the previous one.
  const down = await fetch(`${peer.url}/down`, { client });
  assert.ok(down.body);
  const reader = down.body.getReader();
  await waitFor(() => push !== null, 2000, "server handler");
  const got: string[] = [];
  for (const piece of ["alpha", "beta", "gamma"]) {
    push!(piece);
    let s = "";
    while (s.length < piece.length) {
      const r = await reader.read();
      assert.equal(r.done, false);
      s += Buffer.from(r.value!).toString();
    }
    got.push(s);
  }
  push!(null);
  assert.equal((await reader.read()).done, true);
  assert.deepEqual(got, ["alpha", "beta", "gamma"]);
  await peer.close();
  await assertNoLeaks(transport, base);
});

test("full duplex: the response is read while the upload is still being produced (an echo), as with Node's fetch", async () => {
  const base = tcpHandles();
  const peer = await httpPeer((req, res) => {
    res.writeHead(200, { "content-type": "application/octet-stream" });
    res.flushHeaders();
    req.on("data", (c: Buffer) => res.write(c));
    req.on("end", () => res.end("|end"));
  });
  const { transport, client } = setup();
  // Each chunk is produced only once the echo of the previous one has been read from the
  // response: without full duplex this deadlocks (bounded by waitFor below).
  let echoed = "";
  let n = 0;
  const upload = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (n > 0) await waitFor(() => echoed.includes(`chunk${n - 1};`), 5000, `echo of chunk${n - 1}`);
      if (n === 5) return controller.close();
      controller.enqueue(new TextEncoder().encode(`chunk${n};`));
      n++;
    },
  });
  const res = await fetch(peer.url, { client, method: "POST", body: upload, duplex: "half" });
  assert.equal(res.status, 200);
  assert.ok(res.body);
  const reader = res.body.getReader();
  for (let i = 0; i < 100; i++) {
    const r = await reader.read();
    if (r.done) break;
    echoed += Buffer.from(r.value).toString();
  }
  assert.equal(echoed, "chunk0;chunk1;chunk2;chunk3;chunk4;|end");
  await peer.close();
  await assertNoLeaks(transport, base);
});

test("redirect modes: follow, manual, error", async () => {
  const base = tcpHandles();
  const peer = await recordingServer((req, res) => {
    if (req.url === "/r") redirect(res, 302, "/final");
    else if (req.url === "/r307") redirect(res, 307, "/final");
    else res.end(`${req.method} final`);
  });
  const { transport, client } = setup({ headers: { "x-default": "d" } });
  const followed = await fetch(`${peer.url}/r`, { client });
  assert.equal(followed.status, 200);
  assert.equal(followed.redirected, true);
  assert.equal(followed.url, `${peer.url}/final`);
  assert.equal(await followed.text(), "GET final");

  const kept = await fetch(`${peer.url}/r307`, { client, method: "POST", body: "b" });
  assert.equal(await kept.text(), "POST final");

  const manual = await fetch(`${peer.url}/r`, { client, redirect: "manual" });
  assert.equal(manual.status, 302);
  assert.equal(manual.redirected, false);
  assert.equal(manual.url, `${peer.url}/r`);
  assert.equal(manual.headers.get("location"), "/final");
  assert.equal(await manual.text(), "moved");
  assert.equal(peer.seen.at(-1)!.headers["x-default"], "d", "the client's options still apply");

  const before = peer.seen.length;
  await assert.rejects(fetch(`${peer.url}/r`, { client, redirect: "error" }), (err: Error) => {
    assert.ok(err instanceof TypeError);
    assert.equal(err.message, "fetch failed");
    return true;
  });
  assert.equal(peer.seen.length, before + 1);
  // A plain 200 under redirect: "error" is fine.
  assert.equal(await (await fetch(`${peer.url}/final`, { client, redirect: "error" })).text(), "GET final");
  assert.equal(peer.connections, 1, "refused and manual redirects left the connection reusable");
  await peer.close();
  await assertNoLeaks(transport, base);
});

test("abort rejects with the signal's reason: before the call, waiting for the head, reading the body", async () => {
  const base = tcpHandles();
  let arrived = 0;
  const peer = await httpPeer((req, res) => {
    arrived++;
    if (req.url === "/body") {
      res.writeHead(200, { "content-length": "100" });
      res.write("partial");
    }
  });
  const { transport, client } = setup();
  const reason = new Error("mine");

  await assert.rejects(fetch(peer.url, { client, signal: AbortSignal.abort(reason) }), (e) => e === reason);

  const ac = new AbortController();
  const p = fetch(`${peer.url}/head`, { client, signal: ac.signal });
  await waitFor(() => arrived === 1, 2000, "request to arrive");
  ac.abort(reason);
  await assert.rejects(p, (e) => e === reason);

  const ac2 = new AbortController();
  const res = await fetch(`${peer.url}/body`, { client, signal: ac2.signal });
  const reader = res.body!.getReader();
  assert.equal(Buffer.from((await reader.read()).value!).toString(), "partial");
  ac2.abort(reason);
  await assert.rejects(reader.read(), (e) => e === reason);

  // The default reason is a DOMException named AbortError, as with Node's fetch.
  const ac3 = new AbortController();
  const p3 = fetch(`${peer.url}/head`, { client, signal: ac3.signal });
  await waitFor(() => arrived === 3, 2000, "request to arrive");
  ac3.abort();
  await assert.rejects(p3, (e: Error) => e.name === "AbortError" && e instanceof DOMException);
  await peer.close();
  await assertNoLeaks(transport, base);
});

test("Request objects as input, with init overriding them", async () => {
  const base = tcpHandles();
  const peer = await recordingServer((req, res) => {
    if (req.url === "/r") redirect(res, 302, "/final");
    else res.end(`${req.method} ${req.url}`);
  });
  const { transport, client } = setup();
  const req = new Request(`${peer.url}/x`, {
    method: "PUT",
    headers: { "x-from": "request" },
    body: "from request",
  });
  const res = await fetch(req, { client });
  assert.equal(await res.text(), "PUT /x");
  assert.equal(peer.seen[0]!.body.toString(), "from request");
  assert.equal(peer.seen[0]!.headers["x-from"], "request");
  assert.equal(peer.seen[0]!.headers["content-type"], "text/plain;charset=UTF-8");

  const res2 = await fetch(
    new Request(`${peer.url}/y`, { method: "POST", body: "b", headers: { "x-from": "r" } }),
    {
      client,
      method: "PATCH",
      headers: { "x-from": "init" },
      body: "init body",
    },
  );
  assert.equal(await res2.text(), "PATCH /y");
  assert.equal(peer.seen[1]!.headers["x-from"], "init");
  assert.equal(peer.seen[1]!.body.toString(), "init body");

  const manual = await fetch(new Request(`${peer.url}/r`, { redirect: "manual" }), { client });
  assert.equal(manual.status, 302);
  await manual.body?.cancel();

  const ac = new AbortController();
  ac.abort(new Error("from request signal"));
  await assert.rejects(
    fetch(new Request(peer.url, { signal: ac.signal }), { client }),
    /from request signal/,
  );
  await peer.close();
  await assertNoLeaks(transport, base);
});

test("null bodies (HEAD, 204, 304), decompression, URL and network errors as TypeError", async () => {
  const base = tcpHandles();
  const peer = await httpPeer((req, res) => {
    if (req.url === "/204") res.writeHead(204).end();
    else if (req.url === "/304") res.writeHead(304, { etag: '"x"' }).end();
    else if (req.url === "/gz") {
      res.writeHead(200, { "content-encoding": "gzip", "content-type": "text/plain" });
      res.end(gzipSync("zipped text"));
    } else res.writeHead(200, { "content-length": "4" }).end(req.method === "HEAD" ? undefined : "body");
  });
  const { transport, client } = setup();
  const head = await fetch(peer.url, { client, method: "HEAD" });
  assert.equal(head.body, null);
  assert.equal(head.headers.get("content-length"), "4");
  for (const s of [204, 304]) {
    const r = await fetch(`${peer.url}/${s}`, { client });
    assert.equal(r.status, s);
    assert.equal(r.body, null);
    assert.equal(await r.text(), "");
  }
  const gz = await fetch(`${peer.url}/gz`, { client });
  assert.equal(await gz.text(), "zipped text");
  assert.equal(gz.headers.get("content-encoding"), null, "ours removes it once decoded (see docs/fetch.md)");

  await assert.rejects(fetch("http://exa mple/", { client }), (e: Error) => e instanceof TypeError);
  await assert.rejects(fetch(peer.url, { client, body: "x" }), (e: Error) => e instanceof TypeError);
  await assert.rejects(fetch(peer.url, { client, method: "CONNECT" }), (e: Error) => e instanceof TypeError);
  const probe = net.createServer().listen(0, "127.0.0.1");
  await once(probe, "listening");
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((r) => probe.close(r));
  await assert.rejects(
    fetch(`http://127.0.0.1:${port}/`, { client }),
    (e: Error & { cause?: { code?: string } }) => {
      assert.ok(e instanceof TypeError);
      assert.equal(e.message, "fetch failed");
      assert.equal(e.cause?.code, "ERR_CONNECT");
      return true;
    },
  );
  // The client's timeout applies to fetch too.
  const slow = await httpPeer(() => {});
  const timed = new Client({ transport, timeout: 50 });
  await assert.rejects(fetch(slow.url, { client: timed }), (e: Error & { cause?: unknown }) => {
    assert.ok(e instanceof TypeError);
    return true;
  });
  await rejectsWith(
    fetch(slow.url, { client: timed }).catch((e: Error) => Promise.reject(e.cause)),
    "ERR_TIMEOUT",
  );
  await slow.close();
  await peer.close();
  await assertNoLeaks(transport, base);
});
