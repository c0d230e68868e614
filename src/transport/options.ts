/**
 * The Transport's options: the one copy of each option's documentation (default, unit,
 * what 0 means, what it interacts with), the defaults, the validation, and the settings
 * derived from them for the pool, the connections and the dialer. docs/transport.md's
 * option table is checked against DEFAULTS by test/transport/options.test.ts.
 *
 * Times are milliseconds. The pool's sweep (idle expiry and body stalls) runs every
 * quarter of the shorter of idleConnTimeout and bodyTimeout, between 10 ms and 1 s, so
 * both take effect within that granularity.
 */
import type { ConnectionOptions } from "node:tls";
import { RoundtripError } from "../errors.js";
import { ownOptions } from "../options.js";
import { ACCEPT_ENCODING } from "./decode.js";
import type { DialFunc, DialSettings } from "./dial.js";
import { type DnsCacheOptions, type LookupFunction, Resolver } from "./dns-cache.js";
import type { PreparedRequest } from "./prepared.js";
import { type ProxyOption, parseProxyURL, proxyFromEnv, snapshotProxyEnv } from "./proxy.js";

export const VERSION = "0.1.0";

export interface TransportOptions {
  /**
   * Idle connections kept across all hosts; when full, the least recently idled one is
   * closed to make room. HTTP/2 sessions do not count. 0 = no limit. Default 100.
   */
  maxIdleConns?: number;
  /**
   * Idle connections kept per connect-method key (scheme, host:port, proxy); one released
   * beyond it is closed. Also bounds a request's retries (maxIdleConnsPerHost + 2 attempts).
   * 0 = no limit. Default 32 (Go's 2 is a known pain point).
   */
  maxIdleConnsPerHost?: number;
  /**
   * Connections per key, counting dials in progress, active and idle ones (an HTTP/2
   * session is one); requests beyond it wait FIFO for a released connection or a freed
   * slot. 0 = no limit. Default 0.
   */
  maxConnsPerHost?: number;
  /**
   * How long an idle connection (an HTTP/2 session with no response arriving) is kept.
   * A server's `Keep-Alive: timeout=N` shortens it to N minus min(1 s, N/2). 0 = no limit.
   * Default 90 000.
   */
  idleConnTimeout?: number;
  /** From the request being fully written to the response head (ERR_TIMEOUT, phase responseHeader). 0 = none. Default 0. */
  responseHeaderTimeout?: number;
  /**
   * How long a response body may stall between two chunks (a slow reader does not
   * count): ERR_TIMEOUT, phase body. Per stream over HTTP/2. 0 = none. Default 300 000.
   */
  bodyTimeout?: number;
  /** With Expect: 100-continue, how long to wait for `100 Continue` before sending the body anyway. Default 1 000. */
  expectContinueTimeout?: number;
  /** TLS handshake bound (ERR_TIMEOUT, phase tls). 0 = none. Default 10 000. */
  tlsHandshakeTimeout?: number;
  /** TCP connect bound, or the custom `dial`'s through its signal (ERR_TIMEOUT, phase dial). 0 = none. Default 30 000. */
  dialTimeout?: number;
  /** One request per connection, with `Connection: close` (an HTTP/2 session closes after its streams). Default false. */
  disableKeepAlives?: boolean;
  /** When false and the caller set no Accept-Encoding, ask for gzip, deflate, br and decode. Default false. */
  disableCompression?: boolean;
  /**
   * Bytes allowed in each response head (each 1xx head and the final head on its own)
   * and in the trailers: ERR_HEADERS_TOO_LARGE beyond. Over HTTP/2 it is also the
   * SETTINGS_MAX_HEADER_LIST_SIZE we announce. 0 = the default. Default 1 MiB.
   */
  maxResponseHeaderBytes?: number;
  /** node:tls connect options for https (ca, rejectUnauthorized, cert, ...). */
  tls?: ConnectionOptions;
  /** Replaces TCP dialing; dialTimeout still bounds it through its signal. */
  dial?: DialFunc;
  /**
   * Happy Eyeballs: ms after which the other address family is dialed while the first
   * attempt goes on (Go's Dialer.FallbackDelay); 0 = the default; negative = every address
   * in order, one at a time. Default 300. Not used by a custom `dial`. See docs/transport.md.
   */
  fallbackDelay?: number;
  /**
   * Cache name lookups: true, or { maxTTL (ms, default 30 000), maxEntries (default 1000, LRU) }.
   * dns.lookup gives no TTLs, so an answer lives maxTTL (shorter if `lookup` gives ttl).
   * Failures are not cached. Default false, as Go. See docs/transport.md.
   */
  dnsCache?: boolean | DnsCacheOptions;
  /** Replaces dns.lookup for dialing (and for a proxy's name); called with { all: true }. Default dns.lookup. */
  lookup?: LookupFunction;
  /** Default User-Agent; a request's own header wins, an empty value sends none. Default `roundtrip/<version>`. */
  userAgent?: string;
  /**
   * Which proxy a request goes through. "env" (default): HTTP_PROXY / HTTPS_PROXY /
   * NO_PROXY as Go reads them (read once, when the Transport is made; loopback and
   * localhost never proxied). null: none. A URL string: that proxy for every request. A
   * function: asked per request. http://, https://, socks5:// and socks5h:// proxies;
   * credentials from the proxy URL's userinfo.
   */
  proxy?: ProxyOption;
  /** Extra headers sent on CONNECT requests to HTTP proxies. Default {}. */
  proxyConnectHeaders?: Record<string, string>;
  /**
   * Offer HTTP/2 in the TLS handshake (ALPN "h2", then "http/1.1"). When an https server
   * picks h2, every request to that origin goes over one multiplexed connection
   * (node:http2), up to the server's stream limit; otherwise HTTP/1.1 as usual. While an
   * origin may speak h2 it is dialed once at a time. Plain http, and the hop to an https
   * proxy, stay HTTP/1.1. Default false. See docs/transport.md.
   */
  allowHTTP2?: boolean;
  /**
   * Record the caller's stack for every request, so the unconsumed-body warning can say
   * where the request was made (otherwise it names the method and URL). Costs 3-5 µs a
   * request. Default: true when the environment has ROUNDTRIP_TRACE_BODIES=1, else false.
   */
  callSites?: boolean;
}

/** The defaults of the options that have a plain value (docs/transport.md shows the same). */
export const DEFAULTS = {
  maxIdleConns: 100,
  maxIdleConnsPerHost: 32,
  maxConnsPerHost: 0,
  idleConnTimeout: 90_000,
  responseHeaderTimeout: 0,
  bodyTimeout: 300_000,
  expectContinueTimeout: 1_000,
  tlsHandshakeTimeout: 10_000,
  dialTimeout: 30_000,
  fallbackDelay: 300,
  disableKeepAlives: false,
  disableCompression: false,
  maxResponseHeaderBytes: 1 << 20,
  allowHTTP2: false,
} as const;

/** Every option's name; a Record so that an option added to TransportOptions must be listed. */
const OPTION_NAMES: Record<keyof TransportOptions, true> = {
  maxIdleConns: true,
  maxIdleConnsPerHost: true,
  maxConnsPerHost: true,
  idleConnTimeout: true,
  responseHeaderTimeout: true,
  bodyTimeout: true,
  expectContinueTimeout: true,
  tlsHandshakeTimeout: true,
  dialTimeout: true,
  disableKeepAlives: true,
  disableCompression: true,
  maxResponseHeaderBytes: true,
  tls: true,
  dial: true,
  fallbackDelay: true,
  dnsCache: true,
  lookup: true,
  userAgent: true,
  proxy: true,
  proxyConnectHeaders: true,
  allowHTTP2: true,
  callSites: true,
};

/** @internal the option names, for the check of docs/transport.md against this file. */
export function optionNames(): string[] {
  return Object.keys(OPTION_NAMES);
}

/** Options with their defaults applied, as `transport.options` shows them. */
export type ResolvedOptions = Readonly<
  Required<
    Omit<
      TransportOptions,
      "dial" | "tls" | "callSites" | "proxy" | "proxyConnectHeaders" | "dnsCache" | "lookup"
    >
  >
> & {
  dial: DialFunc | undefined;
  tls: ConnectionOptions;
};

/** What an HTTP/1.1 connection or HTTP/2 session needs to know, shared by every connection of a key. */
export interface ConnSettings {
  maxHeaderBytes: number;
  responseHeaderTimeout: number;
  expectContinueTimeout: number;
  userAgent: string;
  /** Accept-Encoding to add when the caller set none, or null (disableCompression). */
  acceptEncoding: string | null;
  disableKeepAlives: boolean;
  /** Absolute-form targets (forward proxy). */
  absoluteTarget: ((req: PreparedRequest) => string) | null;
  /** Proxy-Authorization sent with each absolute-form request to a forward proxy, or null. */
  proxyAuthorization: string | null;
}

/** Everything the Transport derives from its options, once. */
export interface TransportSettings {
  options: ResolvedOptions;
  conn: ConnSettings;
  dial: DialSettings;
  /** ms between two sweeps (idle expiry, body stalls). */
  sweepEvery: number;
  /** Attempts a request may take at most (see Transport's attempt loop). */
  maxAttempts: number;
  callSites: boolean;
  /** The proxy choice, with "env" resolved against a snapshot of the environment; null: none. */
  proxy: ((url: URL) => URL | string | null) | null;
  /** Proxy decisions can be cached per scheme://host:port (env or fixed, not a function). */
  proxyCacheable: boolean;
  proxyConnectHeaders: Record<string, string>;
}

const NUMERIC = [
  "maxIdleConns",
  "maxIdleConnsPerHost",
  "maxConnsPerHost",
  "idleConnTimeout",
  "responseHeaderTimeout",
  "bodyTimeout",
  "expectContinueTimeout",
  "tlsHandshakeTimeout",
  "dialTimeout",
  "maxResponseHeaderBytes",
] as const;

/** Applies defaults, validates (ERR_INVALID_REQUEST), and derives every setting. */
export function resolveOptions(given: TransportOptions): TransportSettings {
  // Own properties only: a polluted Object.prototype.proxy or .dial is not an option.
  const options = ownOptions(given);
  const o = {
    maxIdleConns: options.maxIdleConns ?? DEFAULTS.maxIdleConns,
    maxIdleConnsPerHost: options.maxIdleConnsPerHost ?? DEFAULTS.maxIdleConnsPerHost,
    maxConnsPerHost: options.maxConnsPerHost ?? DEFAULTS.maxConnsPerHost,
    idleConnTimeout: options.idleConnTimeout ?? DEFAULTS.idleConnTimeout,
    responseHeaderTimeout: options.responseHeaderTimeout ?? DEFAULTS.responseHeaderTimeout,
    bodyTimeout: options.bodyTimeout ?? DEFAULTS.bodyTimeout,
    expectContinueTimeout: options.expectContinueTimeout ?? DEFAULTS.expectContinueTimeout,
    tlsHandshakeTimeout: options.tlsHandshakeTimeout ?? DEFAULTS.tlsHandshakeTimeout,
    dialTimeout: options.dialTimeout ?? DEFAULTS.dialTimeout,
    fallbackDelay: options.fallbackDelay ?? DEFAULTS.fallbackDelay,
    disableKeepAlives: options.disableKeepAlives ?? DEFAULTS.disableKeepAlives,
    disableCompression: options.disableCompression ?? DEFAULTS.disableCompression,
    maxResponseHeaderBytes: options.maxResponseHeaderBytes ?? DEFAULTS.maxResponseHeaderBytes,
    userAgent: options.userAgent ?? `roundtrip/${VERSION}`,
    dial: options.dial,
    tls: options.tls ?? {},
    allowHTTP2: options.allowHTTP2 === true,
  };
  for (const k of NUMERIC) {
    const v = o[k];
    if (!Number.isFinite(v) || v < 0)
      throw new RoundtripError("ERR_INVALID_REQUEST", `Transport option ${k} must be a number ≥ 0`);
  }
  if (!Number.isFinite(o.fallbackDelay))
    throw new RoundtripError("ERR_INVALID_REQUEST", "Transport option fallbackDelay must be a number");

  const proxyOption = options.proxy === undefined ? "env" : options.proxy;
  let proxy: TransportSettings["proxy"];
  if (proxyOption === "env") {
    const env = snapshotProxyEnv();
    proxy = (url: URL) => proxyFromEnv(url, env);
  } else if (typeof proxyOption === "string" || proxyOption instanceof URL) {
    const fixed = parseProxyURL(proxyOption);
    proxy = () => fixed;
  } else {
    proxy = proxyOption; // a function, or null for none
  }

  // The retry loop's guard: each retry follows the death of a reused connection, which
  // leaves the pool, so the idle list bounds it; 1000 when nothing bounds the idle list.
  const idlePerHost =
    o.maxIdleConnsPerHost > 0 ? o.maxIdleConnsPerHost : o.maxIdleConns > 0 ? o.maxIdleConns : 1000;
  const periods = [o.idleConnTimeout, o.bodyTimeout].filter((t) => t > 0);
  return {
    options: o,
    conn: {
      // 0 means the default, as Go's MaxResponseHeaderBytes.
      maxHeaderBytes:
        o.maxResponseHeaderBytes === 0 ? DEFAULTS.maxResponseHeaderBytes : o.maxResponseHeaderBytes,
      responseHeaderTimeout: o.responseHeaderTimeout,
      expectContinueTimeout: o.expectContinueTimeout,
      userAgent: o.userAgent,
      acceptEncoding: o.disableCompression ? null : ACCEPT_ENCODING,
      disableKeepAlives: o.disableKeepAlives,
      absoluteTarget: null,
      proxyAuthorization: null,
    },
    dial: {
      dial: o.dial,
      dialTimeout: o.dialTimeout,
      fallbackDelay: o.fallbackDelay,
      resolver: new Resolver(options.lookup, options.dnsCache),
      tlsHandshakeTimeout: o.tlsHandshakeTimeout,
      tls: o.tls,
      alpn: o.allowHTTP2 ? ["h2", "http/1.1"] : ["http/1.1"],
    },
    sweepEvery: Math.max(10, Math.min(1000, ...periods.map((t) => t / 4))),
    maxAttempts: idlePerHost + 2,
    callSites: options.callSites ?? process.env.ROUNDTRIP_TRACE_BODIES === "1",
    proxy,
    proxyCacheable: typeof proxyOption !== "function",
    proxyConnectHeaders: { ...(options.proxyConnectHeaders ?? {}) },
  };
}
