// Starts the benchmark server: nginx in the foreground with a temporary config when it is
// installed (it is never the bottleneck), else the raw Node server (node-server.mjs) in a
// separate process. Either way the server is pinned to its own core with taskset when
// the machine has more than one, and it can tell how many TCP connections it accepted.
//
// Uploads go to the raw Node server, started beside nginx: nginx reads a whole request
// body only by spooling it to a temporary file, and its plain `return` answers before the
// body is read (then discards it), which would stop a client's clock early. The Node sink
// reads every byte, counts it, and only then answers {"bytes":N}.
//
// The reference figures were measured uploading to nginx, so nginx also has a
// WebDAV PUT location, /put/, storing into a tmpfs directory (/dev/shm): spooled to disk
// it was the bottleneck here (2-10 s per GiB), in memory it is not. It answers 201 once
// the file is stored; the runner checks the stored size and deletes it after each run.

import { spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import net from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

export const NGINX_INSTALL_HINT =
  "nginx not found; using the Node fallback server. For the reference setup install it: " +
  "apt-get install -y nginx  (Debian; any nginx built with stub_status)";

export function which(cmd) {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}

function findNginx() {
  return which("nginx") ?? (existsSync("/usr/sbin/nginx") ? "/usr/sbin/nginx" : null);
}

/** Returns a TCP port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function waitForPort(port, ms, child) {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null) return reject(new Error(`server exited with ${child.exitCode}`));
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve();
      });
      s.once("error", () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`server did not listen on ${port} within ${ms} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/** GET over a fresh connection; used for the stub_status side channel only. */
function rawGet(port, path) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1");
    let data = "";
    s.setEncoding("latin1");
    s.on("data", (d) => {
      data += d;
    });
    s.on("end", () => resolve(data));
    s.on("error", reject);
    s.setTimeout(5000, () => s.destroy(new Error("stub_status timeout")));
    s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  });
}

/**
 * @param {{ tmpDir: string, serverCpu: string|null, prefer?: "nginx"|"node" }} opts
 * @returns {Promise<{ kind, version, origin, port, connections(): Promise<number>, stop(): Promise<void>, files }>}
 */
export async function startServer(opts) {
  const { tmpDir } = opts;
  mkdirSync(tmpDir, { recursive: true });
  const files = { dir: join(tmpDir, "www") };
  mkdirSync(files.dir, { recursive: true });
  mkdirSync(join(files.dir, "download"), { recursive: true });
  writeFileSync(join(files.dir, "64k"), Buffer.alloc(64 * 1024, "x"));

  const nginx = opts.prefer === "node" ? null : findNginx();
  // Where nginx's PUT sink stores uploads: memory, or no PUT sink at all.
  const putDir = nginx && existsSync("/dev/shm") ? mkdtempSync("/dev/shm/roundtrip-bench-put-") : null;
  if (!nginx && opts.prefer !== "node") console.error(`note: ${NGINX_INSTALL_HINT}`);
  const main = nginx ? await startNginx(nginx, opts, files, putDir) : await startNode(opts, files);
  let sink = main;
  if (nginx) {
    try {
      sink = await startNode(opts, files);
    } catch (e) {
      await main.stop();
      throw e;
    }
  }
  const both = sink === main ? [main] : [main, sink];
  return {
    kind: main.kind,
    version: main.version,
    description: sink === main ? main.version : `${main.version}; uploads to the raw Node sink`,
    origin: main.origin,
    uploadOrigin: sink.origin,
    /** nginx's WebDAV PUT sink (`${putOrigin}/name` is stored as `${putDir}/files/name`), or null. */
    putOrigin: putDir ? `${main.origin}/put` : null,
    putDir,
    files,
    pids: both.map((s) => s.pid),
    async connections() {
      let n = 0;
      for (const s of both) n += await s.connections();
      return n;
    },
    stop: () =>
      Promise.all(both.map((s) => s.stop())).then(() => {
        if (putDir) rmSync(putDir, { recursive: true, force: true });
      }),
  };
}

function pinned(cpu, argv) {
  return cpu !== null && which("taskset") ? ["taskset", ["-c", cpu, ...argv]] : [argv[0], argv.slice(1)];
}

async function startNginx(bin, { tmpDir, serverCpu }, files, putDir) {
  const port = await freePort();
  const statusPort = await freePort();
  reapStaleNginx(tmpDir);
  // One directory per runner process, so two runs at once do not share a config or pid file.
  const dir = join(tmpDir, `nginx-${process.pid}`);
  for (const d of ["", "body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"])
    mkdirSync(join(dir, d), { recursive: true });
  const conf = `
# Generated by bench/lib/server.mjs; one process, foreground, loopback only.
master_process off;
daemon off;
worker_processes 1;
worker_rlimit_nofile 65536;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "logs", "error.log")} warn;
events { worker_connections 16384; multi_accept on; }
http {
  access_log off;
  server_tokens off;
  client_body_temp_path ${join(dir, "body")};
  proxy_temp_path ${join(dir, "proxy")};
  fastcgi_temp_path ${join(dir, "fastcgi")};
  uwsgi_temp_path ${join(dir, "uwsgi")};
  scgi_temp_path ${join(dir, "scgi")};
  keepalive_timeout 300s;
  keepalive_requests 100000000;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location = /13 { default_type text/plain; return 200 "Hello, World!"; }
    location = /64k { alias ${join(files.dir, "64k")}; }
    # A 1 KiB body arrives with the head, so nginx has read it all before it answers.
    location = /json { client_max_body_size 1m; default_type application/json; return 200 '{"ok":true}'; }
    location /download/ { alias ${join(files.dir, "download")}/; }${putDir ? putLocation(putDir) : ""}
  }
  server {
    listen 127.0.0.1:${statusPort};
    location = /status { stub_status; }
  }
}
`;
  const confPath = join(dir, "nginx.conf");
  writeFileSync(confPath, conf);
  const test = spawnSync(bin, ["-t", "-p", dir, "-c", confPath, "-e", join(dir, "logs", "error.log")], {
    encoding: "utf8",
  });
  if (test.status !== 0) throw new Error(`nginx -t failed: ${test.stderr.trim()}`);
  const [cmd, args] = pinned(serverCpu, [
    bin,
    "-p",
    dir,
    "-c",
    confPath,
    "-e",
    join(dir, "logs", "error.log"),
  ]);
  const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"], detached: false });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  await waitForPort(port, 5000, child).catch((e) => {
    child.kill("SIGKILL");
    throw new Error(`${e.message}: ${stderr.trim()}`);
  });
  let own = 1; // the waitForPort probe
  const version = spawnSync(bin, ["-v"], { encoding: "utf8" })
    .stderr.trim()
    .replace(/^nginx version: /, "");
  return {
    kind: "nginx",
    version,
    port,
    origin: `http://127.0.0.1:${port}`,
    files,
    pid: child.pid,
    async connections() {
      // stub_status counts every accepted connection: the readiness probe and each of
      // these polls included. Subtract ours so two readings differ by the client's alone.
      const text = await rawGet(statusPort, "/status");
      own++;
      const m = /server accepts handled requests\s+(\d+)/.exec(text);
      if (!m) throw new Error(`unexpected stub_status: ${text}`);
      return Number(m[1]) - own;
    },
    stop: () => stopChild(child).then(() => rmSync(dir, { recursive: true, force: true })),
  };
}

/** A WebDAV PUT location storing bodies in `dir` (tmpfs): nginx reads all of it, then answers. */
function putLocation(dir) {
  for (const d of ["files", "tmp"]) mkdirSync(join(dir, d), { recursive: true, mode: 0o777 });
  return `
    location /put/ {
      alias ${join(dir, "files")}/;
      client_body_temp_path ${join(dir, "tmp")};
      client_max_body_size 0;
      client_body_buffer_size 1m;
      dav_methods PUT;
    }`;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A runner killed with SIGKILL cannot stop its nginx (the Node server leaves by itself
 * when its IPC channel closes). The next run stops such orphans: an nginx-<pid> directory
 * whose runner is gone, with a live nginx in its pid file.
 */
function reapStaleNginx(tmpDir) {
  for (const name of readdirSync(tmpDir)) {
    const m = /^nginx-(\d+)$/.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    const dir = join(tmpDir, name);
    try {
      const pid = Number(readFileSync(join(dir, "nginx.pid"), "utf8").trim());
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (cmd.includes("nginx") && cmd.includes(dir)) process.kill(pid, "SIGKILL");
    } catch {}
    rmSync(dir, { recursive: true, force: true });
  }
}

async function startNode({ serverCpu }, files) {
  const script = join(here, "node-server.mjs");
  const [cmd, args] = pinned(serverCpu, [process.execPath, script]);
  const child = spawn(cmd, args, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const port = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("node server did not start in 5 s")), 5000);
    child.once("exit", (code) => reject(new Error(`node server exited with ${code}`)));
    child.on("message", (m) => {
      if (m?.type === "listening") {
        clearTimeout(t);
        resolve(m.port);
      }
    });
  });
  let nextId = 0;
  return {
    kind: "node",
    version: `node ${process.version} (raw net server)`,
    port,
    origin: `http://127.0.0.1:${port}`,
    files,
    pid: child.pid,
    connections() {
      const id = ++nextId;
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error("stats timeout")), 5000);
        const on = (m) => {
          if (m?.type === "stats" && m.id === id) {
            clearTimeout(t);
            child.off("message", on);
            resolve(m.connections);
          }
        };
        child.on("message", on);
        child.send({ type: "stats", id });
      });
    },
    stop: () => stopChild(child),
  };
}

function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill("SIGKILL"), 3000);
    child.once("exit", () => {
      clearTimeout(t);
      resolve();
    });
    // nginx: SIGQUIT is a graceful stop, SIGTERM a fast one; either ends the foreground
    // process. taskset exec()s its command, so the pid is the server's own.
    child.kill("SIGTERM");
  });
}
