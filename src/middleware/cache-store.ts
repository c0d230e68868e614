/**
 * Where cache() keeps responses: the CacheStore interface, and the built-in store, a
 * bounded in-memory LRU. (The file-system store is in file-store.ts.)
 *
 * A store knows nothing of HTTP: it keeps, under a key (the request URL), any number of
 * variants (one per combination of the request fields the response's Vary names), each
 * with its metadata and its body bytes. cache() decides what to store and what to serve.
 */
import { RoundtripError } from "../errors.js";

export interface CacheMetadata {
  /** The request URL (the key; no fragment). */
  url: string;
  status: number;
  statusText: string;
  httpVersion: "1.0" | "1.1" | "2";
  /** The response fields as stored, in order. */
  headers: Array<[string, string]>;
  /** The trailer fields the body ended with. */
  trailers: Array<[string, string]>;
  /** The request fields the response's Vary names (lower-cased), with the values they had (null: absent). */
  vary: Record<string, string | null>;
  /** ms since the epoch when the request was sent (RFC 9111 request_time). */
  requestTime: number;
  /** ms since the epoch when the response head arrived (RFC 9111 response_time). */
  responseTime: number;
}

export interface CacheEntry {
  /** Names this variant among its key's, for update(). */
  readonly id: string;
  readonly meta: CacheMetadata;
  /** Body bytes stored. */
  readonly size: number;
  /** The stored body from its first byte; each call reads it anew. */
  body(): AsyncIterable<Uint8Array>;
}

/** Receives one response's body as it streams to the caller. */
export interface CacheWriter {
  /** A chunk, in order. A returned promise holds the stream until it settles (backpressure). */
  write(chunk: Uint8Array): void | Promise<void>;
  /**
   * The body reached its end: keep it with its trailers, replacing the variant of the
   * same key whose `vary` values are equal.
   */
  end(trailers: Array<[string, string]>): void | Promise<void>;
  /** The body failed or was closed before its end: keep nothing (and free what was written). */
  abort(): void;
}

export interface CacheStore {
  /** Every variant stored under `key`; [] when none. */
  get(key: string): CacheEntry[] | Promise<CacheEntry[]>;
  /** Starts storing a response under `key`; nothing is visible to get() before the writer's end(). */
  set(key: string, meta: CacheMetadata): CacheWriter | Promise<CacheWriter>;
  /** Replaces the metadata of variant `id` (after a 304), keeping its body. Unknown ids are ignored. */
  update(key: string, id: string, meta: CacheMetadata): void | Promise<void>;
  /** Drops every variant of `key`. */
  delete(key: string): void | Promise<void>;
}

/** The identity of a variant: its Vary fields and values, in a stable order. */
export function variantId(vary: Record<string, string | null>): string {
  return JSON.stringify(
    Object.keys(vary)
      .sort()
      .map((k) => [k, vary[k]]),
  );
}

export interface MemoryCacheStoreOptions {
  /** Bytes kept at most (bodies, fields, and a fixed 256 per entry); least recently used go first. Default 64 MiB. */
  maxBytes?: number;
  /** Bytes one entry may take; a larger body stops being stored as it streams. Default maxBytes. */
  maxEntryBytes?: number;
}

interface Stored {
  key: string;
  id: string;
  meta: CacheMetadata;
  chunks: Buffer[];
  bodyBytes: number;
  cost: number;
}

const ENTRY_OVERHEAD = 256;

/** The built-in store: everything in memory, bounded in bytes, least recently used evicted first. */
export class MemoryCacheStore implements CacheStore {
  readonly maxBytes: number;
  readonly maxEntryBytes: number;
  /** key → variant id → entry. Owned by this store; entries are never mutated once stored (update replaces). */
  readonly #keys = new Map<string, Map<string, Stored>>();
  /** Every entry, least recently used first (a Map keeps insertion order; a use re-inserts). */
  readonly #lru = new Map<Stored, true>();
  #bytes = 0;

  constructor(options: MemoryCacheStoreOptions = {}) {
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.maxEntryBytes = options.maxEntryBytes ?? this.maxBytes;
    for (const [k, v] of [
      ["maxBytes", this.maxBytes],
      ["maxEntryBytes", this.maxEntryBytes],
    ] as const) {
      if (!Number.isFinite(v) || v < 0) {
        throw new RoundtripError(
          "ERR_INVALID_REQUEST",
          `MemoryCacheStore ${k} must be a number of bytes ≥ 0`,
        );
      }
    }
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Entries held now (variants counted one by one). */
  get size(): number {
    return this.#lru.size;
  }

  get(key: string): CacheEntry[] {
    const variants = this.#keys.get(key);
    if (variants === undefined) return [];
    const out: CacheEntry[] = [];
    for (const s of variants.values()) {
      this.#lru.delete(s);
      this.#lru.set(s, true);
      out.push({ id: s.id, meta: s.meta, size: s.bodyBytes, body: () => replay(s.chunks) });
    }
    return out;
  }

  set(key: string, meta: CacheMetadata): CacheWriter {
    const chunks: Buffer[] = [];
    let bodyBytes = 0;
    let dropped = false;
    const fixed = ENTRY_OVERHEAD + fieldsBytes(meta.headers) + key.length;
    return {
      write: (chunk) => {
        if (dropped) return;
        bodyBytes += chunk.byteLength;
        if (fixed + bodyBytes > this.maxEntryBytes) {
          dropped = true;
          chunks.length = 0;
          return;
        }
        // A copy: a chunk may be a view into a larger socket buffer we must not keep alive.
        chunks.push(Buffer.from(chunk));
      },
      end: (trailers) => {
        if (dropped) return;
        const m = { ...meta, trailers };
        const cost = fixed + fieldsBytes(trailers) + bodyBytes;
        if (cost > this.maxEntryBytes) return;
        this.#insert({ key, id: variantId(meta.vary), meta: m, chunks, bodyBytes, cost });
      },
      abort: () => {
        dropped = true;
        chunks.length = 0;
      },
    };
  }

  update(key: string, id: string, meta: CacheMetadata): void {
    const old = this.#keys.get(key)?.get(id);
    if (old === undefined) return;
    const cost =
      ENTRY_OVERHEAD + fieldsBytes(meta.headers) + fieldsBytes(meta.trailers) + key.length + old.bodyBytes;
    this.#insert({ ...old, meta, cost });
  }

  delete(key: string): void {
    const variants = this.#keys.get(key);
    if (variants === undefined) return;
    for (const s of [...variants.values()]) this.#remove(s);
  }

  #insert(s: Stored): void {
    const variants = this.#keys.get(s.key) ?? new Map<string, Stored>();
    const old = variants.get(s.id);
    if (old !== undefined) this.#remove(old);
    if (s.cost > this.maxBytes) return;
    this.#keys.set(s.key, variants);
    variants.set(s.id, s);
    this.#lru.set(s, true);
    this.#bytes += s.cost;
    for (const victim of this.#lru.keys()) {
      if (this.#bytes <= this.maxBytes) break;
      this.#remove(victim);
    }
  }

  #remove(s: Stored): void {
    if (!this.#lru.delete(s)) return;
    this.#bytes -= s.cost;
    const variants = this.#keys.get(s.key)!;
    variants.delete(s.id);
    if (variants.size === 0) this.#keys.delete(s.key);
  }
}

function fieldsBytes(fields: Array<[string, string]>): number {
  let n = 0;
  for (const [k, v] of fields) n += k.length + v.length + 4;
  return n;
}

async function* replay(chunks: readonly Buffer[]): AsyncGenerator<Uint8Array> {
  for (const c of chunks) yield c;
}
