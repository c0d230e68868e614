/**
 * The receiving half of zero copy (src/body/splice.ts, native/splice.c): bytes arriving on
 * a plain TCP socket go into a file with splice(2), byte-exact, bounded by a length or by
 * the peer's FIN; a reset, an abort, a socket destroyed on our side and a full disk each
 * end the transfer with their own error, and no fd or pipe is left open.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { closeSync, openSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  resumeSocketReads,
  spliceSocketToFile,
  spliceUnsupportedReason,
  stopSocketReads,
} from "../../src/body/splice.js";
import { zeroCopy } from "../../src/body/zerocopy.js";
import { rawServer, seededBytes, tcpHandles, waitFor } from "../helpers.js";

let dir = "";
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "rt-splice-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const openFds = (): number => readdirSync("/proc/self/fd").length;

/** A connected client socket to a raw server scripted by `onConnection`. */
async function connect(onConnection: (s: net.Socket) => void) {
  const peer = await rawServer((s) => onConnection(s));
  const socket = net.connect(peer.port, "127.0.0.1");
  await once(socket, "connect");
  return { peer, socket };
}

describe("spliceSocketToFile", {
  skip: zeroCopy.available ? false : `zero copy off: ${zeroCopy.reason}`,
}, () => {
  test("moves exactly `length` bytes and leaves the rest on the socket for Node to read", async () => {
    const base = tcpHandles();
    const fds = openFds();
    const body = seededBytes(3 * 1024 * 1024 + 17, 7);
    const trailer = Buffer.from("NEXT");
    const { peer, socket } = await connect((s) => s.end(Buffer.concat([body, trailer])));
    const pending = stopSocketReads(socket);
    const path = join(dir, "exact.bin");
    const fd = openSync(path, "w");
    let progress = 0;
    // Whatever Node had read before the stop comes first (none, usually: checked anyway).
    const already = Buffer.concat(pending);
    const r = await spliceSocketToFile(socket, fd, body.length - already.length, {
      onProgress: (n) => {
        progress += n;
      },
    });
    closeSync(fd);
    assert.deepEqual(r, { bytes: body.length - already.length, eof: false });
    assert.equal(progress, r.bytes);
    assert.ok(Buffer.concat([already, readFileSync(path)]).equals(body), "file is byte-exact");
    // The bytes after the body were not taken: Node reads them once reads resume.
    resumeSocketReads(socket);
    const rest: Buffer[] = [];
    socket.on("data", (c: Buffer) => rest.push(c));
    await once(socket, "end");
    assert.equal(Buffer.concat(rest).toString(), "NEXT");
    socket.destroy();
    await peer.close();
    await waitFor(() => tcpHandles() <= base, 2000, "sockets closed");
    assert.equal(openFds(), fds, "no fd or pipe left open");
  });

  test("length null: until the peer's FIN, then eof", async () => {
    const body = seededBytes(512 * 1024, 9);
    const { peer, socket } = await connect((s) => s.end(body));
    assert.equal(spliceUnsupportedReason(socket), undefined);
    const pending = Buffer.concat(stopSocketReads(socket));
    const path = join(dir, "eof.bin");
    const fd = openSync(path, "w");
    const r = await spliceSocketToFile(socket, fd, null);
    closeSync(fd);
    assert.equal(r.eof, true);
    assert.ok(Buffer.concat([pending, readFileSync(path)]).equals(body));
    socket.destroy();
    await peer.close();
  });

  test("a reset (RST) rejects with ECONNRESET, never a clean end", async () => {
    const { peer, socket } = await connect((s) => {
      s.write(seededBytes(100_000, 3), () => setTimeout(() => s.resetAndDestroy(), 20));
    });
    stopSocketReads(socket);
    const fd = openSync(join(dir, "rst.bin"), "w");
    await assert.rejects(spliceSocketToFile(socket, fd, null), (err: Error & { code?: string }) => {
      assert.equal(err.code, "ECONNRESET");
      return true;
    });
    closeSync(fd);
    socket.destroy();
    await peer.close();
  });

  test("an abort stops a transfer waiting on a silent peer, with the signal's reason", async () => {
    const fds = openFds();
    const { peer, socket } = await connect((s) => s.write("x")); // then silence
    stopSocketReads(socket);
    const fd = openSync(join(dir, "abort.bin"), "w");
    const ac = new AbortController();
    const p = spliceSocketToFile(socket, fd, 1_000_000, { signal: ac.signal });
    setTimeout(() => ac.abort(new Error("stop now")), 30);
    await assert.rejects(p, /stop now/);
    closeSync(fd);
    socket.destroy();
    await peer.close();
    await waitFor(() => openFds() <= fds, 2000, "the worker's dups and pipe to close");
  });

  test("the socket destroyed on our side meanwhile: ERR_SOCKET_CLOSED", async () => {
    const { peer, socket } = await connect(() => {}); // a peer that sends nothing
    stopSocketReads(socket);
    const fd = openSync(join(dir, "closed.bin"), "w");
    const p = spliceSocketToFile(socket, fd, null);
    setTimeout(() => socket.destroy(), 30);
    await assert.rejects(p, (err: Error & { code?: string }) => err.code === "ERR_SOCKET_CLOSED");
    closeSync(fd);
    await peer.close();
  });

  test("a full disk (/dev/full) rejects with ENOSPC", async () => {
    const { peer, socket } = await connect((s) => s.end(seededBytes(64 * 1024, 5)));
    stopSocketReads(socket);
    const fd = openSync("/dev/full", "w");
    await assert.rejects(spliceSocketToFile(socket, fd, null), (err: Error & { code?: string }) => {
      assert.equal(err.code, "ENOSPC");
      return true;
    });
    closeSync(fd);
    socket.destroy();
    await peer.close();
  });

  test("a file opened for append is refused before any byte leaves the socket (EINVAL)", async () => {
    const body = Buffer.from("kept for the fallback");
    const { peer, socket } = await connect((s) => s.end(body));
    stopSocketReads(socket);
    const fd = openSync(join(dir, "append.bin"), "a");
    await assert.rejects(spliceSocketToFile(socket, fd, null), (err: Error & { code?: string }) => {
      assert.equal(err.code, "EINVAL");
      return true;
    });
    closeSync(fd);
    resumeSocketReads(socket);
    const got: Buffer[] = [];
    socket.on("data", (c: Buffer) => got.push(c));
    await once(socket, "end");
    assert.equal(Buffer.concat(got).toString(), body.toString(), "nothing was lost");
    socket.destroy();
    await peer.close();
  });
});
