/**
 * Helpers for the middleware tests: timers that record the waits asked for instead of
 * waiting them, and a clock the test moves by hand.
 */
import type { Timers } from "../../src/index.js";

/** Timers that record every delay and fire on the next turn of the event loop (no real wait). */
export function instantTimers(): Timers & { delays: number[]; cleared: number } {
  const delays: number[] = [];
  const t = {
    delays,
    cleared: 0,
    setTimeout(fn: () => void, ms: number) {
      delays.push(ms);
      return setImmediate(fn);
    },
    clearTimeout(handle: unknown) {
      t.cleared++;
      clearImmediate(handle as NodeJS.Immediate);
    },
  };
  return t;
}

/** Timers that never fire on their own: `pending` says how many waits are armed, `fireAll()` ends them. */
export function heldTimers(): Timers & {
  delays: number[];
  pending: number;
  cleared: number;
  fireAll(): void;
} {
  const armed = new Map<number, () => void>();
  let next = 0;
  const t = {
    delays: [] as number[],
    cleared: 0,
    get pending() {
      return armed.size;
    },
    setTimeout(fn: () => void, ms: number) {
      t.delays.push(ms);
      const id = next++;
      armed.set(id, fn);
      return id;
    },
    clearTimeout(handle: unknown) {
      if (armed.delete(handle as number)) t.cleared++;
    },
    fireAll() {
      const fns = [...armed.values()];
      armed.clear();
      for (const fn of fns) fn();
    },
  };
  return t;
}

/** A clock the test sets: `now` ms since the epoch. */
export function manualClock(start = Date.UTC(2024, 0, 1)): {
  now: number;
  clock: () => number;
  advance(ms: number): void;
} {
  const c = {
    now: start,
    clock: () => c.now,
    advance(ms: number) {
      c.now += ms;
    },
  };
  return c;
}

/** `p`, or a failure naming `what` after `ms`: a bound on a wait, never a speed claim. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, bound]);
  } finally {
    clearTimeout(timer);
  }
}
