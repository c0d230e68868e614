/**
 * Shared test helpers: real loopback peers and leak checks.
 *
 * Every test that opens sockets ends with `await assertNoLeaks(transport)`: the pool's
 * stats back to zero and no TCP handle left in the process beyond those open before.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import net from "node:net";
import type { Transport } from "../src/index.js";

/** Open TCP handles in this process (client and server sides, listeners included). */
export function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap" || r === "TCPServerWrap")
    .length;
}

/** Waits until `cond()` holds, polling; fails after `ms`. A bound, never a speed claim. */
export async function waitFor(cond: () => boolean, ms = 2000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface Peer {
  url: string;
  port: number;
  /** TCP connections accepted so far. */
  connections: number;
  /** Sockets currently open on the server side. */
  sockets: Set<net.Socket>;
  close(): Promise<void>;
}

/** A node:http server on 127.0.0.1 that counts connections. */
export async function httpServer(handler: http.RequestListener): Promise<Peer & { server: http.Server }> {
  const server = http.createServer(handler);
  server.keepAliveTimeout = 10_000;
  const peer = track(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as net.AddressInfo).port;
  return Object.assign(peer, { url: `http://127.0.0.1:${port}`, port, server });
}

/**
 * A raw TCP server for fault injection: `onConnection(socket, index)` scripts each
 * connection; it sees every byte and writes whatever it likes.
 */
export async function rawServer(onConnection: (socket: net.Socket, index: number) => void): Promise<Peer> {
  let index = 0;
  const server = net.createServer((socket) => onConnection(socket, index++));
  const peer = track(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as net.AddressInfo).port;
  return Object.assign(peer, { url: `http://127.0.0.1:${port}`, port });
}

function track(server: net.Server): Omit<Peer, "url" | "port"> {
  const sockets = new Set<net.Socket>();
  const peer = {
    connections: 0,
    sockets,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  server.on("connection", (s: net.Socket) => {
    peer.connections++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  return peer;
}

/**
 * Reads one HTTP/1.1 request head and its body (Content-Length or chunked, decoded) from
 * a raw socket, leaving later bytes for the next call. Same reader as readMessage.
 */
export function readRequest(socket: net.Socket): Promise<{ head: string; body: Buffer }> {
  return readMessage(socket);
}

/** Pool back to zero and no TCP handle beyond `baseline` (default: peers already closed). */
export async function assertNoLeaks(transport: Transport, baseline = 0): Promise<void> {
  await transport.close();
  const s = transport.stats();
  assert.deepEqual(
    { total: s.total, active: s.active, idle: s.idle, dialing: s.dialing, waiting: s.waiting },
    { total: 0, active: 0, idle: 0, dialing: 0, waiting: 0 },
    "transport stats back to zero",
  );
  await waitFor(
    () => tcpHandles() <= baseline,
    2000,
    `TCP handles to fall to ${baseline} (now ${tcpHandles()})`,
  );
}

/** Asserts that `p` rejects with a RoundtripError of `code`; returns the error. */
export async function rejectsWith(
  p: Promise<unknown>,
  code: string,
): Promise<Error & { code: string; phase?: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as Error & { code?: string };
    assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
    return e as Error & { code: string };
  }
  assert.fail(`expected rejection with ${code}`);
}

// ---- added for the transport tests (issue 3) ---------------------------------------

/** A promise with its resolve/reject exposed. */
export function deferred<T = void>(): {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
} {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A seeded PRNG (mulberry32) in [0, 1): the same seed replays the same run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` deterministic pseudo-random bytes (xorshift32) for a seed: no Math.random in tests. */
export function seededBytes(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

export interface ScriptedRequest {
  /** Index of the TCP connection (0 = first accepted). */
  conn: number;
  /** Index of the request on its connection (0 = first). */
  n: number;
  method: string;
  path: string;
  head: string;
  body: Buffer;
  socket: net.Socket;
}

/**
 * Reads one request (head, then a Content-Length or chunked body, decoded) from a raw
 * socket; later bytes stay for the next call. Rejects if the socket closes first.
 */
export function readMessage(socket: net.Socket): Promise<{ head: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const state = socket as net.Socket & { _rtMsgBuf?: Buffer };
    let buf = state._rtMsgBuf ?? Buffer.alloc(0);
    const parse = (): boolean => {
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return false;
      const head = buf.subarray(0, end).toString("latin1");
      let pos = end + 4;
      let body: Buffer;
      if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
        const parts: Buffer[] = [];
        while (true) {
          const lineEnd = buf.indexOf("\r\n", pos);
          if (lineEnd < 0) return false;
          const size = Number.parseInt(buf.subarray(pos, lineEnd).toString("latin1"), 16);
          if (size === 0) {
            // The last chunk, optional trailer fields, then the empty line.
            const trailerEnd = buf.indexOf("\r\n\r\n", lineEnd);
            if (trailerEnd < 0) return false;
            pos = trailerEnd + 4;
            break;
          }
          if (buf.length < lineEnd + 2 + size + 2) return false;
          parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
          pos = lineEnd + 2 + size + 2;
        }
        body = Buffer.concat(parts);
      } else {
        const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        const len = m ? Number(m[1]) : 0;
        if (buf.length < pos + len) return false;
        body = buf.subarray(pos, pos + len);
        pos += len;
      }
      state._rtMsgBuf = buf.subarray(pos);
      socket.off("data", onData);
      socket.off("close", onClose);
      resolve({ head, body });
      return true;
    };
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      parse();
    };
    const onClose = () => reject(new Error("socket closed before a full request"));
    if (parse()) return;
    socket.on("data", onData);
    socket.on("close", onClose);
  });
}

/**
 * A raw HTTP/1.1 server that reads requests one after another on each connection (heads
 * and Content-Length or chunked bodies, via readMessage) and lets `respond` write each answer.
 * `respond` may return "close" to end the connection (FIN) or "hold" to stop reading it.
 * Every request seen is recorded in `requests`.
 */
export async function scriptedServer(
  respond: (req: ScriptedRequest) => unknown,
): Promise<Peer & { requests: ScriptedRequest[] }> {
  const requests: ScriptedRequest[] = [];
  const peer = await rawServer(async (socket, conn) => {
    socket.on("error", () => {});
    for (let n = 0; ; n++) {
      let r: { head: string; body: Buffer };
      try {
        r = await readMessage(socket);
      } catch {
        return;
      }
      const [method = "", path = ""] = r.head.split(" ", 2);
      const req: ScriptedRequest = { conn, n, method, path, head: r.head, body: r.body, socket };
      requests.push(req);
      const verdict = await respond(req);
      if (verdict === "close") {
        socket.end();
        return;
      }
      if (verdict === "hold" || socket.destroyed) return;
    }
  });
  return Object.assign(peer, { requests });
}

/** `HTTP/1.1 <status>` with a Content-Length body and the given extra header lines. */
export function reply(body = "ok", status = "200 OK", headers: string[] = []): string {
  const lines = [`HTTP/1.1 ${status}`, `Content-Length: ${Buffer.byteLength(body)}`, ...headers];
  return `${lines.join("\r\n")}\r\n\r\n${body}`;
}

/**
 * A `dial` option whose dials wait at a gate: `open()` lets every pending and future dial
 * through, `step()` lets the oldest pending one through. Connects to 127.0.0.1 over TCP.
 */
export function gatedDial(): {
  dial: (o: { host: string; port: number; signal: AbortSignal }) => Promise<net.Socket>;
  /** Dials started so far. */
  readonly started: number;
  /** Dials waiting at the gate. */
  readonly pending: number;
  step(): void;
  open(): void;
} {
  const queue: Array<() => void> = [];
  let started = 0;
  let opened = false;
  const connect = (port: number) =>
    new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: "127.0.0.1", port });
      s.once("connect", () => {
        s.off("error", reject);
        resolve(s);
      });
      s.once("error", reject);
    });
  return {
    dial({ port }) {
      started++;
      if (opened) return connect(port);
      return new Promise<void>((r) => queue.push(r)).then(() => connect(port));
    },
    get started() {
      return started;
    },
    get pending() {
      return queue.length;
    },
    step() {
      queue.shift()?.();
    },
    open() {
      opened = true;
      for (const go of queue.splice(0)) go();
    },
  };
}

/**
 * Registers `x.close()` to run when the test ends, pass or fail, so a failing assertion
 * does not leave sockets that keep the test file alive. close() must be idempotent.
 */
export function closeAfter<T extends { close(): unknown }>(t: { after(fn: () => unknown): void }, x: T): T {
  t.after(async () => {
    await x.close();
  });
  return x;
}

/** Starts a peer with `start(...args)` and closes it when the test ends (see closeAfter). */
export async function serve<A extends unknown[], P extends { close(): unknown }>(
  t: { after(fn: () => unknown): void },
  start: (...args: A) => Promise<P>,
  ...args: A
): Promise<P> {
  return closeAfter(t, await start(...args));
}

/**
 * A scripted server that answers every path with reply(path), except `held`, whose answer
 * waits until `hold.resolve()`. Closed when the test ends.
 */
export async function holdingServer(
  t: { after(fn: () => unknown): void },
  held: string,
): Promise<{ peer: Peer & { requests: ScriptedRequest[] }; hold: ReturnType<typeof deferred<void>> }> {
  const hold = deferred();
  const peer = await serve(t, scriptedServer, async (req: ScriptedRequest) => {
    if (req.path === held) await hold.promise;
    req.socket.write(reply(req.path));
  });
  return { peer, hold };
}

/**
 * A node:http server that reads the first chunk of a request body and then never reads
 * again (and never answers): an upload to it stalls on a full socket. `started` resolves
 * at that first chunk.
 */
export async function stallingServer(): Promise<{ peer: Peer; started: Promise<void> }> {
  const first = deferred();
  const peer = await httpServer((req) => {
    req.once("data", () => {
      req.pause(); // and never read again
      first.resolve();
    });
  });
  return { peer, started: first.promise };
}

/**
 * A node:http server that holds each request body unread until `resume()`, then reads it
 * all and answers "ok" 3 s after its end (bounded), so that an answer cannot race the end
 * of an upload and stop the client's write before its own checks. `holding()` says
 * whether a body is being held.
 */
export async function heldBodyServer(): Promise<{ peer: Peer; holding(): boolean; resume(): void }> {
  let release: (() => void) | undefined;
  const peer = await httpServer(async (req, res) => {
    req.pause();
    await new Promise<void>((r) => (release = r));
    req.resume();
    req.on("end", () => {
      const timer = setTimeout(() => res.end("ok"), 3000);
      req.socket.once("close", () => clearTimeout(timer));
    });
  });
  return { peer, holding: () => release !== undefined, resume: () => release?.() };
}
