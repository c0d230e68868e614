/**
 * Regressions found by review, one test each: every one failed before its fix.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { redactURL } from "../../src/errors.js";
import { file, RoundtripError, Transport } from "../../src/index.js";
import { connectTunnel } from "../../src/transport/proxy.js";
import { assertNoLeaks, httpServer, rawServer, rejectsWith, tcpHandles, waitFor } from "../helpers.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("file() uploads reuse their connection even when the server answers at once", async () => {
  const base = tcpHandles();
  const dir = await mkdtemp(join(tmpdir(), "rt-reg-"));
  const path = join(dir, "f.bin");
  await writeFile(path, Buffer.alloc(100_000, 7));
  const peer = await httpServer((req, res) => {
    req.resume();
    req.on("end", () => res.end("ok"));
  });
  const t = new Transport();
  for (let i = 0; i < 5; i++) {
    const res = await t.roundTrip({ url: peer.url, method: "PUT", body: file(path) });
    assert.equal(await res.text(), "ok");
  }
  assert.equal(peer.connections, 1);
  await peer.close();
  await rm(dir, { recursive: true, force: true });
  await assertNoLeaks(t, base);
});

test("a slow reader of a gzip body is not a server stall (bodyTimeout)", async () => {
  const base = tcpHandles();
  const plain = Buffer.alloc(8 * 1024 * 1024, 97);
  const gz = gzipSync(plain);
  const peer = await httpServer((_req, res) => {
    res.writeHead(200, { "content-encoding": "gzip", "content-length": gz.length });
    res.end(gz);
  });
  const t = new Transport({ bodyTimeout: 100 });
  const res = await t.roundTrip({ url: peer.url });
  let n = 0;
  let first = true;
  for await (const c of res.body) {
    n += c.length;
    if (first) {
      first = false;
      await sleep(400); // far longer than bodyTimeout, with the decoder and socket paused by us
    }
  }
  assert.equal(n, plain.length);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("stream() destroyed and webStream() cancelled before any read free the connection", async () => {
  const base = tcpHandles();
  const peer = await httpServer((_req, res) => {
    res.write("x".repeat(1000)); // and never end
  });
  const t = new Transport();
  const a = await t.roundTrip({ url: peer.url });
  const s = a.body.stream();
  assert.equal(a.body.used, true, "claimed when the stream is made");
  s.destroy();
  const b = await t.roundTrip({ url: peer.url });
  await b.body.webStream().cancel();
  await waitFor(() => t.stats().active === 0, 2000, "both connections to be let go");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("close() during a pending text() rejects the read instead of returning part of the body", async () => {
  const base = tcpHandles();
  const peer = await httpServer((_req, res) => {
    res.writeHead(200, { "content-length": 30_000 });
    res.write("y".repeat(10_000)); // the rest never comes
  });
  const t = new Transport();
  const res = await t.roundTrip({ url: peer.url });
  const reading = rejectsWith(res.body.text(), "ERR_ABORTED"); // handler attached before it rejects
  await sleep(20);
  await res.close();
  await reading;
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a trace hook that throws is reported as a warning; the request and the pool are unharmed", async () => {
  const base = tcpHandles();
  const peer = await httpServer((_req, res) => res.end("fine"));
  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }) => {
    if (w.code === "ROUNDTRIP_TRACE_HOOK") warnings.push(w.message);
  };
  process.on("warning", onWarning);
  const t = new Transport({ maxConnsPerHost: 1 });
  const boom = () => {
    throw new Error("hook bug");
  };
  const trace = { gotConn: boom, gotFirstResponseByte: boom, putIdleConn: boom };
  for (let i = 0; i < 2; i++)
    assert.equal(await (await t.roundTrip({ url: peer.url, trace })).text(), "fine");
  await waitFor(() => warnings.length >= 3, 2000, "the warnings");
  process.off("warning", onWarning);
  assert.match(warnings[0]!, /hook bug/);
  assert.equal(t.stats().active, 0);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a caller's own Expect: 100-continue header holds the body until 100 Continue", async () => {
  const base = tcpHandles();
  let bodyBeforeContinue = -1;
  const peer = await rawServer(async (socket) => {
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    await waitFor(() => Buffer.concat(chunks).includes("\r\n\r\n"), 2000, "the head");
    await sleep(100); // a body sent without waiting would be here by now
    const all = Buffer.concat(chunks);
    bodyBeforeContinue = all.length - (all.indexOf("\r\n\r\n") + 4);
    socket.write("HTTP/1.1 100 Continue\r\n\r\n");
    await waitFor(() => Buffer.concat(chunks).includes("hello"), 2000, "the body");
    socket.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
  });
  const t = new Transport({ expectContinueTimeout: 5000 });
  const res = await t.roundTrip({
    url: peer.url,
    method: "POST",
    body: "hello",
    headers: { Expect: "100-continue" },
  });
  assert.equal(await res.text(), "ok");
  assert.equal(bodyBeforeContinue, 0, "nothing of the body before 100 Continue");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("passwords are masked in every URL shape errors may show", () => {
  const cases: Array<[string, string]> = [
    ["http://u:p@h/x", "http://u:***@h/x"],
    ["user:s3cret@proxy:99999", "user:***@proxy:99999"],
    ["http:/u:p@h", "http://u:***@h/"],
    ["http://u:p@[bad/x", "http://u:***@[bad/x"],
    ["http://h/a:b@c", "http://h/a:b@c"],
  ];
  for (const [input, shown] of cases) assert.equal(redactURL(input), shown, input);
});

test("CRLF cannot reach the wire through proxyConnectHeaders or multipart names", async () => {
  const base = tcpHandles();
  const peer = await rawServer(() => {});
  const s = net.connect(peer.port, "127.0.0.1");
  await once(s, "connect");
  await assert.rejects(
    connectTunnel(
      s,
      "h",
      1,
      new URL("http://p:1"),
      { "X-A": 5 as unknown as string },
      new AbortController().signal,
    ),
    { code: "ERR_INVALID_REQUEST" },
  );
  s.destroy();
  const t = new Transport();
  await rejectsWith(
    t.roundTrip({ url: peer.url, method: "POST", form: { "a\u0000b": "x" } }),
    "ERR_INVALID_REQUEST",
  );
  assert.ok(RoundtripError);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a request that fails before its body is read closes the caller's stream; a throwing proxy function rejects", async () => {
  const base = tcpHandles();
  const closed = await new Promise<net.Server>((r) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => r(s));
  });
  const port = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r())); // nothing listens there now
  const t = new Transport({ proxy: null });
  const { Readable } = await import("node:stream");
  const body = new Readable({ read() {} });
  const p = t.roundTrip({ url: `http://127.0.0.1:${port}/`, method: "POST", body });
  await rejectsWith(p, "ERR_CONNECT");
  await waitFor(() => body.destroyed, 2000, "the unread body stream to be destroyed");

  const bad = new Transport({
    proxy: () => {
      throw new Error("proxy chooser bug");
    },
  });
  let threw = false;
  let rejected: Promise<unknown> | null = null;
  try {
    rejected = bad.roundTrip({ url: "http://example.test/" });
  } catch {
    threw = true;
  }
  assert.equal(threw, false, "roundTrip never throws synchronously");
  await assert.rejects(rejected!, /proxy chooser bug/);
  await assertNoLeaks(bad, base);
  await assertNoLeaks(t, base);
});

test("stream().destroy() while a read waits on a silent server frees the connection at once", async () => {
  const base = tcpHandles();
  const peer = await httpServer((_req, res) => {
    res.write("first"); // then silence, never the end
  });
  const t = new Transport({ bodyTimeout: 0 });
  const res = await t.roundTrip({ url: peer.url });
  const s = res.body.stream();
  const first = await new Promise<Buffer>((r) => s.once("data", r));
  assert.equal(first.toString(), "first");
  s.pause();
  // A read is now pending inside the stream (it asked for more); destroy must not wait on it.
  s.destroy();
  await waitFor(() => t.stats().active === 0 && t.stats().total === 0, 2000, "the connection to be let go");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a one-shot stream body is closed when 100-continue is declined with a final status", async () => {
  const base = tcpHandles();
  const peer = await rawServer(async (socket) => {
    await readRequestHead(socket);
    socket.end("HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  });
  const t = new Transport({ expectContinueTimeout: 5000 });
  const { Readable } = await import("node:stream");
  const body = new Readable({ read() {} });
  const res = await t.roundTrip({ url: peer.url, method: "PUT", body, expectContinue: true });
  assert.equal(res.status, 417);
  await waitFor(() => body.destroyed, 2000, "the unsent body stream to be destroyed");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("trace hooks written as methods of a class instance are called (and guarded)", async () => {
  const base = tcpHandles();
  const peer = await httpServer((_req, res) => res.end("ok"));
  class Recorder {
    seen: string[] = [];
    gotConn() {
      this.seen.push("gotConn");
    }
    wroteRequest() {
      this.seen.push("wroteRequest");
    }
  }
  const trace = new Recorder();
  const t = new Transport();
  await (await t.roundTrip({ url: peer.url, trace })).text();
  assert.deepEqual(trace.seen, ["gotConn", "wroteRequest"]);
  await peer.close();
  await assertNoLeaks(t, base);
});

/** Waits for a request head on a raw socket (the body, if any, is not read). */
function readRequestHead(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    let buf = "";
    const onData = (c: Buffer) => {
      buf += c.toString("latin1");
      if (buf.includes("\r\n\r\n")) {
        socket.off("data", onData);
        resolve();
      }
    };
    socket.on("data", onData);
  });
}

test("every refused request closes its body: invalid method, header, target, Host, scheme; aborted; transport closed", async () => {
  const t = new Transport({ proxy: null });
  const closedT = new Transport({ proxy: null });
  await closedT.close();
  const aborted = AbortSignal.abort();
  const refusals: Array<{ name: string; code: string; run: (body: Readable) => Promise<unknown> }> = [
    {
      name: "invalid method",
      code: "ERR_INVALID_REQUEST",
      run: (body) => t.roundTrip({ url: "http://127.0.0.1:1/", method: "PO ST", body }),
    },
    {
      name: "invalid header value",
      code: "ERR_INVALID_REQUEST",
      run: (body) =>
        t.roundTrip({ url: "http://127.0.0.1:1/", method: "POST", headers: { "x-a": "a\r\nb" }, body }),
    },
    {
      name: "invalid target",
      code: "ERR_INVALID_REQUEST",
      run: (body) => t.roundTrip({ url: "http://", method: "POST", body }),
    },
    {
      name: "invalid Host",
      code: "ERR_INVALID_REQUEST",
      run: (body) => t.roundTrip({ url: "http://127.0.0.1:1/", method: "POST", host: "a b", body }),
    },
    {
      name: "unsupported scheme",
      code: "ERR_INVALID_REQUEST",
      run: (body) => t.roundTrip({ url: "ftp://127.0.0.1:21/", method: "POST", body }),
    },
    {
      name: "already aborted",
      code: "ERR_ABORTED",
      run: (body) => t.roundTrip({ url: "http://127.0.0.1:1/", method: "POST", body, signal: aborted }),
    },
    {
      name: "transport closed",
      code: "ERR_TRANSPORT_CLOSED",
      run: (body) => closedT.roundTrip({ url: "http://127.0.0.1:1/", method: "POST", body }),
    },
  ];
  for (const r of refusals) {
    const body = new Readable({ read() {} });
    await rejectsWith(r.run(body), r.code);
    assert.equal(body.destroyed, true, `${r.name}: the caller's stream is closed`);
  }
  // A web ReadableStream and an async generator are closed too (cancelled, returned).
  let cancelled = false;
  const web = new ReadableStream({
    cancel() {
      cancelled = true;
    },
  });
  await rejectsWith(
    t.roundTrip({ url: "http://127.0.0.1:1/", method: "PO ST", body: web }),
    "ERR_INVALID_REQUEST",
  );
  assert.equal(cancelled, true, "the ReadableStream was cancelled");
  let returned = false;
  async function* gen(): AsyncGenerator<string> {
    try {
      yield "never read";
    } finally {
      returned = true;
    }
  }
  const g = gen();
  await g.next(); // started, paused in its try: return() runs the finally
  await rejectsWith(t.roundTrip({ url: "http://", method: "POST", body: g }), "ERR_INVALID_REQUEST");
  assert.equal(returned, true, "the generator was returned");
  await assertNoLeaks(t);
});
