// Runs one measured job in a fresh, bounded child process: a Node child (child.mjs) or a
// command under /usr/bin/time (the curl reference). A job that overruns its time limit is
// killed; a job that fails yields { error }, never a number.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const CHILD = join(dirname(fileURLToPath(import.meta.url)), "child.mjs");
const TIME = "/usr/bin/time";

/** The children currently running, so Ctrl-C can end them. */
export const running = new Set();

export function killAll() {
  for (const c of running) {
    try {
      c.kill("SIGKILL");
    } catch {}
  }
}

function pin(cpu, argv) {
  return cpu === null ? argv : ["taskset", "-c", cpu, ...argv];
}

function run(argv, { env, timeoutMs }) {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], env });
    running.add(child);
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.setEncoding("utf8").on("data", (d) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d) => {
      stderr = (stderr + d).slice(-4000);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (e) => {
      stderr += e.message;
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** A Node client job; see child.mjs for the fields of `job`. */
export async function runNodeJob(job, { cpu, timeoutMs, env = {}, nodeArgs = [] }) {
  const argv = pin(cpu, [process.execPath, ...nodeArgs, CHILD]);
  const r = await run(argv, { env: { ...process.env, ...env, BENCH_JOB: JSON.stringify(job) }, timeoutMs });
  if (r.timedOut) return { error: `timed out after ${Math.round(timeoutMs / 1000)} s (killed)` };
  const line = r.stdout.split("\n").find((l) => l.startsWith("BENCH_RESULT "));
  if (!line) {
    const tail = r.stderr.trim().split("\n").slice(-3).join(" | ");
    return { error: `child exited (${r.signal ?? r.code}) without a result: ${tail}` };
  }
  return JSON.parse(line.slice("BENCH_RESULT ".length));
}

/** A command measured by GNU time: wall, user+sys CPU and peak RSS of the whole process. */
export async function runTimedCommand(argv, { cpu, timeoutMs }) {
  if (!existsSync(TIME)) return { error: "needs /usr/bin/time (apt-get install -y time)" };
  const marker = "BENCH_TIME";
  const r = await run(pin(cpu, [TIME, "-f", `${marker} %e %U %S %M`, ...argv]), {
    env: process.env,
    timeoutMs,
  });
  if (r.timedOut) return { error: `timed out after ${Math.round(timeoutMs / 1000)} s (killed)` };
  const m = new RegExp(`${marker} ([\\d.]+) ([\\d.]+) ([\\d.]+) (\\d+)`).exec(r.stderr);
  if (r.code !== 0 || !m) return { error: `${argv[0]} failed (${r.code}): ${r.stderr.trim().slice(-300)}` };
  return {
    wallS: Number(m[1]),
    cpuS: Number(m[2]) + Number(m[3]),
    maxRssKiB: Number(m[4]),
    reply: r.stdout.slice(0, 200),
  };
}
