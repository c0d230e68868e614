/**
 * Shared pieces of the roundtrip-http/server tests: fixture files, servers that record every
 * ServeResult and close all their connections, a node:http client, a raw keep-alive
 * connection that reads responses by Content-Length, curl, and a multipart parser.
 */
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { readdirSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import type { ServeResult } from "../../src/server/index.js";

export const T = { timeout: 20_000 };

// A throwaway self-signed P-256 certificate for "localhost", valid until 2126, for the TLS
// tests only.
export const TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgycFn28LRxilFgSMm
2RL5Rg0kunVxB/khQJVL91ec/mGhRANCAAR9eol14OVoOwrVgCsSOjjWjOGk4NFH
DWMZSHXjFoMOA6kD113V0Twl+TO88zl69yP0MAGLnIMs/eQSsTH3L6Vq
-----END PRIVATE KEY-----
`;
export const TLS_CERT = `-----BEGIN CERTIFICATE-----
MIIBgDCCASWgAwIBAgIUL2vytfIUNM02/Zkm2oTsoMhS4VEwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyMTA5NTc1MloYDzIxMjYxMDI4
MDk1NzUyWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAR9eol14OVoOwrVgCsSOjjWjOGk4NFHDWMZSHXjFoMOA6kD113V0Twl
+TO88zl69yP0MAGLnIMs/eQSsTH3L6Vqo1MwUTAdBgNVHQ4EFgQUA7Ot9/D5+t/P
eltoO5uv1MWzCGQwHwYDVR0jBBgwFoAUA7Ot9/D5+t/PeltoO5uv1MWzCGQwDwYD
VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBGAiEA1UUKEekukQHpOGGa2DoD
liFC+UcpO7wQeQ3BgjRF/4oCIQDnKkg14hBpI5MeuIJFCeDLfAyenpjxts+yu4he
7zpTlw==
-----END CERTIFICATE-----
`;

export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export function openFdCount(): number {
  return readdirSync("/proc/self/fd").length;
}

/**
 * Waits until `server` has no open connection and the process's descriptor count has
 * stopped moving (client sockets close a moment after the server's), then returns it.
 */
export async function settledFdCount(server: TestServer): Promise<number> {
  let last = -1;
  for (let i = 0; i < 100; i++) {
    const n = openFdCount();
    if (server.open === 0 && n === last) return n;
    last = n;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`descriptors did not settle: ${server.open} connections still open`);
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<ServeResult>;

export interface TestServer {
  port: number;
  /** Every ServeResult, in request order. */
  results: Promise<ServeResult>[];
  /** Connections accepted so far. */
  connections: number;
  /** Connections accepted and not yet closed. */
  open: number;
  close(): Promise<void>;
}

/** An http (or, with `tls`, https) server on 127.0.0.1 running `handler` for every request. */
export async function startServer(handler: Handler, opts: { tls?: boolean } = {}): Promise<TestServer> {
  const results: Promise<ServeResult>[] = [];
  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
    results.push(handler(req, res));
  };
  const server = opts.tls
    ? https.createServer({ key: TLS_KEY, cert: TLS_CERT }, listener)
    : http.createServer(listener);
  const state: TestServer = {
    port: 0,
    results,
    connections: 0,
    open: 0,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
  server.on("connection", (socket: net.Socket) => {
    state.connections++;
    state.open++;
    socket.on("close", () => state.open--);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  state.port = (server.address() as net.AddressInfo).port;
  return state;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request on a fresh connection through node:http's client. */
export function get(
  port: number,
  path: string,
  opts: { method?: string; headers?: http.OutgoingHttpHeaders; tls?: boolean } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const mod = opts.tls ? https : http;
    const req = mod.request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: opts.method ?? "GET",
        headers: opts.headers,
        agent: false,
        rejectUnauthorized: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on("error", reject);
      },
    );
    req.setTimeout(15_000, () => req.destroy(new Error(`timeout: ${path}`)));
    req.on("error", reject);
    req.end();
  });
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * A plain TCP connection that sends requests one at a time and frames each response by
 * its Content-Length: proof that the connection is still usable after a response whose
 * body node:http never saw.
 */
export class RawConnection {
  readonly socket: net.Socket;
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  closed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    socket.on("close", () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on("error", () => {});
  }

  static async open(port: number): Promise<RawConnection> {
    const socket = net.connect(port, "127.0.0.1");
    await once(socket, "connect");
    return new RawConnection(socket);
  }

  async request(
    path: string,
    opts: { method?: string; headers?: Record<string, string> } = {},
  ): Promise<RawResponse> {
    this.send(path, opts);
    return this.read(opts.method ?? "GET");
  }

  /** Writes a request without waiting for anything: call it twice to pipeline. */
  send(path: string, opts: { method?: string; headers?: Record<string, string> } = {}): void {
    const extra = Object.entries(opts.headers ?? {})
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("");
    this.socket.write(`${opts.method ?? "GET"} ${path} HTTP/1.1\r\nHost: localhost\r\n${extra}\r\n`);
  }

  /** Reads the next response; `method` is the request's, since HEAD responses have no body. */
  async read(method = "GET"): Promise<RawResponse> {
    const headEnd = await this.until(() => this.buf.indexOf("\r\n\r\n"));
    const lines = this.buf.subarray(0, headEnd).toString("latin1").split("\r\n");
    const status = Number(lines[0]!.split(" ")[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const i = line.indexOf(":");
      headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
    }
    assert.equal(headers["transfer-encoding"], undefined, "responses under test are never chunked");
    const length = method === "HEAD" || status === 304 ? 0 : Number(headers["content-length"] ?? 0);
    const start = headEnd + 4;
    await this.until(() => (this.buf.length >= start + length ? 0 : -1));
    const body = this.buf.subarray(start, start + length);
    this.buf = this.buf.subarray(start + length);
    return { status, headers, body };
  }

  private async until(found: () => number): Promise<number> {
    for (;;) {
      const at = found();
      if (at >= 0) return at;
      if (this.closed) throw new Error("connection closed mid-response");
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
      this.waiter = undefined;
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Fails with a clear message when curl is missing (CI installs it: see .ci/run). */
export function requireCurl(): void {
  const probe = spawnSync("curl", ["--version"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0) {
    throw new Error("curl is not installed: `apt-get install -y curl` (the CI script does this)");
  }
}

export function curl(args: string[]): Promise<{ stdout: Buffer; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile(
      "curl",
      ["--silent", "--show-error", "--max-time", "15", ...args],
      { encoding: "buffer", maxBuffer: 256 << 20, timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
        resolve({ stdout, stderr: stderr.toString(), code });
      },
    );
  });
}

export interface Part {
  headers: Record<string, string>;
  body: Buffer;
}

/** Splits a multipart/byteranges body; asserts the framing is exactly as sent. */
export function parseMultipart(body: Buffer, contentType: string): Part[] {
  const m = /boundary=([^;]+)/.exec(contentType);
  assert.ok(m, `no boundary in ${contentType}`);
  const delim = Buffer.from(`--${m[1]}`);
  const parts: Part[] = [];
  let at = body.indexOf(delim);
  assert.equal(at, 0, "body starts with the first boundary");
  for (;;) {
    at += delim.length;
    if (body.subarray(at, at + 2).toString() === "--") {
      assert.equal(body.subarray(at + 2).toString(), "\r\n", "close delimiter ends the body");
      return parts;
    }
    const headEnd = body.indexOf("\r\n\r\n", at);
    const headers: Record<string, string> = {};
    for (const line of body
      .subarray(at + 2, headEnd)
      .toString("latin1")
      .split("\r\n")) {
      const i = line.indexOf(":");
      headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
    }
    const next = body.indexOf(Buffer.concat([Buffer.from("\r\n"), delim]), headEnd + 4);
    parts.push({ headers, body: body.subarray(headEnd + 4, next) });
    at = next + 2;
  }
}
