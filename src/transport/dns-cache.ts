/**
 * Name resolution for dialing: the resolver (dns.lookup, or the Transport's `lookup`),
 * concurrent lookups of one name coalesced into one, and an optional cache.
 *
 * Coalescing is always on, as in Go (its Resolver shares one in-flight lookup per name
 * through singleflight and reports it as DNSDoneInfo.Coalesced): a burst of dials to a
 * new host costs one getaddrinfo, not one per dial, and dns.lookup runs on libuv's small
 * thread pool, where a burst would queue file reads and crypto behind it.
 *
 * The cache is off by default, as Go has none. dns.lookup (getaddrinfo: /etc/hosts,
 * nsswitch, the system's resolver) says nothing about TTLs, so a cached answer lives
 * `maxTTL` whatever the zone said, and a host that failed over to a new address keeps
 * getting the old one until then. We still use the lookup, not dns.resolve4/6 (which
 * give TTLs): the cache must never change which addresses a name has, only how often
 * they are asked for; a `lookup` that returns a `ttl` (seconds, as dns.resolve4/6 with
 * `{ ttl: true }` give) on its addresses shortens the entry to the smallest one.
 * Failures are never cached: a cached EAI_AGAIN would turn a blip into an outage.
 */
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import type { LookupFunction } from "node:net";
import { RoundtripError } from "../errors.js";

export type { LookupFunction };

export interface DnsCacheOptions {
  /** ms an answer is kept at most (the resolver's TTL may shorten it). Default 30 000. */
  maxTTL?: number;
  /** Names kept; the least recently used goes first. Default 1000. */
  maxEntries?: number;
}

export interface Resolution {
  addresses: LookupAddress[];
  /** The answer was shared with a lookup of the same name already in flight. */
  coalesced: boolean;
}

/**
 * Defaults: 30 s is the JVM's default positive TTL and under the 60 s that browsers keep
 * resolutions; short enough that a failover is seen within one idle-connection lifetime
 * (idleConnTimeout is 90 s), long enough that a busy client asks once per 30 s per name.
 * 1000 names bounds the memory (a few hundred KB) of a crawler that meets many hosts.
 */
export const DEFAULT_MAX_TTL = 30_000;
export const DEFAULT_MAX_ENTRIES = 1000;

interface Entry {
  addresses: LookupAddress[];
  /** clock() value after which the entry is stale. */
  expires: number;
}

export class Resolver {
  readonly #lookup: LookupFunction;
  readonly #clock: () => number;
  readonly #maxTTL: number;
  readonly #maxEntries: number;
  /** Cached answers by lowercased name, least recently used first (Map order); null = no cache. */
  readonly #cache: Map<string, Entry> | null;
  /** Lookups in flight by lowercased name; each settles once and removes itself. */
  readonly #inflight = new Map<string, Promise<LookupAddress[]>>();

  constructor(
    lookup: LookupFunction | undefined,
    cache: false | true | DnsCacheOptions | undefined,
    clock: () => number = Date.now,
  ) {
    if (lookup !== undefined && typeof lookup !== "function")
      throw new RoundtripError("ERR_INVALID_REQUEST", "Transport option lookup must be a function");
    this.#lookup = lookup ?? (dnsLookup as LookupFunction);
    this.#clock = clock;
    if (cache === undefined || cache === false) {
      this.#cache = null;
      this.#maxTTL = 0;
      this.#maxEntries = 0;
      return;
    }
    const opts: DnsCacheOptions = cache === true ? {} : cache;
    if (typeof opts !== "object" || opts === null)
      throw new RoundtripError(
        "ERR_INVALID_REQUEST",
        "Transport option dnsCache must be true, false or { maxTTL, maxEntries }",
      );
    this.#maxTTL = opts.maxTTL ?? DEFAULT_MAX_TTL;
    this.#maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
    if (!Number.isFinite(this.#maxTTL) || this.#maxTTL <= 0)
      throw new RoundtripError("ERR_INVALID_REQUEST", "dnsCache.maxTTL must be a number of ms > 0");
    if (!Number.isInteger(this.#maxEntries) || this.#maxEntries <= 0)
      throw new RoundtripError("ERR_INVALID_REQUEST", "dnsCache.maxEntries must be an integer > 0");
    this.#cache = new Map();
  }

  /** Addresses of `host`, in the resolver's order (getaddrinfo's RFC 6724 sort). */
  resolve(host: string): Promise<Resolution> {
    const key = host.toLowerCase();
    const hit = this.#cached(key);
    if (hit !== null) return Promise.resolve({ addresses: hit, coalesced: false });
    const pending = this.#inflight.get(key);
    if (pending !== undefined) return pending.then((addresses) => ({ addresses, coalesced: true }));
    const started = this.#clock();
    const p = this.#ask(host).then(
      (addresses) => {
        this.#inflight.delete(key);
        this.#store(key, addresses, started);
        return addresses;
      },
      (err: unknown) => {
        this.#inflight.delete(key);
        throw err;
      },
    );
    this.#inflight.set(key, p);
    return p.then((addresses) => ({ addresses, coalesced: false }));
  }

  #cached(key: string): LookupAddress[] | null {
    if (this.#cache === null) return null;
    const e = this.#cache.get(key);
    if (e === undefined) return null;
    this.#cache.delete(key);
    if (this.#clock() >= e.expires) return null;
    this.#cache.set(key, e); // most recently used now
    return e.addresses;
  }

  #store(key: string, addresses: LookupAddress[], started: number): void {
    if (this.#cache === null) return;
    let ttl = this.#maxTTL;
    for (const a of addresses) {
      const s = (a as LookupAddress & { ttl?: unknown }).ttl;
      if (typeof s === "number" && Number.isFinite(s) && s >= 0) ttl = Math.min(ttl, s * 1000);
    }
    if (ttl <= 0) return; // TTL 0: the zone asks not to be cached
    this.#cache.delete(key);
    // The TTL counts from when the question was asked, as a resolver's does.
    this.#cache.set(key, { addresses, expires: started + ttl });
    while (this.#cache.size > this.#maxEntries) {
      const oldest = this.#cache.keys().next().value as string;
      this.#cache.delete(oldest);
    }
  }

  #ask(host: string): Promise<LookupAddress[]> {
    return new Promise((resolve, reject) => {
      const done = (
        err: NodeJS.ErrnoException | null,
        address: string | LookupAddress[],
        family?: number,
      ) => {
        if (err) return reject(err);
        // net's lookup contract allows one address and its family even when all was asked.
        const list: LookupAddress[] = Array.isArray(address)
          ? address
          : typeof address === "string" && address !== ""
            ? [{ address, family: family ?? (address.includes(":") ? 6 : 4) }]
            : [];
        const usable = list.filter(
          (a) => typeof a?.address === "string" && (a.family === 4 || a.family === 6),
        );
        if (usable.length === 0)
          return reject(Object.assign(new Error(`no address for ${host}`), { code: "ENOTFOUND" }));
        resolve(Object.freeze(usable.map((a) => Object.freeze({ ...a }))) as LookupAddress[]);
      };
      try {
        this.#lookup(host, { all: true }, done);
      } catch (err) {
        reject(err);
      }
    });
  }
}
