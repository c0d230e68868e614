// Facts about the machine and the software under test, recorded with every result.

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";

export function pkgVersion(root, name) {
  try {
    return JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8")).version;
  } catch {
    return null;
  }
}

function git(root, args) {
  const r = spawnSync("git", ["-C", root, ...args], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}

function firstLine(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return r.status === 0 ? (r.stdout || r.stderr).split("\n")[0].trim() : null;
}

export function machineInfo() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? "unknown",
    cores: cpus.length,
    memGiB: Math.round(os.totalmem() / 1024 ** 3),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
  };
}

export function versions(root) {
  let roundtrip = null;
  try {
    roundtrip = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
  } catch {}
  const commit = git(root, ["rev-parse", "--short", "HEAD"]);
  const dirty = git(root, ["status", "--porcelain", "--", "src"]);
  return {
    node: process.version,
    roundtrip: `${roundtrip ?? "?"} (${commit ?? "no git"}${dirty ? ", src modified" : ""})`,
    undici: pkgVersion(root, "undici"),
    got: pkgVersion(root, "got"),
    axios: pkgVersion(root, "axios"),
    curl: firstLine("curl", ["--version"])?.split(" ").slice(0, 2).join(" ") ?? null,
  };
}

/**
 * Builds roundtrip (tsc → dist) so the bench measures the current source. A failed build
 * is reported, and the runner goes on with whatever dist holds: roundtrip's rows then
 * show the import or call error instead of a number.
 */
export function build(root) {
  const r = spawnSync("npm", ["run", "build", "--silent"], { cwd: root, encoding: "utf8", timeout: 180_000 });
  const ok = r.status === 0;
  const output = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim();
  return {
    ok,
    distExists: existsSync(join(root, "dist", "index.js")),
    message: ok
      ? "npm run build: ok"
      : `npm run build failed (${r.error?.message ?? `exit ${r.status}`}): ${output.slice(0, 500)}`,
  };
}
