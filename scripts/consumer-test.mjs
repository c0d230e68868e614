// The package as a user gets it (`npm run test:consumer`, and CI on every Node it tests):
// packs it, checks what the tarball holds, installs it into a fresh project in a temp
// dir, and there
//   1. imports every entry point of package.json's "exports" from ESM,
//   2. require()s each where this Node can require ES modules (process.features
//      .require_module: Node 20.19+, 22.12+), and says so where it cannot,
//   3. type-checks a TypeScript file against the published types with
//      moduleResolution "node16" and "bundler" (the repo's own typescript),
//   4. makes a request with the Client to a loopback serveFile server,
// after checking the zero-copy addon story: installed with --ignore-scripts it is off and
// says to run `npm rebuild roundtrip-http`, which builds it (with a C compiler present).
//
// Needs no network: the package has no dependencies, and types for Node come from the
// repo's node_modules. Set KEEP_CONSUMER=1 to keep the temp dir for a look.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(join(repo, "package.json"), "utf8"));
const work = mkdtempSync(join(tmpdir(), "roundtrip-consumer-"));
const app = join(work, "app");
const nodeMajor = Number(process.versions.node.split(".")[0]);

function step(what) {
  console.log(`consumer-test (node ${process.version}): ${what}`);
}

/** Runs a command to completion (bounded), failing with its output if it fails. */
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 5 * 60_000, ...opts });
  const out = `${r.stdout ?? ""}${r.stderr ?? ""}`;
  if (r.status !== 0) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${r.error ?? `exit ${r.status}`}) in ${opts.cwd}:\n${out}`,
    );
  }
  return r.stdout;
}

const npm = (args, cwd) => run("npm", [...args, "--no-audit", "--no-fund"], { cwd });
const node = (args, cwd) => run(process.execPath, args, { cwd });

/** Writes a check script into a consumer project and runs it there with this Node. */
function check(dir, name, source) {
  writeFileSync(join(dir, name), source);
  return node([name], dir);
}

function makeProject(dir) {
  mkdirSync(dir);
  const manifest = { name: "roundtrip-consumer", version: "1.0.0", private: true, type: "module" };
  writeFileSync(join(dir, "package.json"), JSON.stringify(manifest));
}

// --- What the tarball holds --------------------------------------------------------------

/** Paths a user needs; anything else in the tarball fails the test. */
const ALLOWED = [
  /^package\.json$/,
  /^README\.md$/,
  /^LICENSE$/,
  /^CHANGELOG\.md$/,
  /^docs\/[\w.-]+\.md$/,
  /^dist\/.+\.(js|d\.ts)$/,
  /^native\/[\w-]+\.[ch]$/,
  /^scripts\/build-native\.mjs$/,
];
const REQUIRED = [
  "package.json",
  "README.md",
  "LICENSE",
  "CHANGELOG.md",
  "docs/design.md",
  "native/addon.c",
  "native/common.c",
  "native/sendfile.c",
  "native/splice.c",
  "native/zerocopy.h",
];

function checkContents(files) {
  const extra = files.filter((f) => !ALLOWED.some((re) => re.test(f)));
  assert.deepEqual(extra, [], "files in the tarball that a user does not need");
  const stray = files.filter((f) => /(^|\/)(test|bench|build|src)\//.test(f) || f.includes("dist/cli/demo."));
  assert.deepEqual(stray, [], "tests, benchmarks, sources or the demo in the tarball");
  const targets = Object.values(pkg.exports).flatMap((e) => (typeof e === "string" ? [e] : Object.values(e)));
  const bins = Object.values(pkg.bin ?? {});
  const wanted = [...REQUIRED, ...[...targets, ...bins].map((t) => t.replace(/^\.\//, ""))];
  const missing = wanted.filter((f) => !files.includes(f));
  assert.deepEqual(missing, [], "files the package needs but the tarball lacks");
}

// --- The checks run inside the consumer project -------------------------------------------

/** Every subpath of "exports" that is code, as a specifier: roundtrip-http, roundtrip-http/server, ... */
const entryPoints = Object.keys(pkg.exports)
  .filter((k) => k !== "./package.json")
  .map((k) => (k === "." ? pkg.name : `${pkg.name}/${k.slice(2)}`));

/** What some entry points must export (DESIGN.md's contract); others must export something. */
const CONTRACT = {
  [pkg.name]: ["Client", "Transport", "fetch", "file", "Headers", "RoundtripError", "Response", "zeroCopy"],
  [`${pkg.name}/server`]: ["serveFile", "serveContent"],
};

const importCheck = `
const entryPoints = ${JSON.stringify(entryPoints)};
const contract = ${JSON.stringify(CONTRACT)};
for (const spec of entryPoints) {
  const m = await import(spec);
  const names = Object.keys(m);
  if (names.length === 0) throw new Error(spec + " exports nothing");
  for (const n of contract[spec] ?? []) if (m[n] === undefined) throw new Error(spec + " lacks " + n);
  console.log("import " + spec + ": " + names.length + " exports");
}
`;

const requireCheck = `
const entryPoints = ${JSON.stringify(entryPoints)};
const contract = ${JSON.stringify(CONTRACT)};
for (const spec of entryPoints) {
  const m = require(spec);
  for (const n of contract[spec] ?? []) if (m[n] === undefined) throw new Error(spec + " lacks " + n);
  console.log("require " + spec + ": " + Object.keys(m).length + " exports");
}
`;

const requestCheck = `
import http from "node:http";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Client, Transport, RoundtripError } from "${pkg.name}";
import { serveFile } from "${pkg.name}/server";
const path = new URL("./hello.txt", import.meta.url);
writeFileSync(path, "hello from a consumer\\n".repeat(1000));
const server = http.createServer((req, res) => serveFile(req, res, fileURLToPath(path)));
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const transport = new Transport({ proxy: null, responseHeaderTimeout: 10_000 });
try {
  const client = new Client({ transport, timeout: 10_000 });
  const res = await client.get("http://127.0.0.1:" + server.address().port + "/hello.txt");
  const text = await res.text();
  if (res.status !== 200 || text !== "hello from a consumer\\n".repeat(1000)) {
    throw new Error("unexpected response " + res.status + " (" + text.length + " chars)");
  }
  if (!(new RoundtripError("ERR_ABORTED", "x") instanceof Error)) throw new Error("RoundtripError");
  console.log("request: " + res.status + " " + res.headers.get("content-type") + ", " + text.length + " bytes");
} finally {
  await transport.close();
  server.close();
}
`;

const zeroCopyCheck = `
import { zeroCopy } from "${pkg.name}";
console.log(JSON.stringify(zeroCopy));
`;

const typesCheck = `
import { Client, Transport, RoundtripError, file, fetch, type Response, type TransportOptions } from "${pkg.name}";
import { serveFile } from "${pkg.name}/server";
import http from "node:http";

const options: TransportOptions = { maxIdleConnsPerHost: 8, responseHeaderTimeout: 10_000 };
const transport = new Transport(options);
const client = new Client({ transport, timeout: 30_000 });

export async function get(url: string): Promise<string> {
  const res: Response = await client.get(url, { headers: { accept: "text/plain" } });
  const status: number = res.status;
  const type: string | null = res.headers.get("content-type");
  void status;
  void type;
  return res.text();
}

export async function upload(url: string): Promise<number> {
  const res = await client.put(url, { body: file("/tmp/x") });
  await res.close();
  return res.status;
}

export function failed(err: unknown): string | undefined {
  return err instanceof RoundtripError ? err.code : undefined;
}

export async function viaFetch(url: string): Promise<string> {
  return (await fetch(url)).text();
}

export const server = http.createServer((req, res) => {
  void serveFile(req, res, "/srv/file");
});

// The published types are real, not any: a wrong option type is an error.
// @ts-expect-error maxIdleConnsPerHost is a number
new Transport({ maxIdleConnsPerHost: "8" });
`;

function tsconfig(moduleResolution) {
  return {
    compilerOptions: {
      strict: true,
      noEmit: true,
      target: "ES2022",
      module: moduleResolution === "bundler" ? "ESNext" : "Node16",
      moduleResolution,
      lib: ["ES2023"],
      types: ["node"],
      // Node's types come from the repo (no download); the package's own types are
      // checked with everything else (skipLibCheck off).
      typeRoots: [join(repo, "node_modules", "@types")],
      skipLibCheck: false,
    },
    files: ["consumer.ts"],
  };
}

// --- The run ----------------------------------------------------------------------------

function main() {
  step("npm pack --dry-run");
  const dry = JSON.parse(npm(["pack", "--dry-run", "--json"], repo))[0];
  const files = dry.files.map((f) => f.path).sort();
  checkContents(files);
  step(
    `tarball holds ${files.length} files, ${(dry.unpackedSize / 1024).toFixed(0)} KiB unpacked: no tests, no bench`,
  );

  step("npm pack");
  // --ignore-scripts: the dry run's `prepare` has just built dist/.
  const packed = JSON.parse(npm(["pack", "--json", "--ignore-scripts", "--pack-destination", work], repo))[0];
  assert.deepEqual(packed.files.map((f) => f.path).sort(), files, "the tarball is what the dry run listed");
  const tarball = join(work, packed.filename);

  const compiler = spawnSync(process.env.CC || "cc", ["--version"], { stdio: "ignore" }).status === 0;
  const canBuild = process.platform === "linux" && compiler;

  // First as most users install: the install script builds the addon.
  makeProject(app);
  step("npm install <tarball>");
  npm(["install", tarball], app);
  const built = JSON.parse(check(app, "zerocopy.mjs", zeroCopyCheck));
  if (canBuild) assert.deepEqual(built, { available: true }, "the install script built the addon");
  console.log(`  zeroCopy: ${JSON.stringify(built)}`);

  // Then without install scripts: zero-copy is off and the reason says what works from an
  // application, which the next step runs.
  const bare = join(work, "bare");
  makeProject(bare);
  step("npm install --ignore-scripts <tarball>: no addon, and the reason says what to run");
  npm(["install", "--ignore-scripts", tarball], bare);
  const off = JSON.parse(check(bare, "zerocopy.mjs", zeroCopyCheck));
  assert.equal(off.available, false);
  assert.match(off.reason, /npm rebuild roundtrip-http/, "the message names what works from an application");
  console.log(`  zeroCopy: ${off.reason}`);
  if (canBuild) {
    step("npm rebuild roundtrip-http: builds the addon");
    npm(["rebuild", pkg.name], bare);
    const on = JSON.parse(check(bare, "zerocopy.mjs", zeroCopyCheck));
    assert.deepEqual(on, { available: true }, "npm rebuild built and loaded the addon");
  } else {
    step("no C compiler (or not Linux): the addon stays off, the fallback path serves");
  }

  step(`ESM import of ${entryPoints.join(", ")}`);
  process.stdout.write(check(app, "import.mjs", importCheck));

  if (process.features.require_module) {
    step("require() of every entry point (require(esm))");
    process.stdout.write(check(app, "require.cjs", requireCheck));
  } else {
    step(`require() skipped: Node ${process.version} cannot require ES modules (20.19+, 22.12+ can)`);
  }

  const tsc = createRequire(join(repo, "package.json")).resolve("typescript/bin/tsc");
  writeFileSync(join(app, "consumer.ts"), typesCheck);
  for (const resolution of ["node16", "bundler"]) {
    step(`tsc with moduleResolution "${resolution}"`);
    writeFileSync(join(app, "tsconfig.json"), JSON.stringify(tsconfig(resolution), null, 2));
    node([tsc, "-p", "tsconfig.json"], app);
  }

  step("one request to a loopback server");
  process.stdout.write(check(app, "request.mjs", requestCheck));
  step(`ok (node ${nodeMajor})`);
}

try {
  main();
} finally {
  if (process.env.KEEP_CONSUMER === "1") console.log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
