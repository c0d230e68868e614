/**
 * A fixture tree for the serving tests, created in a temp dir and removed afterwards:
 * files of every kind the tests need, a directory with an index, symlinks that stay in
 * and that leave the root, and a file outside the root.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Fixtures {
  /** The temp dir holding `root` and `outside`. */
  base: string;
  /** Served root. */
  root: string;
  big: Buffer;
  /** 1000 bytes, byte i = i % 251: any range is easy to predict. */
  small: Buffer;
  png: Buffer;
  remove(): void;
}

export function makeFixtures(bigSize = 8 << 20): Fixtures {
  const base = mkdtempSync(join(tmpdir(), "roundtrip-serve-"));
  const root = join(base, "root");
  const outside = join(base, "outside");
  mkdirSync(root);
  mkdirSync(outside);
  const big = randomBytes(bigSize);
  const small = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
  const png = Buffer.concat([Buffer.from("\x89PNG\r\n\x1a\n", "latin1"), randomBytes(200)]);
  writeFileSync(join(root, "big.bin"), big);
  writeFileSync(join(root, "small.dat"), small);
  writeFileSync(join(root, "empty.txt"), "");
  writeFileSync(join(root, "style.CSS"), "body { color: red }\n");
  writeFileSync(join(root, "image"), png);
  writeFileSync(join(root, "page"), "\n  <!DOCTYPE html><title>x</title>\n");
  writeFileSync(join(root, "notes"), "just some words\n");
  mkdirSync(join(root, "sub"));
  writeFileSync(join(root, "sub", "index.html"), "<p>index</p>\n");
  mkdirSync(join(root, "bare"));
  writeFileSync(join(outside, "secret.txt"), "top secret\n");
  symlinkSync(join(outside, "secret.txt"), join(root, "link-out"));
  symlinkSync(outside, join(root, "dir-out"));
  symlinkSync("small.dat", join(root, "link-in"));
  return { base, root, big, small, png, remove: () => rmSync(base, { recursive: true, force: true }) };
}
