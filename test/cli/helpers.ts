/**
 * Shared pieces of the CLI tests: the compiled binary run as a child process (bounded, with
 * stdout, stderr and the exit code), the same under a pseudo-terminal (util-linux
 * `script`), and loopback servers that record what they received.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The compiled CLI (build/src/cli/main.js beside build/test/cli). */
export const CLI = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

export const T = { timeout: 30_000 };

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  /** stdout as UTF-8. */
  out: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Kill the child after this many ms (a bound, never a speed claim). Default 20 s. */
  limit?: number;
  cwd?: string;
  /** Called with the child once it is spawned (to signal it, for one). */
  onSpawn?: (child: ReturnType<typeof spawn>) => void;
}

/** An environment without proxies or colour forcing, so tests see the defaults. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(https?_proxy|all_proxy|no_proxy|no_color|force_color)$/i.test(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

export async function run(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: opts.env ?? cleanEnv(),
    cwd: opts.cwd,
    stdio: ["pipe", "pipe", "pipe"],
  });
  opts.onSpawn?.(child);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (c: Buffer) => out.push(c));
  child.stderr.on("data", (c: Buffer) => err.push(c));
  if (opts.input !== undefined) child.stdin.end(opts.input);
  else child.stdin.end();
  const timer = setTimeout(() => child.kill("SIGKILL"), opts.limit ?? 20_000);
  const [code, signal] = (await once(child, "close")) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  const stdout = Buffer.concat(out);
  return { code, signal, stdout, stderr: Buffer.concat(err).toString("utf8"), out: stdout.toString("utf8") };
}

/** Why pseudo-terminal tests cannot run here, or null when util-linux `script` exists. */
export function ptyMissing(): string | null {
  const r = spawnSync("script", ["--version"], { encoding: "utf8" });
  if (r.error) return "util-linux `script` is not installed (Debian package bsdutils)";
  return null;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs the CLI with stdin, stdout and stderr on a pseudo-terminal (`script -qfec`); the
 * terminal's output (stdout and stderr together) comes back as text.
 */
export async function runInPty(args: string[], env: NodeJS.ProcessEnv = cleanEnv()): Promise<RunResult> {
  const command = [process.execPath, CLI, ...args].map(shellQuote).join(" ");
  const child = spawn("script", ["-qfec", command, "/dev/null"], { env, stdio: ["pipe", "pipe", "pipe"] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (c: Buffer) => out.push(c));
  child.stderr.on("data", (c: Buffer) => err.push(c));
  child.stdin.end();
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const [code, signal] = (await once(child, "close")) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  const stdout = Buffer.concat(out);
  return { code, signal, stdout, stderr: Buffer.concat(err).toString("utf8"), out: stdout.toString("utf8") };
}

export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

export interface RecordingServer {
  url: string;
  port: number;
  seen: Seen[];
  server: http.Server;
  close(): Promise<void>;
}

/**
 * A node:http server on 127.0.0.1 that reads each request body, records it, and lets
 * `handler` answer (default: 200 "ok").
 */
export async function recordingServer(
  handler: (req: http.IncomingMessage, res: http.ServerResponse, seen: Seen) => void = (_q, res) =>
    res.end("ok"),
): Promise<RecordingServer> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      const s: Seen = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(parts),
      };
      seen.push(s);
      handler(req, res, s);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A temporary directory removed when the test ends. */
export function tempDir(t: { after(fn: () => unknown): void }, prefix = "roundtrip-cli-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Asserts the run ended with `code`, showing stderr when it did not. */
export function exited(r: RunResult, code: number): void {
  assert.equal(r.code, code, `exit code ${r.code} (signal ${r.signal}); stderr:\n${r.stderr}`);
}
