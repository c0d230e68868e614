/**
 * The Range request field (RFC 9110 section 14.2), read as Go's parseRange reads it, plus the
 * guards against range amplification.
 */

/** One byte range of the representation: `length` bytes from offset `start`. */
export interface ByteRange {
  start: number;
  length: number;
}

export type RangeRequest =
  /** No Range, or one we must or choose to ignore: send the whole representation (200). */
  | { kind: "whole" }
  /** Satisfiable ranges, in the order the client listed them (206). */
  | { kind: "ranges"; ranges: ByteRange[] }
  /** A `bytes` range set we cannot parse (416, as Go answers). */
  | { kind: "invalid" }
  /** Well formed, but every range starts at or past the end (416 with `bytes *\/size`). */
  | { kind: "unsatisfiable" };

/**
 * Parses `header` against a representation of `size` bytes.
 *
 * Differences from Go, both allowed by RFC 9110: a range unit other than `bytes` is ignored
 * (the RFC says MUST ignore; Go answers 416), and numbers too large for a JS number are
 * treated as "past the end" instead of as syntax errors.
 */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: "whole" };
  const eq = header.indexOf("=");
  if (eq < 0) return { kind: "invalid" };
  if (header.slice(0, eq).toLowerCase() !== "bytes") return { kind: "whole" };

  const ranges: ByteRange[] = [];
  let pastEnd = false;
  for (const raw of header.slice(eq + 1).split(",")) {
    const spec = raw.trim();
    if (spec === "") continue; // RFC 9110 5.6.1: empty list elements are ignored
    const dash = spec.indexOf("-");
    if (dash < 0) return { kind: "invalid" };
    const first = spec.slice(0, dash).trim();
    const last = spec.slice(dash + 1).trim();
    if (first === "") {
      // suffix-range: the final `last` bytes; longer than the file means all of it.
      const n = digits(last);
      if (n === undefined) return { kind: "invalid" };
      const len = Math.min(n, size);
      // A zero-length suffix selects nothing; Go keeps it as an empty range, which then
      // fails the sum guard or yields an empty part. RFC 9110 calls it unsatisfiable.
      if (len === 0) {
        pastEnd = true;
        continue;
      }
      ranges.push({ start: size - len, length: len });
      continue;
    }
    const start = digits(first);
    if (start === undefined) return { kind: "invalid" };
    let end: number;
    if (last === "") {
      end = size - 1;
    } else {
      const n = digits(last);
      if (n === undefined || n < start) return { kind: "invalid" };
      end = Math.min(n, size - 1);
    }
    if (start >= size) {
      pastEnd = true;
      continue;
    }
    ranges.push({ start, length: end - start + 1 });
  }
  if (ranges.length === 0 && pastEnd) return { kind: "unsatisfiable" };
  // `bytes=` with nothing in it: Go serves the whole file, and so do we.
  if (ranges.length === 0) return { kind: "whole" };
  return { kind: "ranges", ranges };
}

/**
 * Go's amplification guard, plus a count limit Go lacks: ranges that add up to more than
 * the representation (overlaps, repeats) or more than `maxRanges` of them make the request
 * look like an attack or a confused client, so the Range field is ignored and the whole
 * representation is sent, which RFC 9110 section 14.2 permits.
 */
export function tooCostly(ranges: ByteRange[], size: number, maxRanges: number): boolean {
  if (ranges.length > maxRanges) return true;
  let sum = 0;
  for (const r of ranges) sum += r.length;
  return sum > size;
}

/** `bytes first-last/size` for Content-Range. */
export function contentRange(r: ByteRange, size: number): string {
  return `bytes ${r.start}-${r.start + r.length - 1}/${size}`;
}

/** 1*DIGIT as a number; past Number.MAX_SAFE_INTEGER it saturates (still "past the end"). */
function digits(s: string): number | undefined {
  if (s === "" || !/^[0-9]+$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : Number.MAX_SAFE_INTEGER;
}
