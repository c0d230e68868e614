/**
 * Happy Eyeballs (RFC 6555, as Go's net.Dialer does it): given a name's addresses, in
 * the resolver's order, race the two families.
 *
 * The first address's family is the preferred one ("primaries"), the others are the
 * "fallbacks" (Go's addrList.partition). The primaries are tried one after the other
 * (dialSerial: a failure moves to the next address); the fallbacks start `fallbackDelay`
 * ms later, or at once when every primary has failed, and the first attempt is not
 * aborted when they do. The first connection wins; the other racer is aborted, and a
 * socket it still produces is destroyed. With a negative fallbackDelay every address is
 * tried in order, one at a time (Go's FallbackDelay < 0).
 *
 * Node's own `autoSelectFamily` (nodejs/node#54359) alternates families one attempt at a
 * time and aborts each after 250 ms; it is not used: every connect here is to an IP
 * literal, so Node never looks the name up itself.
 *
 * Only the dial's `signal` (dialTimeout, transport.close()) ends a race early; the
 * request that started it does not (late binding, see dial.ts).
 */
import type { LookupAddress } from "node:dns";
import { connect as netConnect, type Socket } from "node:net";
import type { ClientTrace } from "./trace.js";

/** Go's DefaultFallbackDelay (RFC 8305 recommends 250 ms; Go chose 300). */
export const DEFAULT_FALLBACK_DELAY = 300;

export interface Attempt {
  address: string;
  family: 4 | 6;
  port: number;
  /** Aborted when the attempt is no longer wanted: dial deadline, its share of it, lost race, close. */
  signal: AbortSignal;
}

/** Opens one TCP connection; rejects with `signal.reason` when aborted. Replaceable for tests. */
export type ConnectFunc = (attempt: Attempt) => Promise<Socket>;

export interface RaceOptions {
  port: number;
  /** ms before the other family starts; 0 = the default (300, as Go); negative = serial. */
  fallbackDelay: number;
  /** performance.now() at which the whole dial fails (dialTimeout); Infinity for none. */
  deadline: number;
  /** The dial's signal: dialTimeout or transport.close(). */
  signal: AbortSignal;
  trace: ClientTrace | null;
  connect: ConnectFunc;
  /** The error an attempt on `addr` ("1.2.3.4:80", "[::1]:80") failed with, as reported. */
  toError(cause: unknown, addr: string): Error;
}

/** How a dialed address is written in trace hooks and errors: Go's JoinHostPort. */
export function hostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Go's addrList.partition: the first address's family first, the other family after. */
export function partition(addrs: readonly LookupAddress[]): [LookupAddress[], LookupAddress[]] {
  const preferred = addrs[0]?.family;
  return [addrs.filter((a) => a.family === preferred), addrs.filter((a) => a.family !== preferred)];
}

/**
 * Go's partialDeadline: the ms one attempt may take when `remaining` addresses share
 * what is left before `deadline`, but at least 2 s (or what is left, if less), so a
 * long list does not starve every attempt. Infinity when there is no deadline.
 */
export function attemptTimeout(now: number, deadline: number, remaining: number): number {
  if (deadline === Number.POSITIVE_INFINITY) return deadline;
  const left = Math.max(0, deadline - now);
  const share = left / remaining;
  const saneMinimum = 2000;
  return share < saneMinimum ? Math.min(left, saneMinimum) : share;
}

/** Connects to one of `addrs` (non-empty), Happy Eyeballs as Go's dialParallel. */
export function dialParallel(addrs: readonly LookupAddress[], o: RaceOptions): Promise<Socket> {
  const [primaries, fallbacks] = o.fallbackDelay < 0 ? [[...addrs], []] : partition(addrs);
  if (fallbacks.length === 0) return dialSerial(primaries, o.signal, o);
  const delay = o.fallbackDelay === 0 ? DEFAULT_FALLBACK_DELAY : o.fallbackDelay;
  return new Promise((resolve, reject) => {
    // Aborted once a racer wins, so the other stops; the dial's own signal stops both.
    const race = new AbortController();
    const signal = AbortSignal.any([o.signal, race.signal]);
    let settled = false;
    let fallbackStarted = false;
    let primaryErr: unknown = null;
    let failed = 0;
    let timer: NodeJS.Timeout | null = null;
    const run = (list: LookupAddress[], primary: boolean) => {
      dialSerial(list, signal, o).then(
        (socket) => {
          if (settled) {
            socket.destroy(); // connected a moment after the other racer won
            return;
          }
          settled = true;
          if (timer !== null) clearTimeout(timer);
          resolve(socket);
          race.abort(new DOMException("another address connected first", "AbortError"));
        },
        (err: unknown) => {
          if (primary) primaryErr = err;
          failed++;
          if (settled) return;
          // Every primary failed before the delay ran out: no reason to wait (Go).
          if (primary && !fallbackStarted) return startFallback();
          if (failed === 2) {
            settled = true;
            reject(primaryErr); // as Go: the preferred family's error says most
          }
        },
      );
    };
    const startFallback = () => {
      if (fallbackStarted) return;
      fallbackStarted = true;
      if (timer !== null) clearTimeout(timer);
      timer = null;
      run(fallbacks, false);
    };
    run(primaries, true);
    // The primaries may have failed synchronously (an aborted signal): then they started the fallbacks.
    if (!fallbackStarted && !settled) timer = setTimeout(startFallback, delay);
  });
}

/**
 * Go's dialSerial: each address in turn, each bounded by its share of the deadline; a
 * failure moves to the next. connectStart/connectDone fire for every attempt, as in Go.
 * Rejects with the first attempt's error, or at once with the abort's when `signal` aborts.
 */
export async function dialSerial(
  addrs: readonly LookupAddress[],
  signal: AbortSignal,
  o: RaceOptions,
): Promise<Socket> {
  let firstErr: unknown = null;
  for (let i = 0; i < addrs.length; i++) {
    const a = addrs[i]!;
    const addr = hostPort(a.address, o.port);
    // Go returns the context's error here, not an earlier address's.
    if (signal.aborted) throw o.toError(signal.reason, addr);
    const ms = attemptTimeout(performance.now(), o.deadline, addrs.length - i);
    // The attempt's own timer only when it ends before the dial's (which `signal` carries).
    const share =
      ms < o.deadline - performance.now() ? AbortSignal.timeout(Math.max(1, Math.ceil(ms))) : null;
    const attemptSignal = share === null ? signal : AbortSignal.any([signal, share]);
    o.trace?.connectStart?.("tcp", addr);
    try {
      const socket = await o.connect({
        address: a.address,
        family: a.family as 4 | 6,
        port: o.port,
        signal: attemptSignal,
      });
      o.trace?.connectDone?.("tcp", addr);
      return socket;
    } catch (cause) {
      const err = o.toError(cause, addr);
      o.trace?.connectDone?.("tcp", addr, err);
      if (signal.aborted) throw err;
      firstErr ??= err;
    }
  }
  throw firstErr;
}

/** The real ConnectFunc: a TCP connection to an IP literal, destroyed if aborted first. */
export function tcpAttempt(a: Attempt): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (a.signal.aborted) return reject(a.signal.reason);
    const socket = netConnect({ host: a.address, port: a.port, family: a.family, noDelay: true });
    const cleanup = () => {
      a.signal.removeEventListener("abort", onAbort);
      socket.off("connect", onConnect);
      socket.off("error", onError);
    };
    const onConnect = () => {
      cleanup();
      resolve(socket);
    };
    const onError = (err: Error) => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onAbort = () => {
      cleanup();
      socket.destroy();
      reject(a.signal.reason);
    };
    socket.once("connect", onConnect);
    socket.once("error", onError);
    a.signal.addEventListener("abort", onAbort, { once: true });
  });
}
