/**
 * lossbalance/tfjs on a TensorFlow.js model: a functional `tf.LayersModel` with a shared MLP trunk and
 * two heads on MNIST digits (the `mnist` package, no download; the input is the digit pooled to 14×14):
 * `digit` classifies the digit (softmax, categorical cross-entropy) and `geometry` regresses the ink mass
 * and centroid (row, column) of the full 28×28 image, standardized (mean squared error). The model is trained twice from the same seeded initial weights:
 * with GradNorm (its W the trunk's last kernel, `gradMode: 'lastShared'`) and with a Gramian method
 * (MGDA or UPGrad on the shared representation, `gradMode: 'representation'`). Prints the weights and the
 * train and validation losses per epoch, then test losses and the digit accuracy of both, and checks
 * that no tensor is left once the models, optimizers and data are disposed.
 *
 * stdout is the same for a seed on the cpu backend; timings go to stderr.
 *
 * Run: npm run example:tfjs [-- --epochs 5 --backend cpu --seed 0 --gramian mgda]
 */
import * as tf from "@tensorflow/tfjs";
import { Command } from "commander";
import { createBalancer, gradNorm, type Balancer, type BalancerState } from "../src/index.js";
import { createTfjsTrainer, evaluateInBatches, fit } from "../src/tfjs/index.js";
import { nonNegativeInt, oneOf, positiveInt } from "../src/cli/options.js";
import { IMAGE_SIZE, loadImages } from "../src/data/images.js";
import { Rng, deriveSeed } from "../src/util/rng.js";

const { epochs, backend, seed, gramian } = new Command("example:tfjs")
  .description("a two-head TF.js model on MNIST trained with GradNorm and with a Gramian method (lossbalance/tfjs)")
  .option("--epochs <n>", "epochs per method", positiveInt, 5)
  .option("--backend <name>", "TF.js backend: cpu or wasm", oneOf(["cpu", "wasm"] as const), "cpu")
  .option("--seed <n>", "seed of the data split, the initial weights and the batch order", nonNegativeInt, 0)
  .option("--gramian <method>", "the Gramian method: mgda or upgrad", oneOf(["mgda", "upgrad"] as const), "mgda")
  .parse()
  .opts<{ epochs: number; backend: "cpu" | "wasm"; seed: number; gramian: "mgda" | "upgrad" }>();

tf.enableProdMode(); // no "install tfjs-node" notice on the cpu backend
if (backend === "wasm") await import("@tensorflow/tfjs-backend-wasm");
if (!(await tf.setBackend(backend))) throw new Error(`the TF.js backend '${backend}' failed to initialize`);

// --- data: 3,000 / 500 / 1,000 digits, a seeded draw from the package's 10,000 ---------------------------
const PIXELS = IMAGE_SIZE * IMAGE_SIZE;
/** The model's input: the 28×28 image averaged over 2×2 blocks (14×14 = 196 inputs; the cpu backend's first layer costs a quarter). */
const SIDE = IMAGE_SIZE / 2;
const INPUTS = SIDE * SIDE;
const sizes = { train: 3000, validation: 500, test: 1000 };
const images = loadImages("mnist");
const order = new Rng(deriveSeed(seed, "tfjs-example-split")).permutation(images.count);
const rows = {
  train: order.subarray(0, sizes.train),
  validation: order.subarray(sizes.train, sizes.train + sizes.validation),
  test: order.subarray(sizes.train + sizes.validation, sizes.train + sizes.validation + sizes.test),
};

/** Ink mass (mean pixel) and centroid (row, column) of image k. */
function geometry(k: number): [number, number, number] {
  let mass = 0;
  let r = 0;
  let c = 0;
  for (let i = 0; i < PIXELS; i++) {
    const p = images.images[k * PIXELS + i]!;
    mass += p;
    r += p * Math.floor(i / IMAGE_SIZE);
    c += p * (i % IMAGE_SIZE);
  }
  return [mass / PIXELS, r / mass, c / mass];
}

// Standardize the regression targets with the training rows' mean and deviation (the MSE starts near 1).
const trainGeo = Array.from(rows.train, geometry);
const mean = [0, 1, 2].map((j) => trainGeo.reduce((a, g) => a + g[j]!, 0) / trainGeo.length);
const std = [0, 1, 2].map((j) => Math.sqrt(trainGeo.reduce((a, g) => a + (g[j]! - mean[j]!) ** 2, 0) / trainGeo.length));

interface Split {
  readonly x: tf.Tensor2D;
  /** [one-hot digit, standardized geometry]. */
  readonly ys: [tf.Tensor2D, tf.Tensor2D];
  readonly labels: Uint8Array;
}

function split(idx: Int32Array): Split {
  const n = idx.length;
  const x = new Float32Array(n * INPUTS);
  const geo = new Float32Array(n * 3);
  const labels = new Uint8Array(n);
  idx.forEach((k, i) => {
    for (let r = 0; r < SIDE; r++) {
      for (let c = 0; c < SIDE; c++) {
        const at = k * PIXELS + 2 * r * IMAGE_SIZE + 2 * c;
        const px = images.images;
        x[i * INPUTS + r * SIDE + c] = (px[at]! + px[at + 1]! + px[at + IMAGE_SIZE]! + px[at + IMAGE_SIZE + 1]!) / 4;
      }
    }
    geometry(k).forEach((v, j) => (geo[i * 3 + j] = (v - mean[j]!) / std[j]!));
    labels[i] = images.labels[k]!;
  });
  const digit = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, "int32"), 10).toFloat() as tf.Tensor2D);
  return { x: tf.tensor2d(x, [n, INPUTS]), ys: [digit, tf.tensor2d(geo, [n, 3])], labels };
}

const data = { train: split(rows.train), validation: split(rows.validation), test: split(rows.test) };

// --- the model: a shared trunk 196 → 128 → 64 (ReLU), a softmax head and a small regression head --------
/** The same seed, the same initial weights: every kernel has its own seeded Glorot initializer (biases start at 0). */
function buildModel(seed: number): tf.LayersModel {
  const init = (k: number) => tf.initializers.glorotUniform({ seed: deriveSeed(seed, `tfjs-example-layer-${k}`) >>> 0 });
  const dense = (k: number, name: string, units: number, activation?: "relu" | "softmax") =>
    tf.layers.dense({ name, units, activation: activation ?? "linear", kernelInitializer: init(k) });
  const pixels = tf.input({ shape: [INPUTS], name: "pixels" });
  const trunk = dense(2, "trunk2", 64, "relu").apply(dense(1, "trunk1", 128, "relu").apply(pixels)) as tf.SymbolicTensor;
  const digit = dense(3, "digit", 10, "softmax").apply(trunk) as tf.SymbolicTensor;
  const geo = dense(5, "geometry", 3).apply(dense(4, "geometry_hidden", 32, "relu").apply(trunk)) as tf.SymbolicTensor;
  return tf.model({ inputs: pixels, outputs: [digit, geo] });
}

const fmt = (v: number, d = 3) => v.toFixed(d);

/** Correct digit predictions of the model on a split (inference mode). */
async function digitAccuracy(model: tf.LayersModel, s: Split): Promise<number> {
  const predicted = tf.tidy(() => tf.argMax((model.predict(s.x, { batchSize: 256 }) as tf.Tensor[])[0]!, 1));
  const p = await predicted.data();
  predicted.dispose();
  let correct = 0;
  p.forEach((c, i) => (correct += c === s.labels[i] ? 1 : 0));
  return correct / s.labels.length;
}

interface Result {
  readonly method: string;
  readonly test: number[];
  readonly accuracy: number;
  readonly weights: readonly number[];
}

async function train(method: string, balancer: Balancer<BalancerState>): Promise<Result> {
  const model = buildModel(seed);
  const optimizer = tf.train.adam(1e-3);
  const trainer = createTfjsTrainer({ model, loss: ["categoricalCrossentropy", "meanSquaredError"], balancer, optimizer });
  const [a, b] = trainer.outputNames as [string, string];
  const w0 = tf.tidy(() => tf.addN(model.getWeights().map((w) => tf.sum(tf.abs(w)))).arraySync() as number);
  const W = balancer.needs.gradNorms === "lastShared" && "variable" in trainer.graph.kernel ? `, W the kernel of '${trainer.graph.kernel.layer}'` : "";
  console.log(`${method}: representation '${trainer.graph.repLayer}'${W}; initial Σ|θ| ${w0.toFixed(4)}`);
  const t0 = performance.now();
  await fit(trainer, data.train.x, data.train.ys, {
    epochs,
    batchSize: 64,
    seed,
    validationData: [data.validation.x, data.validation.ys],
    callbacks: {
      onEpochEnd: (e, logs = {}) => {
        console.log(
          `${method.padEnd(8)} epoch ${e + 1}  weights ${fmt(logs[`${a}_weight`]!)} ${fmt(logs[`${b}_weight`]!)}` +
            `  train ${a} ${fmt(logs[`${a}_loss`]!)} ${b} ${fmt(logs[`${b}_loss`]!)}` +
            `  validation ${a} ${fmt(logs[`val_${a}_loss`]!)} ${b} ${fmt(logs[`val_${b}_loss`]!)}`,
        );
      },
    },
  });
  console.error(`${method}: ${((performance.now() - t0) / 1000).toFixed(1)} s for ${epochs} epochs on ${tf.getBackend()}`);
  const result: Result = {
    method,
    test: await evaluateInBatches(trainer, data.test.x, data.test.ys, 256),
    accuracy: await digitAccuracy(model, data.test),
    weights: trainer.weights,
  };
  model.dispose();
  optimizer.dispose();
  console.log("");
  return result;
}

console.log(
  `MNIST digits: ${sizes.train} train, ${sizes.validation} validation, ${sizes.test} test; outputs digit (10 classes) and geometry (ink mass, centroid row, column); backend ${tf.getBackend()}, seed ${seed}\n`,
);
const results = [
  await train("gradnorm", gradNorm({ alpha: 1.5, gradMode: "lastShared" })),
  await train(gramian, createBalancer(gramian, { gradMode: "representation" })),
];

console.log("test         digit CE   geometry MSE   digit accuracy   final weights");
for (const r of results) {
  console.log(`${r.method.padEnd(12)} ${fmt(r.test[0]!, 4).padStart(8)}   ${fmt(r.test[1]!, 4).padStart(12)}   ${(100 * r.accuracy).toFixed(2).padStart(12)} %   ${r.weights.map((w) => fmt(w)).join(" ")}`);
}

for (const s of Object.values(data)) tf.dispose([s.x, ...s.ys]);
const left = tf.memory().numTensors;
console.log(`\ntensors left after disposing the models, optimizers and data: ${left}`);
if (left !== 0) {
  console.error(`leak: ${left} tensors are still allocated`);
  process.exitCode = 1;
}
