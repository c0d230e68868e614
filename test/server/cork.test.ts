/**
 * serveFile's `tcpCork` option (nginx's `tcp_nopush on`): the kernel's TCP_CORK is read
 * back from the server's own socket with getsockopt, so the tests see the state itself,
 * not a timing effect. It must be on while a body is in flight, off between responses and
 * after a client abort, never set without the option, and the bytes must be exact.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { setTcpCork, tcpCorked, zeroCopy } from "../../src/body/zerocopy.js";
import { serveFile } from "../../src/server/index.js";
import { type Fixtures, makeFixtures } from "./fixtures.js";
import {
  parseMultipart,
  RawConnection,
  settledFdCount,
  sha256,
  startServer,
  T,
  type TestServer,
  TLS_CERT,
  TLS_KEY,
} from "./helpers.js";

const HUGE = 1 << 30; // sparse: far more than any socket buffer, no disk used

let fx: Fixtures;
let dir: string;
let server: TestServer;
/** The server side of the most recent request's connection. */
let serverSocket: net.Socket | undefined;

/** `?plain` serves without the option; `/huge` is the sparse file. */
function handler(req: IncomingMessage, res: ServerResponse) {
  serverSocket = req.socket;
  const url = new URL(req.url ?? "/", "http://x");
  const tcpCork = !url.searchParams.has("plain");
  if (url.pathname === "/huge") return serveFile(req, res, join(dir, "huge.bin"), { tcpCork });
  return serveFile(req, res, decodeURIComponent(url.pathname), { root: fx.root, tcpCork });
}

before(async () => {
  fx = makeFixtures();
  dir = mkdtempSync(join(tmpdir(), "roundtrip-cork-"));
  const fd = openSync(join(dir, "huge.bin"), "w");
  ftruncateSync(fd, HUGE);
  closeSync(fd);
  server = await startServer(handler);
});
after(async () => {
  await server.close();
  fx.remove();
  rmSync(dir, { recursive: true, force: true });
});

const addonMissing = () =>
  console.log(`# zero-copy addon not available (${zeroCopy.reason}): TCP_CORK unreadable`);

/**
 * Asserts TCP_CORK on the server's side of the latest request's connection. Without the
 * addon the option cannot be read (nor set): that is asserted instead, and said.
 */
function assertCork(expected: boolean, message: string): void {
  assert.ok(serverSocket, "a request has reached the server");
  if (zeroCopy.available) {
    assert.equal(tcpCorked(serverSocket), expected, message);
  } else {
    assert.equal(tcpCorked(serverSocket), undefined);
    addonMissing();
  }
}

describe("tcpCork", () => {
  test("responses of every kind are byte-exact, and the connection is uncorked after each", T, async () => {
    const before = server.connections;
    const conn = await RawConnection.open(server.port);
    try {
      let r = await conn.request("/big.bin");
      assert.equal(r.status, 200);
      assert.equal(sha256(r.body), sha256(fx.big));
      assert.equal((await server.results.at(-1))?.transfer, "socket");
      assertCork(false, "uncorked after a whole file");

      // Multipart: boundaries are socket writes between sendfile ranges, all under the cork.
      r = await conn.request("/big.bin", { headers: { range: "bytes=0-9,1000-199999,-5" } });
      assert.equal(r.status, 206);
      const parts = parseMultipart(r.body, r.headers["content-type"]!);
      assert.deepEqual(
        parts.map((p) => sha256(p.body)),
        [fx.big.subarray(0, 10), fx.big.subarray(1000, 200000), fx.big.subarray(fx.big.length - 5)].map(
          sha256,
        ),
      );
      await server.results.at(-1); // settles after the cork is cleared
      assertCork(false, "uncorked after multipart ranges");

      r = await conn.request("/small.dat", { headers: { range: "bytes=3-9" } });
      assert.deepEqual(r.body, fx.small.subarray(3, 10));
      r = await conn.request("/small.dat", { method: "HEAD" });
      assert.equal(r.status, 200);
      r = await conn.request("/small.dat", { headers: { "if-none-match": r.headers.etag! } });
      assert.equal(r.status, 304);
      r = await conn.request("/small.dat");
      assert.deepEqual(r.body, fx.small);
      await server.results.at(-1);
      assertCork(false, "uncorked after a small file");
      assert.equal(server.connections, before + 1, "one connection for all of it");
      assert.equal(conn.closed, false);
    } finally {
      conn.close();
    }
  });

  for (const [path, expected] of [
    ["/huge", true],
    ["/huge?plain", false],
  ] as const) {
    test(
      `${path}: TCP_CORK is ${expected ? "held" : "never set"} while the body is in flight; an abort leaves nothing open`,
      T,
      async () => {
        const fdsBefore = await settledFdCount(server);
        const socket = net.connect(server.port, "127.0.0.1");
        await once(socket, "connect");
        socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
        // Stop reading at the first bytes: the server then blocks in the middle of the file.
        await new Promise<void>((resolve) =>
          socket.once("data", () => {
            socket.pause();
            resolve();
          }),
        );
        const result = server.results.at(-1)!;
        try {
          let settled = false;
          void result.then(() => (settled = true));
          assertCork(expected, "while the body is in flight");
          assert.equal(settled, false, "the transfer is still running");
        } finally {
          socket.resetAndDestroy();
        }
        const r = await result;
        assert.equal(r.status, 200);
        assert.ok(r.error, "the abort is reported");
        assert.ok(r.bytes < HUGE);
        assert.equal(await settledFdCount(server), fdsBefore, "no descriptor left open");
      },
    );
  }
});

test("without the addon (ROUNDTRIP_NO_ZEROCOPY=1) tcpCork is ignored: same bytes, read/write loop", T, () => {
  const script = fileURLToPath(new URL("./no-addon-child.js", import.meta.url));
  const r = spawnSync(process.execPath, [script], {
    env: { ...process.env, ROUNDTRIP_NO_ZEROCOPY: "1" },
    encoding: "utf8",
    timeout: 15_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
  assert.deepEqual(out, { ok: true, transfer: "socket", path: "fallback", corked: null, available: false });
});

describe("setTcpCork / tcpCorked", () => {
  test("toggle TCP_CORK on a plain TCP socket; refuse TLS, Unix and destroyed sockets", T, async (t) => {
    const peer = net.createServer((s) => s.on("error", () => {}));
    peer.listen(0, "127.0.0.1");
    await once(peer, "listening");
    t.after(() => peer.close());
    const socket = net.connect((peer.address() as net.AddressInfo).port, "127.0.0.1");
    await once(socket, "connect");
    if (!zeroCopy.available) {
      assert.equal(setTcpCork(socket, true), false);
      assert.equal(tcpCorked(socket), undefined);
      socket.destroy();
      addonMissing();
      return;
    }
    assert.equal(tcpCorked(socket), false);
    assert.equal(setTcpCork(socket, true), true);
    assert.equal(tcpCorked(socket), true);
    assert.equal(setTcpCork(socket, false), true);
    assert.equal(tcpCorked(socket), false);
    socket.destroy();
    await once(socket, "close");
    assert.equal(setTcpCork(socket, true), false, "a destroyed socket's fd may be someone else's");
    assert.equal(tcpCorked(socket), undefined);

    // A Unix-domain socket has an fd, but no TCP: the kernel refuses and nothing throws.
    const path = join(dir, "unix.sock");
    const unix = net.createServer((s) => s.on("error", () => {}));
    unix.listen(path);
    await once(unix, "listening");
    t.after(() => unix.close());
    const u = net.connect(path);
    await once(u, "connect");
    assert.equal(setTcpCork(u, true), false);
    assert.equal(tcpCorked(u), undefined);
    u.destroy();

    // TLS must encrypt in Node; corking its fd underneath is not ours to do.
    const secure = tls.createServer({ key: TLS_KEY, cert: TLS_CERT }, (s) => s.on("error", () => {}));
    secure.listen(0, "127.0.0.1");
    await once(secure, "listening");
    t.after(() => secure.close());
    const port = (secure.address() as net.AddressInfo).port;
    const ts = tls.connect({ port, host: "127.0.0.1", rejectUnauthorized: false });
    await once(ts, "secureConnect");
    assert.equal(setTcpCork(ts, true), false);
    assert.equal(tcpCorked(ts), undefined);
    ts.destroy();
  });
});
