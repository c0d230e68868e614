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
  | "ERR_TOO_MANY_REDIRECTS"
  | "ERR_REDIRECT"
  | "ERR_PROXY"
  | "ERR_TLS"
  | "ERR_BODY_USED"
  | "ERR_REQUEST_BODY"
  | "ERR_TRANSPORT_CLOSED";

/** Where a deadline ran out; set on `ERR_TIMEOUT`. */
export type TimeoutPhase = "dial" | "tls" | "responseHeader" | "expectContinue" | "body" | "client";

export interface RoundtripErrorOptions {
  cause?: unknown;
  phase?: TimeoutPhase;
  url?: string;
}

export class RoundtripError extends Error {
  override name = "RoundtripError";
  readonly code: ErrorCode;
  /** Set on ERR_TIMEOUT: which deadline fired. */
  readonly phase?: TimeoutPhase;
  /** The request URL, with any password masked. */
  url?: string;

  constructor(code: ErrorCode, message: string, options: RoundtripErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.phase !== undefined) this.phase = options.phase;
    if (options.url !== undefined) this.url = options.url;
  }
}

export function isRoundtripError(err: unknown, code?: ErrorCode): err is RoundtripError {
  return err instanceof RoundtripError && (code === undefined || err.code === code);
}

/** A URL as it may appear in messages: the password, if any, replaced by `***`. */
export function redactURL(url: URL | string): string {
  let u: URL;
  try {
    u = typeof url === "string" ? new URL(url) : url;
  } catch {
    // Not a URL we can parse: still never show what looks like a password.
    return String(url).replace(/^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#@:]*):[^/?#@]*@/, "$1:***@");
  }
  if (u.password === "") return u.href;
  const copy = new URL(u.href);
  copy.password = "***";
  return copy.href;
}
