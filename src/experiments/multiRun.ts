import { numpy as np, jit, tree, type JsTree } from "@jax-js/jax";
import type { Balancer, BalancerState } from "../balancers/types.js";
import { forward, initParams, type MultiHeadMlpConfig, type Params } from "../models/mlp.js";
import { lenetStem, type ConvStemConfig } from "../models/conv.js";
import { crossEntropy } from "../train/losses.js";
import { createModelTrainer } from "../train/modelTrainer.js";
import { TrainingError } from "../train/checks.js";
import { nonFiniteGuard, type NonFiniteOptions, type SkippedStep } from "../train/modelLoop.js";
import { fromModelParams, mlpModel, toModelParams } from "../models/mlpModel.js";
import { adam } from "../optim/adam.js";
import { Rng, deriveSeed } from "../util/rng.js";
import { loadImages } from "../data/images.js";
import type { RunCheckpoints, RunHooks } from "./hooks.js";
import type { NonFiniteGuardState } from "../train/modelLoop.js";
import { CANVAS, buildMulti, checkMultiRows, checkSplits, splitIndices, type MultiDataset, type Splits } from "../data/multiMnist.js";

/** The multi-image datasets, by CLI name. */
export const multiKinds = ["mnist", "fashion", "fashion+mnist"] as const;
export type MultiKind = (typeof multiKinds)[number];
/** The shared encoders: an MLP on the raw canvas, or Sener & Koltun's LeNet convolutions (lowered to matrix products) before the MLP layers. */
export const multiEncoders = ["mlp", "lenet"] as const;
export type MultiEncoder = (typeof multiEncoders)[number];

/** The dataset's name in tables: MultiMNIST, MultiFashion, MultiFashion+MNIST. */
export function multiTitle(kind: MultiKind): string {
  return { mnist: "MultiMNIST", fashion: "MultiFashion", "fashion+mnist": "MultiFashion+MNIST" }[kind];
}
const CLASSES = 10;
const PIXELS = CANVAS * CANVAS;

export interface MultiData {
  readonly kind: MultiKind;
  readonly data: MultiDataset;
  readonly splits: Splits;
}

/** MultiMNIST, MultiFashion or MultiFashion+MNIST (left: Fashion, right: MNIST), split with a seed. */
export function multiData(kind: MultiKind, seed = 0, cacheDir?: string): MultiData {
  const mnist = kind === "fashion" ? null : loadImages("mnist", cacheDir);
  const fashion = kind === "mnist" ? null : loadImages("fashion", cacheDir);
  const data = kind === "mnist" ? buildMulti(mnist!, mnist!, seed) : kind === "fashion" ? buildMulti(fashion!, fashion!, seed) : buildMulti(fashion!, mnist!, seed);
  return { kind, data, splits: splitIndices(data.count, seed) };
}

/** Rows `idx` as x [B, 1296] and one-hot targets [T = 2, B, 10]. */
export function gatherMulti(d: MultiDataset, idx: ArrayLike<number>) {
  checkMultiRows(d, idx);
  const B = idx.length;
  const x = new Float32Array(B * PIXELS);
  const y = new Float32Array(2 * B * CLASSES);
  for (let b = 0; b < B; b++) {
    const n = idx[b]!;
    x.set(d.images.subarray(n * PIXELS, (n + 1) * PIXELS), b * PIXELS);
    for (let t = 0; t < 2; t++) y[(t * B + b) * CLASSES + d.labels[t * d.count + n]!] = 1;
  }
  return { x, y };
}

/** Rows `idx` as device arrays: x [B, 1296] and one-hot targets y [T = 2, B, 10]. */
export function gatherMultiArrays(d: MultiDataset, idx: ArrayLike<number>): { x: np.Array; y: np.Array } {
  const { x, y } = gatherMulti(d, idx);
  return { x: np.array(x).reshape([idx.length, PIXELS]), y: np.array(y).reshape([2, idx.length, CLASSES]) };
}

/**
 * Per-task count of correct argmax predictions, [T], from logits [T, B, C] and one-hot labels
 * [T, B, C] (consumes both): a row counts as correct when the label's logit is the maximum.
 */
export function correctCount(logits: np.Array, onehot: np.Array): np.Array {
  const hit = np.max(logits.ref, -1, { keepdims: true }).lessEqual(logits).astype(np.float32);
  return hit.mul(onehot).sum([1, 2]);
}

/** jit: (params, x, onehot) → per-task count of correct argmax predictions, [2]. Consumes its arguments. */
function buildCorrect(stem: ConvStemConfig | undefined) {
  return jit((params: Params, x: np.Array, onehot: np.Array) => {
    const logits = forward(params, x, stem);
    tree.dispose(params);
    return correctCount(logits, onehot);
  }) as unknown as ((p: Params, x: np.Array, y: np.Array) => np.Array) & { dispose(): void };
}

/**
 * Per-task counts of correct predictions of `params` (borrowed) on rows `idx`, in chunks of `chunk`
 * rows; `correct(params, x, onehot)` gives the per-task counts of one chunk and consumes its arguments.
 * Results read back asynchronously.
 */
export async function correctCounts<P extends JsTree<np.Array>>(params: P, d: MultiDataset, idx: Int32Array, correct: (params: P, x: np.Array, onehot: np.Array) => np.Array, chunk = 1000): Promise<number[]> {
  const hits = [0, 0];
  for (let s = 0; s < idx.length; s += chunk) {
    const part = idx.subarray(s, Math.min(idx.length, s + chunk));
    const { x, y } = gatherMultiArrays(d, part);
    const c = (await correct(tree.ref(params), x, y).data()) as Float32Array;
    hits[0]! += c[0]!;
    hits[1]! += c[1]!;
  }
  return hits;
}

/** Per-task accuracy of `params` (borrowed) on rows `idx`: {@link correctCounts} over the row count. */
export async function accuracy<P extends JsTree<np.Array>>(params: P, d: MultiDataset, idx: Int32Array, correct: (params: P, x: np.Array, onehot: np.Array) => np.Array, chunk = 1000): Promise<number[]> {
  return (await correctCounts(params, d, idx, correct, chunk)).map((h) => h / idx.length);
}

export interface MultiTrainConfig extends NonFiniteOptions {
  readonly encoder: MultiEncoder;
  /** Widths of the encoder's fully connected layers (after the convolutions with `lenet`). */
  readonly hidden: readonly number[];
  readonly epochs: number;
  readonly batchSize: number;
  readonly lr: number;
  readonly seed: number;
  /** Stop after this many epochs without a better mean validation accuracy. */
  readonly patience: number;
}

export const multiTrainDefaults: MultiTrainConfig = { encoder: "mlp", hidden: [256, 128], epochs: 10, batchSize: 256, lr: 1e-3, seed: 0, patience: 3 };

/** Default fully connected widths per encoder: LeNet's one 50-unit layer after its convolutions. */
export const defaultHidden: Readonly<Record<MultiEncoder, readonly number[]>> = { mlp: [256, 128], lenet: [50] };

/** Every setting of a run, defaults filled in (unset or undefined fields take the default; `hidden` the encoder's). */
export function resolveTrainConfig(cfg: Partial<MultiTrainConfig>): MultiTrainConfig {
  const set = Object.fromEntries(Object.entries(cfg).filter(([, v]) => v !== undefined)) as Partial<MultiTrainConfig>;
  const encoder = set.encoder ?? multiTrainDefaults.encoder;
  return { ...multiTrainDefaults, hidden: defaultHidden[encoder], ...set };
}

export interface MultiRunResult {
  readonly method: string;
  /** Test accuracy per task at the epoch with the best mean validation accuracy. */
  readonly testAccuracy: number[];
  readonly validationAccuracy: number[];
  readonly bestEpoch: number;
  readonly epochsRun: number;
  readonly weights: number[];
  readonly msPerStep: number;
  readonly secondsPerEpoch: number;
  /** Steps skipped under onNonFinite "skip" (t counts steps over epochs; empty otherwise; absent in sweep records saved before it existed). */
  readonly skipped?: readonly SkippedStep[];
}

/** The loop state of {@link runMulti} in a checkpoint: where the run stands and its early-stopping record. */
export interface MultiLoopState {
  /** The epoch under way (1-based) and the step within it to run next (= steps per epoch: its evaluation is next). */
  readonly epoch: number;
  readonly next: number;
  readonly best: { mean: number; epoch: number; val: number[]; test: number[] };
  readonly guard: NonFiniteGuardState;
  readonly stepMs: number;
}

/**
 * Trains the MLP encoder (optionally behind the LeNet stem) with two classification heads on a
 * multi-image dataset with one balancer — the built-in model in the contract (its fast tier), on the
 * async trainer; evaluates validation accuracy after every epoch and reports the test accuracy of the
 * best validation epoch (early stopping with `patience`). `hooks` see every step's record (t counts
 * steps over epochs) and, after each epoch, the validation accuracy (split `validation`) and, when it
 * is the best so far, the test accuracy (split `test`), at the steps done. Non-finite steps stop the
 * run or are skipped as `onNonFinite` says (its limits count the steps of all `epochs`). `checkpoints`:
 * save the run every so many steps and/or resume it bit for bit; epoch e's batch order is the
 * permutation the seed's "batches" stream draws after (e − 1) of them.
 */
export async function runMulti(
  md: MultiData,
  method: string,
  balancer: Balancer<BalancerState>,
  cfg: Partial<MultiTrainConfig> = {},
  onEpoch?: (epoch: number) => void,
  hooks?: RunHooks,
  checkpoints?: RunCheckpoints<MultiLoopState>,
): Promise<MultiRunResult> {
  const c = resolveTrainConfig(cfg);
  checkSplits(md.splits, c.batchSize, md.data.count);
  const stem = c.encoder === "lenet" ? lenetStem([CANVAS, CANVAS, 1]) : undefined;
  const model: MultiHeadMlpConfig = { inputDim: PIXELS, hidden: c.hidden, outputDim: CLASSES, numTasks: 2, stem };
  const resume = checkpoints?.resume;
  const guard = nonFiniteGuard(c, c.epochs * Math.floor(md.splits.train.length / c.batchSize), resume?.loop.guard);
  const common = { model: mlpModel(model, crossEntropy), optimizer: adam({ lr: c.lr }), balancer };
  const trainer = createModelTrainer(resume ? { ...common, resume: resume.trainer } : { ...common, params: toModelParams(initParams(model, deriveSeed(c.seed, "init"))) });
  const correct = buildCorrect(stem);
  const { train, validation, test } = md.splits;
  const stepsPerEpoch = Math.floor(train.length / c.batchSize);
  let best = resume ? structuredClone(resume.loop.best) : { mean: -1, epoch: 0, val: [0, 0], test: [0, 0] };
  let stepMs = resume?.loop.stepMs ?? 0;
  const first = resume ? { epoch: resume.loop.epoch, step: resume.loop.next } : { epoch: 1, step: 0 };
  if (first.epoch < 1 || first.epoch > c.epochs || first.step < 0 || first.step > stepsPerEpoch) {
    trainer.dispose();
    correct.dispose();
    throw new TrainingError(`resume: the checkpoint is at epoch ${first.epoch}, step ${first.step}, outside this run's ${c.epochs} epochs of ${stepsPerEpoch} steps`);
  }
  let epochs = first.epoch - 1;
  const every = checkpoints?.save && checkpoints.every ? checkpoints.every : 0;
  const t0 = performance.now();
  try {
    for (let e = first.epoch; e <= c.epochs; e++) {
      const perm = new Rng(deriveSeed(c.seed, "batches"), (e - 1) * (train.length - 1)).permutation(train.length);
      for (let s = e === first.epoch ? first.step : 0; s < stepsPerEpoch; s++) {
        const idx = Array.from(perm.subarray(s * c.batchSize, (s + 1) * c.batchSize), (k) => train[k]!);
        const ts = performance.now();
        const t = (e - 1) * stepsPerEpoch + s;
        const rec = await guard.run(t, () => trainer.step(gatherMultiArrays(md.data, idx)));
        const ms = performance.now() - ts;
        if (rec !== undefined) {
          stepMs += ms;
          hooks?.onStep?.(t, rec, ms);
        }
        if (every && (t + 1) % every === 0) {
          await checkpoints!.save!({ trainer: await trainer.snapshot(), loop: { epoch: e, next: s + 1, best: structuredClone(best), guard: guard.state(), stepMs } }, t + 1);
        }
      }
      epochs = e;
      const params = fromModelParams(trainer.params);
      const val = await accuracy(params, md.data, validation, correct);
      const mean = (val[0]! + val[1]!) / 2;
      onEpoch?.(e);
      hooks?.onEval?.(e * stepsPerEpoch, { epoch: e, accuracy: val }, "validation");
      if (mean > best.mean) {
        best = { mean, epoch: e, val, test: await accuracy(params, md.data, test, correct) };
        hooks?.onEval?.(e * stepsPerEpoch, { epoch: e, accuracy: best.test }, "test");
      } else if (e - best.epoch >= c.patience) break;
    }
  } catch (e) {
    trainer.dispose();
    throw e;
  } finally {
    correct.dispose();
  }
  const weights = [...trainer.weights];
  trainer.dispose();
  return {
    method,
    testAccuracy: best.test,
    validationAccuracy: best.val,
    bestEpoch: best.epoch,
    epochsRun: epochs,
    weights,
    msPerStep: stepMs / Math.max(1, epochs * stepsPerEpoch - guard.skipped.length),
    secondsPerEpoch: (performance.now() - t0) / 1000 / Math.max(1, epochs),
    skipped: [...guard.skipped],
  };
}
