/**
 * The generic tier's cost: GradNorm's toy network (250 → 4 ReLU layers of 100, T linear heads, squared
 * loss) written as plain jax-js functions in the model contract (examples/models/tanhMlp.ts with
 * relu and no layer norm), trained by the async generic trainer; for T ∈ {2, 10} every gradient mode
 * of GradNorm (norms) and MGDA (Gramian) against generic equal weights on the same batches, one step
 * each in ABBA order, medians of the same run. Also the built-in MLP's hand-written step (the fast
 * tier) with equal weights, for the ratio generic/fast.
 */
import { createBalancer } from "../src/balancers/registry.js";
import { gradModes, type Balancer, type BalancerState } from "../src/balancers/types.js";
import { createModelTrainer } from "../src/train/modelTrainer.js";
import { createTrainer } from "../src/train/loop.js";
import { initParams } from "../src/models/mlp.js";
import { meanSquaredError } from "../src/train/losses.js";
import { adam } from "../src/optim/adam.js";
import { initTanhMlp, tanhMlp } from "../examples/models/tanhMlp.js";
import { toyStep, toyTrainer } from "./methods.js";
import { abba, toyBatches } from "./timing.js";

export interface GenericTiming {
  msPerStep: number;
  equalMsPerStep: number;
  ratioToEqual: number;
}

export async function benchGeneric(tasks: readonly number[], measured: number, warmup: number, onRow?: (line: string) => void) {
  const out: Record<string, Record<string, GenericTiming>> = {};
  const B = 32;
  for (const T of tasks) {
    const batches = toyBatches(T, { trainSize: 512, count: 16, seed: 3, batchSize: B });
    const config = { inputDim: 250, hidden: [100, 100, 100, 100], outputDim: 100, numTasks: T, activation: "relu" as const, layerNorm: false };
    const model = tanhMlp(config);
    /** A timed run: round i's step, and what frees its trainer. */
    type Run = { step: (i: number) => unknown; dispose: () => void };
    const generic = (b: Balancer<BalancerState>): Run => {
      const tr = createModelTrainer({ model, params: initTanhMlp(config, 0), optimizer: adam({ lr: 1e-3 }), balancer: b, check: false });
      return { step: toyStep(tr, batches, config), dispose: () => tr.dispose() };
    };
    const fast = (): Run => {
      const mlp = { inputDim: 250, hidden: [100, 100, 100, 100], outputDim: 100, numTasks: T };
      const tr = createTrainer({ step: { model: mlp, loss: meanSquaredError, optimizer: { lr: 1e-3 } }, balancer: createBalancer("equal"), params: initParams(mlp, 0), batchSize: B });
      return { step: async (i: number) => void tr.step(batches[i % batches.length]!), dispose: () => tr.dispose() };
    };
    const rows: [string, () => Run][] = [["fast-tier equal", fast]];
    for (const mode of gradModes) {
      rows.push([`gradnorm ${mode}`, () => generic(createBalancer("gradnorm", { alpha: 0.12, gradMode: mode }))]);
      rows.push([`mgda ${mode}`, () => generic(createBalancer("mgda", { gradMode: mode }))]);
    }
    out[`T${T}`] = {};
    for (const [label, make] of rows) {
      const runs = [generic(createBalancer("equal")), make()] as const;
      const [eq, ms] = await abba(runs[0].step, runs[1].step, warmup, measured);
      runs.forEach((r) => r.dispose());
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
    const batches = toyBatches(T, { trainSize: 512, count: 16, seed: 5, batchSize: B });
    const mlp = { inputDim: 250, hidden: [100, 100, 100, 100], outputDim: 100, numTasks: T };
    out[`T${T}`] = {};
    for (const method of ["equal", "gradnorm", "mgda"]) {
      const options = method === "mgda" ? { gradMode: "representation" } : {};
      const sync = createTrainer({ step: { model: mlp, loss: meanSquaredError, optimizer: { lr: 1e-3 } }, balancer: createBalancer(method, options), params: initParams(mlp, 0), batchSize: B });
      const asyncTrainer = toyTrainer(mlp, createBalancer(method, options));
      const [a, b] = await abba((i) => sync.step(batches[i % batches.length]!), toyStep(asyncTrainer, batches, mlp), warmup, measured);
      sync.dispose();
      asyncTrainer.dispose();
      out[`T${T}`]![method] = { syncMsPerStep: a, asyncMsPerStep: b, ratio: b / a };
      onRow?.(`T=${String(T).padStart(2)}  ${method.padEnd(9)} sync built-in ${a.toFixed(2).padStart(6)} ms/step   async contract (fast tier) ${b.toFixed(2).padStart(6)}   ratio ${(b / a).toFixed(3)}`);
    }
  }
  return out;
}
