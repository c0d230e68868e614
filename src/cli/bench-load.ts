/**
 * The load loop of `roundtrip bench`, run on the main thread or, with --threads, once per
 * worker thread. A loop owns one Transport limited to its share of -c connections and
 * runs that many workers; each sends its next request when its last one is done (closed
 * loop), or, with -q, at the next slot of a fixed schedule (open loop).
 *
 * The schedule is global: slot g is due at start + g/rate, and loop k of n takes the slots
 * g ≡ k (mod n), so threads together keep the one rate. With -q a request's latency is
 * measured from its slot's time, not from when a worker got to it: a stall shows in the
 * percentiles instead of hiding as fewer requests (coordinated omission, as wrk2 corrects it).
 *
 * Per request it keeps only numbers: the Response's own timings (first byte, time waited
 * for a connection), its connection facts, and what a two-hook trace saw (attempts, a
 * new connection, TLS handshakes).
 */
import {
  type ClientTrace,
  isRoundtripError,
  type Response,
  Transport,
  type TransportOptions,
} from "../index.js";
import { BenchStats } from "./bench-stats.js";

/** What a loop needs, structured-clonable (it crosses into worker threads). */
export interface LoadSpec {
  url: string;
  method: string;
  headers: Array<[string, string]>;
  body: Uint8Array | undefined;
  /** Requests in the whole run; ignored with `duration`. */
  requests: number;
  /** ms; undefined to send `requests`. */
  duration: number | undefined;
  /** Total requests per second, or undefined (closed loop). */
  rate: number | undefined;
  timeout: number;
  http2: boolean;
  disableKeepAlive: boolean;
  insecure: boolean;
}

export interface Share {
  /** This loop's index among `of` loops (threads). */
  index: number;
  of: number;
  /** Workers (and connections) of this loop. */
  concurrency: number;
  /** When the run started, in ms since the epoch (performance.timeOrigin + now()). */
  startAt: number;
}

/** Absolute ms, comparable across threads (each has its own timeOrigin). */
export function absoluteNow(): number {
  return performance.timeOrigin + performance.now();
}

function transportFor(spec: LoadSpec, concurrency: number): Transport {
  const opts: TransportOptions = {
    maxConnsPerHost: concurrency,
    maxIdleConnsPerHost: concurrency,
    disableKeepAlives: spec.disableKeepAlive,
    allowHTTP2: spec.http2,
    responseHeaderTimeout: spec.timeout,
    bodyTimeout: spec.timeout,
    dialTimeout: spec.timeout,
  };
  if (spec.insecure) opts.tls = { rejectUnauthorized: false };
  return new Transport(opts);
}

/** Body bytes, read to the end: at once when small, chunk by chunk otherwise. */
async function readBody(res: Response): Promise<number> {
  if (res.contentLength >= 0 && res.contentLength <= 1 << 20) return (await res.bytes()).byteLength;
  let n = 0;
  for await (const chunk of res.body) n += chunk.byteLength;
  return n;
}

/**
 * A body that arrived whole with its head (the common small response): its connection is
 * already free and there is nothing to wait for, so it is counted and dropped without a
 * promise; null when it must be read.
 */
function arrivedWhole(res: Response): number | null {
  if (res.contentLength < 0 || res.body.received !== res.contentLength) return null;
  void res.close();
  return res.contentLength;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface LoadResult {
  stats: BenchStats;
  /** When the last response of this loop came, in absolute ms. */
  endAt: number;
}

/** Runs one loop's share; `stats` may be watched while it runs (live progress). */
export async function runLoad(spec: LoadSpec, share: Share, stats = new BenchStats()): Promise<LoadResult> {
  const transport = transportFor(spec, share.concurrency);
  const url = new URL(spec.url);
  const headers = spec.headers.length > 0 ? spec.headers : undefined;
  const body = spec.body === undefined ? undefined : Buffer.from(spec.body);
  // This thread's clock for the run's start: performance.now() values from here on.
  const t0 = share.startAt - performance.timeOrigin;
  const deadline = spec.duration === undefined ? Number.POSITIVE_INFINITY : t0 + spec.duration;
  const total = spec.duration === undefined ? spec.requests : Number.POSITIVE_INFINITY;
  const interval = spec.rate === undefined ? 0 : 1000 / spec.rate;
  // Global slot numbers of this loop: index, index + of, index + 2·of, …
  let next = share.index;

  /**
   * One worker: a request at a time, so its trace and counters are the request's. The
   * trace is made once per worker, not per request (it runs on every attempt).
   */
  const worker = async (): Promise<void> => {
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
    while (next < total) {
      const slot = next;
      next += share.of;
      let scheduled: number | null = null;
      if (interval > 0) {
        scheduled = t0 + slot * interval;
        const wait = scheduled - performance.now();
        if (wait > 0) await sleep(wait);
      }
      if (performance.now() >= deadline) return;
      attempts = 0;
      handshakes = 0;
      dialed = false;
      const sent = performance.now();
      const from = scheduled ?? sent;
      try {
        const res = await transport.roundTrip({ url, method: spec.method, headers, body, trace });
        const bytes = arrivedWhole(res) ?? (await readBody(res));
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
      }
      if (dialed) stats.dials++;
      stats.tlsHandshakes += handshakes;
      stats.retries += Math.max(0, attempts - 1);
    }
  };

  try {
    await Promise.all(Array.from({ length: share.concurrency }, worker));
  } finally {
    await transport.close();
  }
  return { stats, endAt: absoluteNow() };
}
