/** Runs one named property of parser-properties.ts and reports to the parent thread. */
import { parentPort, workerData } from "node:worker_threads";
import fc from "fast-check";
import { properties } from "./parser-properties.js";

const { name, seed } = workerData as { name: string; seed: number };
const make = properties[name];
try {
  if (make === undefined) throw new Error(`no property named ${JSON.stringify(name)}`);
  const { property, numRuns } = make();
  fc.assert(property as fc.IProperty<unknown[]>, { seed, numRuns });
  parentPort!.postMessage({ ok: true });
} catch (err) {
  // fast-check keeps the property's own failure in `cause`: report both.
  const text = (e: unknown): string => (e instanceof Error ? e.message : String(e));
  const cause = err instanceof Error && err.cause !== undefined ? `\nCaused by: ${text(err.cause)}` : "";
  parentPort!.postMessage({ ok: false, message: text(err) + cause });
}
