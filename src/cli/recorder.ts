/**
 * Records one exchange as the trace hooks tell it: hops (one per transport.roundTrip, so
 * one per redirect), and within a hop the attempts (one per getConn/gotConn: the
 * transport's own retry of a request whose reused connection died). Every moment is in
 * ms since the exchange started, on one clock (performance.now()).
 *
 * It sits between the Client and the Transport as a RoundTripper, which is where a hop
 * begins and ends; the trace it hands out routes each hook to the hop in flight. Hops
 * are sequential in a CLI exchange, so "the hop in flight" is always the last one.
 *
 * Retries: a hop's attempts minus one (the Transport's own retries and those of a retry()
 * below this recorder each reach gotConn), or the response's `retries` count when larger.
 */
import type { ClientTrace, Response, RoundTripper, TransportRequest } from "../index.js";

export interface ConnectRecord {
  addr: string;
  start: number;
  done?: number;
  error?: string;
}

export interface TLSRecord {
  start: number;
  done?: number;
  alpn?: string;
  error?: string;
}

export interface AttemptRecord {
  getConn: number;
  hostPort: string;
  dnsStart?: number;
  dnsDone?: number;
  addresses?: string[];
  dnsError?: string;
  connects: ConnectRecord[];
  tls: TLSRecord[];
  gotConn?: { at: number; reused: boolean; wasIdle: boolean; idleTime: number };
  /** The request head as written, field by field (pseudo-headers too on HTTP/2). */
  fields: Array<[string, string]>;
  wroteHeaders?: number;
  wait100?: number;
  got100?: number;
  informational: Array<{ code: number; at: number }>;
  firstByte?: number;
  wroteRequest?: number;
  writeError?: string;
}

export interface HopRecord {
  method: string;
  url: string;
  start: number;
  attempts: AttemptRecord[];
  /** The response head arrived (the final hop's body may still be arriving). */
  response?: Response;
  headAt?: number;
  /** The body was read to its end, or (a redirect) had fully arrived. */
  end?: number;
  /** Body bytes received (after decoding), counted by the reader. */
  received: number;
  /** Request body bytes sent, from the upload progress. */
  sent: number;
  error?: unknown;
}

export class ExchangeRecorder {
  readonly #t0 = performance.now();
  readonly hops: HopRecord[] = [];
  /** Called with upload progress of the hop in flight (the progress bar). */
  onUpload: ((loaded: number, total: number | null) => void) | null = null;

  now(): number {
    return performance.now() - this.#t0;
  }

  /** A RoundTripper that records each hop and hands it to `next`. */
  wrap(next: RoundTripper): RoundTripper {
    return {
      roundTrip: async (req: TransportRequest): Promise<Response> => {
        const prev = this.hops[this.hops.length - 1];
        const start = this.now();
        // A redirect: its response ended when the transport says it had fully arrived
        // (same origin as prev.start), or at the latest when this hop began.
        if (prev !== undefined && prev.end === undefined) {
          const arrived = prev.response?.timings.end ?? -1;
          prev.end = arrived >= 0 ? Math.min(start, prev.start + arrived) : start;
        }
        const hop: HopRecord = {
          method: (req.method ?? "GET").toUpperCase(),
          url: String(req.url),
          start,
          attempts: [],
          received: 0,
          sent: 0,
        };
        this.hops.push(hop);
        const caller = req.onUploadProgress;
        const withProgress: TransportRequest = {
          ...req,
          onUploadProgress: (p) => {
            hop.sent = p.loaded;
            this.onUpload?.(p.loaded, p.total);
            caller?.(p);
          },
        };
        try {
          const res = await next.roundTrip(withProgress);
          hop.response = res;
          hop.headAt = this.now();
          return res;
        } catch (err) {
          hop.error = err;
          hop.end = this.now();
          throw err;
        }
      },
    };
  }

  /** The attempt in flight: hooks fire only while a hop is. */
  #attempt(): AttemptRecord | undefined {
    const hop = this.hops[this.hops.length - 1];
    return hop?.attempts[hop.attempts.length - 1];
  }

  /** DNS done by a custom dial (-4/-6), which the transport's hooks cannot see. */
  noteLookup(start: number, done: number, addresses: string[], err?: Error): void {
    const a = this.#attempt();
    if (a === undefined) return;
    a.dnsStart = start;
    a.dnsDone = done;
    a.addresses = addresses;
    if (err) a.dnsError = err.message;
  }

  readonly trace: ClientTrace = {
    getConn: (hostPort) => {
      const hop = this.hops[this.hops.length - 1];
      hop?.attempts.push({
        getConn: this.now(),
        hostPort,
        connects: [],
        tls: [],
        fields: [],
        informational: [],
      });
    },
    dnsStart: () => {
      const a = this.#attempt();
      if (a) a.dnsStart = this.now();
    },
    dnsDone: (info) => {
      const a = this.#attempt();
      if (!a) return;
      a.dnsDone = this.now();
      a.addresses = info.addresses;
      if (info.err) a.dnsError = info.err.message;
    },
    connectStart: (_network, addr) => {
      this.#attempt()?.connects.push({ addr, start: this.now() });
    },
    connectDone: (_network, addr, err) => {
      const a = this.#attempt();
      const c = a?.connects.findLast((x) => x.addr === addr && x.done === undefined);
      if (!c) return;
      c.done = this.now();
      if (err) c.error = err.message;
    },
    tlsHandshakeStart: () => {
      this.#attempt()?.tls.push({ start: this.now() });
    },
    tlsHandshakeDone: (info) => {
      const t = this.#attempt()?.tls.findLast((x) => x.done === undefined);
      if (!t) return;
      t.done = this.now();
      if (info.alpnProtocol) t.alpn = info.alpnProtocol;
      if (info.err) t.error = info.err.message;
    },
    gotConn: (info) => {
      const a = this.#attempt();
      if (a) a.gotConn = { at: this.now(), ...info };
    },
    wroteHeaderField: (key, values) => {
      const a = this.#attempt();
      if (a) for (const v of values) a.fields.push([key, v]);
    },
    wroteHeaders: () => {
      const a = this.#attempt();
      if (a) a.wroteHeaders = this.now();
    },
    wait100Continue: () => {
      const a = this.#attempt();
      if (a) a.wait100 = this.now();
    },
    got100Continue: () => {
      const a = this.#attempt();
      if (a) a.got100 = this.now();
    },
    got1xxResponse: (code) => {
      this.#attempt()?.informational.push({ code, at: this.now() });
    },
    gotFirstResponseByte: () => {
      const a = this.#attempt();
      if (a && a.firstByte === undefined) a.firstByte = this.now();
    },
    wroteRequest: (info) => {
      const a = this.#attempt();
      if (!a) return;
      a.wroteRequest = this.now();
      if (info.err) a.writeError = info.err.message;
    },
  };
}

/**
 * Resends within a hop. Today the transport's own retry is the only one, seen as a
 * second gotConn; a retry middleware's Response will say how many it made.
 */
export function retriesOf(hop: HopRecord): number {
  // The Transport's own retries (a reused connection that died) show as one gotConn per
  // attempt; retry()'s count is on the response. Each attempt of either reaches gotConn.
  const own = (hop.response as (Response & { retries?: number }) | undefined)?.retries ?? 0;
  return Math.max(own, hop.attempts.filter((a) => a.gotConn !== undefined).length - 1);
}
