import { parentPort } from "node:worker_threads";
import { init, defaultDevice } from "@jax-js/jax";
import { executeToyRun, type ToyRunSpec } from "../tasks/toyExperiment.js";
import { toyTrainDefaults } from "../tasks/toyRun.js";

/** Worker side of the pool: runs toy specs one at a time, reporting progress. */
await init("wasm");
defaultDevice("wasm");
parentPort!.on("message", (msg: { id: number; spec: ToyRunSpec }) => {
  try {
    const steps = msg.spec.train.steps ?? toyTrainDefaults.steps;
    const every = Math.max(1, Math.floor(steps / 100));
    const result = executeToyRun(msg.spec, (t) => {
      if ((t + 1) % every === 0 || t + 1 === steps) parentPort!.postMessage({ id: msg.id, progress: t + 1 });
    });
    parentPort!.postMessage({ id: msg.id, result });
  } catch (e) {
    parentPort!.postMessage({ id: msg.id, error: e instanceof Error ? e.message : String(e) });
  }
});
