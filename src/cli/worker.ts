import { parentPort } from "node:worker_threads";
import { init, defaultDevice } from "@jax-js/jax";
import { executeToyRun, type ToyRunSpec } from "../tasks/toyExperiment.js";

/** Worker side of the pool: runs toy specs one at a time, reporting progress. */
await init("wasm");
defaultDevice("wasm");
parentPort!.on("message", (msg: { id: number; spec: ToyRunSpec }) => {
  try {
    const every = Math.max(1, Math.floor((msg.spec.train.steps ?? 1000) / 100));
    const result = executeToyRun(msg.spec, (t) => {
      if ((t + 1) % every === 0) parentPort!.postMessage({ id: msg.id, progress: t + 1 });
    });
    parentPort!.postMessage({ id: msg.id, result });
  } catch (e) {
    parentPort!.postMessage({ id: msg.id, error: e instanceof Error ? e.message : String(e) });
  }
});
