/**
 * A convolutional network in both tiers: Sener & Koltun's LeNet for MultiMNIST written with plain
 * jax-js operations (`lax.conv`; examples/models/plainLenet.ts — the generic tier, differentiated by
 * `vjp`) and the same network from the library's layers (conv2d, maxPool2, relu, flatten, dense — the
 * fast tier, hand-written T-batched rules). Both start from the same parameters and take the same
 * GradNorm steps (α = 1.5, W = the dense layer's kernel) on the same batches: the example prints their
 * losses and weights side by side and their step times. Then the fast tier trains on for a few epochs
 * and reports test accuracy; last, step times of the fast tier in the `shared` mode (MGDA over every
 * shared parameter, per-task gradients carried back through the convolutions) and of the built-in
 * MLP behind its fused LeNet stem.
 *
 * Run: npm run example:conv [-- --steps 10 --epochs 3 --batch 256]
 */
import { init, defaultDevice, numpy as np, jit, tree } from "@jax-js/jax";
import { Command } from "commander";
import { adam, createBalancer, createModelTrainer, crossEntropy, initParams, layersModel, lenetStem, mlpModel, toModelParams, type ModelParams, type MultitaskModel } from "../src/index.js";
import { positiveInt } from "../src/cli/options.js";
import { correctCount, correctCounts, gatherMultiArrays, multiData } from "../src/experiments/multiRun.js";
import { Rng } from "../src/util/rng.js";
import { mean } from "../src/util/stats.js";
import { initPlainLenet, lenetLayers, lenetLayersParams, multiMnistLenet, plainLenet, type LenetBatch } from "./models/plainLenet.js";

const options = new Command("example:conv")
  .description("LeNet on MultiMNIST: the generic tier (plain lax.conv) against the fast tier (library layers)")
  .option("--steps <n>", "GradNorm steps taken by both tiers side by side", positiveInt, 10)
  .option("--epochs <n>", "epochs the fast tier trains on afterwards", positiveInt, 3)
  .option("--batch <n>", "batch size", positiveInt, 256)
  .parse()
  .opts<{ steps: number; epochs: number; batch: number }>();

await init("wasm");
defaultDevice("wasm");

const md = multiData("mnist", 0);
const B = options.batch;
const config = multiMnistLenet;
const generic = plainLenet(config);
const fast = layersModel({ inputShape: [36 * 36], trunk: lenetLayers(config), numTasks: 2, outputDim: 10, loss: crossEntropy });

/** The seed-0 parameters in the layer model's layout (the same values as initPlainLenet(config, 0)). */
function initLayersParams(): ModelParams {
  const p = initPlainLenet(config, 0);
  const l = lenetLayersParams(p);
  tree.dispose(p);
  return l;
}
const batchOf = (idx: ArrayLike<number>): LenetBatch => gatherMultiArrays(md.data, idx);
const trainerOf = (model: MultitaskModel<LenetBatch>, params: ModelParams, method: string, opts: Record<string, unknown>) =>
  createModelTrainer({ model, params, optimizer: adam({ lr: 1e-3 }), balancer: createBalancer(method, opts) });
const tiers = [
  { trainer: trainerOf(generic, initPlainLenet(config, 0), "gradnorm", { alpha: 1.5 }), ms: [] as number[] },
  { trainer: trainerOf(fast, initLayersParams(), "gradnorm", { alpha: 1.5 }), ms: [] as number[] },
];

const rng = new Rng(1);
const rows = md.splits.train;
let perm = rng.permutation(rows.length);
let cursor = 0;
/** The next training batch (a new permutation each epoch). */
const nextIndices = (): number[] => {
  if (cursor + B > rows.length) {
    perm = rng.permutation(rows.length);
    cursor = 0;
  }
  const idx = Array.from(perm.subarray(cursor, cursor + B), (k) => rows[k]!);
  cursor += B;
  return idx;
};

console.log(`GradNorm (α = 1.5) on LeNet, MultiMNIST, batch ${B}: both tiers from the same parameters, same batches`);
console.log("step   generic losses      fast losses         generic weights    fast weights       generic ms  fast ms");
let maxDiff = 0;
for (let s = 1; s <= options.steps; s++) {
  const idx = nextIndices();
  const out: { losses: number[]; weights: number[] }[] = [];
  for (const tier of tiers) {
    const t0 = performance.now();
    const record = await tier.trainer.step(batchOf(idx));
    tier.ms.push(performance.now() - t0);
    out.push({ losses: [...record.losses], weights: [...tier.trainer.weights] });
  }
  const [g, f] = out as [(typeof out)[0], (typeof out)[0]];
  g.losses.forEach((l, i) => (maxDiff = Math.max(maxDiff, Math.abs(l - f.losses[i]!) / Math.abs(l))));
  const pair = (v: number[]) => v.map((x) => x.toFixed(4)).join(", ").padEnd(19);
  console.log(`${String(s).padStart(4)}   ${pair(g.losses)} ${pair(f.losses)} ${pair(g.weights)}${pair(f.weights)}${tiers[0]!.ms.at(-1)!.toFixed(0).padStart(10)} ${tiers[1]!.ms.at(-1)!.toFixed(0).padStart(8)}`);
}
/** Mean ms/step without the first step (which compiles). */
const meanMs = (ms: number[]) => mean(ms.length > 1 ? ms.slice(1) : ms);
const [gms, fms] = tiers.map((t) => meanMs(t.ms)) as [number, number];
console.log(`largest relative difference between the tiers' losses: ${maxDiff.toExponential(2)}`);
console.log(`step time (after the first): generic ${gms.toFixed(0)} ms, fast ${fms.toFixed(0)} ms — the fast tier is ${(gms / fms).toFixed(1)}× faster\n`);
tiers[0]!.trainer.dispose();
const trainer = tiers[1]!.trainer;

/** Per-task correct counts of the layer model's parameters on a chunk (consumes its arguments). */
const correct = jit((params: ModelParams, x: np.Array, y: np.Array) => {
  const batch: LenetBatch = { x, y };
  const rep = fast.split!.last(params, fast.split!.body(params, batch));
  const h = params.task as { W: np.Array; b: np.Array };
  const logits = np.einsum("bk,tkc->tbc", rep, h.W.ref).add(h.b.ref.reshape([2, 1, 10]));
  const c = correctCount(logits, y.ref);
  tree.dispose([params, batch]);
  return c;
});
/** Per-task accuracy in %, "left / right", of the layer model's parameters on a set of rows. */
async function accuracy(params: ModelParams, idx: Int32Array): Promise<string> {
  const hits = await correctCounts(params, md.data, idx, correct, 500);
  return hits.map((h) => ((100 * h) / idx.length).toFixed(2)).join(" / ");
}

const perEpoch = Math.floor(rows.length / B);
for (let e = 1; e <= options.epochs; e++) {
  const t0 = performance.now();
  for (let s = 0; s < perEpoch; s++) await trainer.step(batchOf(nextIndices()));
  const ms = (performance.now() - t0) / perEpoch;
  const val = await accuracy(trainer.params, md.splits.validation);
  console.log(`fast tier, epoch ${e}: weights ${trainer.weights.map((w) => w.toFixed(3)).join(", ")}  validation accuracy ${val} %  (${ms.toFixed(0)} ms/step with batching)`);
}
console.log(`fast tier, test accuracy (left / right digit): ${await accuracy(trainer.params, md.splits.test)} %`);
trainer.dispose();

/** Mean ms/step of a fresh trainer over 6 steps after the first. */
async function timeSteps(model: MultitaskModel<LenetBatch>, params: ModelParams, method: string, opts: Record<string, unknown>): Promise<number> {
  const t = trainerOf(model, params, method, opts);
  const ms: number[] = [];
  for (let s = 0; s < 7; s++) {
    const t0 = performance.now();
    await t.step(batchOf(nextIndices()));
    ms.push(performance.now() - t0);
  }
  t.dispose();
  return meanMs(ms);
}
// The `shared` mode: MGDA over every shared parameter, per-task gradients through the convolutions.
const mgdaMs = await timeSteps(fast, initLayersParams(), "mgda", { gradMode: "shared" });
console.log(`fast tier, MGDA in the shared mode: ${mgdaMs.toFixed(0)} ms/step (GradNorm on W: ${fms.toFixed(0)} ms/step)`);
// The built-in MLP behind its LeNet stem (one fused layer for the convolutions, used by npm start).
const builtin = { inputDim: 1296, hidden: [50], outputDim: 10, numTasks: 2, stem: lenetStem([36, 36, 1]) };
const builtinMs = await timeSteps(mlpModel(builtin, crossEntropy), toModelParams(initParams(builtin, 0)), "gradnorm", { alpha: 1.5 });
console.log(`built-in MLP behind the LeNet stem, GradNorm on W: ${builtinMs.toFixed(0)} ms/step`);
correct.dispose();
