/**
 * Soft parameter sharing: a Multi-gate Mixture-of-Experts (examples/models/mmoe.ts: 4 shared expert
 * MLPs, a softmax gate and a linear tower per task) on MultiMNIST (left and right digit), trained by the
 * library's generic trainer with equal weights, GradNorm (on the experts' last layers) and MGDA (on all
 * shared parameters); prints the weights and validation accuracy per epoch and the test accuracy.
 *
 * Run: npm run example:mmoe [-- --epochs 3]
 */
import { init, defaultDevice, numpy as np, jit, tree } from "@jax-js/jax";
import { Command } from "commander";
import { adam, createBalancer, createModelTrainer } from "../src/index.js";
import { positiveInt } from "../src/cli/options.js";
import { accuracy, correctCount, gatherMultiArrays, multiData } from "../src/experiments/multiRun.js";
import { Rng } from "../src/util/rng.js";
import { initMmoe, mmoe, mmoeLogits, type MmoeParams } from "./models/mmoe.js";

const { epochs } = new Command("example:mmoe")
  .description("MMoE on MultiMNIST with equal weights, GradNorm and MGDA")
  .option("--epochs <n>", "epochs per method", positiveInt, 3)
  .parse()
  .opts<{ epochs: number }>();

await init("wasm");
defaultDevice("wasm");

const md = multiData("mnist", 0);
const config = { inputDim: 36 * 36, experts: 4, hidden: [128, 64] as [number, number], classes: 10, numTasks: 2 };
const model = mmoe(config);
const B = 256;

/** Per-task correct counts of a chunk (consumes its arguments). */
const correct = jit((params: MmoeParams, x: np.Array, y: np.Array) => {
  const logits = mmoeLogits(config, params, x);
  tree.dispose(params);
  x.dispose();
  return correctCount(logits, y);
});

async function train(method: string, options: Record<string, unknown>) {
  const trainer = createModelTrainer({ model, params: initMmoe(config, 0), optimizer: adam({ lr: 1e-3 }), balancer: createBalancer(method, options) });
  const rng = new Rng(1);
  const { train: rows, validation, test } = md.splits;
  const t0 = performance.now();
  for (let e = 1; e <= epochs; e++) {
    const perm = rng.permutation(rows.length);
    for (let s = 0; s + B <= rows.length; s += B) {
      await trainer.step(gatherMultiArrays(md.data, Array.from(perm.subarray(s, s + B), (k) => rows[k]!)));
    }
    const val = await accuracy(trainer.params as MmoeParams, md.data, validation, correct);
    console.log(`${method.padEnd(8)} epoch ${e}  weights ${trainer.weights.map((w) => w.toFixed(3)).join(", ")}  validation accuracy ${val.map((a) => (100 * a).toFixed(2)).join(" / ")} %`);
  }
  const acc = await accuracy(trainer.params as MmoeParams, md.data, test, correct);
  console.log(`${method.padEnd(8)} test accuracy ${acc.map((a) => (100 * a).toFixed(2)).join(" / ")} %  (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
  trainer.dispose();
}

await train("equal", {});
await train("gradnorm", { alpha: 1.5 });
await train("mgda", {});
correct.dispose();
