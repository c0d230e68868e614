/**
 * A bench run's report: text laid out as oha prints it, or JSON in oha's shape (times in
 * seconds) with a `pool` section for what load tools do not report — dials, TLS
 * handshakes, reuse, time waited for a connection, retries.
 */
import type { BenchOptions, BenchRun } from "./bench.js";
import { PERCENTILES, type Samples } from "./bench-stats.js";
import { formatBytes, formatMs, type Palette } from "./style.js";

const sec = (ms: number): number => (Number.isNaN(ms) ? Number.NaN : ms / 1000);

function percentileMap(samples: Samples): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of PERCENTILES) out[`p${p}`] = sec(samples.percentile(p));
  return out;
}

function sortedCounts<K>(m: Map<K, number>): Array<[K, number]> {
  return [...m].sort((a, b) => b[1] - a[1]);
}

export function benchJSON(run: BenchRun, o: BenchOptions) {
  const s = run.stats;
  const total = run.elapsed / 1000;
  const n = s.finished;
  return {
    summary: {
      successRate: n === 0 ? 0 : s.responses / n,
      total,
      slowest: sec(s.latency.max),
      fastest: sec(s.latency.min),
      average: sec(s.latency.mean),
      requestsPerSec: total > 0 ? n / total : 0,
      totalData: s.bytes,
      sizePerRequest: s.responses > 0 ? Math.round(s.bytes / s.responses) : null,
      sizePerSec: total > 0 ? s.bytes / total : 0,
    },
    latencyPercentiles: percentileMap(s.latency),
    firstBytePercentiles: percentileMap(s.firstByte),
    statusCodeDistribution: Object.fromEntries(sortedCounts(s.statuses).map(([k, v]) => [String(k), v])),
    errorDistribution: Object.fromEntries(sortedCounts(s.errors)),
    pool: {
      connections: o.concurrency,
      threads: o.threads,
      dials: s.dials,
      tlsHandshakes: s.tlsHandshakes,
      reused: s.reused,
      reuseRatio: s.responses > 0 ? s.reused / s.responses : 0,
      connWait: {
        average: sec(s.connWait.mean),
        p99: sec(s.connWait.percentile(99)),
        slowest: sec(s.connWait.max),
        total: sec(s.connWait.sum),
      },
      retries: s.retries,
    },
    // With -q, latencies are measured from each request's scheduled send time.
    rate: o.rate ?? null,
  };
}

const fmt = (ms: number): string => (Number.isNaN(ms) ? "-" : formatMs(ms));

export function benchText(run: BenchRun, o: BenchOptions, p: Palette): string {
  const s = run.stats;
  const n = s.finished;
  const secs = run.elapsed / 1000;
  const rate = n === 0 ? 100 : (100 * s.responses) / n;
  const color = rate >= 100 ? p.green : rate >= 99 ? p.yellow : p.red;
  const L: string[] = [];
  L.push(p.bold("Summary:"));
  L.push(color(`  Success rate:  ${rate.toFixed(2)}%`));
  L.push(`  Total:         ${secs.toFixed(4)} s`);
  L.push(
    `  Requests:      ${n}${o.rate ? ` (scheduled at ${o.rate}/s; latency from the scheduled time)` : ""}`,
  );
  L.push(`  Requests/sec:  ${p.cyan((secs > 0 ? n / secs : 0).toFixed(1))}`);
  L.push(`  Slowest:       ${fmt(s.latency.max)}`);
  L.push(`  Fastest:       ${fmt(s.latency.min)}`);
  L.push(`  Average:       ${fmt(s.latency.mean)}`);
  L.push(`  Total data:    ${formatBytes(s.bytes)}`);
  if (s.responses > 0) L.push(`  Size/request:  ${formatBytes(Math.round(s.bytes / s.responses))}`);
  L.push(`  Size/sec:      ${formatBytes(Math.round(secs > 0 ? s.bytes / secs : 0))}`);
  L.push("");
  L.push(`${p.bold("Latency distribution:")}   ${"total".padStart(10)}   ${"first byte".padStart(10)}`);
  for (const q of [50, 75, 90, 95, 99, 99.9] as const) {
    L.push(
      `  p${String(q).padEnd(20)}   ${fmt(s.latency.percentile(q)).padStart(10)}   ${fmt(s.firstByte.percentile(q)).padStart(10)}`,
    );
  }
  L.push(`  ${"max".padEnd(21)}   ${fmt(s.latency.max).padStart(10)}   ${fmt(s.firstByte.max).padStart(10)}`);
  L.push("");
  L.push(p.bold("Status code distribution:"));
  for (const [status, count] of sortedCounts(s.statuses)) {
    const c = status < 300 ? p.green : status < 400 ? p.yellow : p.red;
    L.push(c(`  [${status}] ${count} responses`));
  }
  if (s.errors.size > 0) {
    L.push("");
    L.push(p.bold("Error distribution:"));
    for (const [message, count] of sortedCounts(s.errors)) L.push(p.red(`  [${count}] ${message}`));
  }
  L.push("");
  L.push(p.bold("Pool:"));
  const threads = o.threads > 1 ? `, ${o.threads} threads` : "";
  L.push(`  Dials:         ${s.dials} (TLS handshakes: ${s.tlsHandshakes}; -c ${o.concurrency}${threads})`);
  const reuse = s.responses > 0 ? (100 * s.reused) / s.responses : 0;
  L.push(
    `  Reuse:         ${reuse.toFixed(2)}% (${s.reused} of ${s.responses} responses on a reused connection)`,
  );
  L.push(
    `  Conn wait:     avg ${fmt(s.connWait.mean)}, p99 ${fmt(s.connWait.percentile(99))}, max ${fmt(s.connWait.max)}, total ${fmt(s.connWait.sum)}`,
  );
  L.push(`  Retries:       ${s.retries}`);
  return `${L.join("\n")}\n`;
}
