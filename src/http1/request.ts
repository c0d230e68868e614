/**
 * The request serializer: turns a validated request into the bytes of its head
 * (RFC 9112 §3 and §6). Nothing here touches a socket; every byte written from caller
 * input has been checked first, so no CR, LF or NUL can reach the wire.
 *
 * Framing rule (Go's transferWriter, made explicit):
 *  - the caller's `Transfer-Encoding` may only be `chunked` (honoured: the body is sent
 *    chunked whatever its length); anything else is ERR_INVALID_REQUEST;
 *  - the caller's `Content-Length` must equal a known body length (ERR_REQUEST_BODY);
 *    with a body of unknown length it declares the length, and the writer enforces it;
 *    both headers at once is ERR_INVALID_REQUEST;
 *  - otherwise: known length → Content-Length; unknown → chunked; no body (or a body
 *    of length 0) → neither, except POST, PUT and PATCH, which send `Content-Length: 0`
 *    as Go does.
 *
 * Connection rule (serializeHead): the caller's Connection field goes out as given; with
 * `close` requested, a caller's `keep-alive` token is dropped (other tokens such as
 * `upgrade` stay) and `Connection: close` is added unless the caller already said close.
 */
import { RoundtripError } from "../errors.js";
import { isFieldValue, isHost, isTarget, isToken, printable } from "./chars.js";
import type { Headers } from "./headers.js";

export type Framing = { kind: "none" } | { kind: "length"; length: number } | { kind: "chunked" };

export const NO_BODY: Framing = Object.freeze({ kind: "none" });

export interface RequestHead {
  method: string;
  target: string;
  /** Host field value; the `host` option has already won over a caller Host header. */
  host: string;
  headers: Headers | null;
  framing: Framing;
  /** Default User-Agent, sent when the caller set none; a caller's empty value sends none. */
  userAgent: string;
  /** Ask the server to close after this exchange. */
  close: boolean;
  expectContinue: boolean;
  /** Accept-Encoding the transport adds (transparent decompression), or null; a caller's wins. */
  acceptEncoding: string | null;
  /** Proxy-Authorization for a forward proxy (absolute-form requests); a caller's wins. */
  proxyAuthorization?: string | null;
}

/**
 * Methods upper-cased when a caller's method matches one of them case-insensitively: the
 * methods of RFC 9110 §9 and PATCH (RFC 5789). Method names are case-sensitive (RFC 9110
 * §9.1), so `post` is strictly another method, one no server implements; got and axios
 * upper-case every method, fetch only DELETE, GET, HEAD, OPTIONS, POST and PUT (leaving
 * `patch` to fail with a 400 or 405). We take the standard names, PATCH among them, and
 * send any other method (`M-SEARCH`, `propfind`) exactly as given.
 */
const STANDARD_METHODS = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "CONNECT",
  "OPTIONS",
  "TRACE",
  "PATCH",
]);

/**
 * Checks a caller's method (an RFC 9110 token, else ERR_INVALID_REQUEST) and returns it
 * as it goes on the wire: a standard method in upper case, any other as given.
 */
export function validateMethod(method: string): string {
  if (STANDARD_METHODS.has(method)) return method;
  if (typeof method !== "string" || !isToken(method)) {
    throw new RoundtripError("ERR_INVALID_REQUEST", `invalid method ${printable(String(method))}`);
  }
  const upper = method.toUpperCase();
  return STANDARD_METHODS.has(upper) ? upper : method;
}

const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);

/**
 * Decides the framing of a request from its body length and the caller's framing headers.
 * `bodyLength`: undefined = no body; null = unknown length; a number = known length.
 */
export function planFraming(
  method: string,
  bodyLength: number | null | undefined,
  headers: Headers | null,
): Framing {
  let te: string | null = null;
  let cl: string | null = null;
  if (headers !== null && headers.size > 0) {
    te = headers.get("transfer-encoding");
    const cls = headers.getAll("content-length");
    if (cls.length > 0) {
      if (cls.some((v) => v !== cls[0])) {
        throw new RoundtripError("ERR_INVALID_REQUEST", "conflicting Content-Length headers");
      }
      cl = cls[0]!;
    }
  }
  if (te !== null) {
    if (te.toLowerCase() !== "chunked") {
      throw new RoundtripError(
        "ERR_INVALID_REQUEST",
        `unsupported Transfer-Encoding ${printable(te)}: only "chunked" may be set by the caller`,
      );
    }
    if (cl !== null) {
      throw new RoundtripError("ERR_INVALID_REQUEST", "both Content-Length and Transfer-Encoding were set");
    }
    return { kind: "chunked" };
  }
  if (cl !== null) {
    if (!/^[0-9]{1,15}$/.test(cl)) {
      throw new RoundtripError("ERR_INVALID_REQUEST", `invalid Content-Length ${printable(cl)}`);
    }
    const declared = Number(cl);
    const actual = bodyLength === undefined ? 0 : bodyLength;
    if (actual !== null && actual !== declared) {
      throw new RoundtripError(
        "ERR_REQUEST_BODY",
        `Content-Length ${declared} does not match the body's length ${actual}`,
      );
    }
    return { kind: "length", length: declared };
  }
  if (bodyLength === undefined || bodyLength === 0) {
    return BODY_METHODS.has(method) ? { kind: "length", length: 0 } : NO_BODY;
  }
  if (bodyLength === null) return { kind: "chunked" };
  return { kind: "length", length: bodyLength };
}

/** Fields the serializer writes itself from the request, never copied from caller headers. */
const OWN_FIELDS = new Set(["host", "content-length", "transfer-encoding"]);

export type HeaderFieldHook = (name: string, values: string[]) => void;

/**
 * Checks every piece of a request head that did not come through `Headers` (which checks
 * its own names and values): method, target, Host, and the fields the transport adds.
 * Throws ERR_INVALID_REQUEST, so nothing is serialized, let alone written.
 */
function checkHead(req: RequestHead): void {
  validateMethod(req.method);
  if (typeof req.target !== "string" || !isTarget(req.target)) {
    throw new RoundtripError(
      "ERR_INVALID_REQUEST",
      `request target holds a control byte, a space or a non-ASCII character: ${printable(String(req.target))}`,
    );
  }
  if (typeof req.host !== "string" || !isHost(req.host)) {
    throw new RoundtripError("ERR_INVALID_REQUEST", `invalid Host ${printable(String(req.host))}`);
  }
  for (const [name, value] of [
    ["User-Agent", req.userAgent],
    ["Accept-Encoding", req.acceptEncoding ?? ""],
    ["Proxy-Authorization", req.proxyAuthorization ?? ""],
  ] as const) {
    if (typeof value !== "string" || !isFieldValue(value)) {
      throw new RoundtripError(
        "ERR_INVALID_REQUEST",
        `invalid value for header ${name}: ${printable(String(value))}`,
      );
    }
  }
  const f = req.framing;
  if (f.kind === "length" && !(Number.isSafeInteger(f.length) && f.length >= 0)) {
    throw new RoundtripError("ERR_INVALID_REQUEST", `invalid body length ${printable(String(f.length))}`);
  }
}

/** The request head as a latin1 string (every char ≤ 0xFF has been checked). */
export function serializeHead(req: RequestHead, onField?: HeaderFieldHook): string {
  checkHead(req);
  let head = `${req.method} ${req.target} HTTP/1.1\r\nHost: ${req.host}\r\n`;
  onField?.("Host", [req.host]);
  let sawUA = false;
  let sawConnectionClose = false;
  let sawExpect = false;
  let sawAcceptEncoding = false;
  const h = req.headers;
  if (h !== null) {
    const names = h._names;
    const values = h._values;
    const lower = h._lowerNames;
    for (let i = 0; i < names.length; i++) {
      const key = lower[i]!;
      if (OWN_FIELDS.has(key)) continue;
      const value = values[i]!;
      if (key === "user-agent") {
        sawUA = true;
        if (value === "") continue;
      } else if (key === "connection") {
        if (/(^|,)\s*close\s*(,|$)/i.test(value)) sawConnectionClose = true;
        else if (req.close) {
          // Our "close" replaces a caller's keep-alive; other options (upgrade, ...) stay.
          const kept = value
            .split(",")
            .map((t) => t.trim())
            .filter((t) => t !== "" && t.toLowerCase() !== "keep-alive")
            .join(", ");
          if (kept === "") continue;
          head += `${names[i]}: ${kept}\r\n`;
          onField?.(names[i]!, [kept]);
          continue;
        }
      } else if (key === "expect") {
        sawExpect = true;
      } else if (key === "accept-encoding") {
        sawAcceptEncoding = true;
      }
      head += `${names[i]}: ${value}\r\n`;
      onField?.(names[i]!, [value]);
    }
  }
  if (!sawUA && req.userAgent !== "") {
    head += `User-Agent: ${req.userAgent}\r\n`;
    onField?.("User-Agent", [req.userAgent]);
  }
  if (req.close && !sawConnectionClose) {
    head += "Connection: close\r\n";
    onField?.("Connection", ["close"]);
  }
  if (req.acceptEncoding !== null && !sawAcceptEncoding) {
    head += `Accept-Encoding: ${req.acceptEncoding}\r\n`;
    onField?.("Accept-Encoding", [req.acceptEncoding]);
  }
  const proxyAuth = req.proxyAuthorization;
  if (proxyAuth != null && !(req.headers?.has("proxy-authorization") ?? false)) {
    head += `Proxy-Authorization: ${proxyAuth}\r\n`;
    onField?.("Proxy-Authorization", [proxyAuth]);
  }
  if (req.expectContinue && !sawExpect && req.framing.kind !== "none") {
    head += "Expect: 100-continue\r\n";
    onField?.("Expect", ["100-continue"]);
  }
  const f = req.framing;
  if (f.kind === "length") {
    head += `Content-Length: ${f.length}\r\n`;
    onField?.("Content-Length", [String(f.length)]);
  } else if (f.kind === "chunked") {
    head += "Transfer-Encoding: chunked\r\n";
    onField?.("Transfer-Encoding", ["chunked"]);
  }
  return head + "\r\n";
}

/** The chunk-size line for a chunk of `n` bytes. */
export function chunkHeader(n: number): string {
  return n.toString(16) + "\r\n";
}

/** The last chunk, with trailers if any (already validated by Headers). */
export function lastChunk(trailers: Headers | null): string {
  if (trailers === null || trailers.size === 0) return "0\r\n\r\n";
  let out = "0\r\n";
  for (const [name, value] of trailers.raw()) out += `${name}: ${value}\r\n`;
  return out + "\r\n";
}
