import { tree } from "@jax-js/jax";
import type { Balancer, BalancerState } from "../balancers/types.js";
import { initParams, type MultiHeadMlpConfig, type Params } from "../models/mlp.js";
import { meanSquaredError } from "../train/losses.js";
import type { LoopHistory } from "../train/loop.js";
import { trainModelLoop, type ModelLoopState, type NonFiniteOptions, type SkippedStep } from "../train/modelLoop.js";
import { fromModelParams, mlpModel, toModelParams } from "../models/mlpModel.js";
import { adam } from "../optim/adam.js";
import { buildEvalLosses } from "../train/step.js";
import { Rng, deriveSeed } from "../util/rng.js";
import { gatherBatch, toyArrays, type Split, type ToyData } from "../data/toy.js";
import { loopCheckpointOptions, type RunCheckpoints, type RunHooks } from "./hooks.js";
import { DataError } from "../data/errors.js";

/** Training settings of the synthetic experiment (the paper gives none; see README). */
export interface ToyTrainConfig extends NonFiniteOptions {
  readonly steps: number;
  readonly batchSize: number;
  readonly lr: number;
  /** Widths of the shared trunk (paper: 4 ReLU layers of 100). */
  readonly hidden: readonly number[];
  /** Seed of the initial parameters and of the batch order: equal across methods. */
  readonly seed: number;
  readonly evalEvery?: number;
}

export const toyTrainDefaults: ToyTrainConfig = {
  steps: 2000,
  batchSize: 32,
  lr: 1e-3,
  hidden: [100, 100, 100, 100],
  seed: 0,
};

export interface ToyRunResult {
  readonly method: string;
  readonly tasks: number;
  readonly sigma: number[];
  /** Per-task test loss at the end. */
  readonly testLoss: number[];
  /** Per-task test loss of the initial network (same for every method with the same seed). */
  readonly initialTestLoss: number[];
  /** Σᵢ Lᵢ/Lᵢ(0) on the test set (the paper's task-normalized test loss). */
  readonly normalizedTestLoss: number;
  /** Final weights. */
  readonly weights: number[];
  readonly msPerStep: number;
  readonly wallMs: number;
  readonly history: LoopHistory;
  /** Steps skipped under onNonFinite "skip" (empty otherwise). */
  readonly skipped: readonly SkippedStep[];
}

/** Per-task test losses of `params` (borrowed) on a split, in chunks; results read back asynchronously. */
export async function splitLosses(params: Params, split: Split, data: ToyData, evalLosses: ReturnType<typeof buildEvalLosses>, chunk = 500): Promise<number[]> {
  const { numTasks: T, inputDim: D, outputDim: O } = data.config;
  const sums = new Array<number>(T).fill(0);
  for (let start = 0; start < split.size; start += chunk) {
    const n = Math.min(chunk, split.size - start);
    const idx = Array.from({ length: n }, (_, i) => start + i);
    const { x, y } = toyArrays(gatherBatch(split, idx, T, D, O), data.config);
    const l = (await evalLosses(tree.ref(params), x, y).data()) as Float32Array;
    for (let t = 0; t < T; t++) sums[t]! += l[t]! * n;
  }
  return sums.map((s) => s / split.size);
}

/**
 * The toy runs' batch order: successive slices of permutations of the training set drawn from the seed's
 * "batches" stream, floor(N / batchSize) batches from each (the rest of a permutation is dropped).
 * `batch(t)` gives step t's batch as device arrays — a pure function of t, computed from where the
 * stream stands at that permutation, so a resumed run draws the batches an uninterrupted one would.
 */
export function toyBatches(data: ToyData, batchSize: number, seed: number) {
  const { numTasks: T, inputDim: D, outputDim: O } = data.config;
  const N = data.train.size;
  if (batchSize > N) throw new DataError(`batch size ${batchSize} exceeds the ${N} training points`);
  const perPermutation = Math.floor(N / batchSize);
  let cached: { index: number; perm: Int32Array } = { index: -1, perm: new Int32Array(0) };
  return (t: number) => {
    const index = Math.floor(t / perPermutation);
    if (index !== cached.index) cached = { index, perm: new Rng(deriveSeed(seed, "batches"), index * (N - 1)).permutation(N) };
    const pos = (t % perPermutation) * batchSize;
    const idx = cached.perm.subarray(pos, pos + batchSize);
    return toyArrays(gatherBatch(data.train, idx, T, D, O), data.config);
  };
}

/**
 * Trains one network on the toy data with one balancer and reports the paper's metrics: the built-in
 * MLP as a model in the contract (its fast tier), on the async trainer. `hooks` see every step's
 * record and the per-task test losses at each evaluation (split `test`). `checkpoints`: save the run
 * every so many steps and/or resume it (see {@link trainModelLoop}'s `checkpoint` and `resume`).
 */
export async function runToy(
  data: ToyData,
  method: string,
  balancer: Balancer<BalancerState>,
  cfg: Partial<ToyTrainConfig> = {},
  onStep?: (t: number) => void,
  hooks?: RunHooks,
  checkpoints?: RunCheckpoints<ModelLoopState>,
): Promise<ToyRunResult> {
  const c = { ...toyTrainDefaults, ...cfg };
  const { numTasks: T, inputDim: D, outputDim: O } = data.config;
  const model: MultiHeadMlpConfig = { inputDim: D, hidden: c.hidden, outputDim: O, numTasks: T };
  const evalLosses = buildEvalLosses(meanSquaredError);
  const batch = toyBatches(data, c.batchSize, c.seed);
  const t0 = performance.now();
  const result = await trainModelLoop({
    model: mlpModel(model, meanSquaredError),
    optimizer: adam({ lr: c.lr }),
    balancer,
    ...loopCheckpointOptions(checkpoints, () => toModelParams(initParams(model, deriveSeed(c.seed, "init")))),
    steps: c.steps,
    batch,
    onNonFinite: c.onNonFinite,
    maxSkipped: c.maxSkipped,
    maxSkippedInARow: c.maxSkippedInARow,
    evaluate: (p) => splitLosses(fromModelParams(p), data.test, data, evalLosses),
    evalEvery: c.evalEvery ?? Math.max(1, Math.floor(c.steps / 25)),
    ...(onStep || hooks?.onStep
      ? {
          onStep: (t, rec, ms) => {
            hooks?.onStep?.(t, rec, ms);
            onStep?.(t);
          },
        }
      : {}),
    ...(hooks?.onEval ? { onEval: (t, losses) => hooks.onEval!(t, { losses: [...losses] }, "test") } : {}),
  });
  const wallMs = performance.now() - t0;
  tree.dispose(result.params);
  evalLosses.dispose();
  const h = result.history;
  const initialTestLoss = h.evalLosses[0]!;
  const testLoss = h.evalLosses[h.evalLosses.length - 1]!;
  return {
    method,
    tasks: T,
    sigma: data.sigmas,
    testLoss,
    initialTestLoss,
    normalizedTestLoss: testLoss.reduce((a, l, i) => a + l / initialTestLoss[i]!, 0),
    weights: result.finalWeights,
    msPerStep: result.msPerStep,
    wallMs,
    history: h,
    skipped: result.skipped,
  };
}
