import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { createTfjsTrainer, DataError, evaluateInBatches, fit, TfjsModelError, TrainingError } from "../../src/tfjs/index.js";
import { createBalancer } from "../../src/balancers/registry.js";

await tf.setBackend("cpu");

/** A seeded two-output model: 'reg' (regression, 2) and 'cls' (softmax over 3 classes, integer labels). */
function setup(n = 12) {
  const init = (seed: number) => ({ kernelInitializer: tf.initializers.glorotUniform({ seed }), biasInitializer: "zeros" as const });
  const inp = tf.input({ shape: [4] });
  const rep = tf.layers.dense({ units: 6, activation: "relu", name: "trunk", ...init(1) }).apply(inp) as tf.SymbolicTensor;
  const model = tf.model({
    inputs: inp,
    outputs: [tf.layers.dense({ units: 2, name: "reg", ...init(2) }).apply(rep) as tf.SymbolicTensor, tf.layers.dense({ units: 3, activation: "softmax", name: "cls", ...init(3) }).apply(rep) as tf.SymbolicTensor],
  });
  const x = tf.randomNormal([n, 4], 0, 1, "float32", 11);
  const reg = tf.randomNormal([n, 2], 0, 1, "float32", 12);
  const labels = (values: number[]) => tf.tensor1d(values, "float32");
  const cls = labels(Array.from({ length: n }, (_, i) => i % 3));
  const optimizer = tf.train.sgd(0.05);
  const trainer = createTfjsTrainer({ model, loss: ["meanSquaredError", "sparseCategoricalCrossentropy"], balancer: createBalancer("gradnorm", { alpha: 1.5 }), optimizer });
  const vars = () => model.trainableWeights.map((w) => Array.from(w.read().dataSync()));
  const dispose = () => {
    optimizer.dispose();
    tf.dispose([x, reg, cls]);
    model.dispose();
  };
  return { model, x, reg, cls, labels, trainer, vars, dispose };
}

const isData = (pattern: RegExp) => (e: unknown) => {
  assert.ok(e instanceof DataError, `a DataError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  assert.ok(e instanceof TrainingError);
  assert.match(e.message, pattern);
  return true;
};

test("fit: class labels out of range, negative or fractional are named before any step (oneHot would make them a zero row: loss 0, silently)", async () => {
  const s = setup();
  const before = s.vars();
  const tensors = tf.memory().numTensors;
  let began = false;
  const cbs = { onTrainBegin: () => void (began = true) };
  for (const [values, pattern] of [
    [[0, 1, 2, 3, 0, 1, 2, 0, 1, 2, 0, 1], /^fit: the target of output 'cls' \(sparseCategoricalCrossentropy\): class label 3 at row 3 is outside 0\.\.2 \(3 classes\)$/],
    [[0, 1, 2, 0, 1, -1, 2, 0, 1, 2, 0, 1], /class label -1 at row 5 is outside 0\.\.2/],
    [[0, 1, 2, 0, 1, 2, 0.5, 0, 1, 2, 0, 1], /class label 0\.5 at row 6 is outside 0\.\.2 \(3 classes\); labels must be integers$/],
    [[0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, Number.NaN], /class label NaN at row 11 /],
  ] as const) {
    const bad = s.labels([...values]);
    await assert.rejects(fit(s.trainer, s.x, [s.reg, bad], { callbacks: cbs }), isData(pattern));
    bad.dispose();
  }
  const badVal = s.labels([0, 7]);
  const xv = s.x.slice(0, 2);
  const rv = s.reg.slice(0, 2);
  await assert.rejects(fit(s.trainer, s.x, [s.reg, s.cls], { validationData: [xv, [rv, badVal]], callbacks: cbs }), isData(/^fit: validation data: the target of output 'cls' \(sparseCategoricalCrossentropy\): class label 7 at row 1 is outside 0\.\.2/));
  assert.equal(began, false, "checked before training begins");
  assert.deepEqual(s.vars(), before);
  assert.equal(s.trainer.stepCount, 0);
  tf.dispose([badVal, xv, rv]);
  assert.equal(tf.memory().numTensors, tensors, "no tensor left behind");
  s.dispose();
});

test("trainer.step and evaluate: an out-of-range label makes the loss NaN, and the step names the label; no variable changes", async () => {
  const s = setup(4);
  const before = s.vars();
  const bad = s.labels([0, 1, 5, 2]);
  const tensors = tf.memory().numTensors;
  await assert.rejects(s.trainer.step(s.x, [s.reg, bad]), isData(/^target of output 'cls' \(sparseCategoricalCrossentropy\) at step 0: class label 5 at row 2 is outside 0\.\.2 \(3 classes\)$/));
  await assert.rejects(s.trainer.evaluate(s.x, [s.reg, bad]), isData(/^target of output 'cls' \(sparseCategoricalCrossentropy\) \(evaluation\): class label 5 at row 2 /));
  assert.equal(tf.memory().numTensors, tensors, "no tensor left behind");
  assert.deepEqual(s.vars(), before);
  assert.equal(s.trainer.stepCount, 0);
  // Good labels: the loss is the plain cross-entropy (the guard adds exactly 0).
  const good = s.labels([0, 1, 2, 2]);
  const [, ce] = await s.trainer.evaluate(s.x, [s.reg, good]);
  const preds = s.model.predict(s.x) as tf.Tensor[];
  const expected = tf.tidy(() => tf.mean(tf.metrics.categoricalCrossentropy(tf.oneHot(tf.tensor1d([0, 1, 2, 2], "int32"), 3), preds[1]!)));
  assert.ok(Math.abs(ce! - expected.dataSync()[0]!) <= 1e-6 * Math.abs(ce!), `${ce} vs ${expected.dataSync()[0]}`);
  tf.dispose(preds);
  const rec = await s.trainer.step(s.x, [s.reg, good]);
  assert.ok(rec.losses.every(Number.isFinite));
  // An empty batch is named, not trained on.
  const x0 = tf.zeros([0, 4]);
  await assert.rejects(s.trainer.step(x0, [tf.zeros([0, 2]), tf.zeros([0])]), isData(/^input '.*' has shape \[0,4\]: an empty batch \(0 rows\) has no loss to train on$/));
  tf.dispose([bad, good, expected, x0]);
  s.dispose();
});

test("fit: targets by output name; an unknown or a missing name, a wrong count, mismatched rows, empty data are named", async () => {
  const s = setup();
  const byName = await fit(s.trainer, s.x, { cls: s.cls, reg: s.reg }, { epochs: 1, batchSize: 4, shuffle: false });
  const t = setup();
  const byOrder = await fit(t.trainer, t.x, [t.reg, t.cls], { epochs: 1, batchSize: 4, shuffle: false });
  assert.deepEqual(byName, byOrder, "a record by name trains as the array in output order");
  await assert.rejects(fit(s.trainer, s.x, { reg: s.reg, cls: s.cls, clss: s.cls }), isData(/^fit: no output named 'clss'; the model's outputs are \('reg', 'cls'\)$/));
  await assert.rejects(fit(s.trainer, s.x, { reg: s.reg }), isData(/^fit: no target for output 'cls'; the model's outputs are \('reg', 'cls'\)$/));
  await assert.rejects(fit(s.trainer, s.x, [s.reg]), isData(/^fit: 1 target tensors for 2 outputs \('reg', 'cls'\)$/));
  await assert.rejects(fit(s.trainer, s.x, s.reg as never), isData(/^fit: targets must be one tensor per output \('reg', 'cls'\), as an array in output order or a record by output name; got one tensor$/));
  const short = s.cls.slice(0, 10);
  await assert.rejects(fit(s.trainer, s.x, [s.reg, short]), (e: unknown) => e instanceof TfjsModelError && /^fit: every input and target needs 12 rows \(the first input's\); the target of output 'cls' has 10 \(shape \[10\]\)$/.test((e as Error).message));
  const x0 = tf.zeros([0, 4]);
  await assert.rejects(fit(s.trainer, x0, [tf.zeros([0, 2]), tf.zeros([0])]), (e: unknown) => e instanceof TfjsModelError && /^fit: no examples \(the first input has no rows: shape \[0,4\]\)$/.test((e as Error).message));
  const wide = tf.zeros([12, 3]);
  await assert.rejects(fit(s.trainer, s.x, [wide, s.cls]), /target of output 'reg' has shape \[12,3\], the output is \[batch,2\]/, "shapes against the model, before any step");
  // Validation data: empty, mismatched rows, by name.
  const xv0 = tf.zeros([0, 4]);
  await assert.rejects(fit(s.trainer, s.x, [s.reg, s.cls], { validationData: [xv0, [tf.zeros([0, 2]), tf.zeros([0])]] }), /^TfjsModelError: fit: validation data: no examples/);
  await assert.rejects(evaluateInBatches(s.trainer, xv0, [tf.zeros([0, 2]), tf.zeros([0])]), isData(/^evaluateInBatches: no examples \(the first input has no rows: shape \[0,4\]\); a mean loss over 0 rows is NaN$/));
  await assert.rejects(evaluateInBatches(s.trainer, s.x, { reg: s.reg }), isData(/^evaluateInBatches: no target for output 'cls'/));
  const h = await fit(s.trainer, s.x, [s.reg, s.cls], { validationData: [s.x, { reg: s.reg, cls: s.cls }] });
  assert.ok(h.history.val_loss!.every(Number.isFinite));
  tf.dispose([short, x0, wide, xv0]);
  s.dispose();
  t.dispose();
});
