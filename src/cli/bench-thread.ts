/**
 * Entry of a `roundtrip bench --threads N` worker thread: runs one loop's share of the load
 * (see bench-load.ts) once the main thread says go, reports its progress ten times a
 * second, and posts its stats when done.
 */
import { parentPort, workerData } from "node:worker_threads";
import { type LoadSpec, runLoad, type Share } from "./bench-load.js";
import { BenchStats } from "./bench-stats.js";

export type ToThread = { kind: "go"; startAt: number };
export type FromThread =
  | { kind: "ready" }
  | { kind: "tick"; finished: number; failures: number }
  | { kind: "done"; stats: ReturnType<BenchStats["snapshot"]>; endAt: number };

const port = parentPort!;
const { spec, share } = workerData as { spec: LoadSpec; share: Omit<Share, "startAt"> };
const post = (m: FromThread, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

port.once("message", async (m: ToThread) => {
  const stats = new BenchStats();
  const ticker = setInterval(
    () => post({ kind: "tick", finished: stats.finished, failures: stats.failures }),
    100,
  );
  try {
    const result = await runLoad(spec, { ...share, startAt: m.startAt }, stats);
    const snap = result.stats.snapshot();
    post({ kind: "done", stats: snap, endAt: result.endAt }, [
      snap.latency.buffer as ArrayBuffer,
      snap.firstByte.buffer as ArrayBuffer,
      snap.connWait.buffer as ArrayBuffer,
    ]);
  } finally {
    clearInterval(ticker);
  }
});
post({ kind: "ready" });
