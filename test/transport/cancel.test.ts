/**
 * Cancellation with AbortSignal in every phase (issue 3), after Go's TestTransportCancelRequest*,
 * TestCancelRequestWhenSharingConnection and TestTransportCancelBeforeResponseHeaders:
 * waiting for a slot, dialing, writing the body, waiting for the head, reading the body.
 * Each rejects (or errors the body) with ERR_ABORTED, destroys the connection it was
 * using (never an idle one), frees its slot, and leaves stats() at zero.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, truncate, writeFile } from "node:fs/promises";
import type net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { file, type Response, Transport, type TransportOptions } from "../../src/index.js";
import {
  assertNoLeaks,
  closeAfter,
  gatedDial,
  holdingServer,
  type Peer,
  rawServer,
  rejectsWith,
  reply,
  scriptedServer,
  serve,
  tcpHandles,
  waitFor,
} from "../helpers.js";

interface Phase {
  name: string;
  transport?: (dial: ReturnType<typeof gatedDial>) => TransportOptions;
  /** Starts the request under test (and anything it must wait behind); returns what must reject. */
  start(t: Transport, url: string, signal: AbortSignal): Promise<unknown>;
  /** The request is in the phase. */
  ready(t: Transport, dial: ReturnType<typeof gatedDial>, held: number): boolean;
  /** Server sockets open once the abort has settled. */
  socketsAfter: number;
}

/** A stream body that never ends; counts chunks pulled and notes when it is closed. */
function endlessBody() {
  const state = { pulled: 0, returned: false };
  const chunk = Buffer.alloc(64 * 1024, 120);
  async function* gen() {
    try {
      while (true) {
        state.pulled++;
        yield chunk;
      }
    } finally {
      state.returned = true;
    }
  }
  return { state, body: gen() };
}

let upload: ReturnType<typeof endlessBody> | null = null;
let uploaded = 0;

// A sparse 64 MiB file: far more than socket buffers hold, nothing on disk.
const dir = await mkdtemp(join(tmpdir(), "roundtrip-cancel-"));
const bigFile = join(dir, "big.bin");
await writeFile(bigFile, "");
await truncate(bigFile, 64 << 20);
after(() => rm(dir, { recursive: true, force: true }));
let holder: Promise<Response> | null = null;

const phases: Phase[] = [
  {
    name: "waiting for a slot (maxConnsPerHost)",
    transport: () => ({ maxConnsPerHost: 1 }),
    start(t, url, signal) {
      holder = t.roundTrip({ url: `${url}/hold` });
      return t.roundTrip({ url: `${url}/victim`, signal });
    },
    ready: (t, _d, held) => held === 1 && t.stats().waiting === 1,
    socketsAfter: 1,
  },
  {
    name: "dialing",
    transport: (d) => ({ dial: d.dial }),
    start: (t, url, signal) => t.roundTrip({ url, signal }),
    ready: (_t, d) => d.pending === 1,
    socketsAfter: 0,
  },
  {
    name: "in the TLS handshake",
    start: (t, url, signal) => t.roundTrip({ url: url.replace("http:", "https:").concat("/tls"), signal }),
    // The raw server reads the ClientHello as a "head" that never ends: it stays silent.
    ready: (t, _d, _held) => t.stats().dialing === 1 && t.stats().waiting === 1,
    socketsAfter: 1,
  },
  {
    name: "writing a large body the server does not read",
    start(t, url, signal) {
      upload = endlessBody();
      return t.roundTrip({ url: `${url}/noread`, method: "PUT", body: upload.body, signal });
    },
    ready: () => (upload?.state.pulled ?? 0) >= 20,
    socketsAfter: 0,
  },
  {
    name: "sending a large file() the server does not read",
    start(t, url, signal) {
      uploaded = 0;
      return t.roundTrip({
        url: `${url}/noread`,
        method: "PUT",
        body: file(bigFile),
        signal,
        onUploadProgress: (p) => {
          uploaded = p.loaded;
        },
      });
    },
    ready: () => uploaded > 0,
    socketsAfter: 0,
  },
  {
    name: "waiting for the response head",
    start: (t, url, signal) => t.roundTrip({ url: `${url}/hold`, signal }),
    ready: (_t, _d, held) => held === 1,
    socketsAfter: 0,
  },
  {
    name: "reading the body",
    start: async (t, url, signal) => {
      const res = await t.roundTrip({ url: `${url}/partial`, signal });
      return res.text();
    },
    ready: (t, _d, held) => held === 1 && t.stats().active === 1,
    socketsAfter: 0,
  },
];

for (const phase of phases) {
  test(`abort while ${phase.name}: ERR_ABORTED, slot freed, stats back to zero`, async (ctx) => {
    const base = tcpHandles();
    upload = null;
    holder = null;
    const releases: Array<() => void> = [];
    const unread: net.Socket[] = [];
    const peer: Peer = await serve(ctx, rawServer, async (socket) => {
      socket.on("error", () => {});
      // Read the head only; the body (if any) is never read for /noread.
      let buf = Buffer.alloc(0);
      const head = await new Promise<string>((resolve) => {
        const onData = (c: Buffer) => {
          buf = Buffer.concat([buf, c]);
          const end = buf.indexOf("\r\n\r\n");
          if (end >= 0) {
            socket.off("data", onData);
            socket.pause();
            resolve(buf.subarray(0, end).toString("latin1"));
          }
        };
        socket.on("data", onData);
      });
      const path = head.split(" ")[1];
      if (path === "/noread") {
        unread.push(socket);
        return;
      }
      if (path === "/partial") {
        socket.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome");
        releases.push(() => {});
        return;
      }
      await new Promise<void>((r) => releases.push(r));
      socket.write(reply("held"));
    });
    const dialer = gatedDial();
    const t = closeAfter(ctx, new Transport(phase.transport?.(dialer)));
    const ac = new AbortController();
    const p = phase.start(t, peer.url, ac.signal);
    p.catch(() => {});
    await waitFor(() => phase.ready(t, dialer, releases.length), 3000, `the request to be ${phase.name}`);
    ac.abort();
    await rejectsWith(p, "ERR_ABORTED");
    const s = t.stats();
    assert.equal(s.waiting, 0);
    if (holder === null) assert.equal(s.active, 0);
    if (upload !== null) await waitFor(() => upload!.state.returned, 2000, "the body source to be closed");
    // The server reads again, so it sees the client's FIN behind the unread body.
    for (const s of unread) s.resume();
    const slotHolder = holder as Promise<Response> | null;
    if (slotHolder !== null) {
      // The slot holder goes on undisturbed.
      releases.shift()!();
      assert.equal(await (await slotHolder).text(), "held");
      assert.equal(t.stats().active, 0);
    }
    if (phase.name === "dialing") {
      // The dial itself goes on (late binding): its connection goes idle.
      assert.equal(t.stats().dialing, 1);
      dialer.open();
      await waitFor(() => t.stats().idle === 1, 2000, "the orphaned dial to go idle");
      assert.equal(peer.connections, 1);
    } else {
      await waitFor(
        () => peer.sockets.size === phase.socketsAfter,
        2000,
        `server sockets to fall to ${phase.socketsAfter}`,
      );
    }
    await peer.close();
    await assertNoLeaks(t, base);
  });
}

test("an already aborted signal fails at once, before any connection", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, (req) => void req.socket.write(reply()));
  const t = closeAfter(ctx, new Transport());
  const err = await rejectsWith(
    t.roundTrip({ url: peer.url, signal: AbortSignal.abort(new Error("why")) }),
    "ERR_ABORTED",
  );
  assert.equal((err.cause as Error).message, "why", "the abort reason is the cause");
  assert.equal(peer.connections, 0);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("the abort reason is kept as the cause; a RoundtripError reason is thrown as is", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, () => "hold");
  const t = closeAfter(ctx, new Transport());
  const ac = new AbortController();
  const p = t.roundTrip({ url: peer.url, signal: ac.signal });
  await waitFor(() => peer.requests.length === 1, 2000, "the request at the server");
  const reason = new Error("user gave up");
  ac.abort(reason);
  const err = await rejectsWith(p, "ERR_ABORTED");
  assert.equal(err.cause, reason);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("an abort after the response has fully arrived changes nothing; the idle conn is kept", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, (req) => void req.socket.write(reply("whole")));
  const t = closeAfter(ctx, new Transport());
  const ac = new AbortController();
  const res = await t.roundTrip({ url: peer.url, signal: ac.signal });
  ac.abort();
  assert.equal(await res.text(), "whole");
  assert.equal(t.stats().idle, 1);
  const again = await t.roundTrip({ url: peer.url });
  await again.text();
  assert.equal(again.conn.reused, true);
  assert.equal(peer.connections, 1);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("one signal shared by sequential requests: aborting affects only the one in flight", async (ctx) => {
  const base = tcpHandles();
  const { peer, hold } = await holdingServer(ctx, "/hold");
  const t = closeAfter(ctx, new Transport());
  const ac = new AbortController();
  assert.equal(await (await t.roundTrip({ url: `${peer.url}/a`, signal: ac.signal })).text(), "/a");
  const other = t.roundTrip({ url: `${peer.url}/b` });
  assert.equal(await (await other).text(), "/b");
  const p = t.roundTrip({ url: `${peer.url}/hold`, signal: ac.signal });
  await waitFor(() => peer.requests.length === 3, 2000, "/hold at the server");
  ac.abort();
  await rejectsWith(p, "ERR_ABORTED");
  hold.resolve();
  assert.equal(peer.connections, 1);
  await waitFor(() => peer.sockets.size === 0, 2000, "the aborted connection to close");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a waiter aborted just after it was handed a connection is still aborted; the conn is kept", async (ctx) => {
  const base = tcpHandles();
  const { peer, hold } = await holdingServer(ctx, "/a");
  const t = closeAfter(ctx, new Transport({ maxConnsPerHost: 1 }));
  const ac = new AbortController();
  // putIdleConn fires just before /a's connection is handed to /b's waiter; the abort
  // lands in the next microtask: after the hand-over, before /b's exchange starts.
  const a = t.roundTrip({
    url: `${peer.url}/a`,
    trace: { putIdleConn: () => queueMicrotask(() => ac.abort()) },
  });
  await waitFor(() => peer.requests.length === 1, 2000, "/a at the server");
  const b = t.roundTrip({ url: `${peer.url}/b`, signal: ac.signal });
  b.catch(() => {});
  assert.equal(t.stats().waiting, 1);
  hold.resolve();
  assert.equal(await (await a).text(), "/a");
  await rejectsWith(b, "ERR_ABORTED");
  assert.equal(t.stats().idle, 1, "the connection went back to the pool");
  const c = await t.roundTrip({ url: `${peer.url}/c` });
  assert.equal(await c.text(), "/c");
  assert.equal(c.conn.reused, true);
  assert.deepEqual(
    peer.requests.map((r) => r.path),
    ["/a", "/c"],
    "/b was never sent",
  );
  await peer.close();
  await assertNoLeaks(t, base);
});
