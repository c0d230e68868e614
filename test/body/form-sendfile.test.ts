/**
 * Zero copy beyond file() bodies (issue 4): a form's file parts (file() and roundtrip's
 * openAsBlob()) go out with sendfile(2) between the parts' heads, and an openAsBlob()
 * Blob sent as a body is sent as its file. Checked byte-exact with busboy, with progress,
 * the change checks a Blob promises, abort, and no fd or connection left behind. (A form
 * file part that grows mid-send: upload.test.ts, beside file().)
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { openAsBlob as nodeOpenAsBlob, readdirSync, readlinkSync } from "node:fs";
import { appendFile, mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import busboy from "busboy";
import { sendFileStats } from "../../src/body/zerocopy.js";
import { file, openAsBlob, Transport, zeroCopy } from "../../src/index.js";
import {
  assertNoLeaks,
  httpServer,
  rejectsWith,
  seededBytes,
  stallingServer,
  tcpHandles,
  waitFor,
} from "../helpers.js";
import { TLS_CERT, TLS_KEY } from "../server/helpers.js";

let dir = "";
const sha = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");
const bytes = seededBytes;
/** This process's fds open on files of the test's directory (sockets come and go). */
function openFiles(): number {
  let n = 0;
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir)) n++;
    } catch {
      // closed while listing (readdir's own fd)
    }
  }
  return n;
}

before(async () => {
  assert.ok(zeroCopy.available, `zero-copy addon not available (${zeroCopy.reason}); run npm install`);
  dir = await mkdtemp(join(tmpdir(), "rt-form-sf-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Part {
  name: string;
  filename: string | null;
  type: string | null;
  sha: string;
}

/** Parses each request with busboy (multipart) or hashes it whole, and answers what it saw. */
function formSink() {
  return httpServer((req, res) => {
    const headers = {
      length: req.headers["content-length"] ?? null,
      te: req.headers["transfer-encoding"] ?? null,
    };
    if (!String(req.headers["content-type"]).startsWith("multipart/form-data")) {
      const h = createHash("sha256");
      req.on("data", (c: Buffer) => h.update(c));
      req.on("end", () =>
        res.end(JSON.stringify({ ...headers, type: req.headers["content-type"], sha: h.digest("hex") })),
      );
      return;
    }
    const parts: Part[] = [];
    const bb = busboy({ headers: req.headers });
    bb.on("field", (name, value) => parts.push({ name, filename: null, type: null, sha: sha(value) }));
    bb.on("file", (name, stream, info) => {
      // In the form's order: a file's end can come after the fields that follow it.
      const part: Part = { name, filename: info.filename ?? null, type: info.mimeType, sha: "" };
      parts.push(part);
      const h = createHash("sha256");
      stream.on("data", (c: Buffer) => h.update(c));
      stream.on("end", () => {
        part.sha = h.digest("hex");
      });
    });
    bb.on("close", () => res.end(JSON.stringify({ ...headers, parts })));
    req.pipe(bb);
  });
}

test("a form's file() and openAsBlob() parts go out with sendfile(2), byte-exact, with a Content-Length", async () => {
  const base = tcpHandles();
  const peer = await formSink();
  const t = new Transport();
  const a = bytes(5 * 1024 * 1024 + 3, 1); // more than one 4 MiB sendfile slice
  const b = bytes(70_000, 2);
  const pathA = join(dir, "a.bin");
  const pathB = join(dir, "b.bin");
  await writeFile(pathA, a);
  await writeFile(pathB, b);
  const blobB = await openAsBlob(pathB, { type: "application/x-b" });
  const before = sendFileStats().sendfile;
  const events: Array<{ loaded: number; total: number | null }> = [];
  const res = await t.roundTrip({
    url: peer.url,
    method: "POST",
    form: {
      first: "text before",
      a: file(pathA),
      slice: file(pathA, { start: 10, end: 1009 }),
      mem: new Blob([new Uint8Array(b)]), // an ordinary Blob: streamed between the files
      b: blobB,
      last: "text after",
    },
    onUploadProgress: (p) => events.push(p),
  });
  const got = (await res.json()) as { length: string | null; te: string | null; parts: Part[] };
  assert.equal(sendFileStats().sendfile, before + 3, "each file part went through sendfile(2)");
  assert.match(String(got.length), /^\d+$/);
  assert.equal(got.te, null);
  assert.deepEqual(got.parts, [
    { name: "first", filename: null, type: null, sha: sha("text before") },
    { name: "a", filename: "a.bin", type: "application/octet-stream", sha: sha(a) },
    { name: "slice", filename: "a.bin", type: "application/octet-stream", sha: sha(a.subarray(10, 1010)) },
    { name: "mem", filename: "blob", type: "application/octet-stream", sha: sha(b) },
    { name: "b", filename: "blob", type: "application/x-b", sha: sha(b) },
    { name: "last", filename: null, type: null, sha: sha("text after") },
  ]);
  const total = Number(got.length);
  assert.deepEqual(events.at(-1), { loaded: total, total });
  assert.ok(events.every((e, i) => e.total === total && (i === 0 || e.loaded >= events[i - 1]!.loaded)));
  await peer.close();
  await assertNoLeaks(t, base);
});

test("the same form is sent again byte-exact on a reused connection (replayable, files reopened)", async () => {
  const base = tcpHandles();
  const peer = await formSink();
  const t = new Transport();
  const data = bytes(300_000, 3);
  const path = join(dir, "again.bin");
  await writeFile(path, data);
  const form = { f: file(path), g: await openAsBlob(path) };
  for (let i = 0; i < 3; i++) {
    const got = (await (await t.roundTrip({ url: peer.url, method: "PUT", form })).json()) as {
      parts: Part[];
    };
    assert.deepEqual(
      got.parts.map((p) => p.sha),
      [sha(data), sha(data)],
      `round ${i}`,
    );
    assert.equal(openFiles(), 0, `round ${i}: every file part was closed`);
  }
  assert.equal(t.stats().idle, 1, "one connection, reused");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("roundtrip's openAsBlob() as a body is sent as its file; Node's own openAsBlob is streamed", async () => {
  const base = tcpHandles();
  const peer = await formSink();
  const t = new Transport();
  const data = bytes(1_000_000, 4);
  const path = join(dir, "blob.bin");
  await writeFile(path, data);
  const ours = await openAsBlob(path, { type: "application/x-ours" });
  assert.ok(ours instanceof Blob);
  assert.equal(ours.size, data.length);
  assert.equal(sha(Buffer.from(await ours.arrayBuffer())), sha(data), "still an ordinary Blob to read");
  let calls = sendFileStats().sendfile;
  const r1 = (await (await t.roundTrip({ url: peer.url, method: "PUT", body: ours })).json()) as {
    length: string;
    type: string;
    sha: string;
  };
  assert.deepEqual(r1, { length: String(data.length), te: null, type: "application/x-ours", sha: sha(data) });
  assert.equal(sendFileStats().sendfile, calls + 1, "sent with sendfile(2)");
  calls = sendFileStats().sendfile;
  const theirs = await nodeOpenAsBlob(path);
  const r2 = (await (await t.roundTrip({ url: peer.url, method: "PUT", body: theirs })).json()) as {
    sha: string;
  };
  assert.equal(r2.sha, sha(data));
  assert.equal(sendFileStats().sendfile, calls, "Node's Blob does not say which file it is: streamed");
  // A slice is a new Blob Node does not link to the file: streamed, still exact.
  const r3 = (await (
    await t.roundTrip({ url: peer.url, method: "PUT", body: ours.slice(5, 105) })
  ).json()) as {
    sha: string;
  };
  assert.equal(r3.sha, sha(data.subarray(5, 105)));
  assert.equal(sendFileStats().sendfile, calls);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("openAsBlob(): a file changed since the Blob was made is refused, as a body and as a form part", async () => {
  const base = tcpHandles();
  const peer = await formSink();
  const t = new Transport();
  const path = join(dir, "changes.bin");
  await writeFile(path, bytes(10_000, 5));
  const grown = await openAsBlob(path);
  await appendFile(path, "more");
  let err = await rejectsWith(t.roundTrip({ url: peer.url, method: "PUT", body: grown }), "ERR_REQUEST_BODY");
  assert.match(err.message, /changed since openAsBlob\(\).*10000 → 10004/);
  err = await rejectsWith(
    t.roundTrip({ url: peer.url, method: "POST", form: { f: grown } }),
    "ERR_REQUEST_BODY",
  );
  assert.match(err.message, /changed since openAsBlob\(\)/);
  // Same size, rewritten: the modification time tells, as it does for Node's Blob.
  const touched = await openAsBlob(path);
  await utimes(path, new Date(), new Date(Date.now() + 60_000));
  err = await rejectsWith(t.roundTrip({ url: peer.url, method: "PUT", body: touched }), "ERR_REQUEST_BODY");
  assert.match(err.message, /modified/);
  await rejectsWith(openAsBlob(join(dir, "missing.bin")), "ERR_REQUEST_BODY");
  await rejectsWith(openAsBlob(dir), "ERR_REQUEST_BODY");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("abort while a form's file part is in sendfile(2): ERR_ABORTED, file closed, connection freed", async () => {
  const base = tcpHandles();
  const { peer, started } = await stallingServer();
  const t = new Transport();
  const path = join(dir, "big-form.bin");
  await writeFile(path, Buffer.alloc(64 * 1024 * 1024));
  const ac = new AbortController();
  const before = sendFileStats().sendfile;
  const p = t.roundTrip({ url: peer.url, method: "POST", form: { f: file(path) }, signal: ac.signal });
  await started;
  await waitFor(() => sendFileStats().sendfile > before, 2000, "the file part to reach sendfile(2)");
  ac.abort();
  await rejectsWith(p, "ERR_ABORTED");
  await waitFor(() => t.stats().total === 0, 2000, "the aborted connection to close");
  await waitFor(() => openFiles() === 0, 2000, "the form's file to be closed");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("over TLS a form's file parts take the pooled read/write path, byte-exact", async () => {
  const base = tcpHandles();
  const server = https.createServer({ key: TLS_KEY, cert: TLS_CERT }, (req, res) => {
    const hashes: string[] = [];
    const bb = busboy({ headers: req.headers });
    bb.on("file", (_name, stream) => {
      const h = createHash("sha256");
      const i = hashes.push("") - 1;
      stream.on("data", (c: Buffer) => h.update(c));
      stream.on("end", () => {
        hashes[i] = h.digest("hex");
      });
    });
    bb.on("close", () => res.end(JSON.stringify({ length: req.headers["content-length"] ?? null, hashes })));
    req.pipe(bb);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  const t = new Transport({ tls: { rejectUnauthorized: false } });
  const data = bytes(600_000, 9);
  const path = join(dir, "tls.bin");
  await writeFile(path, data);
  const before = sendFileStats();
  const res = await t.roundTrip({
    url: `https://127.0.0.1:${port}/`,
    method: "POST",
    form: { a: file(path), b: await openAsBlob(path) },
  });
  const got = (await res.json()) as { length: string | null; hashes: string[] };
  assert.match(String(got.length), /^\d+$/);
  assert.deepEqual(got.hashes, [sha(data), sha(data)]);
  const now = sendFileStats();
  assert.equal(now.sendfile, before.sendfile, "no sendfile(2) under TLS");
  assert.equal(now.fallback, before.fallback + 2, "each file part through the read/write loop");
  assert.equal(now.lastFallbackReason, "TLS socket");
  await t.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await assertNoLeaks(t, base);
});
