/**
 * Property tests of the response parser (see parser-properties.ts), each in a worker
 * thread under a deadline: "never a hang" is checked, not hoped for. The seed is fixed,
 * so a failure reproduces; the run counts are bounded.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Worker } from "node:worker_threads";
import { properties } from "./parser-properties.js";

const SEED = 0x5eed_2024;
/** Far above what any property needs (a few seconds), far below "hung". */
const DEADLINE_MS = 120_000;

function runInWorker(name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./property-worker.js", import.meta.url), {
      workerData: { name, seed: SEED },
    });
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`property did not finish within ${DEADLINE_MS} ms: the parser may loop forever`));
    }, DEADLINE_MS);
    worker.once("message", (msg: { ok: boolean; message?: string }) => {
      clearTimeout(timer);
      void worker.terminate();
      if (msg.ok) resolve();
      else reject(new Error(msg.message));
    });
    worker.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

test("every property has a name and a bounded run count", () => {
  for (const [name, make] of Object.entries(properties)) {
    const { numRuns } = make();
    assert.ok(numRuns > 0 && numRuns <= 5000, name);
  }
});

for (const name of Object.keys(properties)) {
  test(name, () => runInWorker(name));
}
