// /proc readings for bench/serve/run.mjs (Linux): per-thread CPU time in nanoseconds,
// CPU affinity and last CPU of every thread of a process, per-CPU busy time, and the
// kernel's softirq threads. Elsewhere every reading is null and the bench says so.

import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

let clockTicks = 100;
try {
  clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
} catch {}
export const CLK_TCK = clockTicks;

function read(path) {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/** Fields of /proc/.../stat after the command name: f[0] is the state, f[11] utime, f[12] stime, f[36] processor. */
function statFields(text) {
  return text.slice(text.lastIndexOf(")") + 2).split(" ");
}

function tids(pid) {
  try {
    return readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
}

/**
 * CPU time of a live process, all its threads: `ns` from schedstat (exact, nanoseconds),
 * user and system seconds from stat (clock ticks, the kernel's split of the same total).
 * Threads that already exited are missing from `ns`, so servers are read while alive.
 */
export function processCpu(pid) {
  const stat = read(`/proc/${pid}/stat`);
  if (stat === null) return null;
  const f = statFields(stat);
  let ns = 0;
  for (const t of threadCpuNs(pid).values()) ns += t;
  return { ns, userS: Number(f[11]) / clockTicks, sysS: Number(f[12]) / clockTicks };
}

/** CPU nanoseconds (schedstat) of each live thread of `pid`, by thread id (the main thread's is the pid). */
export function threadCpuNs(pid) {
  const out = new Map();
  for (const tid of tids(pid)) {
    const s = read(`/proc/${pid}/task/${tid}/schedstat`);
    if (s !== null) out.set(tid, Number(s.split(" ")[0]));
  }
  return out;
}

/** Every thread of `pid` with its name, allowed CPUs and the CPU it last ran on. */
export function threadPlacement(pid) {
  const out = [];
  for (const tid of tids(pid)) {
    const status = read(`/proc/${pid}/task/${tid}/status`);
    const stat = read(`/proc/${pid}/task/${tid}/stat`);
    if (status === null || stat === null) continue;
    const allowed = /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1] ?? "?";
    const name = /^Name:\s*(.*)$/m.exec(status)?.[1] ?? "?";
    out.push({ tid: Number(tid), name, allowed, lastCpu: Number(statFields(stat)[36]) });
  }
  return out;
}

/**
 * Checks that every thread of `pid` may run on `cpu` only. Returns the placement; throws
 * with the offending threads when one is allowed elsewhere.
 */
export function assertPinned(pid, cpu, what) {
  const threads = threadPlacement(pid);
  if (threads.length === 0) throw new Error(`${what} (pid ${pid}): no threads found in /proc`);
  const bad = threads.filter((t) => t.allowed !== String(cpu));
  if (bad.length) {
    throw new Error(
      `${what} (pid ${pid}) is not pinned to cpu ${cpu}: ` +
        bad.map((t) => `${t.name}/${t.tid} allowed ${t.allowed}`).join(", "),
    );
  }
  return {
    threads: threads.length,
    allowed: String(cpu),
    lastCpus: [...new Set(threads.map((t) => t.lastCpu))],
  };
}

/** Busy seconds per CPU (user, nice, system, irq, softirq, steal), plus the total. */
export function cpuBusy() {
  const text = read("/proc/stat");
  if (text === null) return null;
  const out = {};
  for (const line of text.split("\n")) {
    const m = /^(cpu\d*)\s+(.*)$/.exec(line);
    if (!m) continue;
    const f = m[2].trim().split(/\s+/).map(Number);
    out[m[1] === "cpu" ? "all" : m[1]] = (f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0)) / clockTicks;
  }
  return out;
}

/** pids of the ksoftirqd/N threads: softirq work they pick up belongs to the transfer, not to background load. */
export function softirqThreads() {
  const out = [];
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const comm = read(`/proc/${pid}/comm`);
    if (comm?.startsWith("ksoftirqd/")) out.push(Number(pid));
  }
  return out;
}

/** Sum of processCpu(...).ns over pids that are alive, in seconds. */
export function cpuSeconds(pids) {
  let ns = 0;
  for (const pid of pids) ns += processCpu(pid)?.ns ?? 0;
  return ns / 1e9;
}
