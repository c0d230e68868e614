/**
 * A client that stops reading and disconnects in the middle of a large file: the transfer
 * stops, serveFile reports the abort, and no descriptor is left open (counted in
 * /proc/self/fd before and after, and the file itself looked up among them), on both the
 * socket route and the stream route. Then the server still serves the next client.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { closeSync, ftruncateSync, mkdtempSync, openSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { serveFile } from "../../src/server/index.js";
import { get, settledFdCount, startServer, T, type TestServer } from "./helpers.js";

const SIZE = 1 << 30; // sparse: no disk used, and far more than any socket buffer
let dir: string;
let file: string;
let server: TestServer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "roundtrip-abort-"));
  file = join(dir, "huge.bin");
  const fd = openSync(file, "w");
  ftruncateSync(fd, SIZE);
  closeSync(fd);
  server = await startServer((req, res) =>
    serveFile(req, res, file, { zeroCopy: !req.url?.includes("stream") }),
  );
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

function fdsOnFile(): number {
  let n = 0;
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === file) n++;
    } catch {
      // The fd readdir itself used is gone by now.
    }
  }
  return n;
}

/** Reads `want` bytes of the response, stops reading until the server stalls, then resets. */
async function abortMidway(path: string, want: number): Promise<number> {
  const socket = net.connect(server.port, "127.0.0.1");
  await once(socket, "connect");
  socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  let got = 0;
  await new Promise<void>((resolve) => {
    socket.on("data", (d: Buffer) => {
      got += d.length;
      if (got >= want) {
        socket.pause();
        resolve();
      }
    });
  });
  // Let the server fill the socket buffers and block in the middle of the file.
  await sleep(200);
  // At least serveFile's own; the sendfile addon works on private dups of both fds.
  assert.ok(fdsOnFile() >= 1, "the file is open while it is being sent");
  socket.resetAndDestroy();
  await once(socket, "close");
  return got;
}

describe("client disconnects mid-file", () => {
  for (const route of ["socket", "stream"] as const) {
    test(`${route} route: transfer stops, the fd is closed, nothing leaks`, T, async () => {
      const path = route === "stream" ? "/?stream" : "/";
      const fdsBefore = await settledFdCount(server);
      const n = server.results.length;
      const got = await abortMidway(path, 4 << 20);
      const result = await server.results[n]!;
      assert.equal(result.status, 200);
      assert.equal(result.transfer, route);
      assert.ok(result.error, "the abort is reported");
      assert.ok(result.bytes >= got && result.bytes < SIZE, `stopped early: ${result.bytes} bytes`);
      assert.equal(fdsOnFile(), 0, "the file's descriptor is closed");
      assert.equal(await settledFdCount(server), fdsBefore, "no descriptor leaked");

      const next = await get(server.port, `${path}${route === "stream" ? "&" : "?"}x`, {
        headers: { range: "bytes=0-99" },
      });
      assert.equal(next.status, 206, "the server carries on");
      assert.equal(next.body.length, 100);
    });
  }

  test("a client gone before the body starts leaves nothing open either", T, async () => {
    const fdsBefore = await settledFdCount(server);
    const n = server.results.length;
    const socket = net.connect(server.port, "127.0.0.1");
    await once(socket, "connect");
    socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    // Wait until the request reached the handler, then vanish.
    for (let i = 0; i < 100 && server.results.length === n; i++) await sleep(5);
    socket.resetAndDestroy();
    const result = await server.results[n]!;
    assert.ok(result.error, "reported as cut short");
    assert.equal(fdsOnFile(), 0);
    assert.equal(await settledFdCount(server), fdsBefore);
  });
});
