/**
 * Time as the middleware see it: a clock and a timer, both injectable, so tests drive
 * backoff and freshness without waiting for real.
 */
import { RoundtripError } from "../errors.js";

/** The two timer functions a middleware calls; Node's globals by default. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** ms since the epoch (Date.now by default): HTTP dates are compared against it. */
export type Clock = () => number;

/**
 * Resolves after `ms`, or rejects with the abort reason as soon as `signal` fires (the
 * caller's abort, or a Client's deadline, which reaches the transport as the request's
 * signal). The timer is always cleared.
 */
export function sleep(ms: number, signal: AbortSignal | undefined | null, timers: Timers): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise<void>((resolve, reject) => {
    let fired = false;
    const onAbort = () => {
      timers.clearTimeout(handle);
      reject(abortReason(signal!));
    };
    const handle = timers.setTimeout(() => {
      fired = true;
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    // A fake timer may fire at once, inside setTimeout: then there is nothing to listen for.
    if (!fired) signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The signal's reason as the transport reports it: a RoundtripError as is, anything else as ERR_ABORTED. */
export function abortReason(signal: AbortSignal): RoundtripError {
  const reason: unknown = signal.reason;
  if (reason instanceof RoundtripError) return reason;
  return new RoundtripError("ERR_ABORTED", "the request was aborted", { cause: reason });
}
