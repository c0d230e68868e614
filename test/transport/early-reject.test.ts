/**
 * What goes on and comes off the wire, end to end (issue 12): a response that is already
 * invalid is refused at its first bad byte, even when the server then holds the
 * connection open and no timeout is set (responseHeaderTimeout: 0, the default);
 * HTTP/1.2 is read as HTTP/1.1; standard methods go upper-cased; an unsupported scheme
 * says so. Peers are scripted raw TCP servers on loopback.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Transport } from "../../src/index.js";
import {
  assertNoLeaks,
  closeAfter,
  rawServer,
  readRequest,
  rejectsWith,
  scriptedServer,
  serve,
  tcpHandles,
  waitFor,
} from "../helpers.js";

/**
 * Rejects if `p` has not settled within `ms`. A bound that turns "waits forever" into a
 * failure, not a speed claim: the answers awaited here need no time at all.
 */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms);
  });
  return Promise.race([p, bound]).finally(() => clearTimeout(timer));
}

const BOUND_MS = 10_000;

describe("a response already invalid is refused at once, the connection held open", () => {
  const garbage: Array<{ name: string; bytes: string; rule: string }> = [
    {
      name: "a TLS server answering a plain-text request (handshake record 0x16 0x03 ...)",
      bytes: "\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03",
      rule: "the server speaks TLS",
    },
    {
      name: "an SSH banner without its line end",
      bytes: "SSH-2.0-OpenSSH_9.6",
      rule: "does not start with HTTP/1.",
    },
    { name: "a NUL first", bytes: "\x00", rule: "does not start with HTTP/1." },
    {
      name: "HTTP/2 framing bytes",
      bytes: "\x00\x00\x12\x04\x00\x00\x00\x00\x00",
      rule: "does not start with HTTP/1.",
    },
    {
      name: "an obs-fold line that never ends",
      bytes: "HTTP/1.1 200 OK\r\nX-A: 1\r\n folded",
      rule: "obs-fold",
    },
    {
      name: "a NUL in a field value, the line never ending",
      bytes: "HTTP/1.1 200 OK\r\nX-A: a\x00b",
      rule: "control byte in header field value",
    },
  ];
  for (const g of garbage) {
    test(`${g.name}: ERR_BAD_RESPONSE without any timeout configured`, async (ctx) => {
      const base = tcpHandles();
      const peer = await serve(ctx, rawServer, async (socket) => {
        socket.on("error", () => {});
        await readRequest(socket).catch(() => {});
        socket.write(Buffer.from(g.bytes, "latin1")); // and hold the connection open
      });
      const t = closeAfter(ctx, new Transport());
      assert.equal(t.options.responseHeaderTimeout, 0);
      const err = await rejectsWith(
        within(t.roundTrip({ url: `${peer.url}/x` }), BOUND_MS, g.name),
        "ERR_BAD_RESPONSE",
      );
      assert.ok(err.message.includes(g.rule), err.message);
      // A response byte arrived: not retried (Go's rule), and the connection is closed.
      assert.equal(peer.connections, 1);
      assert.equal(t.stats().total, 0);
      await waitFor(() => peer.sockets.size === 0, 2000, "the client to close the connection");
      await peer.close();
      await assertNoLeaks(t, base);
    });
  }

  const badChunks: Array<{ name: string; body: string; rule: string }> = [
    { name: "a chunk extension without a name (2;)", body: "2;\r\nok\r\n", rule: "without a name" },
    {
      name: "an unterminated quoted chunk extension",
      body: '2;a="ok\r\nok\r\n',
      rule: "unterminated quoted-string",
    },
    { name: "a chunk-size line that is not hex", body: "zz", rule: "not hexadecimal" },
  ];
  for (const c of badChunks) {
    test(`a chunked body with ${c.name}: the body fails, the connection held open`, async (ctx) => {
      const base = tcpHandles();
      const peer = await serve(ctx, rawServer, async (socket) => {
        socket.on("error", () => {});
        await readRequest(socket).catch(() => {});
        // The last chunk never comes: only the early verdict can end the read.
        socket.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${c.body}`);
      });
      const t = closeAfter(ctx, new Transport());
      const res = await within(t.roundTrip({ url: peer.url }), BOUND_MS, "the head");
      const err = await rejectsWith(within(res.text(), BOUND_MS, c.name), "ERR_BAD_RESPONSE");
      assert.ok(err.message.includes(c.rule), err.message);
      await waitFor(() => peer.sockets.size === 0, 2000, "the client to close the connection");
      await peer.close();
      await assertNoLeaks(t, base);
    });
  }
});

test("HTTP/1.2 is processed as HTTP/1.1 (RFC 9110 §2.5): persistent by default, reused", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, (req) => {
    req.socket.write(`HTTP/1.2 200 OK\r\nContent-Length: ${req.path.length}\r\n\r\n${req.path}`);
  });
  const t = closeAfter(ctx, new Transport());
  for (const path of ["/a", "/b"]) {
    const res = await t.roundTrip({ url: `${peer.url}${path}` });
    assert.equal(res.httpVersion, "1.1");
    assert.equal(await res.text(), path);
  }
  assert.equal(peer.connections, 1, "kept alive as an HTTP/1.1 response is");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("standard methods go upper-cased (post → POST, as got, axios and fetch), others as given", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, (req) => {
    // Content-Length on a HEAD answer frames nothing: a client that took "head" for
    // another method would wait for these 5 bytes forever.
    req.socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n${req.method === "HEAD" ? "" : "hello"}`);
  });
  const t = closeAfter(ctx, new Transport());
  const cases: Array<[given: string, wire: string]> = [
    ["post", "POST"],
    ["Put", "PUT"],
    ["patch", "PATCH"],
    ["delete", "DELETE"],
    ["options", "OPTIONS"],
    ["get", "GET"],
    ["head", "HEAD"],
    ["propfind", "propfind"],
    ["Purge", "Purge"],
  ];
  for (const [given, wire] of cases) {
    const body = given === "post" || given === "Put" || given === "patch" ? "x" : undefined;
    const res = await within(t.roundTrip({ url: peer.url, method: given, body }), BOUND_MS, given);
    assert.equal(await res.text(), wire === "HEAD" ? "" : "hello");
  }
  assert.deepEqual(
    peer.requests.map((r) => r.method),
    cases.map(([, wire]) => wire),
  );
  // POST, PUT and PATCH with a body send it; the upper-cased name drives framing too.
  assert.deepEqual(
    peer.requests.slice(0, 3).map((r) => r.body.toString()),
    ["x", "x", "x"],
  );
  assert.equal(peer.connections, 1);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("an unsupported scheme is ERR_INVALID_REQUEST naming the scheme and the supported ones", async () => {
  const t = new Transport();
  for (const [url, scheme] of [
    ["ftp://example.com/file", "ftp"],
    ["ws://127.0.0.1:1/socket", "ws"],
  ]) {
    const err = await rejectsWith(t.roundTrip({ url: url! }), "ERR_INVALID_REQUEST");
    assert.ok(err.message.includes(`unsupported URL scheme "${scheme}"`), err.message);
    assert.ok(err.message.includes("supported are http and https"), err.message);
  }
  await assertNoLeaks(t);
});
