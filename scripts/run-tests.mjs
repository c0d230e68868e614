// Runs every compiled node:test suite under build/test. Node 20's `--test` takes no globs,
// so the files are listed here; extra arguments filter by substring of the path.

import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = "build/test";
const filters = process.argv.slice(2);
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith(".test.js")) files.push(path);
  }
})(root);
const selected = filters.length
  ? files.filter((f) => filters.some((s) => relative(root, f).includes(s)))
  : files;
if (selected.length === 0) {
  console.error("no test files matched");
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ["--test", "--test-concurrency=2", "--test-timeout=120000", "--expose-gc", ...selected],
  {
    stdio: "inherit",
  },
);
process.exit(result.status ?? 1);
