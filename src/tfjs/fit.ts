import * as tf from "@tensorflow/tfjs-core";
import { Rng } from "../util/rng.js";
import { checkCount, TrainingError } from "../train/observation.js";
import type { StepRecord } from "../train/loop.js";
import { TfjsModelError } from "./graph.js";
import { isTensor, type TfjsInputs, type TfjsTrainer } from "./trainer.js";
import { checkClassLabels, DataError } from "../data/errors.js";

/** The targets: one tensor per output in the model's order, or a record by output name (as TF.js's `fit` takes). */
export type TfjsTargets = readonly tf.Tensor[] | Readonly<Record<string, tf.Tensor>>;

/**
 * The targets in output order: an array of one tensor per output, or a record by output name with
 * exactly the model's outputs (a DataError naming an unknown name, a missing output or a wrong count).
 */
export function targetsInOrder(trainer: TfjsTrainer, ys: TfjsTargets, what = "fit"): tf.Tensor[] {
  const names = trainer.outputNames;
  const list = `(${names.map((n) => `'${n}'`).join(", ")})`;
  if (Array.isArray(ys)) {
    if (ys.length !== names.length) throw new DataError(`${what}: ${ys.length} target tensors for ${names.length} outputs ${list}`);
    return [...(ys as readonly tf.Tensor[])];
  }
  if (ys === null || typeof ys !== "object" || isTensor(ys)) {
    throw new DataError(`${what}: targets must be one tensor per output ${list}, as an array in output order or a record by output name; got ${isTensor(ys) ? "one tensor" : String(ys)}`);
  }
  const rec = ys as Readonly<Record<string, tf.Tensor>>;
  const unknown = Object.keys(rec).filter((k) => !names.includes(k));
  if (unknown.length > 0) throw new DataError(`${what}: no output named ${unknown.map((k) => `'${k}'`).join(", ")}; the model's outputs are ${list}`);
  const missing = names.filter((n) => rec[n] === undefined);
  if (missing.length > 0) throw new DataError(`${what}: no target for output${missing.length > 1 ? "s" : ""} ${missing.map((n) => `'${n}'`).join(", ")}; the model's outputs are ${list}`);
  return names.map((n) => rec[n]!);
}

/**
 * Checks a whole data set before training or evaluating on it (shapes on the host, and the integer labels
 * of sparse losses read once): at least one row, the same rows in every input and target, the tensors
 * fitting the model ({@link TfjsTrainer.checkData}), and each sparse label an integer in 0..C−1. Returns
 * the number of rows.
 */
async function checkDataSet(trainer: TfjsTrainer, xs: readonly tf.Tensor[], x: TfjsInputs, ys: readonly tf.Tensor[], what: string): Promise<number> {
  const names = trainer.outputNames;
  const inputs = trainer.graph.model.inputs;
  xs.forEach((t, i) => {
    if (!isTensor(t)) throw new TfjsModelError(`${what}: input '${inputs[i]?.name ?? i}' is not a tensor`);
  });
  ys.forEach((t, i) => {
    if (!isTensor(t)) throw new TfjsModelError(`${what}: the target of output '${names[i]}' is not a tensor`);
  });
  const N = xs[0]?.shape[0];
  if (N === undefined || N < 1) throw new TfjsModelError(`${what}: no examples (the first input has no rows${xs[0] ? `: shape [${xs[0].shape}]` : ""})`);
  const tensors = [...xs.map((t, i) => ({ t, name: `input '${inputs[i]?.name ?? i}'` })), ...ys.map((t, i) => ({ t, name: `the target of output '${names[i]}'` }))];
  for (const { t, name } of tensors) {
    if (t.shape[0] !== N) throw new TfjsModelError(`${what}: every input and target needs ${N} rows (the first input's); ${name} has ${t.shape[0] ?? "none"} (shape [${t.shape}])`);
  }
  trainer.checkData(x, ys);
  for (let i = 0; i < ys.length; i++) {
    const classes = trainer.sparseClasses[i];
    if (classes === undefined) continue;
    checkClassLabels(`${what}: the target of output '${names[i]}' (sparseCategoricalCrossentropy)`, (await ys[i]!.data()) as ArrayLike<number>, classes ?? Infinity);
  }
  return N;
}

/** Numeric logs, as TF.js callbacks receive them. */
export type FitLogs = Record<string, number>;

/**
 * Callbacks in TF.js's style (each may return a promise, which is awaited). A `tf.callbacks.earlyStopping`
 * object works too: it gets the model through `setModel` and stops training by setting
 * `model.stopTraining`, which `fit` reads after every batch and epoch.
 */
export interface FitCallbacks {
  onTrainBegin?(logs?: FitLogs): unknown;
  onTrainEnd?(logs?: FitLogs): unknown;
  onEpochBegin?(epoch: number, logs?: FitLogs): unknown;
  onEpochEnd?(epoch: number, logs?: FitLogs): unknown;
  onBatchBegin?(batch: number, logs?: FitLogs): unknown;
  onBatchEnd?(batch: number, logs?: FitLogs): unknown;
  setModel?(model: unknown): void;
  setParams?(params: Record<string, unknown>): void;
}

export interface FitOptions {
  /** Passes over the data. Default 1. */
  readonly epochs?: number;
  /** Default 32; the last batch of an epoch may be smaller. */
  readonly batchSize?: number;
  /** Shuffle the examples every epoch. Default true. */
  readonly shuffle?: boolean;
  /** Seed of the shuffling (the same seed, the same batches). Default 0. */
  readonly seed?: number;
  /** Inputs and one target per output (an array in output order or a record by name), evaluated in inference mode after each epoch. */
  readonly validationData?: readonly [TfjsInputs, TfjsTargets];
  readonly callbacks?: FitCallbacks | readonly FitCallbacks[];
}

/** What `fit` returns, shaped like TF.js's `History`: the epochs run and each log key's value per epoch. */
export interface FitHistory {
  readonly epoch: number[];
  readonly history: Record<string, number[]>;
}

/**
 * Trains a balancer's trainer ({@link createTfjsTrainer}) over tensors, like `model.fit`: batches of
 * `batchSize` in a seeded shuffled order, `epochs` passes, callbacks in TF.js's style, and validation
 * after each epoch. Logs (numbers, as TF.js callbacks expect), with `<out>` each output's name:
 * - per batch: `loss` (Σ wᵢLᵢ with the weights the step applied), `<out>_loss` (unweighted Lᵢ),
 *   `<out>_weight` (the weight applied);
 * - per epoch: the batch means of `loss` and `<out>_loss`, `<out>_weight` (the weights for the next
 *   step), and with validation data `val_<out>_loss` and `val_loss` = Σ the unweighted validation
 *   losses (a fixed yardstick: the weighted sum moves with the weights).
 * Targets are one tensor per output, in output order or as a record by output name. Inputs are not
 * consumed. The data (and the validation data) are checked before the first step: at least one row, the
 * same rows everywhere, shapes that fit the model, integer labels of sparse losses in range (read once);
 * errors name the input or output. Errors of a step (NaN losses, bad shapes) stop training and
 * propagate: the model keeps the variables of the last good step.
 */
export async function fit(trainer: TfjsTrainer, x: TfjsInputs, targets: TfjsTargets, options: FitOptions = {}): Promise<FitHistory> {
  const epochs = checkCount("epochs", options.epochs ?? 1, 1);
  const batchSize = checkCount("batchSize", options.batchSize ?? 32, 1);
  const shuffle = options.shuffle ?? true;
  const xs = Array.isArray(x) ? (x as readonly tf.Tensor[]) : [x as tf.Tensor];
  const ys = targetsInOrder(trainer, targets);
  const N = await checkDataSet(trainer, xs, x, ys, "fit");
  const validation = options.validationData ? validationSet(trainer, options.validationData) : undefined;
  if (validation) await checkDataSet(trainer, validation.xs, validation.x, validation.ys, "fit: validation data");
  const names = trainer.outputNames;
  const cbs = options.callbacks === undefined ? [] : Array.isArray(options.callbacks) ? (options.callbacks as readonly FitCallbacks[]) : [options.callbacks as FitCallbacks];
  const model = trainer.graph.model;
  model.stopTraining = false;
  for (const cb of cbs) {
    cb.setModel?.(model);
    cb.setParams?.({ epochs, batchSize, samples: N, steps: Math.ceil(N / batchSize) });
  }
  const call = async (f: (cb: FitCallbacks) => unknown) => {
    for (const cb of cbs) await f(cb);
  };
  const rng = new Rng(options.seed ?? 0);
  const history: FitHistory = { epoch: [], history: {} };
  const gather = (idx: tf.Tensor1D, t: tf.Tensor) => tf.gather(t, idx);
  await call((cb) => cb.onTrainBegin?.({}));
  for (let epoch = 0; epoch < epochs && !model.stopTraining; epoch++) {
    await call((cb) => cb.onEpochBegin?.(epoch, {}));
    const order = shuffle ? rng.permutation(N) : Int32Array.from({ length: N }, (_, i) => i);
    const sums: FitLogs = { loss: 0 };
    let batches = 0;
    for (let start = 0, b = 0; start < N && !model.stopTraining; start += batchSize, b++) {
      const size = Math.min(batchSize, N - start);
      await call((cb) => cb.onBatchBegin?.(b, { batch: b, size }));
      const idx = tf.tensor1d(order.subarray(start, start + size), "int32");
      const bx = xs.map((t) => gather(idx, t));
      const by = ys.map((t) => gather(idx, t));
      let rec: StepRecord;
      try {
        rec = await trainer.step(Array.isArray(x) ? bx : bx[0]!, by);
      } finally {
        tf.dispose([idx, ...bx, ...by]);
      }
      const logs = batchLogs(rec, names, b, size);
      for (const k of Object.keys(logs)) if (k !== "batch" && k !== "size" && !k.endsWith("_weight")) sums[k] = (sums[k] ?? 0) + logs[k]!;
      batches++;
      await call((cb) => cb.onBatchEnd?.(b, logs));
    }
    const logs: FitLogs = {};
    for (const k of Object.keys(sums)) logs[k] = sums[k]! / Math.max(1, batches);
    trainer.weights.forEach((w, i) => (logs[`${names[i]}_weight`] = w));
    if (validation) {
      const val = await evaluateInBatches(trainer, validation.x, validation.ys, batchSize);
      val.forEach((l, i) => (logs[`val_${names[i]}_loss`] = l));
      logs.val_loss = val.reduce((a, l) => a + l, 0);
    }
    history.epoch.push(epoch);
    for (const [k, v] of Object.entries(logs)) (history.history[k] ??= []).push(v);
    await call((cb) => cb.onEpochEnd?.(epoch, logs));
  }
  await call((cb) => cb.onTrainEnd?.({}));
  return history;
}

function batchLogs(rec: StepRecord, names: readonly string[], batch: number, size: number): FitLogs {
  const logs: FitLogs = { batch, size, loss: rec.losses.reduce((a, l, i) => a + rec.weights[i]! * l, 0) };
  rec.losses.forEach((l, i) => {
    logs[`${names[i]}_loss`] = l;
    logs[`${names[i]}_weight`] = rec.weights[i]!;
  });
  return logs;
}

/** Validation data as inputs and targets in output order. */
function validationSet(trainer: TfjsTrainer, data: readonly [TfjsInputs, TfjsTargets]): { x: TfjsInputs; xs: readonly tf.Tensor[]; ys: tf.Tensor[] } {
  if (!Array.isArray(data) || data.length !== 2) throw new DataError("fit: validationData must be [inputs, targets]");
  const x = data[0];
  return { x, xs: Array.isArray(x) ? (x as readonly tf.Tensor[]) : [x as tf.Tensor], ys: targetsInOrder(trainer, data[1], "fit: validation data") };
}

/**
 * Per-task losses over a whole data set in inference mode, in batches (the example-weighted mean).
 * Targets as in {@link fit}; the data set needs at least one row and the same rows in every tensor
 * (a DataError otherwise: the mean over no rows is 0/0).
 */
export async function evaluateInBatches(trainer: TfjsTrainer, x: TfjsInputs, targets: TfjsTargets, batchSize = 256): Promise<number[]> {
  batchSize = checkCount("batchSize", batchSize, 1);
  const xs = Array.isArray(x) ? (x as readonly tf.Tensor[]) : [x as tf.Tensor];
  if (Array.isArray(targets) && targets.length !== trainer.numTasks) throw new TrainingError(`validation data: ${targets.length} targets for ${trainer.numTasks} outputs`);
  const ys = targetsInOrder(trainer, targets, "evaluateInBatches");
  const N = isTensor(xs[0]) ? xs[0].shape[0] : undefined;
  if (N === undefined || N < 1) throw new DataError(`evaluateInBatches: no examples (the first input has no rows${xs[0] ? `: shape [${xs[0].shape}]` : ""}); a mean loss over 0 rows is NaN`);
  trainer.checkData(x, ys);
  const sums = new Array<number>(trainer.numTasks).fill(0);
  for (let start = 0; start < N; start += batchSize) {
    const size = Math.min(batchSize, N - start);
    const bx = xs.map((t) => tf.slice(t, start, size));
    const by = ys.map((t) => tf.slice(t, start, size));
    try {
      const l = await trainer.evaluate(Array.isArray(x) ? bx : bx[0]!, by);
      l.forEach((v, i) => (sums[i]! += v * size));
    } finally {
      tf.dispose([...bx, ...by]);
    }
  }
  return sums.map((s) => s / N);
}
