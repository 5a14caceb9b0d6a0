import { parentPort, workerData } from "node:worker_threads";
import { configureThreads } from "../threads/node.js";
import type { ToyRunSpec } from "../experiments/toyExperiment.js";
import type { MultiRunSpec } from "../experiments/multiExperiment.js";
import type { PinnRunSpec } from "../experiments/pinnExperiment.js";

export type PoolJob = { kind: "toy"; spec: ToyRunSpec } | { kind: "multi"; spec: MultiRunSpec } | { kind: "pinn"; spec: PinnRunSpec };

/**
 * Worker side of the pool: sets jax-js's threads (workerData.threads, from --threads) before jax-js is
 * first imported here, then runs jobs one at a time, reporting progress (toy, pinn: steps; multi: epochs).
 * With workerData.store (a path), it records each run there itself (see record.ts), opening the store
 * at its first job.
 */
const data = (workerData ?? {}) as { threads?: number; store?: string | null; recordEvery?: number };
configureThreads(data.threads ?? 1);
const { init, defaultDevice } = await import("@jax-js/jax");
const { toyTrainDefaults } = await import("../experiments/toyRun.js");
const { pinnTrainDefaults } = await import("../experiments/pinnRun.js");
const { recordedToyRun, recordedMultiRun, recordedPinnRun, setRecordEvery } = await import("./record.js");
setRecordEvery(data.recordEvery ?? 1);
const { openStore } = await import("../store/index.js");
let store: import("../store/index.js").RunStore | null = null;
await init("wasm");
defaultDevice("wasm");
parentPort!.on("message", async (msg: { id: number; job: PoolJob }) => {
  try {
    const { job } = msg;
    if (data.store && !store) store = openStore(data.store);
    let result: unknown;
    if (job.kind === "multi") {
      result = await recordedMultiRun(store, job.spec, (e) => parentPort!.postMessage({ id: msg.id, progress: e }));
    } else {
      const steps = job.spec.train.steps ?? (job.kind === "pinn" ? pinnTrainDefaults : toyTrainDefaults).steps;
      const every = Math.max(1, Math.floor(steps / 100));
      const progress = (t: number) => {
        if ((t + 1) % every === 0 || t + 1 === steps) parentPort!.postMessage({ id: msg.id, progress: t + 1 });
      };
      result = job.kind === "pinn" ? await recordedPinnRun(store, job.spec, progress) : await recordedToyRun(store, job.spec, progress);
    }
    parentPort!.postMessage({ id: msg.id, result });
  } catch (e) {
    parentPort!.postMessage({ id: msg.id, error: e instanceof Error ? e.message : String(e) });
  }
});
