#!/usr/bin/env node
// Prints the top functions of a V8 .cpuprofile by self time (and total time), so a
// profile taken with `bench/run.mjs --cpu-prof` can be read in a terminal.
// usage: node bench/lib/profile-top.mjs FILE.cpuprofile [N]

import { readFileSync } from "node:fs";

const [file, nArg] = process.argv.slice(2);
if (!file) {
  console.error("usage: node bench/lib/profile-top.mjs FILE.cpuprofile [N]");
  process.exit(2);
}
const n = Number(nArg ?? 25);
const prof = JSON.parse(readFileSync(file, "utf8"));

// Self time per node from the sample stream; time deltas are in µs.
const byId = new Map(prof.nodes.map((node) => [node.id, node]));
const self = new Map();
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i];
  self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
}

// Total (inclusive) time per node, then per function (merging nodes of one function,
// without counting recursion twice).
const parent = new Map();
for (const node of prof.nodes) for (const c of node.children ?? []) parent.set(c, node.id);
const key = (node) => {
  const f = node.callFrame;
  const where = f.url
    ? `${f.url.replace(/^.*\/(node_modules\/|dist\/|bench\/)/, "$1")}:${f.lineNumber + 1}`
    : "";
  return `${f.functionName || "(anonymous)"} ${where}`.trim();
};
const funcs = new Map();
let total = 0;
for (const [id, t] of self) {
  total += t;
  const k = key(byId.get(id));
  const e = funcs.get(k) ?? { self: 0, total: 0 };
  e.self += t;
  funcs.set(k, e);
  const seen = new Set();
  for (let p = id; p !== undefined; p = parent.get(p)) {
    const pk = key(byId.get(p));
    if (seen.has(pk)) continue;
    seen.add(pk);
    const pe = funcs.get(pk) ?? { self: 0, total: 0 };
    pe.total += t;
    funcs.set(pk, pe);
  }
}

const pct = (t) => `${((t / total) * 100).toFixed(1).padStart(5)}%`;
console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled\n  self   total  function`);
for (const [k, e] of [...funcs].sort((a, b) => b[1].self - a[1].self).slice(0, n)) {
  console.log(`${pct(e.self)} ${pct(e.total)}  ${k}`);
}
