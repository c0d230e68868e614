/**
 * A one-line progress bar for a transfer, redrawn in place on a terminal: shown only once
 * the transfer is known (or seen) to exceed `threshold` bytes, at most ten times a second,
 * and finished with a newline. The caller decides whether there is a terminal to draw on.
 */
import { formatBytes } from "./style.js";

export const PROGRESS_THRESHOLD = 1024 * 1024;

export interface ProgressTarget {
  write(s: string): unknown;
  columns?: number;
}

export class ProgressBar {
  readonly #out: ProgressTarget;
  readonly #label: string;
  readonly #threshold: number;
  readonly #now: () => number;
  readonly #start: number;
  #shown = false;
  #lastDraw = -Infinity;
  #loaded = 0;
  #total: number | null = null;

  constructor(
    out: ProgressTarget,
    label: string,
    threshold = PROGRESS_THRESHOLD,
    now = () => performance.now(),
  ) {
    this.#out = out;
    this.#label = label;
    this.#threshold = threshold;
    this.#now = now;
    this.#start = now();
  }

  update(loaded: number, total: number | null): void {
    this.#loaded = loaded;
    this.#total = total;
    if (!this.#shown && loaded <= this.#threshold && (total === null || total <= this.#threshold)) return;
    const t = this.#now();
    if (this.#shown && t - this.#lastDraw < 100) return;
    this.#shown = true;
    this.#lastDraw = t;
    this.#draw(t);
  }

  /** Draws the final state and ends the line (nothing if the bar never showed). */
  finish(): void {
    if (!this.#shown) return;
    this.#draw(this.#now());
    this.#out.write("\n");
    this.#shown = false;
  }

  #draw(t: number): void {
    const elapsed = Math.max(1, t - this.#start) / 1000;
    const rate = `${formatBytes(Math.round(this.#loaded / elapsed))}/s`;
    const total = this.#total;
    let line: string;
    if (total !== null && total > 0) {
      const ratio = Math.min(1, this.#loaded / total);
      const pct = `${Math.floor(ratio * 100)}%`.padStart(4);
      const sizes = `${formatBytes(this.#loaded)} / ${formatBytes(total)}`;
      const fixed = `${this.#label} [] ${pct}  ${sizes}  ${rate}`.length + 2;
      const width = Math.max(10, Math.min(40, (this.#out.columns ?? 80) - fixed - 1));
      const filled = Math.round(ratio * width);
      line = `${this.#label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${pct}  ${sizes}  ${rate}`;
    } else {
      line = `${this.#label} ${formatBytes(this.#loaded)}  ${rate}`;
    }
    // \r back to the line start, \x1b[K clears what a longer previous line left.
    this.#out.write(`\r  ${line}\x1b[K`);
  }
}
