/**
 * RFC 9111 arithmetic for a private cache: whether a response may be stored (§3), its
 * freshness lifetime (§4.2.1, heuristics §4.2.2) and its current age (§4.2.3). All
 * times are ms since the epoch, from the cache's clock; header dates are parsed strictly.
 */
import type { Headers } from "../http1/headers.js";
import { parseHttpDate } from "../server/http-date.js";
import { type Directives, seconds } from "./cache-control.js";

/** RFC 9110 §15.1: statuses cacheable by default (heuristically fresh). */
export const HEURISTICALLY_CACHEABLE: ReadonlySet<number> = new Set([
  200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501,
]);

/** The fraction of (Date − Last-Modified) a heuristic lifetime is (RFC 9111 §4.2.2's "typical setting"). */
const HEURISTIC_FRACTION = 0.1;

/**
 * Whether a response to a GET may be stored (RFC 9111 §3, private cache): a final status
 * we can replay whole (not 206 nor 304), no no-store either way, not `Vary: *`, and
 * something that allows storing: an explicit lifetime, public, private (ours is a
 * private cache), or a heuristically cacheable status. s-maxage is a shared cache's.
 */
export function mayStore(
  status: number,
  headers: Headers,
  response: Directives,
  request: Directives,
): boolean {
  if (status < 200 || status === 206 || status === 304) return false;
  if (response.has("no-store") || request.has("no-store")) return false;
  if (varyNames(headers) === null) return false;
  return (
    response.has("max-age") ||
    headers.has("expires") ||
    response.has("public") ||
    response.has("private") ||
    HEURISTICALLY_CACHEABLE.has(status)
  );
}

/** The lower-cased field names of Vary, or null for `Vary: *` (never matches a request). */
export function varyNames(headers: Headers): string[] | null {
  const names: string[] = [];
  for (const line of headers.getAll("vary")) {
    for (const part of line.split(",")) {
      const name = part.trim().toLowerCase();
      if (name === "*") return null;
      if (name !== "" && !names.includes(name)) names.push(name);
    }
  }
  return names;
}

/** A request field's value as Vary compares it: every line, joined, whitespace around commas dropped. */
export function varyValue(headers: Headers | null, name: string): string | null {
  const lines = headers?.getAll(name) ?? [];
  if (lines.length === 0) return null;
  return lines
    .join(",")
    .split(",")
    .map((s) => s.trim())
    .join(",");
}

/** The response's Date, else when it was received. */
function dateOf(headers: Headers, responseTime: number): number {
  const d = headers.get("date");
  return (d !== null ? parseHttpDate(d) : undefined) ?? responseTime;
}

/**
 * ms the response is fresh for, counted from its generation (RFC 9111 §4.2.1): max-age,
 * else Expires − Date (an invalid Expires is already expired), else 10% of
 * Date − Last-Modified for a heuristically cacheable status or a public response, else 0.
 */
export function freshnessLifetime(
  status: number,
  headers: Headers,
  response: Directives,
  responseTime: number,
): number {
  const maxAge = seconds(response, "max-age");
  if (maxAge !== undefined) return maxAge * 1000;
  const expires = headers.get("expires");
  if (expires !== null) {
    const at = parseHttpDate(expires);
    return at === undefined ? 0 : Math.max(0, at - dateOf(headers, responseTime));
  }
  if (!HEURISTICALLY_CACHEABLE.has(status) && !response.has("public")) return 0;
  const lm = headers.get("last-modified");
  const modified = lm !== null ? parseHttpDate(lm) : undefined;
  if (modified === undefined) return 0;
  return Math.max(0, (dateOf(headers, responseTime) - modified) * HEURISTIC_FRACTION);
}

/**
 * ms since the origin generated the response, now (RFC 9111 §4.2.3): the larger of the
 * apparent age (receipt − Date) and Age plus the request's round trip, plus the time it
 * has been stored.
 */
export function currentAge(headers: Headers, requestTime: number, responseTime: number, now: number): number {
  const apparent = Math.max(0, responseTime - dateOf(headers, responseTime));
  const ageField = headers.get("age");
  const age = ageField !== null && /^\s*\d+\s*$/.test(ageField) ? Number(ageField) * 1000 : 0;
  const corrected = age + (responseTime - requestTime);
  return Math.max(apparent, corrected) + Math.max(0, now - responseTime);
}
