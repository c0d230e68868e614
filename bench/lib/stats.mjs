// Small statistics helpers shared by the child harness and the runner.

/**
 * Latency histogram with 1 µs buckets up to 100 ms plus one overflow bucket.
 * A fixed histogram instead of a sample array keeps the harness's own memory small and
 * constant, so it does not distort the client's peak RSS, whatever the request count.
 */
export class Histogram {
  constructor(maxMicros = 100_000) {
    this.max = maxMicros;
    this.buckets = new Uint32Array(maxMicros + 1);
    this.count = 0;
  }

  /** Records one latency given in milliseconds (performance.now() units). */
  record(ms) {
    let us = Math.round(ms * 1000);
    if (us > this.max) us = this.max;
    this.buckets[us]++;
    this.count++;
  }

  /** Returns the p-th percentile (0..100) in microseconds; `max` means "at least max". */
  percentile(p) {
    if (this.count === 0) return null;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i];
      if (seen >= rank) return i;
    }
    return this.max;
  }
}

export function median(values) {
  const v = values.filter((x) => typeof x === "number" && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Median with the min–max spread of a list of numbers (nulls ignored). */
export function summarize(values) {
  const v = values.filter((x) => typeof x === "number" && Number.isFinite(x));
  if (v.length === 0) return null;
  return { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length };
}
