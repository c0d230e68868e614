/**
 * What a bench run collects, in constant work per request: latency samples in a growable
 * Float64Array, counts by status and by error, and the pool facts (dials, TLS handshakes,
 * reuse, time waited for a connection, retries). Percentiles are computed once at the end
 * by sorting, with oha's rule (the sample at index ⌊p/100 · n⌋).
 */

export const PERCENTILES = [10, 25, 50, 75, 90, 95, 99, 99.9, 99.99] as const;

export class Samples {
  #data = new Float64Array(1024);
  #n = 0;
  #sorted: Float64Array | null = null;

  get count(): number {
    return this.#n;
  }

  /** The samples so far (a copy). */
  values(): Float64Array {
    return this.#data.slice(0, this.#n);
  }

  pushAll(values: Float64Array): void {
    for (const v of values) this.push(v);
  }

  push(v: number): void {
    if (this.#n === this.#data.length) {
      const bigger = new Float64Array(this.#data.length * 2);
      bigger.set(this.#data);
      this.#data = bigger;
    }
    this.#data[this.#n++] = v;
    this.#sorted = null;
  }

  #sort(): Float64Array {
    this.#sorted ??= this.#data.slice(0, this.#n).sort();
    return this.#sorted;
  }

  /** The p-th percentile (0 < p < 100); NaN without samples. */
  percentile(p: number): number {
    const s = this.#sort();
    if (s.length === 0) return Number.NaN;
    return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
  }

  get min(): number {
    return this.#n === 0 ? Number.NaN : this.#sort()[0]!;
  }

  get max(): number {
    return this.#n === 0 ? Number.NaN : this.#sort()[this.#n - 1]!;
  }

  get sum(): number {
    let t = 0;
    for (let i = 0; i < this.#n; i++) t += this.#data[i]!;
    return t;
  }

  get mean(): number {
    return this.#n === 0 ? Number.NaN : this.sum / this.#n;
  }
}

export interface StatsSnapshot {
  latency: Float64Array;
  firstByte: Float64Array;
  connWait: Float64Array;
  statuses: Array<[number, number]>;
  errors: Array<[string, number]>;
  /** responses, failures, bytes, dials, tlsHandshakes, reused, retries. */
  counters: [number, number, number, number, number, number, number];
}

export class BenchStats {
  /** ms, per finished request: from its send (or its scheduled time with -q) to its body's end. */
  readonly latency = new Samples();
  /** ms from the same origin to the first response byte. */
  readonly firstByte = new Samples();
  /** ms each request waited for a connection (Response.timings.queued). */
  readonly connWait = new Samples();
  readonly statuses = new Map<number, number>();
  readonly errors = new Map<string, number>();
  /** Responses received (any status): oha's "success". */
  responses = 0;
  failures = 0;
  /** Body bytes received. */
  bytes = 0;
  /** New connections handed to a request (gotConn with reused false). */
  dials = 0;
  tlsHandshakes = 0;
  /** Responses that came on a reused connection. */
  reused = 0;
  /** Resends beyond the first attempt (a second gotConn in one request). */
  retries = 0;

  get finished(): number {
    return this.responses + this.failures;
  }

  /** Everything, as plain data that can be posted from a worker thread. */
  snapshot(): StatsSnapshot {
    return {
      latency: this.latency.values(),
      firstByte: this.firstByte.values(),
      connWait: this.connWait.values(),
      statuses: [...this.statuses],
      errors: [...this.errors],
      counters: [
        this.responses,
        this.failures,
        this.bytes,
        this.dials,
        this.tlsHandshakes,
        this.reused,
        this.retries,
      ],
    };
  }

  /** Adds another loop's snapshot to these stats. */
  merge(s: StatsSnapshot): void {
    this.latency.pushAll(s.latency);
    this.firstByte.pushAll(s.firstByte);
    this.connWait.pushAll(s.connWait);
    for (const [k, v] of s.statuses) this.statuses.set(k, (this.statuses.get(k) ?? 0) + v);
    for (const [k, v] of s.errors) this.errors.set(k, (this.errors.get(k) ?? 0) + v);
    const [responses, failures, bytes, dials, tls, reused, retries] = s.counters;
    this.responses += responses;
    this.failures += failures;
    this.bytes += bytes;
    this.dials += dials;
    this.tlsHandshakes += tls;
    this.reused += reused;
    this.retries += retries;
  }

  addStatus(status: number): void {
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
  }

  addError(message: string): void {
    this.failures++;
    this.errors.set(message, (this.errors.get(message) ?? 0) + 1);
  }
}
