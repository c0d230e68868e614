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
 * Reads one HTTP/1.1 request head (and a Content-Length body) from a raw socket.
 * Resolves with the head text and body, leaving later bytes for the next call.
 */
export function readRequest(socket: net.Socket): Promise<{ head: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const state = socket as net.Socket & { _rtBuf?: Buffer };
    let buf = state._rtBuf ?? Buffer.alloc(0);
    const tryParse = (): boolean => {
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return false;
      const head = buf.subarray(0, end).toString("latin1");
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const len = m ? Number(m[1]) : 0;
      if (buf.length < end + 4 + len) return false;
      const body = buf.subarray(end + 4, end + 4 + len);
      state._rtBuf = buf.subarray(end + 4 + len);
      socket.off("data", onData);
      socket.off("close", onClose);
      resolve({ head, body });
      return true;
    };
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      tryParse();
    };
    const onClose = () => reject(new Error("socket closed before a full request"));
    if (tryParse()) return;
    socket.on("data", onData);
    socket.on("close", onClose);
  });
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
