/**
 * The generic tier's cost: GradNorm's toy network (250 → 4 ReLU layers of 100, T linear heads, squared
 * loss) written as plain jax-js functions in the model contract (examples/models/tanhMlp.ts with
 * relu and no layer norm), trained by the async generic trainer; for T ∈ {2, 10} every gradient mode
 * of GradNorm (norms) and MGDA (Gramian) against generic equal weights on the same batches, one step
 * each in ABBA order, medians of the same run. Also the built-in MLP's hand-written step (the fast
 * tier) with equal weights, for the ratio generic/fast.
 */
import { numpy as np } from "@jax-js/jax";
import { createBalancer } from "../src/balancers/registry.js";
import { gradModes, type Balancer, type BalancerState } from "../src/balancers/types.js";
import { createModelTrainer } from "../src/train/modelTrainer.js";
import { createTrainer, type Batch } from "../src/train/loop.js";
import { initParams } from "../src/models/mlp.js";
import { meanSquaredError } from "../src/train/losses.js";
import { adam } from "../src/optim/adam.js";
import { gatherBatch, makeToy } from "../src/data/toy.js";
import { Rng } from "../src/util/rng.js";
import { median } from "../src/util/stats.js";
import { initTanhMlp, tanhMlp } from "../examples/models/tanhMlp.js";
import { mlpModel, toModelParams } from "../src/models/mlpModel.js";

export interface GenericTiming {
  msPerStep: number;
  equalMsPerStep: number;
  ratioToEqual: number;
}

export async function benchGeneric(tasks: readonly number[], measured: number, warmup: number, onRow?: (line: string) => void) {
  const out: Record<string, Record<string, GenericTiming>> = {};
  const B = 32;
  for (const T of tasks) {
    const data = makeToy({ numTasks: T, trainSize: 512, testSize: 1, inputScale: 1 });
    const rng = new Rng(3);
    const batches: Batch[] = Array.from({ length: 16 }, () => gatherBatch(data.train, Array.from({ length: B }, () => rng.int(512)), T, 250, 100));
    const config = { inputDim: 250, hidden: [100, 100, 100, 100], outputDim: 100, numTasks: T, activation: "relu" as const, layerNorm: false };
    const model = tanhMlp(config);
    const generic = (b: Balancer<BalancerState>) => {
      const tr = createModelTrainer({ model, params: initTanhMlp(config, 0), optimizer: adam({ lr: 1e-3 }), balancer: b, check: false });
      return async (k: number) => {
        const bt = batches[k % batches.length]!;
        await tr.step({ x: np.array(bt.x).reshape([B, 250]), y: np.array(bt.y).reshape([T, B, 100]) });
      };
    };
    const fast = () => {
      const mlp = { inputDim: 250, hidden: [100, 100, 100, 100], outputDim: 100, numTasks: T };
      const tr = createTrainer({ step: { model: mlp, loss: meanSquaredError, optimizer: { lr: 1e-3 } }, balancer: createBalancer("equal"), params: initParams(mlp, 0), batchSize: B });
      return async (k: number) => void tr.step(batches[k % batches.length]!);
    };
    const rows: [string, () => (k: number) => Promise<void>][] = [["fast-tier equal", fast]];
    for (const mode of gradModes) {
      rows.push([`gradnorm ${mode}`, () => generic(createBalancer("gradnorm", { alpha: 0.12, gradMode: mode }))]);
      rows.push([`mgda ${mode}`, () => generic(createBalancer("mgda", { gradMode: mode }))]);
    }
    out[`T${T}`] = {};
    for (const [label, make] of rows) {
      const runs = [generic(createBalancer("equal")), make()];
      const times: number[][] = [[], []];
      for (let i = 0; i < warmup + measured; i++) {
        for (const k of i % 2 === 0 ? [0, 1] : [1, 0]) {
          const t0 = performance.now();
          await runs[k]!(i);
          if (i >= warmup) times[k]!.push(performance.now() - t0);
        }
      }
      const eq = median(times[0]!);
      const ms = median(times[1]!);
      out[`T${T}`]![label] = { msPerStep: ms, equalMsPerStep: eq, ratioToEqual: ms / eq };
      onRow?.(`T=${String(T).padStart(2)}  ${label.padEnd(24)} ${ms.toFixed(2).padStart(7)} ms/step   generic equal ${eq.toFixed(2).padStart(6)}   ratio ${(ms / eq).toFixed(2)}`);
    }
  }
  return out;
}

/**
 * What the async step costs on single-thread wasm: the built-in MLP through the synchronous
 * `createTrainer` against the same model in the contract (`mlpModel`, its fast tier) through the async
 * `createModelTrainer`, same batches, one step each in ABBA order; the numbers they compute are the
 * same to the bit (test/models/mlpModel.test.ts).
 */
export async function benchAsyncCost(tasks: readonly number[], measured: number, warmup: number, onRow?: (line: string) => void) {
  const out: Record<string, Record<string, { syncMsPerStep: number; asyncMsPerStep: number; ratio: number }>> = {};
  const B = 32;
  for (const T of tasks) {
    const data = makeToy({ numTasks: T, trainSize: 512, testSize: 1, inputScale: 1 });
    const rng = new Rng(5);
    const batches: Batch[] = Array.from({ length: 16 }, () => gatherBatch(data.train, Array.from({ length: B }, () => rng.int(512)), T, 250, 100));
    const mlp = { inputDim: 250, hidden: [100, 100, 100, 100], outputDim: 100, numTasks: T };
    out[`T${T}`] = {};
    for (const method of ["equal", "gradnorm", "mgda"]) {
      const options = method === "mgda" ? { gradMode: "representation" } : {};
      const sync = createTrainer({ step: { model: mlp, loss: meanSquaredError, optimizer: { lr: 1e-3 } }, balancer: createBalancer(method, options), params: initParams(mlp, 0), batchSize: B });
      const asyncTrainer = createModelTrainer({ model: mlpModel(mlp, meanSquaredError), params: toModelParams(initParams(mlp, 0)), optimizer: adam({ lr: 1e-3 }), balancer: createBalancer(method, options) });
      const times: number[][] = [[], []];
      for (let i = 0; i < warmup + measured; i++) {
        const bt = batches[i % batches.length]!;
        for (const k of i % 2 === 0 ? [0, 1] : [1, 0]) {
          const t0 = performance.now();
          if (k === 0) sync.step(bt);
          else await asyncTrainer.step({ x: np.array(bt.x).reshape([B, 250]), y: np.array(bt.y).reshape([T, B, 100]) });
          if (i >= warmup) times[k]!.push(performance.now() - t0);
        }
      }
      sync.dispose();
      asyncTrainer.dispose();
      const a = median(times[0]!);
      const b = median(times[1]!);
      out[`T${T}`]![method] = { syncMsPerStep: a, asyncMsPerStep: b, ratio: b / a };
      onRow?.(`T=${String(T).padStart(2)}  ${method.padEnd(9)} sync built-in ${a.toFixed(2).padStart(6)} ms/step   async contract (fast tier) ${b.toFixed(2).padStart(6)}   ratio ${(b / a).toFixed(3)}`);
    }
  }
  return out;
}
