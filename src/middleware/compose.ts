/**
 * Middleware is Go's RoundTripper decorator: a function from the RoundTripper below to
 * the one above. compose() stacks them over a transport and keeps the transport's
 * lifecycle methods on the result, so a composed stack can stand wherever a Transport
 * stood (a Client's `transport`, a test's leak check).
 */
import { RoundtripError } from "../errors.js";
import type { RoundTripper, TransportStats } from "../transport/transport.js";

export type Middleware = (next: RoundTripper) => RoundTripper;

/** What compose() keeps of its base: a Transport has it, and so has a composed stack. */
export interface TransportLifecycle {
  /** Rejects new work and closes every connection. */
  close(): Promise<void>;
  closeIdleConnections(): void;
  stats(): TransportStats;
}

/** A RoundTripper with its base transport's close(), closeIdleConnections() and stats(). */
export interface ComposedTransport extends RoundTripper, TransportLifecycle {}

/**
 * `compose(t, a, b)` is `a(b(t))`: the first middleware is the outermost, it sees the
 * request first and the response last. A Client above it sees none of this: each of its
 * redirect hops goes through the whole stack.
 */
export function compose(
  transport: RoundTripper & TransportLifecycle,
  ...middleware: Middleware[]
): ComposedTransport {
  if (transport === null || typeof transport !== "object" || typeof transport.roundTrip !== "function") {
    throw new RoundtripError("ERR_INVALID_REQUEST", "compose() needs a transport with a roundTrip method");
  }
  let top: RoundTripper = transport;
  for (let i = middleware.length - 1; i >= 0; i--) {
    const mw = middleware[i];
    if (typeof mw !== "function") {
      throw new RoundtripError("ERR_INVALID_REQUEST", `middleware ${i} is not a function`);
    }
    const next = mw(top);
    if (next === null || typeof next !== "object" || typeof next.roundTrip !== "function") {
      throw new RoundtripError("ERR_INVALID_REQUEST", `middleware ${i} did not return a RoundTripper`);
    }
    top = next;
  }
  return withLifecycle(top, transport);
}

/** `rt` for sending, `base` for everything else. */
export function withLifecycle(rt: RoundTripper, base: TransportLifecycle): ComposedTransport {
  return {
    roundTrip: (req) => rt.roundTrip(req),
    close: () => base.close(),
    closeIdleConnections: () => base.closeIdleConnections(),
    stats: () => base.stats(),
  };
}

/** Whether `rt` has the lifecycle methods compose() forwards. */
export function hasLifecycle(rt: RoundTripper): rt is RoundTripper & TransportLifecycle {
  const r = rt as Partial<TransportLifecycle>;
  return (
    typeof r.close === "function" &&
    typeof r.closeIdleConnections === "function" &&
    typeof r.stats === "function"
  );
}
