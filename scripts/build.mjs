// Builds dist/ from src/ (`npm run build`, and `prepare`, which npm pack runs): removes
// the old dist/ first, so a module deleted from src/ can never ship from a stale build.

import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

rmSync(new URL("../dist", import.meta.url), { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const r = spawnSync(
  process.execPath,
  [tsc, "-p", fileURLToPath(new URL("../tsconfig.build.json", import.meta.url))],
  { stdio: "inherit" },
);
process.exit(r.status ?? 1);
