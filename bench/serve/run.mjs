#!/usr/bin/env node
// Serving a 1 GiB file over loopback (issue 7): roundtrip/server's serveFile against the
// same node:http server using fs.createReadStream(path).pipe(res), against serveFile's own
// read/write loop, and against nginx (sendfile on) from Debian.
//
//   node bench/serve/run.mjs [--runs 3] [--size-mib 1024] [--no-build] [--no-install]
//                            [--clients curl,roundtrip]
//
// Each server runs in its own process, pinned to one core (the client gets the other when
// there are two), so its CPU time (user + sys, from /proc/<pid>/stat) is its alone. Per
// server and client: one warm-up download (puts the file in the page cache), then --runs
// timed downloads; the median of each figure is reported. Clients: `curl -o /dev/null`,
// and roundtrip's own Client discarding the body. Targets from the issue: server CPU
// <= 0.3x the pipe's, throughput >= 0.9x nginx's. Results go to bench/serve/results/.
// Everything is bounded: curl --max-time, a deadline for the whole run, servers killed
// and the temp dir removed on every exit path.

import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import net from "node:net";
import { cpus, release, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cpuProbe } from "../lib/cpu.mjs";
import { freePort, which } from "../lib/server.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");

const opts = parseArgs(process.argv.slice(2));
const DEADLINE_MS = 20 * 60_000;
const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;
const CURL_MAX_S = 120;

const cleanups = [];
async function cleanup() {
  while (cleanups.length) {
    try {
      await cleanups.pop()();
    } catch (e) {
      console.error(`cleanup: ${e.message}`);
    }
  }
}
const deadline = setTimeout(async () => {
  console.error(`bench/serve: deadline of ${DEADLINE_MS / 60_000} min passed, stopping`);
  await cleanup();
  process.exit(1);
}, DEADLINE_MS);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, async () => {
    await cleanup();
    process.exit(130);
  });
}

try {
  await main();
} finally {
  await cleanup();
  clearTimeout(deadline);
}

async function main() {
  const curl = which("curl");
  if (!curl) throw new Error("curl is required: apt-get install -y curl");
  if (opts.build) build();
  const nginx = findNginx(opts.install);

  const twoCores = cpus().length >= 2 && which("taskset") !== null;
  const pin = (cpu, argv) => (twoCores ? ["taskset", "-c", String(cpu), ...argv] : argv);

  const dir = mkdtempSync(join(tmpdir(), "roundtrip-bench-serve-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "www", "big.bin");
  mkdirSync(dirname(file));
  const size = opts.sizeMiB * 1024 * 1024;
  writeFile(file, size);
  console.log(`file: ${opts.sizeMiB} MiB in ${dir}; ${opts.runs} runs each (median), after 1 warm-up`);

  const servers = [
    { name: "serveFile", start: () => startNode("servefile", file, pin) },
    { name: "serveFile (zeroCopy: false)", start: () => startNode("stream", file, pin) },
    { name: "createReadStream().pipe(res)", start: () => startNode("pipe", file, pin) },
  ];
  if (nginx) servers.push({ name: "nginx", start: () => startNginx(nginx, dir, pin) });

  const results = {};
  let zeroCopy = null;
  for (const s of servers) {
    const server = await s.start();
    zeroCopy ??= server.zeroCopy ?? null;
    results[s.name] = { version: server.version };
    try {
      for (const client of opts.clients) {
        const url = `http://127.0.0.1:${server.port}/big.bin`;
        const download = client === "curl" ? () => curlOnce(url, pin) : () => roundtripOnce(url, pin);
        await measure(server.pid, download, size); // warm-up
        const runs = [];
        for (let i = 0; i < opts.runs; i++) runs.push(await measure(server.pid, download, size));
        results[s.name][client] = { runs, median: medians(runs) };
        const m = results[s.name][client].median;
        console.log(
          `${s.name.padEnd(30)} ${client.padEnd(9)} wall ${m.wallS.toFixed(3)} s  ` +
            `${m.gbps.toFixed(2)} Gbit/s  server CPU ${m.serverCpuS.toFixed(2)} s` +
            `  (client CPU ${m.clientCpuS?.toFixed(2) ?? "?"} s, background ${m.backgroundCores?.toFixed(2) ?? "?"} cores)`,
        );
      }
    } finally {
      await server.stop();
    }
  }

  const ratios = {};
  for (const client of opts.clients) {
    const sf = results.serveFile[client]?.median;
    const pipe = results["createReadStream().pipe(res)"][client]?.median;
    const ng = results.nginx?.[client]?.median;
    ratios[client] = {
      serverCpuVsPipe: sf && pipe ? sf.serverCpuS / pipe.serverCpuS : null,
      throughputVsNginx: sf && ng ? sf.gbps / ng.gbps : null,
    };
  }
  const targets = {
    serverCpuVsPipeMax: 0.3,
    throughputVsNginxMin: 0.9,
    met: {
      serverCpu: ratios.curl?.serverCpuVsPipe != null && ratios.curl.serverCpuVsPipe <= 0.3,
      throughput: ratios.curl?.throughputVsNginx != null && ratios.curl.throughputVsNginx >= 0.9,
    },
  };
  console.log("");
  for (const [client, r] of Object.entries(ratios)) {
    console.log(
      `${client}: serveFile server CPU = ${fmt(r.serverCpuVsPipe)}x the pipe's (target <= 0.3); ` +
        `throughput = ${fmt(r.throughputVsNginx)}x nginx's (target >= 0.9)`,
    );
  }
  console.log(
    `zero-copy addon: ${zeroCopy?.available ? "available" : `NOT available (${zeroCopy?.reason})`}`,
  );

  const report = {
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model,
      kernel: release(),
      node: process.version,
      pinned: twoCores ? "server on cpu 1, client on cpu 0" : "not pinned",
      curl: spawnSync(curl, ["--version"], { encoding: "utf8" }).stdout.split("\n")[0],
    },
    fileBytes: size,
    runsPerCell: opts.runs,
    zeroCopy,
    results,
    ratios,
    targets,
  };
  const outDir = join(here, "results");
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, `${report.date.replace(/[:.]/g, "-")}.json`);
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`results: ${out}`);
}

/** One download with the server's CPU time around it. */
async function measure(pid, download, size) {
  const probe = cpuProbe([pid]);
  const r = await download();
  if (r.bytes !== size) throw new Error(`short download: ${r.bytes} of ${size} bytes`);
  const { serverCpuS, backgroundCores } = probe(r.clientCpuS);
  return { ...r, serverCpuS, backgroundCores, gbps: (size * 8) / r.wallS / 1e9 };
}

/**
 * curl -o /dev/null inside sh, which then prints its own /proc stat: its cutime/cstime
 * fields are curl's CPU time, reaped.
 */
async function curlOnce(url, pin) {
  const script =
    `curl -s -o /dev/null --max-time ${CURL_MAX_S} -w '%{http_code} %{size_download} %{time_total}\\n' "$1"` +
    "; cat /proc/$$/stat";
  const out = await run(pin(0, ["sh", "-c", script, "sh", url]), CURL_MAX_S + 10);
  const [line, stat] = out.trim().split("\n");
  const [code, bytes, time] = line.split(" ");
  if (code !== "200") throw new Error(`curl got HTTP ${code}`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { bytes: Number(bytes), wallS: Number(time), clientCpuS: (Number(f[13]) + Number(f[14])) / CLK_TCK };
}

async function roundtripOnce(url, pin) {
  const out = await run(pin(0, [process.execPath, join(here, "client-roundtrip.mjs"), url]), CURL_MAX_S);
  const r = JSON.parse(out.trim().split("\n").pop());
  if (r.status !== 200) throw new Error(`roundtrip got HTTP ${r.status}`);
  return { bytes: r.bytes, wallS: r.wallS, clientCpuS: r.cpuS };
}

/** Runs argv to completion within `seconds`, returning stdout; kills it past that. */
async function run(argv, seconds) {
  const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += d;
  });
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), seconds * 1000);
  const [code] = await once(child, "close");
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}: ${stderr.trim()}`);
  return stdout;
}

async function startNode(mode, file, pin) {
  const child = spawn(...splitArgv(pin(1, [process.execPath, join(here, "server.mjs"), mode, file])), {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const stop = stopper(child);
  cleanups.push(stop);
  let buf = "";
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${mode} server did not start`)), 10_000);
    child.stdout.on("data", (d) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(JSON.parse(buf.slice(0, nl)));
      }
    });
    child.once("exit", (code) => reject(new Error(`${mode} server exited ${code}`)));
  });
  return {
    pid: child.pid,
    port: ready.port,
    zeroCopy: ready.zeroCopy,
    version: `node ${process.version}`,
    stop,
  };
}

async function startNginx(bin, dir, pin) {
  const port = await freePort();
  const prefix = join(dir, "nginx");
  for (const d of ["", "logs", "tmp"]) mkdirSync(join(prefix, d), { recursive: true });
  const tmp = join(prefix, "tmp");
  const conf = join(prefix, "nginx.conf");
  writeFileSync(
    conf,
    `# Generated by bench/serve/run.mjs: one foreground process, loopback only.
master_process off;
daemon off;
worker_processes 1;
pid ${join(prefix, "nginx.pid")};
error_log ${join(prefix, "logs", "error.log")} warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${tmp}; proxy_temp_path ${tmp}; fastcgi_temp_path ${tmp};
  uwsgi_temp_path ${tmp}; scgi_temp_path ${tmp};
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    root ${join(dir, "www")};
  }
}
`,
  );
  const errLog = join(prefix, "logs", "error.log");
  const child = spawn(...splitArgv(pin(1, [bin, "-p", prefix, "-c", conf, "-e", errLog])), {
    stdio: ["ignore", "ignore", "inherit"],
  });
  const stop = stopper(child);
  cleanups.push(stop);
  await waitForPort(port, child);
  const version = spawnSync(bin, ["-v"], { encoding: "utf8" })
    .stderr.trim()
    .replace(/^nginx version: /, "");
  // With taskset, the child is taskset, which execs nginx: the pid is the same.
  return { pid: child.pid, port, version, stop };
}

function stopper(child) {
  let stopped = false;
  return async () => {
    if (stopped || child.exitCode !== null || child.signalCode !== null) return;
    stopped = true;
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(timer);
  };
}

function waitForPort(port, child) {
  const until = Date.now() + 10_000;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null) return reject(new Error(`server exited ${child.exitCode}`));
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve();
      });
      s.once("error", () => {
        s.destroy();
        if (Date.now() > until) reject(new Error(`nothing listening on ${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

function splitArgv(argv) {
  return [argv[0], argv.slice(1)];
}

/** Real, incompressible data (a 1 MiB random block repeated): every page is a page-cache page. */
function writeFile(path, size) {
  const block = randomBytes(1 << 20);
  const fd = openSync(path, "w");
  try {
    for (let off = 0; off < size; off += block.length)
      writeSync(fd, block, 0, Math.min(block.length, size - off));
  } finally {
    closeSync(fd);
  }
}

function build() {
  console.log("building dist/ (tsc -p tsconfig.build.json)");
  const r = spawnSync(
    process.execPath,
    [join(repo, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"],
    {
      cwd: repo,
      encoding: "utf8",
      timeout: 180_000,
    },
  );
  // tsc emits even when it reports type errors; what matters is that the files exist.
  if (!existsSync(join(repo, "dist", "server", "index.js"))) {
    throw new Error(`build failed:\n${r.stdout}${r.stderr}`);
  }
}

function findNginx(install) {
  const found = () => which("nginx") ?? (existsSync("/usr/sbin/nginx") ? "/usr/sbin/nginx" : null);
  let bin = found();
  if (!bin && install && process.getuid?.() === 0 && which("apt-get")) {
    console.log("installing nginx (apt-get install -y nginx)");
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit", env, timeout: 300_000 });
    spawnSync("apt-get", ["install", "-y", "-qq", "nginx"], { stdio: "inherit", env, timeout: 300_000 });
    bin = found();
  }
  if (!bin) console.error("note: nginx not found (apt-get install -y nginx); its row is left out");
  return bin;
}

function medians(runs) {
  const med = (key) => {
    const v = runs
      .map((r) => r[key])
      .filter((x) => typeof x === "number")
      .sort((a, b) => a - b);
    return v.length ? v[Math.floor(v.length / 2)] : null;
  };
  return {
    wallS: med("wallS"),
    gbps: med("gbps"),
    serverCpuS: med("serverCpuS"),
    clientCpuS: med("clientCpuS"),
    backgroundCores: med("backgroundCores"),
  };
}

function fmt(x) {
  return x == null ? "n/a" : x.toFixed(3);
}

function parseArgs(argv) {
  const o = { runs: 3, sizeMiB: 1024, build: true, install: true, clients: ["curl", "roundtrip"] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--runs") o.runs = Number(argv[++i]);
    else if (a === "--size-mib") o.sizeMiB = Number(argv[++i]);
    else if (a === "--no-build") o.build = false;
    else if (a === "--no-install") o.install = false;
    else if (a === "--clients") o.clients = argv[++i].split(",");
    else throw new Error(`unknown argument ${a}`);
  }
  if (!(o.runs >= 1) || !(o.sizeMiB >= 1)) throw new Error("--runs and --size-mib must be >= 1");
  return o;
}
