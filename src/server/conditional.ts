/**
 * Request preconditions evaluated in the order of RFC 9110 section 13.2.2, as Go's
 * checkPreconditions does: If-Match, else If-Unmodified-Since → 412; If-None-Match, else
 * If-Modified-Since → 304 (GET/HEAD) or 412; then If-Range decides whether Range counts.
 * Pure: it reads header values and validators and returns a verdict; the caller writes.
 */
import type { IncomingHttpHeaders } from "node:http";
import { listMatches, scanETag, strongMatch, weakMatch } from "./etag.js";
import { parseHttpDate } from "./http-date.js";

export interface Validators {
  /** The current entity tag as sent in the ETag field, or undefined if there is none. */
  etag: string | undefined;
  /** Last modification, ms since the epoch, or undefined when unknown (then dates never match). */
  modified: number | undefined;
}

export type Verdict =
  | { kind: "proceed"; range: string | undefined }
  | { kind: "not-modified" }
  | { kind: "precondition-failed" };

type Cond = "none" | "true" | "false";

export function evaluatePreconditions(method: string, headers: IncomingHttpHeaders, v: Validators): Verdict {
  const safe = method === "GET" || method === "HEAD";
  // Header dates carry whole seconds, so compare against the modification time truncated likewise.
  const modified = v.modified === undefined ? undefined : Math.floor(v.modified / 1000) * 1000;

  let cond = ifMatch(one(headers["if-match"]), v.etag);
  if (cond === "none") cond = ifUnmodifiedSince(one(headers["if-unmodified-since"]), modified);
  if (cond === "false") return { kind: "precondition-failed" };

  const inm = ifNoneMatch(one(headers["if-none-match"]), v.etag);
  if (inm === "false") return safe ? { kind: "not-modified" } : { kind: "precondition-failed" };
  if (inm === "none" && safe && ifModifiedSince(one(headers["if-modified-since"]), modified) === "false") {
    return { kind: "not-modified" };
  }

  const range = one(headers.range);
  if (range === undefined || range === "") return { kind: "proceed", range: undefined };
  if (safe && ifRange(one(headers["if-range"]), v.etag, modified) === "false") {
    return { kind: "proceed", range: undefined };
  }
  return { kind: "proceed", range };
}

function ifMatch(value: string | undefined, etag: string | undefined): Cond {
  if (!value) return "none";
  return listMatches(value, (tag) => strongMatch(tag, etag)) ? "true" : "false";
}

function ifUnmodifiedSince(value: string | undefined, modified: number | undefined): Cond {
  if (!value || modified === undefined) return "none";
  const t = parseHttpDate(value);
  if (t === undefined) return "none"; // RFC 9110 13.1.4: an invalid date is ignored
  return modified <= t ? "true" : "false";
}

function ifNoneMatch(value: string | undefined, etag: string | undefined): Cond {
  if (!value) return "none";
  return listMatches(value, (tag) => weakMatch(tag, etag)) ? "false" : "true";
}

function ifModifiedSince(value: string | undefined, modified: number | undefined): Cond {
  if (!value || modified === undefined) return "none";
  const t = parseHttpDate(value);
  if (t === undefined) return "none";
  return modified <= t ? "false" : "true";
}

function ifRange(value: string | undefined, etag: string | undefined, modified: number | undefined): Cond {
  if (!value) return "none";
  const scanned = scanETag(value);
  if (scanned) return strongMatch(scanned.tag, etag) ? "true" : "false";
  // A date validator must match exactly (RFC 9110 13.1.5); an unknown date never does.
  if (modified === undefined) return "false";
  return parseHttpDate(value) === modified ? "true" : "false";
}

/** Node gives a string for most fields, an array for a few; a list field arrives joined. */
function one(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(", ") : value;
}
