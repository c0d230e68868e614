/**
 * Headers: case-insensitive, multi-valued, order-preserving.
 *
 * Stored as two parallel arrays of field lines (name as given, value), so that a parsed
 * response builds one cheaply and a request goes out with the caller's casing. Lookups
 * lower-case lazily: a response nobody inspects never pays for it. Set-Cookie lines are
 * never joined (getSetCookie()), as WHATWG fetch and Go both keep them apart.
 */
import { RoundtripError } from "../errors.js";
import { isFieldValue, isToken, printable, trimOWS } from "./chars.js";

export type HeaderValue = string | number | readonly string[];
export type HeadersInit =
  | Headers
  | globalThis.Headers
  | Record<string, HeaderValue | undefined | null>
  | Iterable<readonly [string, string]>;

const kTrusted = Symbol("trusted");

export class Headers implements Iterable<[string, string]> {
  #names: string[];
  #values: string[];
  /** Lower-cased names, built on first lookup and kept in step afterwards. */
  #lower: string[] | null = null;

  constructor(init?: HeadersInit | null) {
    this.#names = [];
    this.#values = [];
    if (init == null) return;
    if (init instanceof Headers) {
      this.#names = init.#names.slice();
      this.#values = init.#values.slice();
      return;
    }
    if (isIterable(init)) {
      for (const pair of init) {
        if (!Array.isArray(pair) || pair.length !== 2) {
          throw new RoundtripError("ERR_INVALID_REQUEST", "header pairs must be [name, value] arrays");
        }
        this.append(pair[0], pair[1]);
      }
      return;
    }
    for (const name of Object.keys(init)) {
      const v = (init as Record<string, HeaderValue | undefined | null>)[name];
      if (v === undefined || v === null) continue;
      if (Array.isArray(v)) for (const item of v) this.append(name, item);
      else this.append(name, String(v));
    }
  }

  /**
   * Builds Headers from parser output without re-validating: the parser has already
   * checked every byte. `list` alternates name, value.
   * @internal
   */
  static [kTrusted](names: string[], values: string[]): Headers {
    const h = new Headers();
    h.#names = names;
    h.#values = values;
    return h;
  }

  get size(): number {
    return this.#names.length;
  }

  append(name: string, value: string): void {
    const v = checkField(name, value);
    this.#names.push(name);
    this.#values.push(v);
    this.#lower?.push(name.toLowerCase());
  }

  /** Replaces every line of `name` with one, in the place of the first (order-preserving). */
  set(name: string, value: string): void {
    const v = checkField(name, value);
    const key = name.toLowerCase();
    const at = this.#indexOf(key);
    if (at === -1) {
      this.#names.push(name);
      this.#values.push(v);
      this.#lower!.push(key);
      return;
    }
    this.#names[at] = name;
    this.#values[at] = v;
    // Drop the later lines of the name; the first keeps its place.
    this.#removeFrom(at + 1, key);
  }

  delete(name: string): void {
    this.#lowerNames();
    this.#removeFrom(0, name.toLowerCase());
  }

  /** Removes the lines named `key` (lowercase) from index `start` on, keeping the order. */
  #removeFrom(start: number, key: string): void {
    const lower = this.#lower!;
    let w = start;
    for (let r = start; r < lower.length; r++) {
      if (lower[r] === key) continue;
      lower[w] = lower[r]!;
      this.#names[w] = this.#names[r]!;
      this.#values[w] = this.#values[r]!;
      w++;
    }
    lower.length = w;
    this.#names.length = w;
    this.#values.length = w;
  }

  has(name: string): boolean {
    return this.#indexOf(name.toLowerCase()) !== -1;
  }

  /** All values of `name` joined with ", " (Set-Cookie too, as WHATWG does); null if absent. */
  get(name: string): string | null {
    const key = name.toLowerCase();
    const lower = this.#lowerNames();
    let out: string | null = null;
    for (let i = 0; i < lower.length; i++) {
      if (lower[i] === key) out = out === null ? this.#values[i]! : out + ", " + this.#values[i]!;
    }
    return out;
  }

  /** Every value of `name`, one per field line, in order. */
  getAll(name: string): string[] {
    const key = name.toLowerCase();
    const lower = this.#lowerNames();
    const out: string[] = [];
    for (let i = 0; i < lower.length; i++) if (lower[i] === key) out.push(this.#values[i]!);
    return out;
  }

  getSetCookie(): string[] {
    return this.getAll("set-cookie");
  }

  /** Field lines in order, names lower-cased, one entry per line (not combined). */
  *entries(): IterableIterator<[string, string]> {
    const lower = this.#lowerNames();
    for (let i = 0; i < lower.length; i++) yield [lower[i]!, this.#values[i]!];
  }

  *keys(): IterableIterator<string> {
    for (const [k] of this.entries()) yield k;
  }

  *values(): IterableIterator<string> {
    for (const [, v] of this.entries()) yield v;
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }

  forEach(fn: (value: string, name: string, headers: Headers) => void): void {
    for (const [k, v] of this.entries()) fn(v, k, this);
  }

  /** Field lines with the names as they were given or received. */
  raw(): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (let i = 0; i < this.#names.length; i++) out.push([this.#names[i]!, this.#values[i]!]);
    return out;
  }

  /** A plain object: lower-cased names, repeated fields joined with ", " (Set-Cookie as an array). */
  toJSON(): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of this.entries()) {
      const prev = out[k];
      if (k === "set-cookie") out[k] = prev === undefined ? [v] : [...(prev as string[]), v];
      else out[k] = prev === undefined ? v : prev + ", " + v;
    }
    return out;
  }

  /** @internal names as given, for the serializer. */
  get _names(): readonly string[] {
    return this.#names;
  }
  /** @internal */
  get _values(): readonly string[] {
    return this.#values;
  }
  /** @internal lower-cased names, parallel to _names. */
  get _lowerNames(): readonly string[] {
    return this.#lowerNames();
  }

  #lowerNames(): string[] {
    let lower = this.#lower;
    if (lower === null) {
      const names = this.#names;
      lower = new Array<string>(names.length);
      for (let i = 0; i < names.length; i++) lower[i] = names[i]!.toLowerCase();
      this.#lower = lower;
    }
    return lower;
  }

  #indexOf(key: string): number {
    return this.#lowerNames().indexOf(key);
  }
}

/** @internal */
export const trustedHeaders = (names: string[], values: string[]): Headers =>
  Headers[kTrusted](names, values);

function checkField(name: string, value: string): string {
  if (typeof name !== "string" || !isToken(name)) {
    throw new RoundtripError("ERR_INVALID_REQUEST", `invalid header name ${printable(String(name))}`);
  }
  const v = trimOWS(typeof value === "string" ? value : String(value));
  if (!isFieldValue(v)) {
    throw new RoundtripError(
      "ERR_INVALID_REQUEST",
      `invalid value for header ${printable(name)}: it holds CR, LF, NUL, another control byte or a character above U+00FF`,
    );
  }
  return v;
}

function isIterable(x: unknown): x is Iterable<readonly [string, string]> {
  return (
    typeof x === "object" && x !== null && typeof (x as Iterable<unknown>)[Symbol.iterator] === "function"
  );
}
