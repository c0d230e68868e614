/**
 * sendFileToSocket over real loopback TCP, through both paths: sendfile(2) via the native
 * addon and the pooled read/write fallback (forced with `forceFallback`). Every sendfile
 * test asserts the addon path really ran; without the addon they fail, telling how to
 * build it, rather than skip. Peers are scripted net servers: normal, slow, stalled,
 * resetting. Every socket and server is destroyed in after().
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { closeSync, fstatSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { readFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, before, beforeEach, describe, test } from "node:test";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import {
  type SendFileOptions,
  type SendFilePath,
  sendFileStats,
  sendFileToSocket,
  sendfileUnsupportedReason,
  zeroCopy,
} from "../../src/body/zerocopy.js";
import { Client, file, type Progress, Transport } from "../../src/index.js";
import { assertNoLeaks, httpServer, tcpHandles } from "../helpers.js";

const MiB = 1 << 20;
const T = { timeout: 30_000 };

// A throwaway self-signed P-256 certificate for "localhost", valid until 2126: only used
// to check that TLS sockets take the fallback path.
const TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgmBEEA2RpswIHy7TB
3CXrYGUDYkTskYG+irRt9BiH/OOhRANCAAT+f1htPbDWqfke9xV0mykhNydqd6on
/6OssSL4Y93B9P2wzOvDiNZRC+SQdYbo4qGtVeXxLstNIMtJlZsJOhru
-----END PRIVATE KEY-----
`;
const TLS_CERT = `-----BEGIN CERTIFICATE-----
MIIBfjCCASWgAwIBAgIUWa8BeDuXxfGKoBA+RC/RG1rfU8IwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyMTA5NTY0MFoYDzIxMjYxMDI4
MDk1NjQwWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAT+f1htPbDWqfke9xV0mykhNydqd6on/6OssSL4Y93B9P2wzOvDiNZR
C+SQdYbo4qGtVeXxLstNIMtJlZsJOhruo1MwUTAdBgNVHQ4EFgQUPHDRg78kcnsv
l5AycnA9Zv08fRQwHwYDVR0jBBgwFoAUPHDRg78kcnsvl5AycnA9Zv08fRQwDwYD
VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiBXGc5VBoax61Xh7awh3O0S
9Z/lb3mAjAmrc8zT5IuK8gIgUg54IVm07gYttsqr5JE+L7AmyyTNlWUnRLpRUNCN
mM8=
-----END CERTIFICATE-----
`;

// ---------------------------------------------------------------------------------------
// Fixtures: files, peers, cleanup

let dir = "";
let data = Buffer.alloc(0); // 64 MiB of random bytes; the big file holds exactly these
const files = new Map<string, number>(); // name -> fd, closed in after()
const sockets = new Set<net.Socket>();
const servers = new Set<net.Server>();

function makeFile(name: string, content: Uint8Array): number {
  const fd = openSync(join(dir, name), "w+");
  let written = 0;
  while (written < content.length) written += writeSync(fd, content, written, content.length - written);
  files.set(name, fd);
  return fd;
}

/** The kernel fd under a net.Socket (Node keeps it on the private handle). */
function socketFdOf(socket: net.Socket): number {
  return (socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
}

function sha256(buf: Uint8Array): string {
  return createHash("sha256").update(buf).digest("hex");
}

function track<S extends net.Socket>(socket: S): S {
  sockets.add(socket);
  socket.on("error", () => {}); // tests assert on the sendFileToSocket rejection instead
  socket.once("close", () => sockets.delete(socket));
  return socket;
}

/** A connected loopback pair: `client` is what we send on, `peer` is the server side. */
async function pair(
  opts: { connected?: boolean } = {},
): Promise<{ client: net.Socket; peer: Promise<net.Socket> }> {
  const server = net.createServer();
  servers.add(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const peer = once(server, "connection").then(([s]) => {
    server.close(); // accept exactly one; the connection outlives the listener
    return track(s as net.Socket);
  });
  const { port } = server.address() as net.AddressInfo;
  const client = track(net.connect(port, "127.0.0.1"));
  if (opts.connected !== false) await once(client, "connect");
  return { client, peer };
}

interface Received {
  bytes: number;
  sha256: string;
}

/** Hashes everything the peer receives until the client's FIN. */
function collect(peer: net.Socket, onChunk?: (chunk: Buffer, total: number) => void): Promise<Received> {
  const hash = createHash("sha256");
  let bytes = 0;
  peer.on("data", (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
    onChunk?.(chunk, bytes);
  });
  return once(peer, "end").then(() => ({ bytes, sha256: hash.digest("hex") }));
}

function requireAddon(): void {
  assert.ok(
    zeroCopy.available,
    `the sendfile path is not available (${zeroCopy.reason}). Build the addon with ` +
      "`node scripts/build-native.mjs` (or `npm install`; needs gcc and Linux) and unset " +
      "ROUNDTRIP_NO_ZEROCOPY, then rerun.",
  );
}

function optsFor(path: SendFilePath, extra: SendFileOptions = {}): SendFileOptions {
  if (path === "sendfile") requireAddon();
  return { ...extra, forceFallback: path === "fallback" };
}

/** Runs fn and asserts that it made exactly one sendFileToSocket call on `path`. */
async function onPath<R>(path: SendFilePath, fn: () => Promise<R>): Promise<R> {
  const before = sendFileStats();
  const result = await fn();
  const now = sendFileStats();
  assert.equal(now.lastPath, path, `expected the ${path} path (last fallback: ${now.lastFallbackReason})`);
  assert.equal(now[path], before[path] + 1);
  return result;
}

/** Sends fd[offset, offset+length) on a fresh connection and returns what the peer got. */
async function transfer(path: SendFilePath, fd: number, offset: number, length: number): Promise<Received> {
  const { client, peer } = await pair();
  const got = collect(await peer);
  const n = await onPath(path, () => sendFileToSocket(client, fd, offset, length, optsFor(path)));
  assert.equal(n, length);
  client.end();
  const received = await got;
  client.destroy();
  return received;
}

function expected(buf: Uint8Array): Received {
  return { bytes: buf.length, sha256: sha256(buf) };
}

/** Rejects if `p` has not settled within `ms`: promptness is part of what is tested. */
async function within<R>(ms: number, what: string, p: Promise<R>): Promise<R> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once `progress()` has not changed for `quietMs` (the kernel buffers are full). */
async function stalled(progress: () => number, quietMs = 150, maxMs = 10_000): Promise<void> {
  const start = Date.now();
  let last = -1;
  let since = Date.now();
  while (Date.now() - start < maxMs) {
    const now = progress();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("transfer never stalled");
}

function systemCode(err: unknown): string | undefined {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && code !== "ERR_SOCKET_CLOSED") return code;
  }
  return undefined;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), "roundtrip-zerocopy-"));
  data = randomBytes(64 * MiB);
  makeFile("big", data);
});

after(async () => {
  for (const s of sockets) s.destroy();
  for (const s of servers) s.close();
  for (const fd of files.values()) closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------
// Both paths

const SIZES = [0, 1, 1000, 64 * 1024, 64 * 1024 + 1, 4 * MiB + 3, 64 * MiB];

for (const path of ["sendfile", "fallback"] as const) {
  describe(`${path} path`, () => {
    // Fail before any socket or timer exists, so a missing addon cannot leave one behind.
    if (path === "sendfile") beforeEach(requireAddon);
    for (const size of SIZES) {
      test(`sends a ${size}-byte file byte for byte`, T, async () => {
        const fd =
          size === data.length ? files.get("big")! : makeFile(`${path}-${size}`, data.subarray(0, size));
        assert.deepEqual(await transfer(path, fd, 0, size), expected(data.subarray(0, size)));
        fstatSync(fd); // still open: the caller owns the fd
      });
    }

    test("sends exactly the requested range", T, async () => {
      const fd = files.get("big")!;
      const ranges: Array<[number, number]> = [
        [0, 0],
        [17, 1],
        [12345, 3 * MiB],
        [4 * MiB - 1, 4 * MiB + 2], // 64 grains of 64 KiB and 2 bytes: a 2-byte last call
        [data.length - 100, 100],
        [data.length, 0],
      ];
      for (const [offset, length] of ranges) {
        const got = await transfer(path, fd, offset, length);
        assert.deepEqual(got, expected(data.subarray(offset, offset + length)), `range ${offset}+${length}`);
      }
    });

    test("handles offsets past 4 GiB (64-bit)", T, async () => {
      // A sparse 5 GiB file with 2 MiB of data at an offset that does not fit in 32 bits.
      const fd = makeFile(`${path}-sparse`, new Uint8Array(0));
      const at = 2 ** 32 + 4093;
      ftruncateSync(fd, 5 * 2 ** 30);
      const chunk = data.subarray(0, 2 * MiB);
      let w = 0;
      while (w < chunk.length) w += writeSync(fd, chunk, w, chunk.length - w, at + w);
      const want = Buffer.concat([Buffer.alloc(100), chunk, Buffer.alloc(100)]);
      assert.deepEqual(await transfer(path, fd, at - 100, want.length), expected(want));
    });

    test("completes to a slow reader with bounded data queued in Node", T, async () => {
      const { client, peer: peerP } = await pair();
      const peer = await peerP;
      // Read 1 MiB, pause 15 ms, repeat: the sender keeps running into a full socket.
      let sincePause = 0;
      const got = collect(peer, (chunk) => {
        sincePause += chunk.length;
        if (sincePause >= MiB) {
          sincePause = 0;
          peer.pause();
          setTimeout(() => peer.resume(), 15);
        }
      });
      let maxQueued = 0;
      const length = 24 * MiB;
      const opts = optsFor(path, {
        onProgress: () => {
          maxQueued = Math.max(maxQueued, client.writableLength);
        },
      });
      const sample = setInterval(() => {
        maxQueued = Math.max(maxQueued, client.writableLength);
      }, 2);
      try {
        await onPath(path, () => sendFileToSocket(client, files.get("big")!, 0, length, opts));
      } finally {
        clearInterval(sample);
      }
      client.end();
      assert.deepEqual(await got, expected(data.subarray(0, length)));
      // sendfile: Node never holds file bytes. fallback: at most 3 x 128 KiB in flight.
      assert.ok(maxQueued <= (path === "sendfile" ? 0 : 384 * 1024), `queued up to ${maxQueued} bytes`);
    });

    test("abort while the peer has stopped reading rejects promptly with the reason", T, async () => {
      const { client, peer: peerP } = await pair();
      (await peerP).pause(); // never reads: kernel buffers fill, then nothing moves
      const ac = new AbortController();
      let progressed = 0;
      const opts = optsFor(path, { signal: ac.signal, onProgress: (n) => (progressed += n) });
      const sending = sendFileToSocket(client, files.get("big")!, 0, data.length, opts);
      sending.catch(() => {}); // observed below; avoid an unhandled rejection meanwhile
      await stalled(() => progressed);
      assert.equal(sendFileStats().lastPath, path);
      const reason = new Error("stop now");
      const t0 = performance.now();
      ac.abort(reason);
      await assert.rejects(within(1000, "abort", sending), (err) => err === reason);
      assert.ok(performance.now() - t0 < 1000);
      assert.ok(progressed > 0 && progressed < data.length);
      client.destroy();
      await within(2000, "close after destroy", once(client, "close"));
    });

    test("an already aborted signal rejects without sending", T, async () => {
      const { client } = await pair();
      const reason = new Error("too late");
      const opts = optsFor(path, { signal: AbortSignal.abort(reason) });
      await assert.rejects(sendFileToSocket(client, files.get("big")!, 0, 10, opts), (err) => err === reason);
      client.destroy();
    });

    test("a file shorter than length rejects with ERR_FILE_SHRANK", T, async () => {
      const fd = makeFile(`${path}-short`, data.subarray(0, 1000));
      for (const [offset, length] of [
        [0, 5000],
        [2000, 10],
      ] as const) {
        const { client } = await pair();
        await assert.rejects(sendFileToSocket(client, fd, offset, length, optsFor(path)), (err: Error) => {
          assert.equal((err as { code?: string }).code, "ERR_FILE_SHRANK");
          assert.match(err.message, /file shrank/);
          return true;
        });
        client.destroy();
      }
    });

    for (const how of ["reset", "close"] as const) {
      test(
        `peer ${how === "reset" ? "resetting" : "closing"} mid-transfer rejects with EPIPE/ECONNRESET`,
        T,
        async () => {
          const { client, peer: peerP } = await pair();
          const peer = await peerP;
          let received = 0;
          peer.on("data", (chunk: Buffer) => {
            received += chunk.length;
            if (received >= MiB && !peer.destroyed) {
              if (how === "reset") peer.resetAndDestroy();
              else peer.destroy(); // close(2) with unread data: the kernel answers with RST
            }
          });
          const sending = sendFileToSocket(client, files.get("big")!, 0, data.length, optsFor(path));
          await assert.rejects(within(5000, "peer close", sending), (err) => {
            assert.ok(["EPIPE", "ECONNRESET"].includes(systemCode(err) ?? ""), `got ${String(err)}`);
            return true;
          });
          assert.equal(sendFileStats().lastPath, path);
          client.destroy();
        },
      );
    }

    test("destroying the socket mid-transfer rejects and nothing hangs", T, async () => {
      const { client, peer: peerP } = await pair();
      (await peerP).pause();
      let progressed = 0;
      const sending = sendFileToSocket(
        client,
        files.get("big")!,
        0,
        data.length,
        optsFor(path, { onProgress: (n) => (progressed += n) }),
      );
      sending.catch(() => {});
      await stalled(() => progressed);
      client.destroy();
      await assert.rejects(within(1000, "destroy", sending), (err: Error & { code?: string }) => {
        assert.equal(err.code, "ERR_SOCKET_CLOSED");
        return true;
      });
    });

    test(
      "a socket destroyed from onProgress: ERR_SOCKET_CLOSED, and its old fd number is never written",
      T,
      async () => {
        // destroy() closes the fd at once but 'close' comes later: a next addon call made
        // with the fd number read at the start would dup whatever file now has that number.
        const { client, peer } = await pair();
        const got = collect(await peer);
        const fdBefore = socketFdOf(client);
        let reused: number | undefined;
        const opts = optsFor(path, {
          onProgress: () => {
            if (client.destroyed) return;
            client.destroy();
            // Files take the lowest free numbers: open until one takes the socket's (bounded).
            for (let i = 0; i < 64 && reused === undefined; i++) {
              const fd = makeFile(`${path}-reuses-fd-${i}`, new Uint8Array(0));
              if (fd === fdBefore) reused = fd;
            }
          },
        });
        const sending = sendFileToSocket(client, files.get("big")!, 0, 8 * MiB, opts);
        await assert.rejects(within(2000, "destroy", sending), (err: Error & { code?: string }) => {
          assert.equal(err.code, "ERR_SOCKET_CLOSED", String(err));
          return true;
        });
        assert.ok(reused !== undefined, `no file took the socket's fd number ${fdBefore}`);
        assert.equal(fstatSync(reused).size, 0, `fd ${reused} (the socket's was ${fdBefore}) got file bytes`);
        await got.catch(() => {});
      },
    );

    test("bytes already queued in the socket go out before the file", T, async () => {
      const { client, peer: peerP } = await pair();
      const peer = await peerP;
      peer.pause(); // keep the head queued in Node while sendFileToSocket starts
      const head = Buffer.alloc(16 * MiB, "h");
      client.write(head);
      assert.ok(client.writableLength > 0, "test setup: the head should still be queued");
      const got = collect(peer);
      setTimeout(() => peer.resume(), 100);
      const fd = files.get("big")!;
      await onPath(path, () => sendFileToSocket(client, fd, 0, 5 * MiB, optsFor(path)));
      client.end();
      assert.deepEqual(await got, expected(Buffer.concat([head, data.subarray(0, 5 * MiB)])));
    });

    test(
      "onProgress reaches every multiple of 64 KiB or 1% of the range, whichever is larger (docs/client.md)",
      T,
      async () => {
        // 1 MiB + 5: the grain is 64 KiB. 20 MiB + 3: 1% (209,716 bytes) is larger.
        for (const [length, grain] of [
          [MiB + 5, 64 * 1024],
          [20 * MiB + 3, Math.ceil((20 * MiB + 3) / 100)],
        ] as const) {
          const { client, peer } = await pair();
          const got = collect(await peer);
          const calls: number[] = [];
          const opts = optsFor(path, { onProgress: (n) => calls.push(n) });
          await onPath(path, () => sendFileToSocket(client, files.get("big")!, 3, length, opts));
          client.end();
          assert.deepEqual(await got, expected(data.subarray(3, 3 + length)));
          const tooBig = calls.filter((n) => n <= 0 || n > grain);
          assert.deepEqual(tooBig, [], `calls over the ${grain}-byte grain`);
          // Each call ends at or before the next multiple of the grain, so a caller that
          // reports once a grain's worth has gone by reports at every multiple.
          const reached = new Set<number>();
          let sum = 0;
          for (const n of calls) {
            sum += n;
            reached.add(sum);
          }
          assert.equal(sum, length);
          const missed: number[] = [];
          for (let at = grain; at < length; at += grain) if (!reached.has(at)) missed.push(at);
          assert.deepEqual(missed, [], `no progress call ended at these offsets of ${length}`);
          client.destroy();
        }
      },
    );

    test("a socket still connecting is waited for", T, async () => {
      const { client, peer } = await pair({ connected: false });
      assert.ok(client.connecting);
      const sending = onPath(path, () => sendFileToSocket(client, files.get("big")!, 0, MiB, optsFor(path)));
      const got = collect(await peer);
      await sending;
      client.end();
      assert.deepEqual(await got, expected(data.subarray(0, MiB)));
    });
  });
}

// ---------------------------------------------------------------------------------------
// Choosing the path

describe("path selection", () => {
  test(
    "onUploadProgress of a file() upload through sendfile fires per 64 KiB or 1% (docs/client.md)",
    T,
    async () => {
      requireAddon();
      const base = tcpHandles();
      const peer = await httpServer((req, res) => {
        let bytes = 0;
        req.on("data", (chunk: Buffer) => (bytes += chunk.length));
        req.on("end", () => res.end(String(bytes)));
      });
      const t = new Transport({ proxy: null });
      const client = new Client({ transport: t });
      try {
        for (const length of [MiB + 5, 20 * MiB + 3]) {
          const name = `progress-${length}`;
          makeFile(name, data.subarray(0, length));
          // What docs/client.md promises: a report each time this much has gone by.
          const step = Math.max(64 * 1024, length / 100);
          const events: Progress[] = [];
          const before = sendFileStats().sendfile;
          const res = await client.put(peer.url, {
            body: file(join(dir, name)),
            onUploadProgress: (p) => events.push(p),
          });
          assert.equal(await res.text(), String(length));
          assert.equal(sendFileStats().sendfile, before + 1, "went through sendfile(2)");
          assert.deepEqual(events.at(-1), { loaded: length, total: length });
          const gaps = events.map((e, i) => e.loaded - (i === 0 ? 0 : events[i - 1]!.loaded));
          const late = gaps.filter((g) => g > Math.ceil(step));
          assert.deepEqual(late, [], `reports ${gaps.length}, gaps over ${step} bytes`);
          assert.ok(gaps.length >= Math.floor(length / Math.ceil(step)), `only ${gaps.length} reports`);
        }
      } finally {
        await peer.close();
      }
      await assertNoLeaks(t, base);
    },
  );

  test("TLS sockets take the fallback and still send every byte", T, async () => {
    requireAddon();
    const server = tls.createServer({ key: TLS_KEY, cert: TLS_CERT });
    servers.add(server);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const peerP = once(server, "secureConnection").then(([s]) => track(s as tls.TLSSocket));
    const { port } = server.address() as net.AddressInfo;
    const client = track(tls.connect({ port, host: "127.0.0.1", rejectUnauthorized: false }));
    await once(client, "secureConnect");
    const got = collect(await peerP);
    const length = 3 * MiB + 5;
    await onPath("fallback", () => sendFileToSocket(client, files.get("big")!, 7, length));
    assert.equal(sendFileStats().lastFallbackReason, "TLS socket");
    client.end();
    assert.deepEqual(await got, expected(data.subarray(7, 7 + length)));
    client.destroy();
    server.close();
  });

  test("sockets without a kernel fd take the fallback", () => {
    requireAddon();
    assert.equal(sendfileUnsupportedReason(new PassThrough()), "not a net.Socket");
    const raw = new net.Socket();
    const wrapped = new tls.TLSSocket(raw);
    assert.equal(sendfileUnsupportedReason(wrapped), "TLS socket");
    wrapped.destroy();
    raw.destroy();
  });

  test("bad ranges reject with RangeError", T, async () => {
    const { client } = await pair();
    const fd = files.get("big")!;
    for (const [offset, length] of [
      [-1, 1],
      [0, -1],
      [0.5, 1],
      [0, Number.NaN],
      [2 ** 53, 1],
    ]) {
      await assert.rejects(sendFileToSocket(client, fd, offset!, length!), RangeError);
    }
    client.destroy();
  });

  test("stalled transfers do not starve the thread pool", T, async () => {
    requireAddon();
    // Four stalled sendfile calls would hold all four default pool threads if the worker
    // waited forever; it hands its thread back every 500 ms, so fs work still runs.
    const ac = new AbortController();
    const sends: Promise<number>[] = [];
    for (let i = 0; i < 4; i++) {
      const { client, peer } = await pair();
      (await peer).pause();
      const s = sendFileToSocket(client, files.get("big")!, 0, data.length, { signal: ac.signal });
      s.catch(() => {});
      sends.push(s);
    }
    await new Promise((r) => setTimeout(r, 300));
    try {
      await within(3000, "readFile during stalled sends", readFile(fileURLToPath(import.meta.url)));
    } finally {
      ac.abort(new Error("done"));
    }
    const results = await within(2000, "abort all", Promise.allSettled(sends));
    assert.ok(results.every((r) => r.status === "rejected"));
  });

  test("ROUNDTRIP_NO_ZEROCOPY=1 disables the addon and says why", T, () => {
    const moduleUrl = new URL("../../src/body/zerocopy.js", import.meta.url).href;
    const r = spawnSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `const m = await import(${JSON.stringify(moduleUrl)}); console.log(JSON.stringify(m.zeroCopy));`,
      ],
      { env: { ...process.env, ROUNDTRIP_NO_ZEROCOPY: "1" }, encoding: "utf8", timeout: 10_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      available: false,
      reason: "disabled by ROUNDTRIP_NO_ZEROCOPY=1",
    });
  });
});
