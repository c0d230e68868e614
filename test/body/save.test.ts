/**
 * Body.saveTo (src/body/save.ts): the body into a path, a FileHandle or an fd, byte-exact,
 * with the connection back in the pool; the faults: a short body (ERR_UNEXPECTED_EOF, the
 * partial file kept or removed), an abort, a full disk (ERR_FILE_WRITE with the errno as
 * cause), a body already used.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { createServer } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { Transport, zeroCopy } from "../../src/index.js";
import { assertNoLeaks, httpServer, rawServer, rejectsWith, seededBytes, waitFor } from "../helpers.js";
import { TLS_CERT, TLS_KEY } from "../server/helpers.js";

let dir = "";
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "rt-save-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const openFds = (): number => readdirSync("/proc/self/fd").length;
const body = seededBytes(2 * 1024 * 1024 + 3, 11);

test("saveTo(path): byte-exact, bytes reported, connection reused", async () => {
  const fds = openFds();
  const peer = await httpServer((_req, res) => res.end(body));
  const t = new Transport();
  const path = join(dir, "a.bin");
  const res = await t.roundTrip({ url: peer.url });
  const r = await res.body.saveTo(path);
  assert.equal(r.bytes, body.length);
  // Whether splice ran depends on how much had arrived already: the tests below pin it.
  assert.equal(typeof r.zeroCopy, "boolean");
  assert.ok(readFileSync(path).equals(body));
  assert.equal(res.body.used, true);
  await waitFor(() => t.stats().idle === 1, 2000, "the connection back in the pool");
  const again = await t.roundTrip({ url: peer.url });
  assert.equal(again.conn.reused, true);
  await again.close();
  await peer.close();
  await assertNoLeaks(t);
  assert.equal(openFds(), fds, "the file saveTo opened is closed");
});

test("saveTo(FileHandle) and saveTo(fd) write at the current position and leave the file open", async () => {
  const peer = await httpServer((_req, res) => res.end("world"));
  const t = new Transport();
  const path = join(dir, "b.txt");
  const fh = await open(path, "w");
  await fh.write("hello ");
  const r1 = await (await t.roundTrip({ url: peer.url })).body.saveTo(fh);
  assert.equal(r1.bytes, 5);
  const r2 = await (await t.roundTrip({ url: peer.url })).body.saveTo(fh.fd);
  assert.equal(r2.bytes, 5);
  await fh.write("!"); // still open
  await fh.close();
  assert.equal(readFileSync(path, "utf8"), "hello worldworld!");
  await peer.close();
  await assertNoLeaks(t);
});

test("flags 'a' appends (the zero-copy path cannot append: the fallback does it)", async () => {
  const peer = await httpServer((_req, res) => res.end("two"));
  const t = new Transport();
  const path = join(dir, "c.txt");
  await (await t.roundTrip({ url: peer.url })).body.saveTo(path);
  const r = await (await t.roundTrip({ url: peer.url })).body.saveTo(path, { flags: "a" });
  assert.deepEqual(r, { bytes: 3, zeroCopy: false });
  assert.equal(readFileSync(path, "utf8"), "twotwo");
  await peer.close();
  await assertNoLeaks(t);
});

test("a short body is ERR_UNEXPECTED_EOF and the partial file is kept by default", async () => {
  const peer = await rawServer((s) => {
    s.once("data", () => s.end("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"));
  });
  const t = new Transport();
  const path = join(dir, "short.bin");
  const res = await t.roundTrip({ url: peer.url });
  await rejectsWith(res.body.saveTo(path), "ERR_UNEXPECTED_EOF");
  assert.equal(readFileSync(path, "utf8"), "0123456789");
  await peer.close();
  await assertNoLeaks(t);
});

test("removeOnError: the partial file is removed", async () => {
  const peer = await rawServer((s) => {
    s.once("data", () => s.end("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"));
  });
  const t = new Transport();
  const path = join(dir, "short-removed.bin");
  const res = await t.roundTrip({ url: peer.url });
  await rejectsWith(res.body.saveTo(path, { removeOnError: true }), "ERR_UNEXPECTED_EOF");
  assert.equal(existsSync(path), false);
  await peer.close();
  await assertNoLeaks(t);
});

test("an abort stops a body that stalls, rejects with the signal's reason, frees the connection", async () => {
  const fds = openFds();
  const peer = await rawServer((s) => {
    s.once("data", () => s.write("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nsome")); // then stall
  });
  const t = new Transport();
  const res = await t.roundTrip({ url: peer.url });
  const ac = new AbortController();
  const p = res.body.saveTo(join(dir, "abort.bin"), { signal: ac.signal });
  setTimeout(() => ac.abort(new Error("user gave up")), 30);
  await assert.rejects(p, /user gave up/);
  await peer.close();
  await assertNoLeaks(t);
  await waitFor(() => openFds() <= fds, 2000, "every fd closed");
});

test("a full disk is ERR_FILE_WRITE with the ENOSPC error as cause; the connection is freed", async () => {
  const peer = await httpServer((_req, res) => res.end(body));
  const t = new Transport();
  const res = await t.roundTrip({ url: peer.url });
  const err = await rejectsWith(res.body.saveTo("/dev/full"), "ERR_FILE_WRITE");
  assert.equal((err.cause as { code?: string }).code, "ENOSPC");
  await peer.close();
  await assertNoLeaks(t);
});

test("a body already read is ERR_BODY_USED; a path that cannot be opened is ERR_FILE_WRITE", async () => {
  const peer = await httpServer((_req, res) => res.end("x"));
  const t = new Transport();
  const res = await t.roundTrip({ url: peer.url });
  await res.text();
  await rejectsWith(res.body.saveTo(join(dir, "used.bin")), "ERR_BODY_USED");
  const res2 = await t.roundTrip({ url: peer.url });
  await rejectsWith(res2.body.saveTo(join(dir, "no", "such", "dir.bin")), "ERR_FILE_WRITE");
  await peer.close();
  await assertNoLeaks(t);
});

test("download progress fires through saveTo, ending at the full length", async () => {
  const peer = await httpServer((_req, res) => res.end(body));
  const t = new Transport();
  const seen: number[] = [];
  const res = await t.roundTrip({
    url: peer.url,
    onDownloadProgress: (p) => seen.push(p.loaded),
  });
  const fd = openSync(join(dir, "progress.bin"), "w");
  await res.body.saveTo(fd);
  closeSync(fd);
  assert.ok(seen.length >= 2, `progress fired ${seen.length} times`);
  assert.equal(seen.at(-1), body.length);
  await peer.close();
  await assertNoLeaks(t);
});

// ---- the zero-copy path (splice) and when it does not run -----------------------------

const zc = { skip: zeroCopy.available ? false : `zero copy off: ${zeroCopy.reason}` };

test(
  "zero copy: a Content-Length body in several MiB goes by splice; the connection is reused",
  zc,
  async () => {
    const big = seededBytes(24 * 1024 * 1024 + 1, 5);
    const peer = await httpServer((_req, res) => {
      res.setHeader("content-length", big.length);
      // In pieces, so the head's read carries little of the body and splice moves the rest.
      let off = 0;
      const next = (): void => {
        while (off < big.length) {
          const piece = big.subarray(off, off + 1024 * 1024);
          off += piece.length;
          if (!res.write(piece)) return void res.once("drain", next);
        }
        res.end();
      };
      next();
    });
    const t = new Transport();
    const path = join(dir, "zc.bin");
    const res = await t.roundTrip({ url: peer.url });
    const r = await res.body.saveTo(path);
    assert.deepEqual(r, { bytes: big.length, zeroCopy: true });
    assert.ok(readFileSync(path).equals(big), "byte-exact");
    // Reads restarted: the same connection carries the next exchange.
    const again = await t.roundTrip({ url: peer.url });
    assert.equal(again.conn.reused, true);
    assert.equal((await again.bytes()).length, big.length);
    assert.equal(peer.connections, 1);
    await peer.close();
    await assertNoLeaks(t);
  },
);

test("zero copy: a body framed by close ends at FIN; the connection is closed, not pooled", zc, async () => {
  const data = seededBytes(3 * 1024 * 1024, 8);
  const peer = await rawServer((s) => {
    s.once("data", () => {
      s.write("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
      setTimeout(() => s.end(data), 20);
    });
  });
  const t = new Transport();
  const path = join(dir, "eof.bin");
  const r = await (await t.roundTrip({ url: peer.url })).body.saveTo(path);
  assert.deepEqual(r, { bytes: data.length, zeroCopy: true });
  assert.ok(readFileSync(path).equals(data));
  await waitFor(() => t.stats().total === 0, 2000, "the connection closed");
  await peer.close();
  await assertNoLeaks(t);
});

test(
  "zero copy: a close-framed body cut by a reset is ERR_CONNECTION_CLOSED, not a complete file",
  zc,
  async () => {
    const peer = await rawServer((s) => {
      s.once("data", () => {
        s.write("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        setTimeout(
          () => s.write(seededBytes(200_000, 2), () => setTimeout(() => s.resetAndDestroy(), 20)),
          20,
        );
      });
    });
    const t = new Transport();
    const res = await t.roundTrip({ url: peer.url });
    await rejectsWith(res.body.saveTo(join(dir, "rst.bin")), "ERR_CONNECTION_CLOSED");
    await peer.close();
    await assertNoLeaks(t);
  },
);

test("zero copy: a short Content-Length body is ERR_UNEXPECTED_EOF", zc, async () => {
  const peer = await rawServer((s) => {
    s.once("data", () => {
      s.write("HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n");
      setTimeout(() => s.end(seededBytes(1_000_000, 4)), 20);
    });
  });
  const t = new Transport();
  const path = join(dir, "short-zc.bin");
  await rejectsWith((await t.roundTrip({ url: peer.url })).body.saveTo(path), "ERR_UNEXPECTED_EOF");
  assert.ok(readFileSync(path).length > 0, "the partial file is kept");
  await peer.close();
  await assertNoLeaks(t);
});

test("zero copy: an abort mid-splice stops it, frees the connection and leaves no fd open", zc, async () => {
  const fds = openFds();
  const peer = await rawServer((s) => {
    s.once("data", () => s.write("HTTP/1.1 200 OK\r\nContent-Length: 9000000\r\n\r\n")); // then stall
  });
  const t = new Transport();
  const res = await t.roundTrip({ url: peer.url });
  const ac = new AbortController();
  const p = res.body.saveTo(join(dir, "abort-zc.bin"), { signal: ac.signal });
  setTimeout(() => ac.abort(new Error("enough")), 50);
  await assert.rejects(p, /enough/);
  await peer.close();
  await assertNoLeaks(t);
  await waitFor(() => openFds() <= fds, 2000, "every fd and pipe closed");
});

test("zero copy: the body timeout still applies while splice waits", zc, async () => {
  const peer = await rawServer((s) => {
    s.once("data", () => s.write("HTTP/1.1 200 OK\r\nContent-Length: 9000000\r\n\r\nabc")); // then stall
  });
  const t = new Transport({ bodyTimeout: 100 });
  const res = await t.roundTrip({ url: peer.url });
  const err = await rejectsWith(res.body.saveTo(join(dir, "stall.bin")), "ERR_TIMEOUT");
  assert.equal(err.phase, "body");
  await peer.close();
  await assertNoLeaks(t);
});

test("zero copy: a full disk during splice is ERR_FILE_WRITE (ENOSPC as cause)", zc, async () => {
  const peer = await httpServer((_req, res) => {
    res.setHeader("content-length", body.length);
    res.write(body.subarray(0, 10));
    setTimeout(() => res.end(body.subarray(10)), 20);
  });
  const t = new Transport();
  const res = await t.roundTrip({ url: peer.url });
  const err = await rejectsWith(res.body.saveTo("/dev/full"), "ERR_FILE_WRITE");
  assert.equal((err.cause as { code?: string }).code, "ENOSPC");
  await peer.close();
  await assertNoLeaks(t);
});

test("no zero copy for chunked, gzip-decoded or TLS bodies: the loop writes the same bytes", async () => {
  const plain = seededBytes(300_000, 6);
  const peer = await httpServer((req, res) => {
    if (req.url === "/gzip") {
      res.setHeader("content-encoding", "gzip");
      res.end(gzipSync(plain));
    } else {
      res.write(plain.subarray(0, 1000)); // no Content-Length: chunked
      res.end(plain.subarray(1000));
    }
  });
  const tls = createServer({ key: TLS_KEY, cert: TLS_CERT }, (_req, res) => res.end(plain));
  await new Promise<void>((r) => tls.listen(0, "127.0.0.1", r));
  const tlsPort = (tls.address() as { port: number }).port;
  const t = new Transport({ tls: { ca: TLS_CERT }, proxy: null });
  for (const url of [`${peer.url}/chunked`, `${peer.url}/gzip`, `https://localhost:${tlsPort}/`]) {
    const path = join(dir, "nozc.bin");
    const r = await (await t.roundTrip({ url })).body.saveTo(path);
    assert.deepEqual(r, { bytes: plain.length, zeroCopy: false }, url);
    assert.ok(readFileSync(path).equals(plain), url);
  }
  await peer.close();
  await new Promise<void>((r) => tls.close(() => r()));
  await assertNoLeaks(t);
});

test("without the addon (ROUNDTRIP_NO_ZEROCOPY=1) saveTo takes the loop, byte-exact", () => {
  const script = fileURLToPath(new URL("./save-child.js", import.meta.url));
  const r = spawnSync(process.execPath, [script], {
    env: { ...process.env, ROUNDTRIP_NO_ZEROCOPY: "1" },
    encoding: "utf8",
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
  assert.deepEqual(out, { ok: true, bytes: 3 * 1024 * 1024 + 5, zeroCopy: false, available: false });
});
