/**
 * startTestServer: a real server on 127.0.0.1 and a free port for the length of a test,
 * in the spirit of Go's httptest.NewServer — HTTP/1.1, HTTPS, or HTTPS with HTTP/2
 * (node:http2 with allowHTTP1, so HTTP/1.1 clients are served too). close() destroys
 * every connection and waits for the listener to close; given a test context, it runs
 * after the test on its own.
 */
import { once } from "node:events";
import http from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import https from "node:https";
import { createRequire } from "node:module";
import type { AddressInfo, Server, Socket } from "node:net";
import { Client } from "../client/client.js";
import { RoundtripError } from "../errors.js";
import { Transport } from "../transport/transport.js";
import { TEST_CERT, TEST_KEY } from "./cert.js";

/** A test context that runs a function after the test: node:test's `t`, or Vitest's `onTestFinished` context. */
export type TestContextLike =
  | { after(fn: () => unknown): void }
  | { onTestFinished(fn: () => unknown): void };

export interface TestServerOptions {
  /**
   * Serve HTTPS: true uses the kit's own self-signed certificate (127.0.0.1, ::1,
   * localhost; see `ca`), or give your own key and certificate. Default false.
   */
  tls?: boolean | { key: string | Buffer; cert: string | Buffer };
  /** Serve HTTP/2 over TLS (HTTP/1.1 too, for clients that do not offer h2). Implies tls. Default false. */
  http2?: boolean;
  /** close() after the test: node:test's `t` (t.after) or a Vitest test context (onTestFinished). */
  t?: TestContextLike;
}

export interface TestServer {
  /** "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT", no trailing slash. */
  url: string;
  /** The certificate (PEM) a client must trust when tls is on; undefined otherwise. */
  ca: string | undefined;
  /**
   * A Client over its own Transport that trusts `ca` and offers HTTP/2 when http2 is on;
   * made on first call, closed by close().
   */
  client(): Client;
  /**
   * Destroys open connections, closes the listener (and client()'s transport). Rejects
   * with the first error a handler threw, if any, so an assertion in a handler fails the test.
   */
  close(): Promise<void>;
}

export type TestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => unknown;
export type TestHandler2 = (req: Http2ServerRequest, res: Http2ServerResponse) => unknown;

export function startTestServer(
  handler: TestHandler,
  options?: TestServerOptions & { http2?: false },
): Promise<TestServer>;
export function startTestServer(
  handler: TestHandler2,
  options: TestServerOptions & { http2: true },
): Promise<TestServer>;
export async function startTestServer(
  handler: TestHandler | TestHandler2,
  options: TestServerOptions = {},
): Promise<TestServer> {
  if (typeof handler !== "function")
    throw new RoundtripError("ERR_INVALID_REQUEST", "startTestServer needs a handler");
  const h2 = options.http2 === true;
  const tlsOption = options.tls ?? h2;
  if (h2 && tlsOption === false) throw new RoundtripError("ERR_INVALID_REQUEST", "http2 needs tls");
  const creds =
    tlsOption === false ? null : tlsOption === true ? { key: TEST_KEY, cert: TEST_CERT } : tlsOption;
  const register = afterTest(options.t);
  const errors: unknown[] = [];
  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
    let result: unknown;
    try {
      result = (handler as TestHandler)(req, res);
    } catch (err) {
      failed(res, err);
      return;
    }
    if (result instanceof Promise) result.catch((err: unknown) => failed(res, err));
  };
  // A handler's throw is kept for close() and answered with a 500 (or a reset once the head went out).
  const failed = (res: http.ServerResponse, err: unknown) => {
    errors.push(err);
    if (!res.headersSent) {
      res.statusCode = 500;
      res.end(`startTestServer: the handler threw: ${err instanceof Error ? err.message : String(err)}`);
    } else res.destroy();
  };

  let server: Server;
  if (h2) {
    const http2 = createRequire(import.meta.url)("node:http2") as typeof import("node:http2");
    server = http2.createSecureServer(
      { ...creds!, allowHTTP1: true },
      listener as never,
    ) as unknown as Server;
  } else if (creds !== null) {
    server = https.createServer(creds, listener);
  } else {
    server = http.createServer(listener);
  }
  const sockets = new Set<Socket>();
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  const ca = creds === null ? undefined : String(creds.cert);

  let client: Client | null = null;
  let transport: Transport | null = null;
  let closing: Promise<void> | null = null;
  const result: TestServer = {
    url: `${creds === null ? "http" : "https"}://127.0.0.1:${port}`,
    ca,
    client() {
      if (client === null) {
        transport = new Transport({ ...(ca === undefined ? {} : { tls: { ca } }), allowHTTP2: h2 });
        client = new Client({ transport });
      }
      return client;
    },
    close() {
      closing ??= (async () => {
        await transport?.close();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const s of sockets) s.destroy();
        await closed;
        if (errors.length > 0) throw errors[0];
      })();
      return closing;
    },
  };
  register?.(() => result.close());
  return result;
}

/** How to run a function after the test of `t`, checked before anything is started. */
function afterTest(t: TestContextLike | undefined): ((fn: () => unknown) => void) | null {
  if (t === undefined) return null;
  if ("after" in t && typeof t.after === "function") return (fn) => t.after(fn);
  if ("onTestFinished" in t && typeof t.onTestFinished === "function") return (fn) => t.onTestFinished(fn);
  throw new RoundtripError(
    "ERR_INVALID_REQUEST",
    "startTestServer: t has neither after() nor onTestFinished()",
  );
}
