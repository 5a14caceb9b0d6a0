import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { createTfjsTrainer, fit, TrainingError, type FitLogs } from "../../src/tfjs/index.js";
import { createBalancer } from "../../src/balancers/registry.js";

await tf.setBackend("cpu");

/** A seeded two-output model (regression 2, classification 3) and 40 examples, 12 for validation. */
function setup() {
  const init = (seed: number) => ({ kernelInitializer: tf.initializers.glorotUniform({ seed }), biasInitializer: "zeros" as const });
  const inp = tf.input({ shape: [6] });
  const rep = tf.layers.dense({ units: 10, activation: "relu", name: "trunk", ...init(1) }).apply(inp) as tf.SymbolicTensor;
  const model = tf.model({
    inputs: inp,
    outputs: [tf.layers.dense({ units: 2, name: "reg", ...init(2) }).apply(rep) as tf.SymbolicTensor, tf.layers.dense({ units: 3, activation: "softmax", name: "cls", ...init(3) }).apply(rep) as tf.SymbolicTensor],
  });
  const x = tf.randomNormal([40, 6], 0, 1, "float32", 11);
  const ys = [tf.randomNormal([40, 2], 0, 1, "float32", 12), tf.tensor1d(Array.from({ length: 40 }, (_, i) => i % 3), "float32")];
  const xv = tf.randomNormal([12, 6], 0, 1, "float32", 13);
  const ysv = [tf.randomNormal([12, 2], 0, 1, "float32", 14), tf.tensor1d(Array.from({ length: 12 }, (_, i) => (i * 2) % 3), "float32")];
  const optimizer = tf.train.sgd(0.05);
  const trainer = createTfjsTrainer({ model, loss: ["meanSquaredError", "sparseCategoricalCrossentropy"], balancer: createBalancer("gradnorm", { alpha: 1.5 }), optimizer });
  const dispose = () => {
    optimizer.dispose();
    tf.dispose([x, ...ys, xv, ...ysv]);
    model.dispose();
  };
  return { model, x, ys, xv, ysv, trainer, dispose };
}

test("fit: batches, epochs, logs in TF.js's shape, seeded shuffling, no leaked tensors", async () => {
  const start = tf.memory().numTensors;
  const runs: { history: Record<string, number[]>; batches: FitLogs[] }[] = [];
  for (const seed of [3, 3, 4]) {
    const s = setup();
    const batches: FitLogs[] = [];
    const epochs: number[] = [];
    const { history, epoch } = await fit(s.trainer, s.x, s.ys, {
      epochs: 3,
      batchSize: 16,
      seed,
      validationData: [s.xv, s.ysv],
      callbacks: { onBatchEnd: (_b, logs) => void batches.push(logs!), onEpochEnd: async (e) => void epochs.push(e) },
    });
    assert.deepEqual(epoch, [0, 1, 2]);
    assert.deepEqual(epochs, [0, 1, 2]);
    assert.equal(batches.length, 9); // 16 + 16 + 8 per epoch
    assert.deepEqual(batches.slice(0, 3).map((b) => b.size), [16, 16, 8]);
    for (const key of ["loss", "reg_loss", "cls_loss", "reg_weight", "cls_weight", "val_loss", "val_reg_loss", "val_cls_loss"]) {
      assert.equal(history[key]!.length, 3, key);
      assert.ok(history[key]!.every(Number.isFinite), key);
    }
    const b = batches[4]!;
    assert.ok(Math.abs(b.loss! - (b.reg_weight! * b.reg_loss! + b.cls_weight! * b.cls_loss!)) < 1e-6);
    assert.ok(Math.abs(history.val_loss![2]! - history.val_reg_loss![2]! - history.val_cls_loss![2]!) < 1e-6);
    assert.ok(Math.abs(history.reg_weight![2]! + history.cls_weight![2]! - 2) < 1e-9, "GradNorm's weights sum to T");
    assert.notDeepEqual([history.reg_weight![2], history.cls_weight![2]], [1, 1]);
    runs.push({ history, batches });
    s.dispose();
  }
  assert.deepEqual(runs[0], runs[1], "the same seed gives the same run");
  assert.notDeepEqual(runs[0]!.history.loss, runs[2]!.history.loss, "another seed, other batches");
  assert.equal(tf.memory().numTensors, start);
});

test("fit: a callback or tf.callbacks.earlyStopping stops training through model.stopTraining", async () => {
  const s = setup();
  const stopper = {
    model: undefined as unknown as { stopTraining: boolean },
    setModel(m: unknown) {
      this.model = m as { stopTraining: boolean };
    },
    onEpochEnd(epoch: number) {
      if (epoch === 1) this.model.stopTraining = true;
    },
  };
  assert.deepEqual((await fit(s.trainer, s.x, s.ys, { epochs: 5, callbacks: stopper })).epoch, [0, 1]);
  // minDelta larger than any change: no epoch after the first counts as an improvement; patience 0.
  const early = tf.callbacks.earlyStopping({ monitor: "val_loss", minDelta: 1e9, patience: 0 });
  const h = await fit(s.trainer, s.x, s.ys, { epochs: 5, validationData: [s.xv, s.ysv], callbacks: [early] });
  assert.deepEqual(h.epoch, [0, 1]);
  s.dispose();
});

test("fit: a bad batch stops training with the error, the model keeps its last good variables", async () => {
  const s = setup();
  const x = tf.concat([s.x.slice(0, 20), tf.fill([20, 6], NaN)]);
  const vars = s.model.trainableWeights.map((w) => w.read());
  let kept: number[][] = [];
  await assert.rejects(
    fit(s.trainer, x, s.ys, { epochs: 1, batchSize: 20, shuffle: false, callbacks: { onBatchEnd: () => void (kept = vars.map((v) => Array.from(v.dataSync()))) } }),
    (e: Error) => e instanceof TrainingError && /loss of output 'reg' \(task 0\) is NaN at step 1/.test(e.message),
  );
  vars.forEach((v, i) => assert.deepEqual(Array.from(v.dataSync()), kept[i]));
  await assert.rejects(fit(s.trainer, s.x, [s.ys[0]!, s.ys[1]!.slice(0, 10)]), /every input and target needs 40 rows/);
  await assert.rejects(fit(s.trainer, s.x, s.ys, { batchSize: 0 }), /batchSize must be an integer ≥ 1, got 0/);
  x.dispose();
  s.dispose();
});
