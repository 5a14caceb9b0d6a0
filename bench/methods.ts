/**
 * Per-method step cost: for T ∈ {2, 10, 50}, every registered method that needs per-task
 * gradient statistics, in each gradient mode, against equal weights on the same model and
 * batches, on the async trainer with the built-in MLP's fast tier (as the commands train). Each method trainer alternates one step with an equal-weights trainer (ABBA order),
 * and the ratio is between the medians of the same run.
 */
import { createBalancer, methodNames } from "../src/balancers/registry.js";
import { gradModes, type Balancer, type BalancerState, type GradStatistic } from "../src/balancers/types.js";
import { numpy as np } from "@jax-js/jax";
import { initParams, type MultiHeadMlpConfig } from "../src/models/mlp.js";
import { mlpModel, toModelParams, type MlpBatch } from "../src/models/mlpModel.js";
import { adam } from "../src/optim/adam.js";
import { meanSquaredError } from "../src/train/losses.js";
import type { Batch } from "../src/train/loop.js";
import { createModelTrainer } from "../src/train/modelTrainer.js";
import { gatherBatch, makeToy } from "../src/data/toy.js";
import { toyTrainDefaults } from "../src/experiments/toyRun.js";
import { Rng } from "../src/util/rng.js";
import { median } from "../src/util/stats.js";

export const modes: readonly GradStatistic[] = gradModes;

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

/** A host batch as device arrays for the toy network (uploaded inside the timed step, as the commands do). */
export function toyArrays(b: Batch, model: MultiHeadMlpConfig): MlpBatch {
  const B = b.x.length / model.inputDim;
  return { x: np.array(b.x).reshape([B, model.inputDim]), y: np.array(b.y).reshape([model.numTasks, B, model.outputDim]) };
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
  const batchSize = toyTrainDefaults.batchSize;
  for (const T of tasks) {
    const data = makeToy({ numTasks: T, trainSize: 512, testSize: 1, inputScale: 1 });
    const model = { inputDim: 250, hidden: toyTrainDefaults.hidden, outputDim: 100, numTasks: T };
    const rng = new Rng(2);
    const batches: Batch[] = Array.from({ length: 16 }, () => gatherBatch(data.train, Array.from({ length: batchSize }, () => rng.int(512)), T, 250, 100));
    out[`T${T}`] = {};
    for (const method of statisticMethods()) {
      out[`T${T}`]![method] = {};
      for (const mode of modes) {
        const trainers = [toyTrainer(model, createBalancer("equal")), toyTrainer(model, createBalancer(method, { gradMode: mode }))];
        const times: number[][] = [[], []];
        for (let i = 0; i < warmup + measured; i++) {
          for (const k of i % 2 === 0 ? [0, 1] : [1, 0]) {
            const t0 = performance.now();
            await trainers[k]!.step(toyArrays(batches[i % batches.length]!, model));
            if (i >= warmup) times[k]!.push(performance.now() - t0);
          }
        }
        trainers.forEach((t) => t.dispose());
        const eq = median(times[0]!);
        const ms = median(times[1]!);
        out[`T${T}`]![method]![mode] = { msPerStep: ms, equalMsPerStep: eq, ratioToEqual: ms / eq };
        onRow?.(`T=${String(T).padStart(2)}  ${method.padEnd(12)} ${mode.padEnd(14)} ${ms.toFixed(2).padStart(8)} ms/step   equal ${eq.toFixed(2).padStart(7)}   ratio ${(ms / eq).toFixed(2)}`);
      }
    }
  }
  return out;
}
