/**
 * `roundtrip bench URL`: load on the real Transport, with oha's and hey's flags. -c workers
 * share one Transport limited to -c connections; each sends its next request when its
 * last one is done (closed loop), or, with -q, at the next slot of a fixed schedule (open
 * loop). With -q a request's latency is measured from its scheduled time, not from when
 * a worker got to it, so a stall shows in the percentiles instead of hiding as fewer
 * requests (coordinated omission, as wrk2 corrects it).
 *
 * Per request it keeps only numbers: the Response's own timings (first byte, time waited
 * for a connection), its connection facts, and a gotConn count from a two-hook trace
 * (retries, dials, TLS handshakes).
 */
import { readFileSync } from "node:fs";
import {
  type ClientTrace,
  isRoundtripError,
  type Response,
  Transport,
  type TransportOptions,
} from "../index.js";
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
import { benchJSON, benchText } from "./bench-report.js";
import { BenchStats } from "./bench-stats.js";
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
  { key: "help", names: ["h", "help"] },
];

export interface BenchOptions {
  url: URL;
  /** Requests to send; ignored when `duration` is set. */
  requests: number;
  concurrency: number;
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

function transportFor(o: BenchOptions): Transport {
  const opts: TransportOptions = {
    maxConnsPerHost: o.concurrency,
    maxIdleConnsPerHost: o.concurrency,
    disableKeepAlives: o.disableKeepAlive,
    allowHTTP2: o.http2,
    responseHeaderTimeout: o.timeout,
    bodyTimeout: o.timeout,
    dialTimeout: o.timeout,
  };
  if (o.insecure) opts.tls = { rejectUnauthorized: false };
  return new Transport(opts);
}

/** Body bytes, read to the end: at once when small, chunk by chunk otherwise. */
async function readBody(res: Response): Promise<number> {
  if (res.contentLength >= 0 && res.contentLength <= 1 << 20) return (await res.bytes()).byteLength;
  let n = 0;
  for await (const chunk of res.body) n += chunk.byteLength;
  return n;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface BenchRun {
  stats: BenchStats;
  /** ms from the first send to the last response. */
  elapsed: number;
}

/** Runs the load; `onTick` is called about ten times a second with the stats so far. */
export async function bench(
  o: BenchOptions,
  onTick?: (stats: BenchStats, elapsed: number) => void,
): Promise<BenchRun> {
  const transport = transportFor(o);
  const stats = new BenchStats();
  const headers = o.headers.length > 0 ? o.headers : undefined;
  const url = o.url.href;
  const t0 = performance.now();
  const deadline = o.duration === undefined ? Number.POSITIVE_INFINITY : t0 + o.duration;
  const total = o.duration === undefined ? o.requests : Number.POSITIVE_INFINITY;
  const interval = o.rate === undefined ? 0 : 1000 / o.rate;
  let next = 0;
  const ticker = onTick ? setInterval(() => onTick(stats, performance.now() - t0), 100) : null;

  const one = async (scheduled: number | null): Promise<void> => {
    let attempts = 0;
    let handshakes = 0;
    let dialed = false;
    const trace: ClientTrace = {
      gotConn: (info) => {
        attempts++;
        if (!info.reused) dialed = true;
      },
      tlsHandshakeDone: () => {
        handshakes++;
      },
    };
    const sent = performance.now();
    const from = scheduled ?? sent;
    try {
      const res = await transport.roundTrip({ url, method: o.method, headers, body: o.body, trace });
      const bytes = await readBody(res);
      const done = performance.now();
      stats.responses++;
      stats.addStatus(res.status);
      stats.bytes += bytes;
      stats.latency.push(done - from);
      const t = res.timings;
      if (t.firstByte >= 0) stats.firstByte.push(t.firstByte + (sent - from));
      if (t.queued >= 0) stats.connWait.push(t.queued);
      if (res.conn.reused) stats.reused++;
    } catch (err) {
      stats.addError(
        isRoundtripError(err) ? `${err.code}: ${err.message}` : String((err as Error)?.message ?? err),
      );
    } finally {
      if (dialed) stats.dials++;
      stats.tlsHandshakes += handshakes;
      stats.retries += Math.max(0, attempts - 1);
    }
  };

  const worker = async (): Promise<void> => {
    while (next < total) {
      const slot = next++;
      let scheduled: number | null = null;
      if (interval > 0) {
        scheduled = t0 + slot * interval;
        const wait = scheduled - performance.now();
        if (wait > 0) await sleep(wait);
      }
      if (performance.now() >= deadline) return;
      await one(scheduled);
    }
  };

  try {
    await Promise.all(Array.from({ length: o.concurrency }, worker));
  } finally {
    if (ticker) clearInterval(ticker);
    await transport.close();
  }
  return { stats, elapsed: performance.now() - t0 };
}

export async function runBench(o: BenchOptions, s: Streams): Promise<number> {
  const live = o.progress && s.stderr.isTTY === true;
  const goal = o.duration === undefined ? `${o.requests} requests` : `${o.duration / 1000}s`;
  const tick = live
    ? (stats: BenchStats, elapsed: number) => {
        const rps = elapsed > 0 ? (stats.finished / elapsed) * 1000 : 0;
        s.stderr.write(
          `\r  ${stats.finished} done (goal ${goal})  ${rps.toFixed(0)} req/s  ${stats.failures} errors  ${(elapsed / 1000).toFixed(1)}s\x1b[K`,
        );
      }
    : undefined;
  const run = await bench(o, tick);
  if (live) s.stderr.write("\r\x1b[K");
  if (o.json) s.stdout.write(`${JSON.stringify(benchJSON(run, o), null, 2)}\n`);
  else s.stdout.write(benchText(run, o, paletteFor(s.stdout, s.env)));
  return run.stats.responses > 0 ? EXIT.ok : EXIT.error;
}
