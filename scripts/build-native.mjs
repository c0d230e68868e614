// Builds the optional zero-copy addon native/build/Release/roundtrip_sendfile.node with
// node-gyp. Run by package.json's "install" script, so it must NEVER fail `npm install`:
// whatever goes wrong (not Linux, no compiler, no headers, build error) it prints one line
// and exits 0, and roundtrip uses its portable read/write path instead.
//
// No network: node-gyp is the copy npm ships, and Node's headers come from the local
// install (npm's `nodedir`, or <prefix>/include/node next to the running node binary).

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, realpathSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const nativeDir = resolve(dirname(fileURLToPath(import.meta.url)), "..", "native");
const logFile = join(nativeDir, "build", "build-native.log");
const BUILD_TIMEOUT_MS = 5 * 60_000;

function done(message) {
  console.log(`roundtrip: ${message}`);
  process.exit(0);
}

function skip(why) {
  done(`zero-copy addon not built (${why}); the portable read/write path will be used`);
}

/** Where npm keeps its own node-gyp: npm's env during scripts, else next to npm itself. */
function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  const npmCli = process.env.npm_execpath || findOnPath("npm");
  if (npmCli) {
    const real = safeRealpath(npmCli);
    // <npm>/bin/npm-cli.js -> <npm>/node_modules/node-gyp
    candidates.push(join(dirname(real), "..", "node_modules", "node-gyp", "bin", "node-gyp.js"));
    // <prefix>/bin/npm -> <prefix>/lib/node_modules/npm/node_modules/node-gyp
    candidates.push(
      join(
        dirname(npmCli),
        "..",
        "lib",
        "node_modules",
        "npm",
        "node_modules",
        "node-gyp",
        "bin",
        "node-gyp.js",
      ),
    );
  }
  const prefix = resolve(dirname(process.execPath), "..");
  candidates.push(
    join(prefix, "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"),
  );
  return candidates.find((c) => existsSync(c));
}

function findOnPath(name) {
  for (const dir of (process.env.PATH || "").split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

function safeRealpath(path) {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** A directory with include/node/node_api.h, or undefined (node-gyp would download). */
function findNodeDir() {
  const candidates = [process.env.npm_config_nodedir, resolve(dirname(process.execPath), "..")];
  const found = candidates.find((d) => d && existsSync(join(d, "include", "node", "node_api.h")));
  if (found) return { nodedir: found };
  const cache = join(homedir(), ".cache", "node-gyp", process.versions.node, "include", "node", "node_api.h");
  return existsSync(cache) ? { nodedir: undefined } : undefined;
}

function hasCompiler() {
  const cc = process.env.CC || "cc";
  const r = spawnSync(cc, ["--version"], { stdio: "ignore" });
  return r.status === 0;
}

function main() {
  if (process.platform !== "linux") skip("sendfile path is Linux-only");
  if (!hasCompiler()) skip("no C compiler found: install gcc");
  const nodeGyp = findNodeGyp();
  if (!nodeGyp) skip("node-gyp not found next to npm");
  const headers = findNodeDir();
  if (!headers) skip("Node headers not found locally");

  const args = [nodeGyp, "rebuild"];
  if (headers.nodedir) args.push(`--nodedir=${headers.nodedir}`);
  const r = spawnSync(process.execPath, args, {
    cwd: nativeDir,
    encoding: "utf8",
    timeout: BUILD_TIMEOUT_MS,
    env: { ...process.env, npm_config_loglevel: "warn" },
  });
  const log = `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}`;
  try {
    mkdirSync(dirname(logFile), { recursive: true });
    writeFileSync(logFile, log);
  } catch {
    // The log is a courtesy; failing to write it must not fail the install.
  }
  if (r.status !== 0) skip(`build failed, see ${logFile}`);
  done("zero-copy addon built (native/build/Release/roundtrip_sendfile.node)");
}

try {
  main();
} catch (err) {
  skip(`unexpected error: ${err instanceof Error ? err.message : String(err)}`);
}
