/**
 * The `roundtrip` binary as npm installs it (npx roundtrip-http, npm install -g): the
 * package's bin points at the compiled entry, which keeps its shebang and is shipped.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { CLI } from "./helpers.js";

const root = new URL("../../../", import.meta.url);
const pkg = JSON.parse(readFileSync(new URL("package.json", root), "utf8")) as {
  bin: Record<string, string>;
  files: string[];
};
const build = JSON.parse(readFileSync(new URL("tsconfig.build.json", root), "utf8")) as {
  compilerOptions: { rootDir: string; outDir: string };
};

test("bin: roundtrip → the compiled src/cli/main.ts, shipped in the package, with a shebang", () => {
  assert.deepEqual(Object.keys(pkg.bin), ["roundtrip"]);
  const { rootDir, outDir } = build.compilerOptions;
  assert.equal(pkg.bin.roundtrip, `${outDir}/cli/main.js`);
  const shipped = pkg.files.filter((f) => f === outDir || f.startsWith(`${outDir}/`));
  assert.ok(shipped.length > 0, `${outDir} is in "files"`);
  assert.ok(!pkg.files.some((f) => f.startsWith(`!${outDir}/cli/main`)), "the entry is not excluded");
  const source = readFileSync(new URL(`${rootDir}/cli/main.ts`, root), "utf8");
  assert.ok(source.startsWith("#!/usr/bin/env node\n"));
  // tsc keeps the shebang in what it emits (the test build compiles the same file).
  assert.ok(readFileSync(CLI, "utf8").startsWith("#!/usr/bin/env node\n"));
});
