#!/usr/bin/env node
// Serving a small file at a high request rate (the per-request cost, where the 1 GiB bench
// of run.mjs measures the per-byte cost): the servers of server.mjs, each pinned to cpu 1,
// loaded by roundtrip's client pinned to cpu 0 (small-load.mjs: keep-alive, 32 loops).
//
//   node bench/serve/small.mjs [--size 16384] [--seconds 4] [--rounds 5] [--concurrency 32]
//        [--servers servefile,stream,pipe] [--no-build]
//
// Rounds are interleaved (every server once per round, after one warm-up load each).
// Reports requests/s and the server's CPU per request (all its threads, from schedstat),
// split into the main thread and libuv's pool threads, as median [min-max]. Nothing is
// saved: this is for A/B runs while changing the per-request path. Bounded: every load
// has a time limit, servers are killed on every exit path.

import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { assertPinned, threadCpuNs } from "./proc.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const opts = {
  size: 16384,
  seconds: 4,
  rounds: 5,
  concurrency: 32,
  servers: ["servefile", "stream", "pipe"],
  build: true,
};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === "--size") opts.size = Number(process.argv[++i]);
  else if (a === "--seconds") opts.seconds = Number(process.argv[++i]);
  else if (a === "--rounds") opts.rounds = Number(process.argv[++i]);
  else if (a === "--concurrency") opts.concurrency = Number(process.argv[++i]);
  else if (a === "--servers") opts.servers = process.argv[++i].split(",");
  else if (a === "--no-build") opts.build = false;
  else throw new Error(`unknown argument ${a}`);
}
for (const [k, max] of [
  ["size", 1 << 30],
  ["seconds", 60],
  ["rounds", 50],
  ["concurrency", 1024],
]) {
  if (!Number.isInteger(opts[k]) || opts[k] < 1 || opts[k] > max)
    throw new Error(`--${k} must be in [1, ${max}]`);
}
if (opts.build) {
  const r = spawnSync("npm", ["run", "build"], { cwd: join(here, "..", ".."), stdio: "inherit" });
  if (r.status !== 0) throw new Error("npm run build failed");
}

const dir = mkdtempSync(join(tmpdir(), "roundtrip-bench-small-"));
const file = join(dir, "small.bin");
writeFileSync(file, randomBytes(opts.size));
const servers = [];
const stop = () => {
  for (const s of servers) s.child.kill();
  rmSync(dir, { recursive: true, force: true });
};
process.on("exit", stop);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(130));

for (const mode of opts.servers) {
  const child = spawn("taskset", ["-c", "1", process.execPath, join(here, "server.mjs"), mode, file], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const [line] = await once(child.stdout, "data");
  servers.push({ mode, child, port: JSON.parse(String(line)).port, runs: [] });
}

function load(s, seconds) {
  const r = spawnSync(
    "taskset",
    [
      "-c",
      "0",
      process.execPath,
      join(here, "small-load.mjs"),
      `http://127.0.0.1:${s.port}/`,
      String(seconds),
      String(opts.concurrency),
    ],
    { encoding: "utf8", timeout: (seconds + 30) * 1000 },
  );
  if (r.status !== 0) throw new Error(`load against ${s.mode} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1));
}

for (const s of servers) load(s, 1); // warm-up: JIT, pool threads, connections
for (const s of servers) assertPinned(s.child.pid, 1, s.mode); // pool threads exist by now
for (let round = 0; round < opts.rounds; round++) {
  for (let i = 0; i < servers.length; i++) {
    const s = servers[(i + round) % servers.length];
    const pid = s.child.pid;
    const before = threadCpuNs(pid);
    const r = load(s, opts.seconds);
    const after = threadCpuNs(pid);
    let main = 0;
    let pool = 0;
    for (const [tid, ns] of after) {
      const d = ns - (before.get(tid) ?? 0);
      if (tid === String(pid)) main += d;
      else pool += d;
    }
    s.runs.push({
      rps: r.requests / r.seconds,
      mainUs: main / r.requests / 1000,
      poolUs: pool / r.requests / 1000,
    });
  }
}

const med = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const cell = (xs, d) => `${med(xs).toFixed(d)} [${Math.min(...xs).toFixed(d)}-${Math.max(...xs).toFixed(d)}]`;
console.log(
  `${opts.size} B file, ${opts.rounds} rounds of ${opts.seconds} s, ${opts.concurrency} loops, roundtrip client`,
);
console.log(`${"server".padEnd(15)} ${"req/s".padEnd(20)} ${"main µs/req".padEnd(20)} pool µs/req`);
for (const s of servers) {
  console.log(
    `${s.mode.padEnd(15)} ${cell(
      s.runs.map((r) => r.rps),
      0,
    ).padEnd(20)} ` +
      `${cell(
        s.runs.map((r) => r.mainUs),
        1,
      ).padEnd(20)} ${cell(
        s.runs.map((r) => r.poolUs),
        1,
      )}`,
  );
}
process.exit(0); // the servers' pipes would keep this process alive; 'exit' stops them
