// CPU accounting around one run, from /proc (Linux): the server's CPU time, and the
// machine's busy time that belongs to neither the client nor the server nor this runner —
// other work on a shared machine that may have disturbed the run. Elsewhere: nulls.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

let clockTicks = 100;
try {
  clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
} catch {}

function machineBusyS() {
  try {
    // cpu  user nice system idle iowait irq softirq steal ...
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    return (f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0)) / clockTicks;
  } catch {
    return null;
  }
}

function processCpuS(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / clockTicks; // utime, stime
  } catch {
    return null;
  }
}

function sumCpuS(pids) {
  let sum = 0;
  for (const pid of pids) {
    const s = processCpuS(pid);
    if (s === null) return null;
    sum += s;
  }
  return sum;
}

/** Call before a run; the returned function, called after it, gives the figures. */
export function cpuProbe(serverPids) {
  const t0 = performance.now();
  const busy0 = machineBusyS();
  const server0 = sumCpuS(serverPids);
  const self0 = process.cpuUsage();
  return (clientTotalCpuS) => {
    const wallS = (performance.now() - t0) / 1000;
    const busy1 = machineBusyS();
    const server1 = sumCpuS(serverPids);
    const self = process.cpuUsage(self0);
    const serverCpuS = server0 !== null && server1 !== null ? server1 - server0 : null;
    let backgroundCores = null;
    if (busy0 !== null && busy1 !== null && serverCpuS !== null && typeof clientTotalCpuS === "number") {
      const other = busy1 - busy0 - serverCpuS - clientTotalCpuS - (self.user + self.system) / 1e6;
      backgroundCores = Math.max(0, other / wallS);
    }
    return { serverCpuS, backgroundCores };
  };
}
