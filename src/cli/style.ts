/**
 * Terminal styling and number formatting shared by the outputs. Colour is used only on a
 * terminal and never when NO_COLOR is set (https://no-color.org: any non-empty value).
 */

export interface Palette {
  enabled: boolean;
  dim(s: string): string;
  bold(s: string): string;
  cyan(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  red(s: string): string;
  blue(s: string): string;
  magenta(s: string): string;
}

function wrap(open: number, close: number): (s: string) => string {
  return (s) => `\x1b[${open}m${s}\x1b[${close}m`;
}

const same = (s: string) => s;

export const PLAIN: Palette = {
  enabled: false,
  dim: same,
  bold: same,
  cyan: same,
  green: same,
  yellow: same,
  red: same,
  blue: same,
  magenta: same,
};

export const ANSI: Palette = {
  enabled: true,
  dim: wrap(2, 22),
  bold: wrap(1, 22),
  cyan: wrap(36, 39),
  green: wrap(32, 39),
  yellow: wrap(33, 39),
  red: wrap(31, 39),
  blue: wrap(34, 39),
  magenta: wrap(35, 39),
};

/** Colour for a stream: only a TTY, only without NO_COLOR. */
export function paletteFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Palette {
  return stream.isTTY === true && !env.NO_COLOR ? ANSI : PLAIN;
}

/** `0.42ms`, `3.1ms`, `27ms`, `1.52s`: enough digits to tell loopback phases apart. */
export function formatMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)}s`;
  if (ms >= 10) return `${Math.round(ms)}ms`;
  if (ms >= 1) return `${ms.toFixed(1)}ms`;
  return `${ms.toFixed(2)}ms`;
}

/** Binary units, as load tools print them: `512 B`, `1.50 KiB`, `3.20 MiB`. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(2)} ${units[u]}`;
}

/** Centres `s` in `width` columns (extra space on the right, as httpstat does). */
export function center(s: string, width: number): string {
  const pad = Math.max(0, width - s.length);
  const left = Math.floor(pad / 2);
  return " ".repeat(left) + s + " ".repeat(pad - left);
}
