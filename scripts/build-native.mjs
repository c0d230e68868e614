// Builds the optional zero-copy addon native/build/Release/roundtrip_sendfile.node.
// Run by package.json's "install" script (so also by `npm rebuild roundtrip-http`), it must
// NEVER fail an install: whatever goes wrong (not Linux, no compiler, no headers, build
// error) it prints one line saying what to do and exits 0, and roundtrip uses its portable
// read/write path instead.
//
// One C file against Node-API needs no build system: the C compiler is called directly
// (no node-gyp, Python or make), with Node's headers from the local install (npm's
// `nodedir`, <prefix>/include/node next to the running node binary, or node-gyp's cache).
// No network. Node-API is ABI-stable, so the one build loads in every Node version.

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const nativeDir = resolve(dirname(fileURLToPath(import.meta.url)), "..", "native");
const outDir = join(nativeDir, "build", "Release");
const addon = join(outDir, "roundtrip_sendfile.node");
const logFile = join(nativeDir, "build", "build-native.log");
const BUILD_TIMEOUT_MS = 2 * 60_000;
// Inside node_modules a user rebuilds through npm; in a clone of roundtrip, by hand.
const retry = nativeDir.split(/[\\/]/).includes("node_modules")
  ? "`npm rebuild roundtrip-http`"
  : "`node scripts/build-native.mjs`";

function done(message) {
  console.log(`roundtrip: ${message}`);
  process.exit(0);
}

function skip(why, fix) {
  done(
    `zero-copy addon not built (${why}); the portable read/write path will be used.` +
      (fix ? ` ${fix}, then run ${retry}.` : ""),
  );
}

/** Node's headers: a directory holding node_api.h, or undefined. */
function findHeaders() {
  const prefixes = [process.env.npm_config_nodedir, resolve(dirname(process.execPath), "..")];
  const dirs = prefixes.filter(Boolean).map((p) => join(p, "include", "node"));
  dirs.push(join(homedir(), ".cache", "node-gyp", process.versions.node, "include", "node"));
  return dirs.find((d) => existsSync(join(d, "node_api.h")));
}

/** The compiler command: $CC (which may carry flags, e.g. "gcc -m64") or cc. */
function compiler() {
  const [cmd, ...flags] = (process.env.CC || "cc").trim().split(/\s+/);
  const r = spawnSync(cmd, [...flags, "--version"], { stdio: "ignore" });
  return r.status === 0 ? { cmd, flags } : undefined;
}

function main() {
  if (process.platform !== "linux") skip(`sendfile path is Linux-only, this is ${process.platform}`);
  const cc = compiler();
  if (!cc) skip("no C compiler found", "Install one (Debian: `apt-get install gcc`)");
  const headers = findHeaders();
  if (!headers) {
    skip(
      "Node's headers (node_api.h) not found",
      "Use a Node that ships them (the official binaries do), or set npm's nodedir",
    );
  }

  mkdirSync(outDir, { recursive: true });
  const tmp = `${addon}.${process.pid}.tmp`;
  const args = [
    ...cc.flags,
    ...["-std=gnu11", "-O2", "-fPIC", "-shared", "-pthread", "-fvisibility=hidden"],
    ...["-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
    // _FILE_OFFSET_BITS=64: off_t and sendfile(2) take 64-bit offsets even on 32-bit
    // builds, so ranges past 4 GiB are sent correctly.
    ...["-DNAPI_VERSION=8", "-D_GNU_SOURCE", "-D_FILE_OFFSET_BITS=64"],
    "-DNODE_GYP_MODULE_NAME=roundtrip_sendfile",
    `-I${headers}`,
    // One file per job (native/addon.c says which); zerocopy.h is their shared header.
    ...["addon.c", "common.c", "sendfile.c", "splice.c"].map((f) => join(nativeDir, f)),
    "-o",
    tmp,
  ];
  const r = spawnSync(cc.cmd, args, { encoding: "utf8", timeout: BUILD_TIMEOUT_MS });
  const log = `${cc.cmd} ${args.join(" ")}\n${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}`;
  try {
    writeFileSync(logFile, log);
  } catch {
    // The log is a courtesy; failing to write it must not fail the install.
  }
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    skip(`build failed, see ${logFile}`);
  }
  // A rename, so a process that has the old addon loaded keeps a whole file.
  renameSync(tmp, addon);
  done(`zero-copy addon built (${addon})`);
}

try {
  main();
} catch (err) {
  skip(`unexpected error: ${err instanceof Error ? err.message : String(err)}`);
}
