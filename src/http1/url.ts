/**
 * Request URLs: parsed once with WHATWG URL, never taken from caller getters as is, and
 * turned into the three request-target forms of RFC 9112 §3.2 and the Host field.
 */
import { RoundtripError, redactURL } from "../errors.js";
import { isTarget, printable } from "./chars.js";

export interface RequestURL {
  url: URL;
  /** "http" or "https", without the colon. */
  scheme: string;
  /** Host name to dial: IPv6 without brackets, zone kept for link-local dialing. */
  hostname: string;
  port: number;
  /** Host field value: IPv6 in brackets, zone removed (RFC 6874 §4), default port omitted. */
  host: string;
  /** "host:port" key for the pool and stats; IPv6 in brackets, zone kept ("[fe80::1%eth0]:80"). */
  hostPort: string;
}

/**
 * The schemes the transport speaks itself, with their default ports. A URL of any other
 * scheme reaches this module only when no round tripper is registered for it
 * (transport.registerProtocol hands such URLs over before they are parsed here).
 */
const DEFAULT_PORTS: Record<string, number> = { "http:": 80, "https:": 443 };

// WHATWG URL has no IPv6 zone ids; Go's URL does ("[fe80::1%25eth0]"). Take the zone out
// before parsing and keep it for dialing, so link-local addresses work and the Host field
// never carries it.
const ZONE = /^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/(?:[^@/?#]*@)?\[[0-9a-fA-F:.]+)%25([^\]]+)\]/;

/** RFC 6874 ZoneID, once percent-decoded: unreserved characters only (eth0, en0, 25). */
const ZONE_ID = /^[A-Za-z0-9._~-]+$/;

/** C0 controls and DEL. WHATWG URL silently drops tabs and newlines; Go refuses them. */
const CONTROL = /[\x00-\x1f\x7f]/;

export function parseRequestURL(input: string | URL): RequestURL {
  // A genuine URL instance (no subclass, no own-property getters) is already parsed and
  // serialized by WHATWG URL: take it without parsing its href again.
  if (
    input instanceof URL &&
    Object.getPrototypeOf(input) === URL.prototype &&
    Object.getOwnPropertyNames(input).length === 0
  ) {
    if (input.hostname.indexOf("%") === -1) return fromURL(input, "");
  }
  let text: string;
  if (typeof input === "string") text = input;
  else if (input instanceof URL) text = input.href;
  else throw new RoundtripError("ERR_INVALID_REQUEST", "request url must be a string or a URL");
  const ctl = CONTROL.exec(text);
  if (ctl) {
    // Never let "http://h/a\r\nb" quietly become a request for "/ab".
    const code = ctl[0].charCodeAt(0).toString(16).padStart(2, "0");
    throw new RoundtripError(
      "ERR_INVALID_REQUEST",
      `URL holds a control character (0x${code} at offset ${ctl.index}): ${printable(maskPassword(text))}`,
    );
  }
  let zone = "";
  const m = ZONE.exec(text);
  if (m) {
    let decoded = "";
    try {
      decoded = decodeURIComponent(m[2]!);
    } catch {
      // a malformed escape: refused below
    }
    if (!ZONE_ID.test(decoded)) {
      throw new RoundtripError(
        "ERR_INVALID_REQUEST",
        `invalid IPv6 zone in URL ${printable(maskPassword(text))}`,
      );
    }
    zone = decoded;
    text = m[1] + "]" + text.slice(m[0].length);
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch (cause) {
    throw new RoundtripError("ERR_INVALID_REQUEST", `invalid URL ${printable(maskPassword(text))}`, {
      cause,
    });
  }
  return fromURL(url, zone);
}

/**
 * The URL text with its password masked, even when it does not parse (redactURL gives
 * an unparsable string back as is, password and all).
 */
function maskPassword(text: string): string {
  return redactURL(text);
}

export function fromURL(url: URL, zone = ""): RequestURL {
  const scheme = url.protocol.slice(0, -1);
  const defaultPort = DEFAULT_PORTS[url.protocol];
  if (defaultPort === undefined) {
    throw new RoundtripError(
      "ERR_INVALID_REQUEST",
      `unsupported URL scheme ${printable(scheme)} in ${redactURL(url)}: supported are http and https (transport.registerProtocol adds others)`,
      { url: redactURL(url) },
    );
  }
  if (url.hostname === "") {
    throw new RoundtripError("ERR_INVALID_REQUEST", `URL has no host: ${redactURL(url)}`, {
      url: redactURL(url),
    });
  }
  if (url.port === "0") {
    throw new RoundtripError("ERR_INVALID_REQUEST", `URL has port 0: ${redactURL(url)}`);
  }
  const port = url.port === "" ? defaultPort : Number(url.port);
  const bracketed = url.hostname.startsWith("[");
  const bare = bracketed ? url.hostname.slice(1, -1) : url.hostname;
  const hostname = zone ? `${bare}%${zone}` : bare;
  // The pool key keeps the zone (as Go's does): fe80::1 on eth0 and on eth1 are two hosts.
  const hostPort = bracketed ? `[${hostname}]:${port}` : `${hostname}:${port}`;
  return { url, scheme, hostname, port, host: url.host, hostPort };
}

/** origin-form: absolute-path [ "?" query ]; never the fragment. */
export function originForm(url: URL): string {
  const target = url.pathname + url.search;
  checkTarget(target);
  return target;
}

/** absolute-form, for a forward proxy: no userinfo, no fragment. */
export function absoluteForm(url: URL): string {
  const target = `${url.protocol}//${url.host}${url.pathname}${url.search}`;
  checkTarget(target);
  return target;
}

/** authority-form, for CONNECT: host:port. */
export function authorityForm(hostname: string, port: number): string {
  const host = hostname.includes(":") ? `[${hostname.replace(/%.*$/, "")}]` : hostname;
  const target = `${host}:${port}`;
  checkTarget(target);
  return target;
}

function checkTarget(target: string): void {
  // URL serialization already percent-encodes; this is the last line before the wire.
  if (!isTarget(target)) {
    throw new RoundtripError(
      "ERR_INVALID_REQUEST",
      `request target holds a control byte or space: ${printable(target)}`,
    );
  }
}
