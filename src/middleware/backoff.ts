/**
 * How long retry() waits: exponential backoff with "full jitter" (a uniform draw below
 * the exponential ceiling, as in the AWS Architecture Blog's "Exponential Backoff And
 * Jitter": clients that failed together do not come back together), or the server's
 * own Retry-After.
 */
import { parseHttpDate } from "../server/http-date.js";

export interface Backoff {
  /** ms: the ceiling of the first retry's wait. */
  minDelay: number;
  /** ms: no backoff wait exceeds it. */
  maxDelay: number;
  /** The ceiling grows by this factor per retry. */
  factor: number;
  /** Draw the wait uniformly in [0, ceiling] (true) or wait the ceiling itself (false). */
  jitter: boolean;
  /** [0, 1), Math.random by default. */
  random: () => number;
}

/** The wait before retry number `attempt` (1 = the first resend), in ms. */
export function backoffDelay(b: Backoff, attempt: number): number {
  const ceiling = Math.min(b.maxDelay, b.minDelay * b.factor ** (attempt - 1));
  return b.jitter ? Math.round(b.random() * ceiling) : ceiling;
}

const DELTA_SECONDS = /^\d+$/;

/**
 * Retry-After (RFC 9110 §10.2.3) as a wait in ms from `now`: delay-seconds or an
 * HTTP-date (a date already past is 0). Undefined when absent or malformed: the caller
 * falls back to its backoff.
 */
export function retryAfterDelay(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (DELTA_SECONDS.test(v)) return Number(v) * 1000;
  const date = parseHttpDate(v);
  if (date === undefined) return undefined;
  return Math.max(0, date - now);
}
