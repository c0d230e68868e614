/**
 * `roundtrip bench URL`: load on the real Transport, with oha's and hey's flags, and the
 * report (bench-report.ts). This file reads the flags and runs the load loop
 * (bench-load.ts) on this thread, or split across --threads worker threads whose stats
 * are merged at the end.
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import {
  all,
  duration,
  type FlagSpec,
  has,
  last,
  nonNegativeInt,
  parseArgs,
  seconds,
  UsageError,
} from "./args.js";
import { absoluteNow, type LoadSpec, runLoad } from "./bench-load.js";
import { benchJSON, benchText } from "./bench-report.js";
import { BenchStats } from "./bench-stats.js";
import type { FromThread, ToThread } from "./bench-thread.js";
import { EXIT } from "./exit-codes.js";
import type { Streams } from "./request.js";
import { paletteFor } from "./style.js";
import { expandURL } from "./target.js";

const BENCH_FLAGS: FlagSpec[] = [
  { key: "requests", names: ["n", "requests"], value: true },
  { key: "concurrency", names: ["c", "connections"], value: true },
  { key: "duration", names: ["z", "duration"], value: true },
  { key: "rate", names: ["q", "rate"], value: true },
  { key: "method", names: ["m", "method", "X"], value: true },
  { key: "header", names: ["H", "header"], value: true },
  { key: "data", names: ["d", "data"], value: true },
  { key: "timeout", names: ["t", "timeout"], value: true },
  { key: "http2", names: ["http2"] },
  { key: "disableKeepalive", names: ["disable-keepalive"] },
  { key: "insecure", names: ["k", "insecure"] },
  { key: "json", names: ["json"] },
  { key: "noProgress", names: ["no-progress"] },
  { key: "threads", names: ["threads"], value: true },
  { key: "help", names: ["h", "help"] },
];

export interface BenchOptions {
  url: URL;
  /** Requests to send; ignored when `duration` is set. */
  requests: number;
  concurrency: number;
  /** Worker threads sharing -c and -n (and -q's schedule). Default 1: this thread. */
  threads: number;
  /** ms to run for, or undefined to send `requests`. */
  duration: number | undefined;
  /** Total requests per second, or undefined for as fast as the workers go. */
  rate: number | undefined;
  method: string;
  headers: Array<[string, string]>;
  body: Buffer | undefined;
  /** ms for the response head and for each stall of the body; 0 = none. */
  timeout: number;
  http2: boolean;
  disableKeepAlive: boolean;
  insecure: boolean;
  json: boolean;
  progress: boolean;
}

export function parseBenchCommand(
  argv: readonly string[],
): { kind: "help" } | { kind: "bench"; options: BenchOptions } {
  const args = parseArgs(argv, BENCH_FLAGS);
  if (has(args, "help")) return { kind: "help" };
  if (args.positionals.length !== 1) throw new UsageError("bench takes one URL");
  const concurrency = nonNegativeInt(last(args, "concurrency"), "-c") ?? 50;
  if (concurrency < 1) throw new UsageError("-c must be at least 1");
  const requests = nonNegativeInt(last(args, "requests"), "-n") ?? 200;
  const threads = nonNegativeInt(last(args, "threads"), "--threads") ?? 1;
  if (threads < 1 || threads > Math.max(availableParallelism(), 64)) {
    throw new UsageError(`--threads must be between 1 and ${Math.max(availableParallelism(), 64)}`);
  }
  if (concurrency < threads)
    throw new UsageError("-c must be at least --threads (each thread needs a connection)");
  const rateArg = last(args, "rate");
  let rate: number | undefined;
  if (rateArg !== undefined) {
    rate = Number(rateArg);
    if (!Number.isFinite(rate) || rate <= 0)
      throw new UsageError(`-q wants requests per second > 0, got ${rateArg}`);
  }
  const headers: Array<[string, string]> = all(args, "header").map((h) => {
    const i = h.indexOf(":");
    if (i <= 0) throw new UsageError(`-H wants "Name: value", got ${JSON.stringify(h)}`);
    return [h.slice(0, i).trim(), h.slice(i + 1).trim()];
  });
  const data = last(args, "data");
  let body: Buffer | undefined;
  if (data !== undefined) {
    try {
      body = data.startsWith("@") ? readFileSync(data.slice(1)) : Buffer.from(data, "utf8");
    } catch (err) {
      throw new UsageError(`cannot read ${data.slice(1)}: ${(err as NodeJS.ErrnoException).code}`);
    }
  }
  return {
    kind: "bench",
    options: {
      url: expandURL(args.positionals[0]!),
      requests,
      concurrency,
      threads,
      duration: duration(last(args, "duration"), "-z"),
      rate,
      method: (last(args, "method") ?? (body ? "POST" : "GET")).toUpperCase(),
      headers,
      body,
      timeout: seconds(last(args, "timeout"), "-t") ?? 20_000,
      http2: has(args, "http2"),
      disableKeepAlive: has(args, "disableKeepalive"),
      insecure: has(args, "insecure"),
      json: has(args, "json"),
      progress: !has(args, "noProgress"),
    },
  };
}

export interface BenchRun {
  stats: BenchStats;
  /** ms from the start to the last response. */
  elapsed: number;
}

function specOf(o: BenchOptions): LoadSpec {
  return {
    url: o.url.href,
    method: o.method,
    headers: o.headers,
    body: o.body,
    requests: o.requests,
    duration: o.duration,
    rate: o.rate,
    timeout: o.timeout,
    http2: o.http2,
    disableKeepAlive: o.disableKeepAlive,
    insecure: o.insecure,
  };
}

/** -c split over the threads as evenly as it goes. */
function concurrencyOf(o: BenchOptions, index: number): number {
  return Math.floor(o.concurrency / o.threads) + (index < o.concurrency % o.threads ? 1 : 0);
}

/** Runs the load; `onTick` is called about ten times a second with (finished, failures, elapsed). */
export async function bench(
  o: BenchOptions,
  onTick?: (finished: number, failures: number, elapsed: number) => void,
): Promise<BenchRun> {
  const spec = specOf(o);
  if (o.threads === 1) {
    const stats = new BenchStats();
    const startAt = absoluteNow();
    const ticker = onTick
      ? setInterval(() => onTick(stats.finished, stats.failures, absoluteNow() - startAt), 100)
      : null;
    try {
      const { endAt } = await runLoad(spec, { index: 0, of: 1, concurrency: o.concurrency, startAt }, stats);
      return { stats, elapsed: endAt - startAt };
    } finally {
      if (ticker) clearInterval(ticker);
    }
  }
  return benchThreads(o, spec, onTick);
}

async function benchThreads(
  o: BenchOptions,
  spec: LoadSpec,
  onTick?: (finished: number, failures: number, elapsed: number) => void,
): Promise<BenchRun> {
  const entry = new URL("./bench-thread.js", import.meta.url);
  const progress = Array.from({ length: o.threads }, () => ({ finished: 0, failures: 0 }));
  const workers = progress.map(
    (_, index) =>
      new Worker(entry, {
        workerData: { spec, share: { index, of: o.threads, concurrency: concurrencyOf(o, index) } },
      }),
  );
  const results = workers.map(
    (w, i) =>
      new Promise<{ stats: FromThread & { kind: "done" } }>((resolve, reject) => {
        w.on("message", (m: FromThread) => {
          if (m.kind === "tick") progress[i] = m;
          else if (m.kind === "done") resolve({ stats: m });
        });
        w.once("error", reject);
        w.once("exit", (code) => reject(new Error(`bench thread ${i} exited with code ${code}`)));
      }),
  );
  // Go once every thread has loaded: the schedule must not start while they still do.
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve, reject) => {
          const onReady = (m: FromThread) => {
            if (m.kind !== "ready") return;
            w.off("message", onReady);
            resolve();
          };
          w.on("message", onReady);
          w.once("error", reject);
        }),
    ),
  );
  const startAt = absoluteNow();
  for (const w of workers) w.postMessage({ kind: "go", startAt } satisfies ToThread);
  const ticker = onTick
    ? setInterval(() => {
        const finished = progress.reduce((n, p) => n + p.finished, 0);
        const failures = progress.reduce((n, p) => n + p.failures, 0);
        onTick(finished, failures, absoluteNow() - startAt);
      }, 100)
    : null;
  try {
    const done = await Promise.all(results);
    const stats = new BenchStats();
    let endAt = startAt;
    for (const { stats: d } of done) {
      stats.merge(d.stats);
      endAt = Math.max(endAt, d.endAt);
    }
    return { stats, elapsed: endAt - startAt };
  } finally {
    if (ticker) clearInterval(ticker);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

export async function runBench(o: BenchOptions, s: Streams): Promise<number> {
  const live = o.progress && s.stderr.isTTY === true;
  const goal = o.duration === undefined ? `${o.requests} requests` : `${o.duration / 1000}s`;
  const tick = live
    ? (finished: number, failures: number, elapsed: number) => {
        const rps = elapsed > 0 ? (finished / elapsed) * 1000 : 0;
        s.stderr.write(
          `\r  ${finished} done (goal ${goal})  ${rps.toFixed(0)} req/s  ${failures} errors  ${(elapsed / 1000).toFixed(1)}s\x1b[K`,
        );
      }
    : undefined;
  const run = await bench(o, tick);
  if (live) s.stderr.write("\r\x1b[K");
  if (o.json) s.stdout.write(`${JSON.stringify(benchJSON(run, o), null, 2)}\n`);
  else s.stdout.write(benchText(run, o, paletteFor(s.stdout, s.env)));
  return run.stats.responses > 0 ? EXIT.ok : EXIT.error;
}
