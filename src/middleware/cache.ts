/**
 * cache(): an RFC 9111 private cache (a client's own, as a browser's), as a middleware.
 *
 * A GET is answered, in this order:
 *  - from the store when a variant matching the request's Vary fields is fresh and
 *    nothing asks for validation (request or response no-cache) — `cache: "hit"`;
 *  - stale from the store when the request's max-stale allows it, or within the
 *    response's stale-while-revalidate window — then the revalidation runs in the
 *    background, one per URL at a time — `"stale"`;
 *  - after a conditional request on the stored ETag / Last-Modified: a 304 merges its
 *    fields into the stored ones and the stored body is served — `"revalidated"`; a 5xx or
 *    a network error within stale-if-error serves the stale one — `"stale"`;
 *  - from the origin otherwise — `"miss"` — and stored as it streams to the caller when
 *    storable (RFC 9111 §3); a body that does not reach its end is not stored.
 * only-if-cached without a usable stored response is a 504. must-revalidate and no-cache
 * forbid every stale answer. An unsafe method's non-error response invalidates its URL,
 * and its Location and Content-Location when same-origin (§4.4).
 *
 * Every entry is keyed by URL and by the request's Authorization (as if every response
 * said `Vary: Authorization`), so a cache shared by several users' requests never hands
 * one user another's response.
 *
 * Not handled (passed through, nothing stored): requests with a body, a Range, the
 * caller's own conditional fields, a Host override, or a request no-store; HEAD (not
 * served from a GET's entry); partial (206) responses.
 */
import { isRoundtripError, RoundtripError } from "../errors.js";
import { Headers } from "../http1/headers.js";
import { handOver, type TransportRequest } from "../transport/prepared.js";
import { Response } from "../transport/response.js";
import type { RoundTripper } from "../transport/transport.js";
import { type Directives, parseCacheControl, seconds } from "./cache-control.js";
import {
  type CacheEntry,
  type CacheMetadata,
  type CacheStore,
  type CacheWriter,
  MemoryCacheStore,
} from "./cache-store.js";
import type { Middleware } from "./compose.js";
import { currentAge, freshnessLifetime, mayStore, varyNames, varyValue } from "./freshness.js";
import { copyFacts, pulled, withBody } from "./rebody.js";
import type { Clock } from "./timers.js";

export interface CacheOptions {
  /** Where responses are kept. Default: a new MemoryCacheStore({ maxBytes }). */
  store?: CacheStore;
  /** Bytes the default in-memory store keeps (LRU). Default 64 MiB. Not with `store`. */
  maxBytes?: number;
  /** Only false: this is a private cache (s-maxage and proxy-revalidate are ignored, private responses stored). */
  shared?: false;
  /** ms since the epoch: ages and freshness are counted on it. Default Date.now. */
  clock?: Clock;
}

export type CacheStatus = "hit" | "miss" | "revalidated" | "stale";

/** RFC 9110 §9.2.1: every method but these may change the resource. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

/** Request fields that make a GET the caller's own business: passed through, not stored. */
const PASS_THROUGH_FIELDS = [
  "range",
  "if-none-match",
  "if-modified-since",
  "if-match",
  "if-unmodified-since",
  "if-range",
];

/**
 * Response fields never stored (RFC 9111 §3.1: hop-by-hop fields), and Set-Cookie: a
 * cookie jar above the cache must not see an old cookie again on every hit.
 */
const UNSTORED_FIELDS = new Set([
  "connection",
  "proxy-connection",
  "keep-alive",
  "te",
  "transfer-encoding",
  "upgrade",
  "set-cookie",
]);

/** Fields a 304 must not change in the stored response (RFC 9111 §3.2): the body's framing. */
const KEPT_ON_304 = new Set(["content-length", "content-encoding", "content-range"]);

export function cache(options: CacheOptions = {}): Middleware {
  const c = new HttpCache(options);
  return (next) => ({ roundTrip: (req) => c.send(next, req) });
}

/** One cache: its store and the revalidations it runs in the background. */
class HttpCache {
  readonly #store: CacheStore;
  readonly #clock: Clock;
  /** Keys whose background revalidation is in flight; owned by #revalidateLater. */
  readonly #revalidating = new Set<string>();

  constructor(o: CacheOptions) {
    if ((o.shared as boolean | undefined) === true) {
      throw new RoundtripError(
        "ERR_INVALID_REQUEST",
        "cache(): only a private cache (shared: false) is built in",
      );
    }
    if (o.store !== undefined && o.maxBytes !== undefined) {
      throw new RoundtripError("ERR_INVALID_REQUEST", "cache(): give store or maxBytes, not both");
    }
    if (o.clock !== undefined && typeof o.clock !== "function") {
      throw new RoundtripError("ERR_INVALID_REQUEST", "cache(): clock must be a function");
    }
    this.#store = o.store ?? new MemoryCacheStore(o.maxBytes === undefined ? {} : { maxBytes: o.maxBytes });
    this.#clock = o.clock ?? Date.now;
  }

  async send(next: RoundTripper, req: TransportRequest): Promise<Response> {
    const method = req.method ?? "GET";
    if (method !== "GET") {
      if (SAFE_METHODS.has(method)) return next.roundTrip(req);
      return this.#unsafe(next, req);
    }
    const url = urlOf(req.url);
    const headers =
      req.headers == null ? null : req.headers instanceof Headers ? req.headers : new Headers(req.headers);
    const reqCC = headers === null ? EMPTY_DIRECTIVES : parseCacheControl(headers);
    if (
      req.body != null ||
      req.json !== undefined ||
      req.form !== undefined ||
      req.host !== undefined ||
      reqCC.has("no-store") ||
      PASS_THROUGH_FIELDS.some((f) => headers?.has(f))
    ) {
      return marked(await next.roundTrip(req), "miss");
    }
    const key = keyOf(url);
    const entry = pick(await this.#get(key), headers);
    if (entry === undefined) {
      if (reqCC.has("only-if-cached")) return gatewayTimeout(url);
      return this.#fetch(next, req, key, headers, reqCC);
    }

    const stored = new Headers(entry.meta.headers);
    const resCC = parseCacheControl(stored);
    const now = this.#clock();
    const lifetime = freshnessLifetime(entry.meta.status, stored, resCC, entry.meta.responseTime);
    const age = currentAge(stored, entry.meta.requestTime, entry.meta.responseTime, now);
    const staleness = age - lifetime;
    const maxAge = seconds(reqCC, "max-age");
    const minFresh = seconds(reqCC, "min-fresh");
    const acceptable =
      (maxAge === undefined || age <= maxAge * 1000) &&
      (minFresh === undefined || lifetime - age >= minFresh * 1000);
    const validateFirst = resCC.has("no-cache") || reqCC.has("no-cache");

    if (staleness < 0 && acceptable && !validateFirst) return this.#serve(entry, "hit", age);
    // must-revalidate and no-cache forbid any stale answer (RFC 9111 §4.2.4).
    const staleAllowed = !resCC.has("must-revalidate") && !validateFirst;
    if (staleAllowed && staleness >= 0) {
      if (reqCC.has("max-stale")) {
        const maxStale = seconds(reqCC, "max-stale");
        if (
          (maxStale === undefined || staleness <= maxStale * 1000) &&
          acceptableExceptAge(minFresh, lifetime, age)
        ) {
          return this.#serve(entry, "stale", age);
        }
      }
      const swr = seconds(resCC, "stale-while-revalidate");
      if (swr !== undefined && staleness <= swr * 1000 && maxAge === undefined && minFresh === undefined) {
        this.#revalidateLater(next, req, key, headers, entry);
        return this.#serve(entry, "stale", age);
      }
    }
    if (reqCC.has("only-if-cached")) return gatewayTimeout(url);

    const errorWindow = seconds(reqCC, "stale-if-error") ?? seconds(resCC, "stale-if-error");
    const staleOnError = staleAllowed && errorWindow !== undefined && staleness <= errorWindow * 1000;
    let res: Response;
    try {
      res = await this.#validate(next, req, key, headers, reqCC, entry);
    } catch (err) {
      if (staleOnError && !req.signal?.aborted && !isRoundtripError(err, "ERR_ABORTED")) {
        return this.#serve(entry, "stale", age);
      }
      throw err;
    }
    if (
      staleOnError &&
      res.cache === "miss" &&
      res.status >= 500 &&
      res.status <= 504 &&
      res.status !== 501
    ) {
      await res.close();
      return this.#serve(entry, "stale", age);
    }
    return res;
  }

  /**
   * A conditional request on `entry`'s validators: a 304 refreshes the entry and serves
   * its body ("revalidated"); anything else is a miss, stored in its place if storable.
   * Without validators it is a plain fetch.
   */
  async #validate(
    next: RoundTripper,
    req: TransportRequest,
    key: string,
    headers: Headers | null,
    reqCC: Directives,
    entry: CacheEntry,
  ): Promise<Response> {
    const stored = new Headers(entry.meta.headers);
    const etag = stored.get("etag");
    const lastModified = stored.get("last-modified");
    if (etag === null && lastModified === null) return this.#fetch(next, req, key, headers, reqCC);
    const conditional = new Headers(headers);
    if (etag !== null) conditional.set("If-None-Match", etag);
    if (lastModified !== null) conditional.set("If-Modified-Since", lastModified);
    const requestTime = this.#clock();
    const res = await next.roundTrip({ ...req, headers: handOver(conditional) });
    if (res.status !== 304) return this.#admit(res, key, headers, reqCC, requestTime);
    const responseTime = this.#clock();
    await res.close();
    const meta: CacheMetadata = {
      ...entry.meta,
      headers: merge304(stored, res.headers).raw(),
      requestTime,
      responseTime,
    };
    await this.#quietly(() => this.#store.update(key, entry.id, meta));
    const fresh: CacheEntry = { id: entry.id, meta, size: entry.size, body: () => entry.body() };
    return this.#serve(
      fresh,
      "revalidated",
      currentAge(new Headers(meta.headers), requestTime, responseTime, responseTime),
    );
  }

  /** stale-while-revalidate: the conditional request, after the stale answer, off the caller's path. */
  #revalidateLater(
    next: RoundTripper,
    req: TransportRequest,
    key: string,
    headers: Headers | null,
    entry: CacheEntry,
  ): void {
    if (this.#revalidating.has(key)) return;
    this.#revalidating.add(key);
    // Not the caller's: its signal, trace and progress callbacks stay with its own request.
    const own: TransportRequest = {
      url: req.url,
      method: "GET",
      headers: headers ?? undefined,
      host: req.host,
    };
    void (async () => {
      try {
        const res = await this.#validate(next, own, key, headers, EMPTY_DIRECTIVES, entry);
        if (res.cache === "revalidated") await res.close();
        else await drain(res);
      } catch {
        // A failed background revalidation leaves the stale entry as it was.
      } finally {
        this.#revalidating.delete(key);
      }
    })();
  }

  async #fetch(
    next: RoundTripper,
    req: TransportRequest,
    key: string,
    headers: Headers | null,
    reqCC: Directives,
  ): Promise<Response> {
    const requestTime = this.#clock();
    return this.#admit(await next.roundTrip(req), key, headers, reqCC, requestTime);
  }

  /** A response from the origin: marked a miss, and teed into the store when it may be stored. */
  async #admit(
    res: Response,
    key: string,
    reqHeaders: Headers | null,
    reqCC: Directives,
    requestTime: number,
  ): Promise<Response> {
    res.cache = "miss";
    const responseTime = this.#clock();
    const resCC = parseCacheControl(res.headers);
    if (!mayStore(res.status, res.headers, resCC, reqCC)) return res;
    const useful =
      freshnessLifetime(res.status, res.headers, resCC, responseTime) > 0 ||
      res.headers.has("etag") ||
      res.headers.has("last-modified") ||
      resCC.has("stale-while-revalidate") ||
      resCC.has("stale-if-error");
    if (!useful) return res;
    const vary: Record<string, string | null> = {};
    // Every response varies on the credentials it was fetched with, said so or not: one
    // cache serving requests made for several users never gives one user another's answer.
    vary.authorization = varyValue(reqHeaders, "authorization");
    for (const name of varyNames(res.headers) ?? []) vary[name] = varyValue(reqHeaders, name);
    const meta: CacheMetadata = {
      url: key,
      status: res.status,
      statusText: res.statusText,
      httpVersion: res.httpVersion,
      headers: storedFields(res.headers),
      trailers: [],
      vary,
      requestTime,
      responseTime,
    };
    let writer: CacheWriter;
    try {
      writer = await this.#store.set(key, meta);
    } catch (err) {
      warn(err);
      return res;
    }
    return res.body._complete ? storeWhole(res, writer) : tee(res, writer);
  }

  /** An unsafe method: sent, and a non-error answer invalidates what it may have changed. */
  async #unsafe(next: RoundTripper, req: TransportRequest): Promise<Response> {
    const res = await next.roundTrip(req);
    if (res.status >= 200 && res.status < 400) {
      const url = urlOf(req.url);
      const keys = new Set([keyOf(url)]);
      for (const field of ["location", "content-location"]) {
        const v = res.headers.get(field);
        if (v === null) continue;
        try {
          const target = new URL(v, url);
          if (target.origin === url.origin) keys.add(keyOf(target));
        } catch {
          // not a URL: nothing to invalidate
        }
      }
      for (const k of keys) await this.#quietly(() => this.#store.delete(k));
    }
    return res;
  }

  #serve(entry: CacheEntry, status: CacheStatus, age: number): Response {
    const headers = new Headers(entry.meta.headers);
    headers.set("Age", String(Math.floor(Math.max(0, age) / 1000)));
    const res = new Response(
      pulled(chunksOf(entry), () => {}),
      {
        status: entry.meta.status,
        statusText: entry.meta.statusText,
        headers,
        trailers: entry.meta.trailers,
        url: entry.meta.url,
        httpVersion: entry.meta.httpVersion,
      },
    );
    res.contentLength = entry.size;
    res.cache = status;
    return res;
  }

  async #get(key: string): Promise<CacheEntry[]> {
    try {
      return await this.#store.get(key);
    } catch (err) {
      warn(err);
      return [];
    }
  }

  /** A store failure never fails a request: it is reported once as a warning. */
  async #quietly(fn: () => void | Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      warn(err);
    }
  }
}

const EMPTY_DIRECTIVES: Directives = new Map();

/** Reads a body to its end, keeping nothing: what stores a response nobody else reads. */
async function drain(res: Response): Promise<void> {
  for await (const chunk of res.body) void chunk;
}

async function* chunksOf(entry: CacheEntry): AsyncGenerator<Uint8Array, void, undefined> {
  for await (const chunk of entry.body()) yield chunk;
}

/**
 * The caller reads `res` while its bytes go to `writer`: stored at the body's end, with
 * its trailers; dropped if it fails or the caller closes it first.
 */
function tee(res: Response, writer: CacheWriter): Response {
  let storing = true;
  const stop = () => {
    if (!storing) return;
    storing = false;
    writer.abort();
  };
  async function* chunks(): AsyncGenerator<Uint8Array, void, undefined> {
    let ended = false;
    try {
      for await (const chunk of res.body) {
        if (storing) {
          try {
            await writer.write(chunk);
          } catch (err) {
            warn(err);
            stop();
          }
        }
        yield chunk;
      }
      ended = true;
    } finally {
      if (!ended) stop();
    }
    if (storing) {
      storing = false;
      try {
        await writer.end(res.trailers.raw());
      } catch (err) {
        warn(err);
      }
    }
  }
  return withBody(
    res,
    pulled(chunks(), () => void res.close().catch(() => {})),
    () => res.trailers.raw(),
  );
}

/**
 * A body that arrived whole with its head is stored at once, whatever the caller then does
 * with it (a Client closes every redirect it follows, before any read).
 */
async function storeWhole(res: Response, writer: CacheWriter): Promise<Response> {
  const bytes = await res.bytes();
  const trailers = res.trailers.raw();
  try {
    if (bytes.byteLength > 0) await writer.write(bytes);
    await writer.end(trailers);
  } catch (err) {
    writer.abort();
    warn(err);
  }
  const out = new Response(bytes, {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
    trailers,
    url: res.url,
    httpVersion: res.httpVersion,
  });
  copyFacts(res, out);
  return out;
}

/** The stored fields updated by a 304's (RFC 9111 §3.2), except those that frame the stored body. */
function merge304(stored: Headers, fresh: Headers): Headers {
  const out = new Headers(stored);
  const seen = new Set<string>();
  for (const [name, value] of fresh.raw()) {
    const lower = name.toLowerCase();
    if (UNSTORED_FIELDS.has(lower) || KEPT_ON_304.has(lower)) continue;
    if (!seen.has(lower)) {
      seen.add(lower);
      out.delete(lower);
    }
    out.append(name, value);
  }
  return out;
}

function storedFields(headers: Headers): Array<[string, string]> {
  const named = new Set(
    (headers.get("connection") ?? "")
      .split(",")
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s !== ""),
  );
  return headers.raw().filter(([name]) => {
    const lower = name.toLowerCase();
    return !UNSTORED_FIELDS.has(lower) && !named.has(lower);
  });
}

/** The variant whose Vary fields match the request; the most recent when several do. */
function pick(entries: CacheEntry[], headers: Headers | null): CacheEntry | undefined {
  let best: CacheEntry | undefined;
  for (const e of entries) {
    const matches = Object.entries(e.meta.vary).every(([name, value]) => varyValue(headers, name) === value);
    if (matches && (best === undefined || e.meta.responseTime > best.meta.responseTime)) best = e;
  }
  return best;
}

function acceptableExceptAge(minFresh: number | undefined, lifetime: number, age: number): boolean {
  return minFresh === undefined || lifetime - age >= minFresh * 1000;
}

/** only-if-cached and nothing usable stored: RFC 9111 §5.2.1.7's 504. */
function gatewayTimeout(url: URL): Response {
  const res = new Response(null, { status: 504, statusText: "Gateway Timeout", url: url.href });
  res.cache = "miss";
  return res;
}

function marked(res: Response, status: CacheStatus): Response {
  res.cache = status;
  return res;
}

function urlOf(url: string | URL): URL {
  try {
    return new URL(typeof url === "string" ? url : url.href);
  } catch (cause) {
    throw new RoundtripError("ERR_INVALID_REQUEST", "invalid URL", { cause });
  }
}

/** The store key: the URL without its fragment (RFC 9111 §2: the target URI). */
function keyOf(url: URL): string {
  const href = url.href;
  const hash = href.indexOf("#");
  return hash < 0 ? href : href.slice(0, hash);
}

let warned = false;
function warn(err: unknown): void {
  if (warned) return;
  warned = true;
  process.emitWarning(
    `cache(): the cache store failed; requests go on without it: ${err instanceof Error ? err.message : String(err)}`,
    { code: "ROUNDTRIP_CACHE_STORE", type: "RoundtripWarning" },
  );
}
