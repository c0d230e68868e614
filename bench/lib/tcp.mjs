// The machine's default TCP congestion control (net.ipv4.tcp_congestion_control). On
// loopback it decides which side's CPU runs the kernel's TCP work (see bench/README.md):
// the figures say which one was in force, and --congestion can set another for a run.

import { readFileSync, writeFileSync } from "node:fs";

const PATH = "/proc/sys/net/ipv4/tcp_congestion_control";

/** The default congestion control now, or null where /proc says nothing. */
export function congestionControl() {
  try {
    return readFileSync(PATH, "utf8").trim();
  } catch {
    return null;
  }
}

/**
 * Makes `name` the default for sockets created from now on (needs root) and returns the
 * function that puts the previous one back; the caller runs it on every exit path.
 */
export function setCongestionControl(name) {
  let available = [];
  try {
    available = readFileSync("/proc/sys/net/ipv4/tcp_available_congestion_control", "utf8")
      .trim()
      .split(/\s+/);
  } catch {}
  if (!available.includes(name))
    throw new Error(`congestion control ${name} is not available here (${available.join(" ") || "unknown"})`);
  const previous = congestionControl();
  try {
    writeFileSync(PATH, name);
  } catch (e) {
    throw new Error(`cannot set ${PATH} (needs root): ${e.message}`);
  }
  return () => {
    if (previous) writeFileSync(PATH, previous);
  };
}
