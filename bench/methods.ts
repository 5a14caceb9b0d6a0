/**
 * Per-method step cost: for T ∈ {2, 10, 50}, every registered method that needs per-task
 * gradient statistics, in each gradient mode, against equal weights on the same model and
 * batches, on the async trainer with the built-in MLP's fast tier (as the commands train). Each method trainer alternates one step with an equal-weights trainer (ABBA order),
 * and the ratio is between the medians of the same run.
 */
import { createBalancer, methodNames } from "../src/balancers/registry.js";
import { gradModes, type Balancer, type BalancerState } from "../src/balancers/types.js";
import { initParams, type MultiHeadMlpConfig } from "../src/models/mlp.js";
import { mlpModel, toModelParams } from "../src/models/mlpModel.js";
import { adam } from "../src/optim/adam.js";
import { meanSquaredError } from "../src/train/losses.js";
import type { Batch } from "../src/train/loop.js";
import { createModelTrainer } from "../src/train/modelTrainer.js";
import { toyArrays, type ToyDims } from "../src/data/toy.js";
import { toyTrainDefaults } from "../src/experiments/toyRun.js";
import { abba, toyBatches } from "./timing.js";

export interface MethodTiming {
  msPerStep: number;
  equalMsPerStep: number;
  ratioToEqual: number;
}

/**
 * The toy network (the built-in MLP in the model contract, its fast tier) on the async trainer, as the
 * commands train it: Adam, lr 1e-3, parameters from seed 0.
 */
export function toyTrainer(model: MultiHeadMlpConfig, balancer: Balancer<BalancerState>) {
  return createModelTrainer({ model: mlpModel(model, meanSquaredError), params: toModelParams(initParams(model, 0)), optimizer: adam({ lr: 1e-3 }), balancer });
}

/**
 * Round i's step of an async trainer on toy batches: host batch i (cyclically), uploaded inside the
 * timed step as the commands do.
 */
export function toyStep(trainer: { step(batch: ReturnType<typeof toyArrays>): Promise<unknown> }, batches: readonly Batch[], dims: ToyDims) {
  return (i: number) => trainer.step(toyArrays(batches[i % batches.length]!, dims));
}

/** The methods that take a gradient mode: those whose default balancer asks for statistics. */
export function statisticMethods(): string[] {
  return methodNames().filter((m) => {
    if (m === "static") return false;
    const needs = createBalancer(m).needs;
    return needs.gradNorms !== undefined || needs.gramian !== undefined;
  });
}

export async function benchMethods(tasks: readonly number[], measured: number, warmup: number, onRow?: (line: string) => void) {
  const out: Record<string, Record<string, Record<string, MethodTiming>>> = {};
  for (const T of tasks) {
    const batches = toyBatches(T, { trainSize: 512, count: 16, seed: 2, batchSize: toyTrainDefaults.batchSize });
    const model = { inputDim: 250, hidden: toyTrainDefaults.hidden, outputDim: 100, numTasks: T };
    out[`T${T}`] = {};
    for (const method of statisticMethods()) {
      out[`T${T}`]![method] = {};
      for (const mode of gradModes) {
        const equal = toyTrainer(model, createBalancer("equal"));
        const other = toyTrainer(model, createBalancer(method, { gradMode: mode }));
        const [eq, ms] = await abba(toyStep(equal, batches, model), toyStep(other, batches, model), warmup, measured);
        equal.dispose();
        other.dispose();
        out[`T${T}`]![method]![mode] = { msPerStep: ms, equalMsPerStep: eq, ratioToEqual: ms / eq };
        onRow?.(`T=${String(T).padStart(2)}  ${method.padEnd(12)} ${mode.padEnd(14)} ${ms.toFixed(2).padStart(8)} ms/step   equal ${eq.toFixed(2).padStart(7)}   ratio ${(ms / eq).toFixed(2)}`);
      }
    }
  }
  return out;
}
