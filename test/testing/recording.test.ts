/**
 * RecordingTransport: a session recorded against a loopback node:http server replays
 * byte for byte with the server closed (status, reason, headers in order and casing,
 * trailers, body bytes, version, contentLength, uncompressed); normalizers keep a
 * recording stable; an unrecorded request fails loudly; update mode appends.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { Client, Headers, type Response, Transport } from "../../src/index.js";
import { RecordingTransport } from "../../src/testing/index.js";
import { assertNoLeaks, httpServer, rejectsWith, tcpHandles } from "../helpers.js";
import { countConnections, noSockets } from "./sockets.js";

function tempFile(t: { after(fn: () => unknown): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "rt-recording-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, "session.json");
}

/** Everything a caller can observe of a response. */
async function observe(res: Response) {
  const body = Buffer.from(await res.bytes());
  return {
    status: res.status,
    statusText: res.statusText,
    httpVersion: res.httpVersion,
    headers: res.headers.raw(),
    trailers: res.trailers.raw(),
    body: body.toString("base64"),
    contentLength: res.contentLength,
    uncompressed: res.uncompressed,
    url: res.url,
    redirected: res.redirected,
  };
}

const binary = randomBytes(3000);
binary[0] = 0xff; // never valid UTF-8

async function session(client: Client, base: string) {
  return [
    await observe(await client.get(`${base}/text?b=2&a=1`)),
    await observe(await client.get(`${base}/bin`)),
    await observe(await client.post(`${base}/echo`, { json: { hello: "world" } })),
    await observe(await client.get(`${base}/gz`)),
    await observe(await client.get(`${base}/missing`)),
    await observe(await client.get(`${base}/redirect`)),
    await observe(await client.head(`${base}/text?b=2&a=1`)),
  ];
}

async function recordedServer() {
  return httpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = new URL(req.url!, "http://x").pathname;
      if (path === "/text") {
        res.setHeader("X-Mixed-Case", "Value");
        res.setHeader("Set-Cookie", ["a=1; Path=/", "b=2; Path=/"]);
        res.setHeader("Content-Type", "text/plain; charset=utf-8");
        res.end(req.method === "HEAD" ? undefined : "héllo, recorded world");
      } else if (path === "/bin") {
        res.writeHead(200, { "Content-Type": "application/octet-stream", Trailer: "X-Checksum" });
        res.write(binary.subarray(0, 1000));
        res.write(binary.subarray(1000));
        res.addTrailers({ "X-Checksum": "sum-1" });
        res.end();
      } else if (path === "/echo") {
        res.setHeader("Content-Type", req.headers["content-type"] ?? "none");
        res.end(Buffer.concat(chunks));
      } else if (path === "/gz") {
        res.setHeader("Content-Encoding", "gzip");
        res.end(gzipSync("decoded by the transport"));
      } else if (path === "/redirect") {
        res.writeHead(302, { Location: "/text?a=1&b=2" });
        res.end();
      } else {
        res.writeHead(404, "Nope", { "Content-Type": "text/plain" });
        res.end("not here");
      }
    });
  });
}

test("RecordingTransport: a session recorded against a loopback server replays byte for byte with the server closed", async (t) => {
  const file = tempFile(t);
  const base = tcpHandles();
  const peer = await recordedServer();
  const real = new Transport();
  const recorder = new RecordingTransport({ transport: real, file, mode: "record" });
  const recorded = await session(new Client({ transport: recorder }), peer.url);
  await peer.close();
  await recorder.close(); // closes the real transport too
  await assertNoLeaks(real, base);

  assert.equal(recorded[0]!.headers.find(([n]) => n === "X-Mixed-Case")?.[1], "Value");
  assert.deepEqual(recorded[1]!.trailers, [["X-Checksum", "sum-1"]]);
  assert.equal(recorded[1]!.contentLength, -1, "chunked");
  assert.equal(recorded[3]!.uncompressed, true);
  assert.equal(recorded[4]!.statusText, "Nope");
  assert.equal(recorded[5]!.redirected, true);

  const counter = countConnections();
  try {
    const replayer = new RecordingTransport({ file, mode: "replay" });
    const replayed = await session(new Client({ transport: replayer }), peer.url);
    assert.deepEqual(replayed, recorded);
    assert.equal(counter.count, 0, "replay opens no connection");
    await replayer.close();
  } finally {
    counter.restore();
  }

  const stored = JSON.parse(readFileSync(file, "utf8"));
  assert.equal(stored.roundtripRecording, 1);
  assert.equal(stored.exchanges.length, 8, "each hop of the redirect is an exchange");
  assert.deepEqual(stored.exchanges[0].response.body, { text: "héllo, recorded world" }, "text as text");
  assert.deepEqual(
    stored.exchanges[1].response.body,
    { base64: binary.toString("base64") },
    "bytes as base64",
  );
  assert.deepEqual(stored.exchanges[2].request.body, { text: '{"hello":"world"}' });
  assert.deepEqual(stored.exchanges[0].response.headers.slice(0, 2), [
    ["X-Mixed-Case", "Value"],
    ["Set-Cookie", "a=1; Path=/"],
  ]);
});

test("replay: an unrecorded request, or one asked more often than recorded, fails with ERR_MOCK_NOT_MATCHED naming what was recorded", async (t) => {
  noSockets(t);
  const file = tempFile(t);
  const replayer = new RecordingTransport({ file, mode: "replay" });
  const none = await rejectsWith(replayer.roundTrip({ url: "http://api.test/x" }), "ERR_MOCK_NOT_MATCHED");
  assert.match(
    none.message,
    /no recording at .*session\.json to replay GET http:\/\/api\.test\/x from \(record it with mode: "record"\)/,
  );

  writeFileSync(
    file,
    JSON.stringify({
      roundtripRecording: 1,
      exchanges: [
        {
          request: { method: "GET", url: "http://api.test/users?page=1", headers: [] },
          response: {
            status: 200,
            statusText: "OK",
            httpVersion: "1.1",
            headers: [],
            body: { text: "p1" },
            contentLength: 2,
            uncompressed: false,
          },
        },
        {
          request: { method: "POST", url: "http://api.test/users", headers: [], body: { text: '{"n":1}' } },
          response: {
            status: 201,
            statusText: "Created",
            httpVersion: "1.1",
            headers: [],
            contentLength: 0,
            uncompressed: false,
          },
        },
      ],
    }),
  );
  const r = new RecordingTransport({ file, mode: "replay" });
  assert.equal(await (await r.roundTrip({ url: "http://api.test/users?page=1" })).text(), "p1");
  const again = await rejectsWith(
    r.roundTrip({ url: "http://api.test/users?page=1" }),
    "ERR_MOCK_NOT_MATCHED",
  );
  assert.match(
    again.message,
    /^no recorded exchange in .*session\.json matches GET http:\/\/api\.test\/users\?page=1; closest/,
  );
  assert.match(again.message, /1\. GET http:\/\/api\.test \/users\?page=1 — used up: it replied 1 time of 1/);
  const other = await rejectsWith(
    r.roundTrip({ url: "http://api.test/users", method: "POST", json: { n: 2 } }),
    "ERR_MOCK_NOT_MATCHED",
  );
  assert.match(
    other.message,
    /1\. POST http:\/\/api\.test \/users — body: expected 7 bytes "\{\\"n\\":1\}", got 7 bytes "\{\\"n\\":2\}"/,
  );

  writeFileSync(file, "{ not json");
  await rejectsWith(
    new RecordingTransport({ file, mode: "replay" }).roundTrip({ url: "http://api.test/" }),
    "ERR_INVALID_REQUEST",
  );
});

test("normalizers: a query timestamp, a body nonce and a Date header are normalized, so a later run replays the recording", async (t) => {
  const file = tempFile(t);
  const base = tcpHandles();
  let hits = 0;
  const peer = await httpServer((req, res) => {
    hits++;
    req.resume();
    req.on("end", () => {
      res.setHeader("X-Request-Id", `req-${hits}`);
      res.end(JSON.stringify({ ok: true, servedAt: Date.now() }));
    });
  });
  const normalize = {
    query: (p: URLSearchParams) => {
      p.delete("ts"); // mutated, nothing returned
    },
    body: (b: Uint8Array, ctx: { kind: "request" | "response" }) => {
      const v = JSON.parse(Buffer.from(b).toString()) as Record<string, unknown>;
      if (ctx.kind === "request") delete v.nonce;
      else v.servedAt = 0;
      return JSON.stringify(v);
    },
    headers: (h: Headers, ctx: { kind: "request" | "response" }) => {
      h.delete("date");
      if (ctx.kind === "response") h.set("X-Request-Id", "fixed");
      return new Headers(h.raw()); // a new object may be returned too
    },
  };
  const real = new Transport();
  const rec = new RecordingTransport({ transport: real, file, mode: "record", normalize });
  const first = await rec.roundTrip({
    url: `${peer.url}/sync?ts=111&a=1`,
    method: "POST",
    json: { q: 1, nonce: "n1" },
  });
  const recorded = await observe(first);
  assert.deepEqual(JSON.parse(Buffer.from(recorded.body, "base64").toString()), { ok: true, servedAt: 0 });
  await peer.close();
  await rec.close();
  await assertNoLeaks(real, base);
  const stored = readFileSync(file, "utf8");
  assert.ok(!/"date"/i.test(stored), "no Date header stored");
  assert.ok(!stored.includes("n1") && !stored.includes("ts=111"));

  const replay = new RecordingTransport({ file, mode: "replay", normalize });
  const again = await replay.roundTrip({
    url: `${peer.url}/sync?a=1&ts=222`,
    method: "POST",
    json: { q: 1, nonce: "n2" },
  });
  const replayed = await observe(again);
  assert.deepEqual({ ...replayed, url: "" }, { ...recorded, url: "" });
  assert.equal(replayed.url, `${peer.url}/sync?a=1&ts=222`, "the response's url is the request's");
  assert.equal(hits, 1);
});

test("a request's Authorization, Proxy-Authorization and Cookie are stored redacted by default", async (t) => {
  const file = tempFile(t);
  const base = tcpHandles();
  const peer = await httpServer((req, res) => res.end(req.headers.authorization));
  const real = new Transport();
  const rec = new RecordingTransport({ transport: real, file, mode: "record" });
  const res = await rec.roundTrip({
    url: peer.url,
    headers: { Authorization: "Bearer secret", Cookie: "s=1", "X-Keep": "k" },
  });
  assert.equal(await res.text(), "Bearer secret", "the response itself is untouched");
  await peer.close();
  await rec.close();
  await assertNoLeaks(real, base);
  const stored = JSON.parse(readFileSync(file, "utf8"));
  assert.deepEqual(stored.exchanges[0].request.headers, [
    ["Authorization", "[redacted]"],
    ["Cookie", "[redacted]"],
    ["X-Keep", "k"],
  ]);
});

test("update mode: replays what is recorded and records (appends) what is missing; record mode rewrites the file", async (t) => {
  const file = tempFile(t);
  const base = tcpHandles();
  let hits = 0;
  const peer = await httpServer((req, res) => {
    hits++;
    res.end(`live ${req.url} #${hits}`);
  });
  const real = new Transport();
  try {
    const first = new RecordingTransport({ transport: real, file, mode: "record" });
    assert.equal(await (await first.roundTrip({ url: `${peer.url}/a` })).text(), "live /a #1");
    const upd = new RecordingTransport({ transport: real, file, mode: "update" });
    assert.equal(await (await upd.roundTrip({ url: `${peer.url}/a` })).text(), "live /a #1", "replayed");
    assert.equal(await (await upd.roundTrip({ url: `${peer.url}/b` })).text(), "live /b #2", "recorded");
    assert.equal(hits, 2);
    const urls = () =>
      JSON.parse(readFileSync(file, "utf8")).exchanges.map(
        (e: { request: { url: string } }) => new URL(e.request.url).pathname,
      );
    assert.deepEqual(urls(), ["/a", "/b"]);
    const again = new RecordingTransport({ transport: real, file, mode: "record" });
    assert.equal(await (await again.roundTrip({ url: `${peer.url}/c` })).text(), "live /c #3");
    assert.deepEqual(urls(), ["/c"], "record starts the file over");
  } finally {
    await peer.close();
    await assertNoLeaks(real, base);
  }
  assert.throws(() => new RecordingTransport({ file, mode: "record" }), { code: "ERR_INVALID_REQUEST" });
  assert.throws(() => new RecordingTransport({ file, mode: "bogus" as "record" }), {
    code: "ERR_INVALID_REQUEST",
  });
});
