/**
 * Options (issue 14): src/transport/options.ts holds the one copy of each option's
 * documentation and default; docs/transport.md's option table must list every option,
 * with the same default.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { Transport } from "../../src/index.js";
import { DEFAULTS, optionNames } from "../../src/transport/options.js";

/** The option table of docs/transport.md: option name → default cell, backticks removed. */
async function documentedDefaults(): Promise<Map<string, string>> {
  const md = await readFile(new URL("../../../docs/transport.md", import.meta.url), "utf8");
  const rows = new Map<string, string>();
  for (const line of md.split("\n")) {
    const m = /^\| `([A-Za-z0-9]+)` \| ([^|]+) \|/.exec(line);
    if (m) rows.set(m[1]!, m[2]!.trim());
  }
  return rows;
}

test("docs/transport.md lists every Transport option, with the default options.ts applies", async () => {
  const rows = await documentedDefaults();
  for (const name of optionNames()) assert.ok(rows.has(name), `docs/transport.md has a row for ${name}`);
  for (const [name, value] of Object.entries(DEFAULTS)) {
    assert.equal(rows.get(name), `\`${String(value)}\``, `default of ${name}`);
  }
  const t = new Transport();
  for (const [name, value] of Object.entries(DEFAULTS)) {
    assert.equal((t.options as unknown as Record<string, unknown>)[name], value, `transport.options.${name}`);
  }
  await t.close();
});

test("an option that is not a number ≥ 0 is ERR_INVALID_REQUEST", () => {
  for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(
      () => new Transport({ idleConnTimeout: bad }),
      (e: Error & { code?: string }) => e.code === "ERR_INVALID_REQUEST",
    );
  }
});
