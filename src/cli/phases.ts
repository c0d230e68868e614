/**
 * The phases of one hop, computed once from its record for everything that shows time
 * (the --timings waterfall, -w's curl variables, --format json): durations of what
 * happened, null for what did not (no DNS for an IP literal, no dial on a reused
 * connection, no TLS over http), and moments in ms since the hop began.
 *
 * Phases follow the last attempt; time spent in earlier failed attempts is `retry`. The
 * spans are contiguous (each starts where the previous one ended), as httpstat draws
 * curl's marks, so they add up to the hop's total:
 *
 *   retry      hop start → getConn of the last attempt (only when there were retries)
 *   wait       → the transport started the dial or handed over a pooled connection
 *   dns        → name resolved (names only, new connections)
 *   connect    → TCP connected (to the proxy when there is one)
 *   tunnel     → proxy handshake done: CONNECT or SOCKS (and TLS to an https proxy)
 *   tls        → TLS with the origin done
 *   send       → request fully written (includes a 100-continue wait)
 *   server     → first response byte
 *   transfer   → body end
 *   failed     → the failure, when the hop failed before its first response byte
 */
import type { AttemptRecord, HopRecord } from "./recorder.js";
import { retriesOf } from "./recorder.js";

export interface HopPhases {
  method: string;
  url: string;
  status: number | undefined;
  statusText: string | undefined;
  httpVersion: string | undefined;
  error: unknown;
  /** ms since the exchange began. */
  start: number;
  retries: number;
  /** The pool key's "host:port" (the origin). */
  hostPort: string | undefined;
  /** A connection was dialed for this hop (false: reused from the pool). */
  dialed: boolean;
  reused: boolean;
  wasIdle: boolean;
  idleTime: number;
  /** The address dialed ("ip:port"), when a dial happened. */
  dialedAddr: string | undefined;
  /** The dial failed (refused, unreachable, timed out). */
  dialFailed: boolean;
  remoteAddress: string | undefined;
  localAddress: string | undefined;
  /** The dial went to a proxy, not to the origin. */
  proxied: boolean;
  alpn: string | undefined;
  durations: {
    retry: number | null;
    wait: number | null;
    dns: number | null;
    connect: number | null;
    tunnel: number | null;
    tls: number | null;
    send: number | null;
    server: number | null;
    transfer: number | null;
    /** A failed hop: from the last moment reached to the failure. */
    failed: number | null;
  };
  /** Moments in ms since the hop began (curl's names); null when it did not happen. */
  marks: {
    queued: number | null;
    namelookup: number | null;
    connect: number | null;
    appconnect: number | null;
    pretransfer: number | null;
    posttransfer: number | null;
    starttransfer: number | null;
    total: number | null;
  };
  /** 1xx responses (100 Continue included), ms since the hop began. */
  informational: Array<{ code: number; at: number }>;
  /** `Expect: 100-continue`: when the wait began and when 100 came (null: it did not). */
  expectContinue: { waitFrom: number; got: number | null } | null;
  bodyBytes: number;
  sentBytes: number;
}

export function hopPhases(hop: HopRecord): HopPhases {
  const a: AttemptRecord | undefined = hop.attempts[hop.attempts.length - 1];
  const s = hop.start;
  const rel = (t: number | undefined): number | null => (t === undefined ? null : t - s);

  const retries = retriesOf(hop);
  const res = hop.response;
  const dialed = a !== undefined && a.connects.length > 0;
  const firstConnect = a?.connects[0];
  const targetHttps = hop.url.startsWith("https:");
  const proxied =
    dialed && firstConnect !== undefined && !sameHostPort(firstConnect.addr, a!.hostPort, a!.addresses);
  // With an https proxy the first handshake is with the proxy (it counts in the tunnel
  // span); the origin's is the last one, and only for an https target.
  const originTLS = targetHttps && a !== undefined && a.tls.length > 0 ? a.tls[a.tls.length - 1] : undefined;

  // The wait ends when the transport starts the dial or hands over a pooled connection:
  // its own Response.timings.queued (same origin as hop.start: the recorder calls the
  // transport directly), else the first dial event seen.
  const queuedAt =
    res !== undefined && res.timings.queued >= 0
      ? s + res.timings.queued
      : (a?.dnsStart ?? firstConnect?.start ?? a?.gotConn?.at);
  const gotConn = a?.gotConn?.at;
  const dnsDone = a?.dnsDone;
  const connected = firstConnect?.done;
  const tunnelEnd = proxied && connected !== undefined ? (originTLS?.start ?? gotConn) : undefined;
  const tlsDone = originTLS?.done;
  const end = hop.end;
  // The first byte on the transport's clock when it says (as the end is): a trace
  // callback runs a little after the read it reports, which could put it past the end.
  const firstByte =
    res !== undefined && res.timings.firstByte >= 0 ? s + res.timings.firstByte : a?.firstByte;

  // Contiguous spans, as httpstat draws them: each phase starts where the one before it
  // ended, so the boxes add up to the total.
  let cursor = retries > 0 && a !== undefined ? a.getConn : s;
  const next = (at: number | undefined): number | null => {
    if (at === undefined) return null;
    const d = Math.max(0, at - cursor);
    cursor = Math.max(cursor, at);
    return d;
  };
  const retry = retries > 0 && a !== undefined ? a.getConn - s : null;
  const wait = next(queuedAt);
  const dns = dialed ? next(dnsDone) : null;
  const connect = dialed ? next(connected) : null;
  const tunnel = proxied ? next(tunnelEnd) : null;
  const tls = dialed ? next(tlsDone) : null;
  const send = next(a?.wroteRequest);
  const server = next(firstByte);
  // Without a first byte there was no transfer: what is left until the end is the failure.
  const reachedBody = firstByte !== undefined;
  const transfer = reachedBody ? next(end) : null;
  const failed = hop.error !== undefined && !reachedBody ? next(end) : null;

  return {
    method: hop.method,
    url: hop.url,
    status: res?.status,
    statusText: res?.statusText,
    httpVersion: res?.httpVersion,
    error: hop.error,
    start: s,
    retries,
    hostPort: a?.hostPort,
    dialed,
    reused: a?.gotConn?.reused ?? false,
    wasIdle: a?.gotConn?.wasIdle ?? false,
    idleTime: a?.gotConn?.idleTime ?? 0,
    dialedAddr: firstConnect?.addr,
    dialFailed: firstConnect?.error !== undefined || (dialed && connected === undefined),
    remoteAddress: res?.conn.remoteAddress,
    localAddress: res?.conn.localAddress,
    proxied,
    alpn: originTLS?.alpn,
    durations: { retry, wait, dns, connect, tunnel, tls, send, server, transfer, failed },
    marks: {
      queued: rel(queuedAt),
      namelookup: rel(dnsDone ?? queuedAt),
      connect: rel(connected ?? gotConn),
      appconnect: targetHttps ? rel(tlsDone ?? gotConn) : null,
      pretransfer: rel(gotConn),
      posttransfer: rel(a?.wroteRequest),
      starttransfer: rel(firstByte),
      total: rel(end),
    },
    informational: (a?.informational ?? []).map((i) => ({ code: i.code, at: i.at - s })),
    expectContinue:
      a?.wait100 === undefined
        ? null
        : { waitFrom: a.wait100 - s, got: a.got100 === undefined ? null : a.got100 - s },
    bodyBytes: hop.received,
    sentBytes: hop.sent,
  };
}

/** Whether the dialed "ip:port" is the origin's "host:port" (by name or by a resolved address). */
function sameHostPort(dialed: string, hostPort: string, addresses: string[] | undefined): boolean {
  if (dialed === hostPort) return true;
  const port = (hp: string) => hp.slice(hp.lastIndexOf(":") + 1);
  const host = (hp: string) => hp.slice(0, hp.lastIndexOf(":")).replace(/^\[|\]$/g, "");
  if (port(dialed) !== port(hostPort)) return false;
  const h = host(dialed);
  return h === host(hostPort) || (addresses?.includes(h) ?? false);
}
