#!/usr/bin/env node
// roundtrip benchmark runner: `npm run bench` (= node bench/run.mjs). See bench/README.md.
//
// Starts one loopback server (nginx if installed, else a raw Node server), then runs every
// selected client × scenario in a fresh child process pinned to its own core, `--runs`
// times, interleaving clients so drift hits them alike. Prints Markdown tables and writes
// bench/results/<date>.json and bench/results/latest.md.

import { spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { cpuProbe } from "./lib/cpu.mjs";
import { build, machineInfo, versions } from "./lib/env.mjs";
import { killAll, runNodeJob, runTimedCommand } from "./lib/jobs.mjs";
import { aggregate, headerMarkdown, scenarioMarkdown } from "./lib/report.mjs";
import { startServer, which } from "./lib/server.mjs";
import { congestionControl, setCongestionControl } from "./lib/tcp.mjs";
import { QUICK_SIZE, SCENARIOS } from "./scenarios.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");

const HELP = `usage: node bench/run.mjs [options]        (npm run bench -- [options])

Scenarios (default: the four small-request ones: ${SCENARIOS.filter((s) => s.group === "default")
  .map((s) => s.id)
  .join(", ")})
  --upload            add upload-1g, upload-1g-nginx and multipart-1g (1 GiB file; ~4-6 min with 3 runs)
  --download          add download-1g (slow-ish consumer) and save-1g (into a file; ~2-3 min)
  --download-4g       add save-4g (a 4 GiB body into a file)
  --upload-4g         add upload-4g (slow; shows peak RSS flat vs 1 GiB)
  --all               every scenario except upload-4g
  --scenarios a,b     exactly these scenario ids
  --clients x,y       only these clients (a prefix such as "roundtrip" or "undici" selects a family)
Measurement
  --runs N            runs per client and scenario, median reported (default 3)
  --duration MS       measured time per run (default 2000)
  --warmup MS         warm-up per run (default 500)
  --count N           request cap per measured run (default 1000000)
  --quick             smoke run: 1 run, 100 ms warm-up, 300 ms measured, 64 MiB transfers;
                      results go to bench/results/tmp/ so they never replace latest.md
Setup
  --server nginx|node prefer this server (default: nginx when installed)
  --no-pin            do not pin server and client to separate cores
  --congestion NAME   the machine's default TCP congestion control for this run (root;
                      the previous one is put back at exit), e.g. cubic, Linux's default
  --no-build          skip \`npm run build\` (use dist/ as it is)
  --out DIR           where to write <date>.json and latest.md (default bench/results)
  --cpu-prof          write a V8 CPU profile of every client process to
                      bench/results/tmp/profiles/<scenario>/ (open in Chrome DevTools)
`;

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean" },
    upload: { type: "boolean" },
    download: { type: "boolean" },
    "download-4g": { type: "boolean" },
    "upload-4g": { type: "boolean" },
    all: { type: "boolean" },
    scenarios: { type: "string" },
    clients: { type: "string" },
    runs: { type: "string" },
    duration: { type: "string" },
    warmup: { type: "string" },
    count: { type: "string" },
    server: { type: "string" },
    "no-pin": { type: "boolean" },
    congestion: { type: "string" },
    "no-build": { type: "boolean" },
    out: { type: "string" },
    "cpu-prof": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});
if (args.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

function positive(v, dflt, name) {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
  return n;
}

const quick = Boolean(args.quick);
const opts = {
  runs: Math.floor(positive(args.runs, quick ? 1 : 3, "runs")),
  durationMs: positive(args.duration, quick ? 300 : 2000, "duration"),
  warmupMs: positive(args.warmup, quick ? 100 : 500, "warmup"),
  count: Math.floor(positive(args.count, 1_000_000, "count")),
};

function selectScenarios() {
  if (args.scenarios) {
    const ids = args.scenarios.split(",").map((s) => s.trim());
    for (const id of ids) {
      if (!SCENARIOS.some((s) => s.id === id)) throw new Error(`unknown scenario ${id}`);
    }
    return SCENARIOS.filter((s) => ids.includes(s.id));
  }
  const groups = new Set(["default"]);
  if (args.upload || args.all) groups.add("upload");
  if (args.download || args.all) groups.add("download");
  if (args["download-4g"]) groups.add("download4g");
  if (args["upload-4g"]) groups.add("upload4g");
  return SCENARIOS.filter((s) => groups.has(s.group));
}

function selectClients(list) {
  if (!args.clients) return list;
  const wanted = args.clients.split(",").map((s) => s.trim());
  return list.filter((c) => wanted.some((w) => c === w || c.startsWith(`${w}.`) || c.startsWith(`${w} `)));
}

const tmpDir = join(here, "results", "tmp");
const outDir = args.out ? resolve(args.out) : quick ? tmpDir : join(here, "results");

// Two or more cores: server on core 1, clients on core 0 (issue 6: never compete for a core).
const canPin = !args["no-pin"] && os.cpus().length >= 2 && which("taskset") !== null;
const clientCpu = canPin ? "0" : null;
const serverCpu = canPin ? "1" : null;

/**
 * Sparse files: instant to make. They are then read once so that every client finds them
 * in the page cache: otherwise the first client of a scenario pays for filling it (seen
 * here as a 2× slower first upload, and nginx at 90% of its core for the first download).
 */
function sparseFile(path, size) {
  mkdirSync(dirname(path), { recursive: true });
  if (!existsSync(path) || statSync(path).size !== size) {
    const fd = openSync(path, "w");
    ftruncateSync(fd, size);
    closeSync(fd);
  }
  const fd = openSync(path, "r");
  const buf = Buffer.allocUnsafe(4 << 20);
  try {
    while (readSync(fd, buf, 0, buf.length, null) > 0);
  } finally {
    closeSync(fd);
  }
  return path;
}

let server = null;
/** The Go reference client's binary, when `go` is installed (built once per run). */
let goClient = null;

function buildGoClient() {
  if (!which("go")) {
    log("note: go not installed: the Go reference rows will say so (apt-get install -y golang-go)");
    return null;
  }
  const out = join(tmpDir, "go-client");
  const r = spawnSync("go", ["build", "-o", out, "main.go"], {
    cwd: join(here, "clients", "go"),
    env: { ...process.env, GOCACHE: join(tmpDir, "gocache") },
    encoding: "utf8",
    timeout: 300_000,
  });
  if (r.status !== 0) {
    log(`note: building the Go client failed: ${(r.stderr || r.error?.message || "").trim().slice(-300)}`);
    return null;
  }
  return out;
}
let stopping = false;
/** Puts back the congestion control --congestion replaced. */
let restoreCongestion = null;
async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  killAll();
  try {
    await server?.stop();
  } catch {}
  try {
    restoreCongestion?.();
  } catch (e) {
    console.error(`could not restore the TCP congestion control: ${e.message}`);
  }
  process.exit(code);
}
process.on("SIGINT", () => {
  console.error("\ninterrupted: stopping children and server");
  shutdown(130);
});
process.on("SIGTERM", () => shutdown(143));

function log(msg) {
  process.stderr.write(`${msg}\n`);
}

function timeoutFor(scenario) {
  if (scenario.kind === "rps") return opts.warmupMs + opts.durationMs + 20_000;
  // Big transfers: generous (≥ 30 MB/s) but bounded.
  return 60_000 + Math.ceil(scenario.size / (30 * 1024 * 1024)) * 1000;
}

/** Where a scenario's requests go; a PUT to nginx's sink gets a file name of its own. */
function urlFor(scenario, client, size) {
  if (scenario.sink === "nginx-put") {
    const name = `${client.replace(/[^\w.-]+/g, "_")}-${Date.now()}.bin`;
    return { url: `${server.putOrigin}/${name}`, stored: join(server.putDir, "files", name) };
  }
  if (scenario.kind === "upload" || scenario.kind === "multipart")
    return { url: server.uploadOrigin + scenario.path };
  const served = scenario.kind === "download" || scenario.kind === "save";
  return { url: server.origin + (served ? `/download/${size}` : scenario.path) };
}

/** The file a run wrote (nginx's PUT sink, a client's saved download) must hold every byte. Removed either way. */
function checkStored(stored, size, result, who = "nginx") {
  if (!stored) return;
  let got = null;
  try {
    got = statSync(stored).size;
    rmSync(stored, { force: true });
  } catch {}
  if (!result.error && got !== size) result.error = `${who} stored ${got ?? "no file"} of ${size} bytes`;
}

async function runOne(scenario, client, size) {
  const { url, stored } = urlFor(scenario, client, size);
  const timeoutMs = timeoutFor(scenario);
  const filePath =
    scenario.kind === "upload" || scenario.kind === "multipart" ? join(tmpDir, "files", `${size}.bin`) : null;
  // save: the body goes to this file; checked for its size and removed after the run.
  const outPath =
    scenario.kind === "save" ? join(tmpDir, "out", `${client.replace(/[^\w.-]+/g, "_")}.bin`) : null;
  if (outPath) mkdirSync(dirname(outPath), { recursive: true });
  const before = await server.connections();
  const probe = cpuProbe(server.pids);
  let result;
  if (client === "go net/http") {
    if (!goClient) return { error: "go not installed (apt-get install -y golang-go)" };
    result = await runTimedCommand([goClient, scenario.kind, url, outPath ?? filePath], {
      cpu: clientCpu,
      timeoutMs,
    });
  } else if (client === "curl") {
    if (!which("curl")) return { error: "curl not installed (apt-get install -y curl)" };
    // Expect: disabled so curl does not wait for a 100 Continue the Node sink never sends.
    const base = ["curl", "-sS", "--fail", "-o", "/dev/null", "-H", "Expect:"];
    const argv =
      scenario.kind === "upload"
        ? [...base, "-T", filePath, url]
        : scenario.kind === "multipart"
          ? [...base, "-F", `file=@${filePath}`, url]
          : scenario.kind === "save"
            ? ["curl", "-sS", "--fail", "-o", outPath, url]
            : [...base, url];
    result = await runTimedCommand(argv, { cpu: clientCpu, timeoutMs });
  } else {
    const job = {
      kind: client === "node (idle)" ? "idle" : scenario.kind,
      client: client.replace(" (no zero-copy)", ""),
      outPath,
      url,
      method: scenario.method,
      headers: scenario.headers,
      body: scenario.body,
      bodyBytes: scenario.body?.length ?? 0,
      concurrency: scenario.concurrency ?? 1,
      expectBytes: scenario.expectBytes,
      warmupMs: opts.warmupMs,
      warmupCount: opts.count,
      durationMs: opts.durationMs,
      count: opts.count,
      filePath,
      size,
      pauseEveryBytes: 1024 * 1024,
      pauseMs: 1,
    };
    const env = client.endsWith("(no zero-copy)") ? { ROUNDTRIP_NO_ZEROCOPY: "1" } : {};
    const nodeArgs = args["cpu-prof"]
      ? [
          "--cpu-prof",
          `--cpu-prof-dir=${join(tmpDir, "profiles", scenario.id)}`,
          `--cpu-prof-name=${client.replace(/[^\w.-]+/g, "_")}-${Date.now()}.cpuprofile`,
        ]
      : [];
    result = await runNodeJob(job, { cpu: clientCpu, timeoutMs, env, nodeArgs });
  }
  if (client !== "node (idle)") checkStored(stored, size, result);
  if (outPath && client !== "node (idle)") checkStored(outPath, size, result, client);
  const timed = client === "curl" || client === "go net/http";
  const cpu = probe(timed ? result.cpuS : result.processCpuS);
  const after = await server.connections();
  result.connections = after - before;
  // Server CPU while the client was loading it (1.0 = a whole core: the server was the
  // bottleneck); background: cores' worth of other work on the machine during the run.
  const loadS = (result.loadMs ?? (result.wallS ?? 0) * 1000) / 1000;
  result.serverCpuS = cpu.serverCpuS;
  result.serverUtil = cpu.serverCpuS !== null && loadS > 0 ? cpu.serverCpuS / loadS : null;
  result.backgroundCores = cpu.backgroundCores;
  return result;
}

function brief(scenario, r) {
  if (r.error) return `ERROR ${r.error}`;
  if (scenario.kind === "rps") {
    return (
      `${Math.round(r.rps)} req/s, ${r.cpuUsPerReq.toFixed(1)} µs/req, p99 ${r.p99Us} µs, ` +
      `${Math.round(r.maxRssKiB / 1024)} MiB, ${r.connections} conns${load(r)}`
    );
  }
  return `${r.wallS?.toFixed(2) ?? "–"} s wall, ${r.cpuS?.toFixed(2) ?? "–"} s CPU, ${Math.round(r.maxRssKiB / 1024)} MiB${load(r)}`;
}

function load(r) {
  const pct = (x) => (typeof x === "number" ? `${Math.round(x * 100)}%` : "?");
  return `; server ${pct(r.serverUtil)} busy, background ${pct(r.backgroundCores)}`;
}

async function main() {
  let scenarios = selectScenarios();
  if (scenarios.length === 0) throw new Error("no scenario selected");
  mkdirSync(tmpDir, { recursive: true });

  const buildInfo = args["no-build"]
    ? { ok: true, distExists: existsSync(join(root, "dist", "index.js")), message: "skipped (--no-build)" }
    : build(root);
  log(buildInfo.message);

  if (args.congestion) {
    const before = congestionControl();
    restoreCongestion = setCongestionControl(args.congestion);
    log(`TCP congestion control: ${args.congestion} for this run (was ${before})`);
  }
  server = await startServer({ tmpDir, serverCpu, prefer: args.server });
  const unavailable = scenarios.filter((s) => s.sink === "nginx-put" && !server.putOrigin);
  if (unavailable.length > 0) {
    log(`skipping ${unavailable.map((s) => s.id).join(", ")}: needs nginx and /dev/shm`);
    scenarios = scenarios.filter((s) => !unavailable.includes(s));
  }
  if (scenarios.some((s) => s.clients.includes("go net/http")) && selectClients(["go net/http"]).length > 0)
    goClient = buildGoClient();
  log(
    `server: ${server.kind} ${server.version} at ${server.origin}${canPin ? " (server on cpu 1, clients on cpu 0)" : ""}`,
  );

  const meta = {
    date: new Date().toISOString(),
    quick,
    machine: machineInfo(),
    versions: versions(root),
    server: { kind: server.kind, version: server.description },
    pinning: canPin ? "server pinned to cpu 1, each client process to cpu 0 (taskset)" : "no CPU pinning",
    tcpCongestion: congestionControl(),
    build: buildInfo,
    ...opts,
  };
  const results = [];
  const markdown = [headerMarkdown(meta)];
  process.stdout.write(`\n${markdown[0]}\n`);

  for (const scenario of scenarios) {
    const size = scenario.size ? (quick ? Math.min(QUICK_SIZE, scenario.size) : scenario.size) : undefined;
    if (scenario.kind === "upload" || scenario.kind === "multipart")
      sparseFile(join(tmpDir, "files", `${size}.bin`), size);
    if (scenario.kind === "download" || scenario.kind === "save")
      sparseFile(join(server.files.dir, "download", String(size)), size);
    const clients = selectClients(scenario.clients);
    const rows = clients.map((client) => ({ client, runs: [] }));
    log(`\n== ${scenario.id}: ${scenario.title} (${clients.length} clients × ${opts.runs} runs)`);
    for (let run = 1; run <= opts.runs; run++) {
      for (const row of rows) {
        const r = await runOne(scenario, row.client, size);
        row.runs.push(r);
        log(`  [${run}/${opts.runs}] ${row.client.padEnd(34)} ${brief(scenario, r)}`);
      }
    }
    aggregate(scenario, rows);
    const { clients: _c, body: _b, ...desc } = scenario;
    results.push({ ...desc, size, rows });
    const md = scenarioMarkdown({ ...scenario, size }, rows);
    markdown.push(md);
    process.stdout.write(`\n${md}`);
  }

  mkdirSync(outDir, { recursive: true });
  const stamp = meta.date.replace(/:/g, "-").replace(/\..+$/, "");
  const jsonPath = join(outDir, `${stamp}${quick ? "-quick" : ""}.json`);
  writeFileSync(jsonPath, `${JSON.stringify({ ...meta, scenarios: results }, null, 2)}\n`);
  const mdPath = join(outDir, "latest.md");
  writeFileSync(mdPath, `${markdown.join("\n")}\nReproduce: \`npm run bench\` (see bench/README.md).\n`);
  log(`\nwrote ${jsonPath}\nwrote ${mdPath}`);
}

main().then(
  () => shutdown(0),
  (e) => {
    console.error(`bench failed: ${e?.stack ?? e}`);
    shutdown(1);
  },
);
