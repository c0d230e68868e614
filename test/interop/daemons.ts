/**
 * Real peers from Debian packages for the interop suite (`npm run test:interop`): nginx,
 * tinyproxy (an HTTP forward proxy with CONNECT) and microsocks (SOCKS5). Each runs in the
 * foreground on a free loopback port with a config in a temp dir, and is killed by stop().
 * Nothing here installs them: .ci/run does, with apt-get. A missing binary fails the suite
 * with the packages to install (scripts/run-tests.mjs checks before it starts any test).
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Daemon {
  port: number;
  dir: string;
  stop(): Promise<void>;
}

/** Each daemon the suite runs: its binary, the Debian package with it, where Debian puts it. */
const DAEMONS = {
  nginx: { pkg: "nginx", path: "/usr/sbin/nginx" },
  tinyproxy: { pkg: "tinyproxy", path: "/usr/bin/tinyproxy" },
  microsocks: { pkg: "microsocks", path: "/usr/bin/microsocks" },
} as const;
type DaemonName = keyof typeof DAEMONS;

/** The binary's path, from PATH or Debian's place for it (nginx is in /usr/sbin). */
function findBinary(name: DaemonName): string | undefined {
  const onPath = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).stdout.trim();
  if (onPath !== "") return onPath.split("\n")[0];
  try {
    accessSync(DAEMONS[name].path, constants.X_OK);
    return DAEMONS[name].path;
  } catch {
    return undefined;
  }
}

/** Debian packages of the daemons that are not installed. */
export function missingDaemons(): string[] {
  return (Object.keys(DAEMONS) as DaemonName[])
    .filter((name) => findBinary(name) === undefined)
    .map((name) => DAEMONS[name].pkg);
}

/** What to tell a user who lacks `missing` (Debian package names). */
export function installHint(missing: string[]): string {
  const all = Object.values(DAEMONS).map((d) => d.pkg);
  return (
    `it needs the Debian packages ${all.join(", ")}; not installed: ${missing.join(", ")}. ` +
    `Install them with \`sudo apt-get install -y ${all.join(" ")}\` (the suite installs nothing itself).`
  );
}

function requireBinary(name: DaemonName): string {
  const found = findBinary(name);
  assert.ok(
    found !== undefined,
    `${name} is not installed; the interop suite ${installHint([DAEMONS[name].pkg])}`,
  );
  return found;
}

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Waits until something accepts on the port (bounded). */
async function listening(port: number, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) assert.fail(`${what} exited with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`${what} did not listen on ${port} within 10 s`);
}

async function start(what: string, cmd: string, args: string[], port: number, dir: string): Promise<Daemon> {
  const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  try {
    await listening(port, child, what);
  } catch (err) {
    child.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${stderr}`);
  }
  return {
    port,
    dir,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 3000);
        await exited;
        clearTimeout(t);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** nginx with a 13-byte text, a 200 KiB gzip-compressible text, and a static file. */
export async function startNginx(): Promise<Daemon & { big: string }> {
  const bin = requireBinary("nginx");
  const dir = await mkdtemp(join(tmpdir(), "rt-nginx-"));
  const port = await freePort();
  const big = "roundtrip interop ".repeat(12_000);
  await writeFile(join(dir, "big.txt"), big);
  await writeFile(
    join(dir, "nginx.conf"),
    `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  gzip on; gzip_types text/plain; gzip_min_length 100;
  server {
    listen 127.0.0.1:${port};
    root ${dir};
    location = /hello { default_type text/plain; return 200 "Hello, World!"; }
    location = /moved { return 302 /hello; }
    location = /big.txt { default_type text/plain; }
  }
}
`,
  );
  const d = await start("nginx", bin, ["-c", join(dir, "nginx.conf")], port, dir);
  return Object.assign(d, { big });
}

/** tinyproxy on loopback; `auth` adds BasicAuth; CONNECT allowed to `connectPorts`. */
export async function startTinyproxy(opts: {
  auth?: [string, string];
  connectPorts: number[];
}): Promise<Daemon> {
  const bin = requireBinary("tinyproxy");
  const dir = await mkdtemp(join(tmpdir(), "rt-tinyproxy-"));
  const port = await freePort();
  await writeFile(
    join(dir, "tinyproxy.conf"),
    [
      `Port ${port}`,
      "Listen 127.0.0.1",
      "Timeout 30",
      "MaxClients 50",
      "Allow 127.0.0.1",
      "LogLevel Critical",
      "DisableViaHeader Yes",
      ...opts.connectPorts.map((p) => `ConnectPort ${p}`),
      ...(opts.auth ? [`BasicAuth ${opts.auth[0]} ${opts.auth[1]}`] : []),
    ].join("\n") + "\n",
  );
  return start("tinyproxy", bin, ["-d", "-c", join(dir, "tinyproxy.conf")], port, dir);
}

/** microsocks (SOCKS5) on loopback, with username/password when given. */
export async function startMicrosocks(auth?: [string, string]): Promise<Daemon> {
  const bin = requireBinary("microsocks");
  const dir = await mkdtemp(join(tmpdir(), "rt-socks-"));
  const port = await freePort();
  const args = ["-i", "127.0.0.1", "-p", String(port), ...(auth ? ["-u", auth[0], "-P", auth[1]] : [])];
  return start("microsocks", bin, args, port, dir);
}
