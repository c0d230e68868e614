/**
 * Request bodies (issue 4): every BodyInit goes out byte-exact with the right framing;
 * multipart parses with an independent parser; backpressure bounds what is queued;
 * file() takes sendfile(2) when available and the fallback otherwise; failures are
 * ERR_REQUEST_BODY / ERR_ABORTED and never leak a connection.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { openAsBlob } from "node:fs";
import { appendFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import type http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import busboy from "busboy";
import { sendFileStats } from "../../src/body/zerocopy.js";
import { file, RoundtripError, Transport, zeroCopy } from "../../src/index.js";
import {
  assertNoLeaks,
  heldBodyServer,
  httpServer,
  rejectsWith,
  seededBytes,
  stallingServer,
  tcpHandles,
  waitFor,
} from "../helpers.js";

let dir = "";
const sha = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");
const bytes = seededBytes;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "rt-upload-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Received {
  sha: string;
  length: number;
  headers: http.IncomingHttpHeaders;
}

/** A server that hashes every request body and answers with what it saw. */
async function sink() {
  return httpServer(async (req, res) => {
    const h = createHash("sha256");
    let n = 0;
    for await (const c of req) {
      h.update(c as Buffer);
      n += (c as Buffer).length;
    }
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ sha: h.digest("hex"), length: n, headers: req.headers }));
  });
}

test("every body kind round-trips byte-exact with the framing its length allows", async () => {
  const base = tcpHandles();
  const peer = await sink();
  const t = new Transport();
  const data = bytes(300_000, 7);
  const path = join(dir, "data.bin");
  await writeFile(path, data);
  const cases: Array<[string, () => unknown, Buffer, "length" | "chunked"]> = [
    ["string", () => "héllo wörld", Buffer.from("héllo wörld"), "length"],
    ["Buffer", () => data, data, "length"],
    ["Uint8Array", () => new Uint8Array(data), data, "length"],
    ["ArrayBuffer", () => data.buffer.slice(data.byteOffset, data.byteOffset + data.length), data, "length"],
    [
      "DataView",
      () => new DataView(data.buffer, data.byteOffset + 10, 100),
      data.subarray(10, 110),
      "length",
    ],
    ["Blob", () => new Blob([new Uint8Array(data)]), data, "length"],
    ["fs.openAsBlob", () => openAsBlob(path), data, "length"],
    ["file()", () => file(path), data, "length"],
    ["file() range", () => file(path, { start: 1000, end: 1999 }), data.subarray(1000, 2000), "length"],
    ["Readable", () => Readable.from([data.subarray(0, 1000), data.subarray(1000)]), data, "chunked"],
    ["ReadableStream", () => new Blob([new Uint8Array(data)]).stream(), data, "chunked"],
    [
      "async generator",
      () =>
        (async function* () {
          yield data.subarray(0, 5);
          yield data.subarray(5);
        })(),
      data,
      "chunked",
    ],
    ["URLSearchParams", () => new URLSearchParams({ a: "1", b: "x y" }), Buffer.from("a=1&b=x+y"), "length"],
  ];
  for (const [name, make, expected, framing] of cases) {
    const body = await make();
    const res = await t.roundTrip({ url: peer.url, method: "PUT", body: body as never });
    const got = (await res.json()) as Received;
    assert.equal(got.length, expected.length, `${name}: length`);
    assert.equal(got.sha, sha(expected), `${name}: bytes`);
    if (framing === "length") {
      assert.equal(got.headers["content-length"], String(expected.length), `${name}: Content-Length`);
      assert.equal(got.headers["transfer-encoding"], undefined, `${name}: no chunking`);
    } else {
      assert.equal(got.headers["transfer-encoding"], "chunked", `${name}: chunked`);
    }
  }
  const j = (await (
    await t.roundTrip({ url: peer.url, method: "POST", json: { a: [1, "é"] } })
  ).json()) as Received;
  assert.equal(j.sha, sha(JSON.stringify({ a: [1, "é"] })));
  assert.equal(j.headers["content-type"], "application/json");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("multipart (FormData and the form option) parses byte-exact with busboy, files read lazily", async () => {
  const base = tcpHandles();
  const peer = await httpServer((req, res) => {
    const parts: Array<{ name: string; filename?: string; sha: string; type?: string }> = [];
    const bb = busboy({ headers: req.headers });
    bb.on("field", (name, value) => parts.push({ name, sha: sha(value) }));
    bb.on("file", (name, stream, info) => {
      const h = createHash("sha256");
      stream.on("data", (c: Buffer) => h.update(c));
      stream.on("end", () =>
        parts.push({ name, filename: info.filename, type: info.mimeType, sha: h.digest("hex") }),
      );
    });
    bb.on("close", () => res.end(JSON.stringify({ parts, length: req.headers["content-length"] ?? null })));
    req.pipe(bb);
  });
  const t = new Transport();
  const big = bytes(1_000_000, 3);
  const path = join(dir, 'upload "q".bin');
  await writeFile(path, big);
  const fd = new FormData();
  fd.append("field", "line1\nline2");
  fd.append('we"ird\r\nname', "v");
  fd.append("doc", new Blob([new Uint8Array(big)], { type: "application/x-test" }), "doc.bin");
  fd.append("disk", await openAsBlob(path), "disk.bin");
  const r1 = (await (await t.roundTrip({ url: peer.url, method: "POST", body: fd })).json()) as {
    parts: Array<{ name: string; filename?: string; sha: string; type?: string }>;
    length: string | null;
  };
  assert.notEqual(r1.length, null, "every part's size known → Content-Length");
  assert.deepEqual(
    r1.parts.map((p) => [p.name, p.filename ?? null, p.sha]),
    [
      ["field", null, sha("line1\r\nline2")], // browsers normalize newlines to CRLF
      ["we%22ird%0D%0Aname", null, sha("v")], // and escape names as browsers do
      ["doc", "doc.bin", sha(big)],
      ["disk", "disk.bin", sha(big)],
    ],
  );
  assert.equal(r1.parts[2]!.type, "application/x-test");
  const r2 = (await (
    await t.roundTrip({ url: peer.url, method: "POST", form: { a: ["1", "2"], f: file(path) } })
  ).json()) as {
    parts: Array<{ name: string; filename?: string; sha: string }>;
    length: string | null;
  };
  assert.match(
    String(r2.length),
    /^\d+$/,
    "file() parts are stat'ed up front: the form has a Content-Length",
  );
  assert.deepEqual(
    r2.parts.map((p) => [p.name, p.filename ?? null, p.sha]),
    [
      ["a", null, sha("1")],
      ["a", null, sha("2")],
      ["f", "upload %22q%22.bin", sha(big)],
    ],
  );
  await peer.close();
  await assertNoLeaks(t, base);
});

test("backpressure: a slow reader keeps what is queued in our socket under the bound", async () => {
  const base = tcpHandles();
  let received = 0;
  const peer = await httpServer(async (req, res) => {
    for await (const c of req) {
      received += (c as Buffer).length;
      await new Promise((r) => setTimeout(r, 1)); // a slow reader
    }
    res.end(String(received));
  });
  let socket: net.Socket | null = null;
  const t = new Transport({
    dial: async ({ host, port }) => {
      socket = net.connect(port, host);
      await once(socket, "connect");
      return socket;
    },
  });
  const chunk = Buffer.alloc(64 * 1024, 1);
  const total = 16 * 1024 * 1024;
  let maxQueued = 0;
  async function* source() {
    for (let sent = 0; sent < total; sent += chunk.length) {
      if (socket) maxQueued = Math.max(maxQueued, socket.writableLength);
      yield chunk;
    }
  }
  const res = await t.roundTrip({ url: peer.url, method: "POST", body: source() });
  assert.equal(await res.text(), String(total));
  // Node's default highWaterMark is 16 KiB; we add at most one chunk beyond it.
  assert.ok(maxQueued <= 256 * 1024, `queued in the socket at most ${maxQueued} bytes`);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("file(): sendfile(2) path when the addon is live, byte-exact, with progress to the end", async () => {
  assert.ok(
    zeroCopy.available,
    `zero-copy addon not available (${zeroCopy.reason}); run npm install with a C compiler`,
  );
  const base = tcpHandles();
  const peer = await sink();
  const t = new Transport();
  const data = bytes(5 * 1024 * 1024 + 17, 11);
  const path = join(dir, "sf.bin");
  await writeFile(path, data);
  const before = sendFileStats().sendfile;
  const events: Array<{ loaded: number; total: number | null }> = [];
  const res = await t.roundTrip({
    url: peer.url,
    method: "PUT",
    body: file(path),
    onUploadProgress: (p) => events.push(p),
  });
  const got = (await res.json()) as Received;
  assert.equal(got.sha, sha(data));
  assert.equal(sendFileStats().sendfile, before + 1, "went through sendfile(2)");
  assert.deepEqual(events.at(-1), { loaded: data.length, total: data.length });
  assert.ok(events.every((e, i) => i === 0 || e.loaded >= events[i - 1]!.loaded));
  await peer.close();
  await assertNoLeaks(t, base);
});

test("file() and a form's file parts: the fallback path (ROUNDTRIP_NO_ZEROCOPY=1) sends the same bytes", async () => {
  const script = fileURLToPath(new URL("./upload-fallback-child.js", import.meta.url));
  const r = spawnSync(process.execPath, [script], {
    env: { ...process.env, ROUNDTRIP_NO_ZEROCOPY: "1" },
    encoding: "utf8",
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as {
    ok: boolean;
    sendfileCalls: number;
    fallbackCalls: number;
    path: string;
    available: boolean;
  };
  // One for file(), one per form file part: the pooled loop, not a stream per part.
  assert.deepEqual(out, { ok: true, sendfileCalls: 0, fallbackCalls: 3, path: "fallback", available: false });
});

test("abort mid-sendfile to a server that stopped reading: ERR_ABORTED, connection freed", async () => {
  const base = tcpHandles();
  const { peer, started } = await stallingServer();
  const t = new Transport();
  const path = join(dir, "big.bin");
  await writeFile(path, Buffer.alloc(64 * 1024 * 1024));
  const ac = new AbortController();
  const p = t.roundTrip({ url: peer.url, method: "PUT", body: file(path), signal: ac.signal });
  await started;
  ac.abort();
  await rejectsWith(p, "ERR_ABORTED");
  await waitFor(() => t.stats().total === 0, 2000, "the aborted connection to close");
  await peer.close();
  await assertNoLeaks(t, base);
});

for (const [what, send] of [
  ["file()", (path: string) => ({ method: "PUT", body: file(path) })],
  ["a form's file() part", (path: string) => ({ method: "POST", form: { name: "x", f: file(path) } })],
] as const) {
  test(`${what}: a file that changes size while it is sent fails with ERR_REQUEST_BODY`, async () => {
    const base = tcpHandles();
    const path = join(dir, "grow.bin");
    // Larger than what loopback socket buffers absorb, so the send is still running when the file grows.
    await writeFile(path, Buffer.alloc(64 * 1024 * 1024, 1));
    // Holds the body, then answers late: a reply racing the end of the send would stop the
    // write before the size check.
    const { peer, holding, resume } = await heldBodyServer();
    const t = new Transport();
    const p = t.roundTrip({ url: peer.url, ...send(path) });
    await waitFor(holding, 2000, "the server to hold the body");
    await appendFile(path, "more");
    resume();
    const err = await rejectsWith(p, "ERR_REQUEST_BODY");
    assert.match(err.message, /changed size/);
    await peer.close();
    await assertNoLeaks(t, base);
  });
}

test("a source that throws, or breaks its declared length, is ERR_REQUEST_BODY and the connection is not reused", async () => {
  const base = tcpHandles();
  const peer = await httpServer((req, res) => {
    req.resume();
    req.on("end", () => res.end("ok"));
    req.on("error", () => {});
  });
  const t = new Transport();
  async function* failing() {
    yield Buffer.from("abc");
    throw new Error("disk on fire");
  }
  const e1 = await rejectsWith(
    t.roundTrip({ url: peer.url, method: "POST", body: failing() }),
    "ERR_REQUEST_BODY",
  );
  assert.match(String((e1 as Error & { cause?: Error }).cause?.message), /disk on fire/);
  async function* short() {
    yield Buffer.from("abc");
  }
  await rejectsWith(
    t.roundTrip({ url: peer.url, method: "POST", body: short(), headers: { "content-length": "10" } }),
    "ERR_REQUEST_BODY",
  );
  async function* long() {
    yield Buffer.alloc(20);
  }
  await rejectsWith(
    t.roundTrip({ url: peer.url, method: "POST", body: long(), headers: { "content-length": "10" } }),
    "ERR_REQUEST_BODY",
  );
  await rejectsWith(
    t.roundTrip({ url: peer.url, method: "POST", body: "abc", headers: { "content-length": "4" } }),
    "ERR_REQUEST_BODY",
  );
  await rejectsWith(
    t.roundTrip({ url: peer.url, method: "POST", body: file(join(dir, "missing")) }),
    "ERR_REQUEST_BODY",
  );
  assert.throws(() => file(""), RoundtripError);
  await waitFor(() => t.stats().total === 0, 2000, "failed connections to close");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("onDownloadProgress reports to the end; a stream is sent once and resent only through getBody", async () => {
  const base = tcpHandles();
  const peer = await httpServer((_req, res) => res.end(Buffer.alloc(300_000)));
  const t = new Transport();
  const events: Array<{ loaded: number; total: number | null }> = [];
  const res = await t.roundTrip({
    url: peer.url,
    onDownloadProgress: (p) => events.push(p),
    headers: { "accept-encoding": "identity" },
  });
  await res.bytes();
  assert.deepEqual(events.at(-1), { loaded: 300_000, total: 300_000 });
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a one-shot body (Readable, ReadableStream, async iterable) given to a second request is ERR_BODY_USED, not an empty upload", async () => {
  const base = tcpHandles();
  const uploads: string[] = [];
  const peer = await httpServer(async (req, res) => {
    let body = "";
    for await (const c of req) body += (c as Buffer).toString();
    uploads.push(body);
    res.end("stored");
  });
  const t = new Transport();
  try {
    await oneShotCases(t, peer.url, uploads);
  } finally {
    await peer.close();
    await t.close();
  }
  await assertNoLeaks(t, base);
});

async function oneShotCases(t: Transport, url: string, uploads: string[]): Promise<void> {
  async function* generate() {
    yield "from a generator";
  }
  const sources: Array<[string, () => Readable | ReadableStream<Uint8Array> | AsyncIterable<string>]> = [
    ["Readable", () => Readable.from([Buffer.from("from a Readable")])],
    [
      "ReadableStream",
      () =>
        new ReadableStream<Uint8Array>({
          start(c) {
            c.enqueue(new TextEncoder().encode("from a ReadableStream"));
            c.close();
          },
        }),
    ],
    ["async iterable", generate],
  ];
  for (const [kind, make] of sources) {
    uploads.length = 0;
    const source = make();
    const first = await t.roundTrip({ url: url, method: "POST", body: source });
    assert.equal(await first.text(), "stored");
    assert.deepEqual(uploads, [`from a${kind === "async iterable" ? " generator" : ` ${kind}`}`]);
    await rejectsWith(t.roundTrip({ url: url, method: "POST", body: source }), "ERR_BODY_USED");
    assert.equal(uploads.length, 1, `${kind}: the second request is not sent`);
  }

  // Read to its end by its owner, or locked, before any request: nothing left to send.
  const drained = Readable.from([Buffer.from("x")]);
  for await (const _ of drained) {
    // consume
  }
  await rejectsWith(t.roundTrip({ url: url, method: "POST", body: drained }), "ERR_BODY_USED");
  const locked = new ReadableStream<Uint8Array>();
  const reader = locked.getReader();
  await rejectsWith(t.roundTrip({ url: url, method: "POST", body: locked }), "ERR_BODY_USED");
  reader.releaseLock();

  // A request that failed before its body was read closes the stream: it is used as well.
  const unsent = Readable.from([Buffer.from("never sent")]);
  await rejectsWith(t.roundTrip({ url: "http://127.0.0.1:1/", method: "POST", body: unsent }), "ERR_CONNECT");
  await rejectsWith(t.roundTrip({ url: url, method: "POST", body: unsent }), "ERR_BODY_USED");

  // A Readable partly read by its owner is sent from where the reader left it (Node's way).
  const partly = Readable.from([Buffer.from("head;"), Buffer.from("rest")], { objectMode: false });
  const it = partly[Symbol.asyncIterator]();
  await it.next();
  uploads.length = 0;
  await (await t.roundTrip({ url: url, method: "POST", body: partly })).close();
  assert.deepEqual(uploads, ["rest"]);

  // getBody gives each request its own stream.
  uploads.length = 0;
  const getBody = () => Readable.from([Buffer.from("fresh")]);
  for (let i = 0; i < 2; i++) await (await t.roundTrip({ url: url, method: "POST", getBody })).close();
  assert.deepEqual(uploads, ["fresh", "fresh"]);
}
