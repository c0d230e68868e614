/**
 * Cache-Control (RFC 9111 §5.2) read into directives: names lower-cased, values
 * unquoted. A field repeated, or split over several lines, is one list.
 */
import type { Headers } from "../http1/headers.js";

/** Directive name → its argument, or null for a directive without one. */
export type Directives = ReadonlyMap<string, string | null>;

const EMPTY: Directives = new Map();

export function parseCacheControl(headers: Headers): Directives {
  const values = headers.getAll("cache-control");
  if (values.length === 0) {
    // RFC 9111 §5.4: Pragma: no-cache counts as Cache-Control: no-cache when there is no Cache-Control.
    const pragma = headers.get("pragma");
    return pragma !== null && /(?:^|,)\s*no-cache\s*(?:,|$)/i.test(pragma)
      ? new Map([["no-cache", null]])
      : EMPTY;
  }
  const out = new Map<string, string | null>();
  for (const value of values) readList(value, out);
  return out;
}

/** Reads `a, b=1, c="x, y"` into `out`; the first occurrence of a directive wins (RFC 9111 §4.2.1). */
function readList(s: string, out: Map<string, string | null>): void {
  let i = 0;
  while (i < s.length) {
    while (i < s.length && (s[i] === " " || s[i] === "\t" || s[i] === ",")) i++;
    const start = i;
    while (i < s.length && s[i] !== "=" && s[i] !== ",") i++;
    const name = s.slice(start, i).trim().toLowerCase();
    let value: string | null = null;
    if (s[i] === "=") {
      i++;
      while (i < s.length && (s[i] === " " || s[i] === "\t")) i++;
      if (s[i] === '"') {
        let v = "";
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === "\\" && i + 1 < s.length) i++;
          v += s[i];
          i++;
        }
        i++; // closing quote
        while (i < s.length && s[i] !== ",") i++;
        value = v;
      } else {
        const vs = i;
        while (i < s.length && s[i] !== ",") i++;
        value = s.slice(vs, i).trim();
      }
    }
    if (name !== "" && !out.has(name)) out.set(name, value);
  }
}

/**
 * A delta-seconds argument (max-age=60) in seconds; undefined when absent or not
 * digits. RFC 9111 §1.2.2: a value too large to represent is taken as 2^31.
 */
export function seconds(d: Directives, name: string): number | undefined {
  const v = d.get(name);
  if (v === undefined || v === null || !/^\d+$/.test(v)) return undefined;
  return Math.min(Number(v), 2 ** 31);
}
