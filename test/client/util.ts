/**
 * Helpers for the Client and fetch tests: a recording node:http peer, and a `dial` that
 * maps made-up host names (a.example, sub.a.example, b.example) onto that peer, so
 * redirects can cross "domains" on loopback.
 */
import type http from "node:http";
import net from "node:net";
import { type DialFunc, Transport, type TransportOptions } from "../../src/index.js";
import { httpServer, type Peer, rawServer } from "../helpers.js";

/**
 * Peers and transports a test opened, closed after each test (`afterEach(closeLeftovers)`)
 * so a failed assertion cannot leave a listener keeping the file alive until its timeout.
 * Closing twice is harmless; the test's own close and assertNoLeaks come first.
 */
const leftovers = new Set<{ close(): Promise<unknown> }>();

export async function closeLeftovers(): Promise<void> {
  const all = [...leftovers];
  leftovers.clear();
  await Promise.all(all.map((x) => x.close().catch(() => {})));
}

function tracked<T extends { close(): Promise<unknown> }>(x: T): T {
  leftovers.add(x);
  return x;
}

/** helpers.httpServer, closed after the test in any case. */
export async function httpPeer(handler: http.RequestListener): Promise<Peer & { server: http.Server }> {
  return tracked(await httpServer(handler));
}

/** helpers.rawServer, closed after the test in any case. */
export async function rawPeer(onConnection: (socket: net.Socket, index: number) => void): Promise<Peer> {
  return tracked(await rawServer(onConnection));
}

/** A Transport closed after the test in any case. */
export function newTransport(options?: TransportOptions): Transport {
  return tracked(new Transport(options));
}

export interface Seen {
  method: string;
  url: string;
  /** The Host field as received. */
  host: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void;

/** A node:http peer that reads each request body fully, records the request, then calls `handler`. */
export async function recordingServer(
  handler: Handler,
): Promise<Peer & { server: http.Server; seen: Seen[] }> {
  const seen: Seen[] = [];
  const peer = await httpPeer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      const body = Buffer.concat(parts);
      seen.push({
        method: req.method ?? "",
        url: req.url ?? "",
        host: req.headers.host ?? "",
        headers: req.headers,
        body,
      });
      handler(req, res, body);
    });
  });
  return Object.assign(peer, { seen });
}

/** A `dial` that connects every host name to 127.0.0.1:`port`, recording the names dialed. */
export function dialTo(port: number, dialed: string[] = []): DialFunc {
  return ({ host, port: p, signal }) =>
    new Promise((resolve, reject) => {
      dialed.push(`${host}:${p}`);
      const s = net.connect(port, "127.0.0.1");
      const onAbort = () => {
        s.destroy();
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      s.once("connect", () => {
        signal.removeEventListener("abort", onAbort);
        resolve(s);
      });
      s.once("error", (err) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      });
    });
}

/** Transport options that route made-up host names to `peer`. */
export function fakeDNS(peer: { port: number }, extra: TransportOptions = {}): TransportOptions {
  return { ...extra, dial: dialTo(peer.port) };
}

/** Redirect helper: writes `status` with Location `to` and a short body. */
export function redirect(res: http.ServerResponse, status: number, to: string, body = "moved"): void {
  res.writeHead(status, { location: to, "content-type": "text/plain" });
  res.end(body);
}
