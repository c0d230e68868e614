// One measured run of one client, in a fresh process (spawned by bench/run.mjs, pinned to
// the client core). Reads its job from BENCH_JOB (JSON), prints one line
// "BENCH_RESULT <json>" on stdout and exits. Any failure is reported as { error }, never
// as a number.

import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { loadVariant } from "../clients/index.mjs";
import { Histogram } from "./stats.mjs";

const job = JSON.parse(process.env.BENCH_JOB ?? "{}");

function report(result) {
  const ru = process.resourceUsage();
  // maxRSS is the process's peak resident set in KiB (getrusage ru_maxrss), warm-up included.
  // processCpuS: the whole process's CPU (start-up included), for the runner's accounting.
  const processCpuS = (ru.userCPUTime + ru.systemCPUTime) / 1e6;
  process.stdout.write(`BENCH_RESULT ${JSON.stringify({ ...result, maxRssKiB: ru.maxRSS, processCpuS })}\n`);
}

function errorText(e) {
  const cause = e?.cause ? ` (cause: ${e.cause.code ?? e.cause.message ?? e.cause})` : "";
  return `${e?.code ? `${e.code}: ` : ""}${e?.message ?? e}${cause}`.slice(0, 300);
}

/**
 * Keeps `concurrency` requests in flight until `maxCount` requests have been issued or
 * `maxMs` has passed, then waits for the ones in flight. Stops at the first error.
 */
function phase(adapter, concurrency, maxCount, maxMs, hist) {
  return new Promise((resolve) => {
    const start = performance.now();
    const deadline = start + maxMs;
    let issued = 0;
    let done = 0;
    let inflight = 0;
    let error = null;
    const lane = () => {
      if (error || issued >= maxCount || performance.now() >= deadline) {
        if (inflight === 0) resolve({ done, error, ms: performance.now() - start });
        return;
      }
      issued++;
      inflight++;
      const t0 = performance.now();
      let called = false;
      const cb = (err) => {
        if (called) return; // a client calling back twice must not skew the count
        called = true;
        inflight--;
        if (err) error ??= err;
        else {
          done++;
          if (hist) hist.record(performance.now() - t0);
        }
        lane();
      };
      try {
        adapter.send(cb);
      } catch (e) {
        // A synchronous throw is an error of this request like any other.
        queueMicrotask(() => cb(e ?? new Error("send threw")));
      }
    };
    for (let i = 0; i < concurrency; i++) lane();
  });
}

async function rps() {
  const { variant } = await loadVariant(job.client);
  if (!variant.rps) throw new Error(`${job.client} has no request/response adapter`);
  const body = job.bodyBytes ? Buffer.from(job.body, "latin1") : null;
  const ctx = {
    url: job.url,
    origin: new URL(job.url).origin,
    method: job.method,
    body,
    headers: job.headers ?? {},
    concurrency: job.concurrency,
    expectBytes: job.expectBytes,
  };
  const adapter = await variant.rps(ctx);
  const warm = await phase(adapter, job.concurrency, job.warmupCount, job.warmupMs, null);
  if (warm.error) throw warm.error;
  const hist = new Histogram();
  const cpu0 = process.cpuUsage();
  const run = await phase(adapter, job.concurrency, job.count, job.durationMs, hist);
  const cpu = process.cpuUsage(cpu0);
  if (run.error) throw run.error;
  await Promise.race([adapter.close(), sleep(2000)]);
  const cpuUs = cpu.user + cpu.system;
  return {
    requests: run.done,
    ms: run.ms,
    rps: (run.done * 1000) / run.ms,
    cpuUsPerReq: cpuUs / run.done,
    cpuUtil: cpuUs / 1000 / run.ms,
    p50Us: hist.percentile(50),
    p99Us: hist.percentile(99),
    warmupRequests: warm.done,
    loadMs: warm.ms + run.ms,
  };
}

/** upload / multipart / download / save: one request, timed from the call to the reply read (save: to the file closed). */
async function single(kind) {
  const { variant, mod } = await loadVariant(job.client);
  if (!variant[kind]) throw new Error(`${job.client} has no ${kind} adapter`);
  let consumed = 0;
  let nextPause = job.pauseEveryBytes;
  const consume = (chunk) => {
    consumed += chunk.length;
    // The slow-ish consumer: a 1 ms pause every pauseEveryBytes, so the producer must wait
    // and a client without backpressure buffers the difference.
    if (job.pauseEveryBytes && consumed >= nextPause) {
      nextPause += job.pauseEveryBytes;
      return sleep(job.pauseMs);
    }
    return undefined;
  };
  const ctx = {
    url: job.url,
    filePath: job.filePath,
    outPath: job.outPath,
    size: job.size,
    consume,
    concurrency: 1,
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const reply = await variant[kind](ctx);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (kind === "download" && consumed !== job.size)
    throw new Error(`downloaded ${consumed} of ${job.size} bytes`);
  // The Node sink answers {"bytes":N}; nginx's answers {"ok":true} after reading it all.
  const m = typeof reply === "string" ? /"bytes":(\d+)/.exec(reply) : null;
  if (m && kind === "upload" && Number(m[1]) !== job.size)
    throw new Error(`server received ${m[1]} of ${job.size} bytes`);
  const extra = typeof mod.describe === "function" ? await mod.describe().catch(() => null) : null;
  return {
    loadMs: ms,
    wallS: ms / 1000,
    cpuS: (cpu.user + cpu.system) / 1e6,
    serverBytes: m ? Number(m[1]) : null,
    extra,
  };
}

try {
  let result;
  if (job.kind === "rps") result = await rps();
  else if (job.kind === "idle") result = {};
  else result = await single(job.kind);
  report(result);
  process.exit(0);
} catch (e) {
  report({ error: errorText(e) });
  process.exit(0);
}
