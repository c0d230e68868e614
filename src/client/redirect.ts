/**
 * Redirect rules, as Go's Client applies them (client.go: redirectBehavior,
 * shouldCopyHeaderOnRedirect), with the fetch spec's removal of body headers.
 */
import { FileBody } from "../body/file.js";
import type { BodyInit } from "../body/outgoing.js";

export const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * Headers that leave with the caller's credentials when a redirect changes domain: Go's
 * shouldCopyHeaderOnRedirect list, Proxy-Authorization and Proxy-Authenticate included
 * since Go 1.24.4 (CVE-2025-4673).
 */
export const SENSITIVE_HEADERS = [
  "authorization",
  "cookie",
  "cookie2",
  "proxy-authenticate",
  "proxy-authorization",
  "www-authenticate",
];

/** Headers that describe a body, dropped when the redirect drops the body. */
export const BODY_HEADERS = [
  "content-type",
  "content-length",
  "transfer-encoding",
  "content-encoding",
  "content-language",
  "content-location",
];

export interface RedirectPlan {
  method: string;
  keepBody: boolean;
}

/** 301/302/303 → GET without a body (HEAD stays HEAD); 307/308 keep method and body. */
export function redirectPlan(status: number, method: string): RedirectPlan {
  if (status === 307 || status === 308) return { method, keepBody: true };
  return { method: method === "GET" || method === "HEAD" ? method : "GET", keepBody: false };
}

/** Go's rule: credentials follow to the same host or one of its subdomains, never elsewhere. */
export function keepsCredentials(initial: URL, dest: URL): boolean {
  const ihost = initial.hostname.toLowerCase();
  const dhost = dest.hostname.toLowerCase();
  if (dhost === ihost) return true;
  if (ihost.startsWith("[") || dhost.startsWith("[")) return false;
  return dhost.endsWith("." + ihost);
}

/** Whether a redirect from `from` to `to` changes origin (scheme, host or port). */
export function isCrossOrigin(from: URL, to: URL): boolean {
  return from.origin !== to.origin;
}

/** A body the Client may send again without the caller's getBody. */
export function isReplayableInit(body: BodyInit | null | undefined): boolean {
  if (body == null) return true;
  return (
    typeof body === "string" ||
    body instanceof Uint8Array ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof FileBody ||
    body instanceof URLSearchParams ||
    (typeof Blob !== "undefined" && body instanceof Blob) ||
    (typeof FormData !== "undefined" && body instanceof FormData)
  );
}

/**
 * The next URL: Location resolved against the current one; the fragment kept if
 * Location has none (browsers). Header values reach us as latin1 (one char per byte);
 * bytes ≥ 0x80 are percent-encoded as they are, so a UTF-8 Location means what it
 * says (as in browsers) and any other bytes go back as sent (as in Go).
 */
export function resolveLocation(location: string, current: URL): URL {
  const next = new URL(escapeHighBytes(location), current);
  if (next.hash === "" && current.hash !== "" && !location.includes("#")) next.hash = current.hash;
  return next;
}

/** Whether a Location is relative (a custom Host survives only those). */
export function isRelativeLocation(location: string): boolean {
  return !/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(location) && !location.startsWith("//");
}

function escapeHighBytes(s: string): string {
  if (!/[\u0080-\u00ff]/.test(s)) return s;
  return s.replace(/[\u0080-\u00ff]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}
