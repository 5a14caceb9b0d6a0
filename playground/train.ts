/**
 * The playground's training, shared by its Web Worker (playground/worker.ts) and Node (the browser test
 * runs the same function to compare): GradNorm's synthetic task (makeToy) on the library's MLP
 * (mlpModel), trained step by step with createModelTrainer so that every step's weights and batch losses
 * can be posted while it runs, and a stop request is honoured between steps. Same initialization, Adam
 * and batch order as runToy (src/experiments/toyRun.ts) for equal settings: the browser test checks that
 * the final weights equal runToy's.
 */
import { defaultDevice, init, tree } from "@jax-js/jax";
import { createBalancer } from "../src/balancers/registry.js";
import { makeToy, type ToyData } from "../src/data/toy.js";
import { toyBatches } from "../src/experiments/toyRun.js";
import { initParams, type MultiHeadMlpConfig } from "../src/models/mlp.js";
import { mlpModel, toModelParams } from "../src/models/mlpModel.js";
import { adam } from "../src/optim/adam.js";
import { meanSquaredError } from "../src/train/losses.js";
import { createModelTrainer } from "../src/train/modelTrainer.js";
import { deriveSeed } from "../src/util/rng.js";
import type { PlaygroundMessage, PlaygroundSettings } from "./settings.js";

export { playgroundDefaults, type Backend, type PlaygroundMessage, type PlaygroundSettings } from "./settings.js";

/** Test points made by makeToy (unused by the playground, which plots batch losses). */
const TEST_SIZE = 100;

export interface PlaygroundHooks {
  post(message: PlaygroundMessage): void;
  /** Asked between steps; true ends the run early. */
  stopRequested?(): boolean;
}

/** A run's data from its settings (on jax-js's current default device; makeToy reads back synchronously). */
export function playgroundData(s: PlaygroundSettings): ToyData {
  return makeToy({
    numTasks: s.tasks,
    ...(s.sigmas.length > 0 ? { sigmas: s.sigmas } : {}),
    inputScale: s.inputScale,
    trainSize: s.trainSize,
    testSize: TEST_SIZE,
    seed: s.dataSeed,
  });
}

const yieldToEvents = () => new Promise<void>((ok) => setTimeout(ok, 0));

/**
 * Trains one network with the settings, posting "ready", then "progress" (the records since the last
 * one) every `reportEvery` steps and at the end, then "done" (or "error"). Resolves with the "done" message.
 */
export async function runPlayground(s: PlaygroundSettings, hooks: PlaygroundHooks): Promise<Extract<PlaygroundMessage, { type: "done" }>> {
  const t0 = performance.now();
  await init("wasm");
  defaultDevice("wasm");
  if (s.backend === "webgpu") {
    const devices = await init("webgpu");
    if (!devices.includes("webgpu")) throw new Error("WebGPU is not available here (jax-js init('webgpu') did not start it)");
  }
  const balancer = createBalancer(s.method, s.options);
  balancer.init(s.tasks); // validates the method's options against T before any work
  // The data on wasm in every case (makeToy reads its arrays back synchronously), training on the backend.
  const data = playgroundData(s);
  if (s.backend === "webgpu") defaultDevice("webgpu");
  const dataMs = performance.now() - t0;
  hooks.post({ type: "ready", sigmas: data.sigmas, saturation: data.saturation, device: String(defaultDevice()), dataMs });

  const { numTasks: T, inputDim: D, outputDim: O } = data.config;
  const config: MultiHeadMlpConfig = { inputDim: D, hidden: s.hidden, outputDim: O, numTasks: T };
  const batch = toyBatches(data, s.batchSize, s.seed); // runToy's batch order
  const trainer = createModelTrainer({
    model: mlpModel(config, meanSquaredError),
    optimizer: adam({ lr: s.lr }),
    balancer,
    params: toModelParams(initParams(config, deriveSeed(s.seed, "init"))),
  });
  let pending: { steps: number[]; weights: number[][]; losses: number[][] } = { steps: [], weights: [], losses: [] };
  const flush = () => {
    if (pending.steps.length === 0) return;
    hooks.post({ type: "progress", ...pending });
    pending = { steps: [], weights: [], losses: [] };
  };
  let stepMs = 0;
  let done = 0;
  let lastLosses: number[] = [];
  let stopped = false;
  try {
    for (let t = 0; t < s.steps; t++) {
      if (hooks.stopRequested?.()) {
        stopped = true;
        break;
      }
      const b = batch(t);
      const ts = performance.now();
      const rec = await trainer.step(b);
      stepMs += performance.now() - ts;
      done++;
      lastLosses = [...rec.losses];
      pending.steps.push(t);
      pending.weights.push([...rec.weights]);
      pending.losses.push(lastLosses);
      if ((t + 1) % s.reportEvery === 0) {
        flush();
        await yieldToEvents(); // lets a stop message in
      }
    }
    flush();
    const weights = [...trainer.weights];
    tree.dispose(trainer.finish());
    const msg = { type: "done" as const, steps: done, stopped, weights, losses: lastLosses, msPerStep: stepMs / Math.max(1, done), wallMs: performance.now() - t0 };
    hooks.post(msg);
    return msg;
  } catch (e) {
    trainer.dispose();
    throw e;
  }
}
