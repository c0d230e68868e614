/**
 * Entity tags (RFC 9110 section 8.8.3): scanning them out of If-Match / If-None-Match /
 * If-Range lists, the two comparison functions, and the tag serveFile generates.
 */
import { trimOWS } from "../http1/chars.js";

/**
 * Reads one entity tag at the start of `s` (after optional whitespace). Returns the tag,
 * including its `W/` prefix and quotes, and the text after it; `undefined` when `s` does
 * not start with a well-formed tag.
 */
export function scanETag(s: string): { tag: string; rest: string } | undefined {
  const text = trimOWS(s);
  const open = text.startsWith("W/") ? 2 : 0;
  if (text.length - open < 2 || text.charCodeAt(open) !== 0x22) return undefined;
  for (let i = open + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) return { tag: text.slice(0, i + 1), rest: text.slice(i + 1) };
    // etagc = %x21 / %x23-7E / obs-text; a JS string holds obs-text as code units >= 0x80.
    if (!(c === 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80)) return undefined;
  }
  return undefined;
}

/** Strong comparison: both tags strong and identical. */
export function strongMatch(a: string, b: string | undefined): boolean {
  return b !== undefined && a === b && a.charCodeAt(0) === 0x22;
}

/** Weak comparison: identical once any `W/` prefix is removed. */
export function weakMatch(a: string, b: string | undefined): boolean {
  return b !== undefined && stripWeak(a) === stripWeak(b);
}

function stripWeak(tag: string): string {
  return tag.startsWith("W/") ? tag.slice(2) : tag;
}

/**
 * Walks a comma-separated list of entity tags (the field value of If-Match or
 * If-None-Match) and reports whether `*` or any tag satisfies `match`. A malformed member
 * ends the walk, as Go does: what came before it still counts.
 */
export function listMatches(list: string, match: (tag: string) => boolean): boolean {
  let rest = list;
  for (;;) {
    rest = trimOWS(rest);
    if (rest === "") return false;
    if (rest[0] === ",") {
      rest = rest.slice(1);
      continue;
    }
    if (rest[0] === "*") return true;
    const scanned = scanETag(rest);
    if (!scanned) return false;
    if (match(scanned.tag)) return true;
    rest = scanned.rest;
  }
}

/**
 * The tag serveFile sends: size and modification time in nanoseconds, both in hex, like
 * nginx's `"mtime-size"` but with sub-second precision so two writes within one second
 * still change it. It is a strong validator by default: it changes whenever the file is
 * rewritten through the file system (which updates mtime), and If-Range needs a strong one.
 */
export function fileETag(size: number, mtimeNs: bigint, weak: boolean): string {
  const tag = `"${size.toString(16)}-${mtimeNs.toString(16)}"`;
  return weak ? `W/${tag}` : tag;
}
