// Runs the compiled node:test suites under build/test. Node 20's `--test` takes no globs,
// so the files are listed here; extra arguments filter by substring of the path.
//
//   node scripts/run-tests.mjs [filter...]            every suite but the interop one
//   node scripts/run-tests.mjs --interop [filter...]  only test/interop: real nginx,
//       tinyproxy and microsocks from Debian; checks first that they are installed and,
//       if not, says which packages to install (it installs nothing itself)

import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { pathToFileURL } from "node:url";

const root = "build/test";
const args = process.argv.slice(2);
const interop = args.includes("--interop");
const filters = args.filter((a) => a !== "--interop");
const isInterop = (f) => relative(root, f).split(sep)[0] === "interop";

const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith(".test.js")) files.push(path);
  }
})(root);
const suite = files.filter((f) => isInterop(f) === interop);
const selected = filters.length
  ? suite.filter((f) => filters.some((s) => relative(root, f).includes(s)))
  : suite;
if (selected.length === 0) {
  console.error(`no ${interop ? "interop " : ""}test files matched`);
  process.exit(1);
}

if (interop) {
  // The same list the suite's fixtures use (test/interop/daemons.ts).
  const { missingDaemons, installHint } = await import(
    pathToFileURL(join(root, "interop", "daemons.js")).href
  );
  const missing = missingDaemons();
  if (missing.length > 0) {
    console.error(`The interop suite cannot run: ${installHint(missing)}`);
    process.exit(1);
  }
}

const result = spawnSync(
  process.execPath,
  ["--test", "--test-concurrency=2", "--test-timeout=120000", "--expose-gc", ...selected],
  {
    stdio: "inherit",
  },
);
process.exit(result.status ?? 1);
