/**
 * Every failure roundtrip reports is a RoundtripError with a stable `code`. Node's own
 * error (ECONNRESET, EPIPE, ...) is kept in `cause`; messages never carry a password.
 */
export type ErrorCode =
  | "ERR_ABORTED"
  | "ERR_TIMEOUT"
  | "ERR_CONNECT"
  | "ERR_CONNECTION_CLOSED"
  | "ERR_UNEXPECTED_EOF"
  | "ERR_BAD_RESPONSE"
  | "ERR_HEADERS_TOO_LARGE"
  | "ERR_TOO_MANY_1XX"
  | "ERR_INVALID_REQUEST"
  | "ERR_MOCK_NOT_MATCHED"
  | "ERR_TOO_MANY_REDIRECTS"
  | "ERR_REDIRECT"
  | "ERR_PROXY"
  | "ERR_TLS"
  | "ERR_BODY_USED"
  | "ERR_REQUEST_BODY"
  | "ERR_FILE_WRITE"
  | "ERR_TRANSPORT_CLOSED"
  | "ERR_INVALID_JSON";

/** Where a deadline ran out; set on `ERR_TIMEOUT`. */
export type TimeoutPhase = "dial" | "tls" | "responseHeader" | "expectContinue" | "body" | "client";

export interface RoundtripErrorOptions {
  cause?: unknown;
  phase?: TimeoutPhase;
  url?: string;
  status?: number;
}

export class RoundtripError extends Error {
  override name = "RoundtripError";
  readonly code: ErrorCode;
  /** Set on ERR_TIMEOUT: which deadline fired. */
  readonly phase?: TimeoutPhase;
  /** The request URL, with any password masked. */
  url?: string;
  /** Set on ERR_INVALID_JSON: the status of the response whose body is not JSON. */
  readonly status?: number;

  constructor(code: ErrorCode, message: string, options: RoundtripErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.phase !== undefined) this.phase = options.phase;
    if (options.url !== undefined) this.url = options.url;
    if (options.status !== undefined) this.status = options.status;
  }
}

export function isRoundtripError(err: unknown, code?: ErrorCode): err is RoundtripError {
  return err instanceof RoundtripError && (code === undefined || err.code === code);
}

/** A URL as it may appear in messages: the password, if any, replaced by `***`. */
export function redactURL(url: URL | string): string {
  let text: string;
  if (typeof url !== "string") text = maskedHref(url);
  else {
    try {
      text = maskedHref(new URL(url));
    } catch {
      text = url;
    }
  }
  // Also for what WHATWG URL does not see as userinfo: "user:pass@proxy:3128" (read as a
  // scheme), unparseable URLs, "http:/u:p@h".
  return maskUserinfo(text);
}

function maskedHref(u: URL): string {
  if (u.password === "") return u.href;
  const copy = new URL(u.href);
  copy.password = "***";
  return copy.href;
}

// [scheme: + slashes] then userinfo up to the last "@" of the authority.
const USERINFO = /^((?:[a-zA-Z][a-zA-Z0-9+.-]*:[/\\]+)?)([^/?#\\]*)@/;

/** Masks the password of anything shaped like `[scheme://]user:password@host`. */
export function maskUserinfo(text: string): string {
  const m = USERINFO.exec(text);
  if (m === null) return text;
  const userinfo = m[2]!;
  const colon = userinfo.indexOf(":");
  if (colon < 0 || userinfo.slice(colon + 1) === "***") return text;
  return `${m[1]}${userinfo.slice(0, colon)}:***@${text.slice(m[0].length)}`;
}

/** Sets `url` (already masked) on a RoundtripError that has none; other errors pass through. */
export function withURL(err: Error, url: string): Error {
  if (err instanceof RoundtripError && err.url === undefined) err.url = url;
  return err;
}
