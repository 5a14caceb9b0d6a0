/**
 * Soft parameter sharing: a Multi-gate Mixture-of-Experts (examples/models/mmoe.ts: 4 shared expert
 * MLPs, a softmax gate and a linear tower per task) on MultiMNIST (left and right digit), trained by the
 * library's generic trainer with equal weights, GradNorm (on the experts' last layers) and MGDA (on all
 * shared parameters); prints the weights and validation accuracy per epoch and the test accuracy.
 *
 * Run: npm run example:mmoe [-- --epochs 3]
 */
import { init, defaultDevice, numpy as np, jit, tree } from "@jax-js/jax";
import { adam, createBalancer, createModelTrainer } from "../src/index.js";
import { gatherMulti, multiData } from "../src/experiments/multiRun.js";
import { Rng } from "../src/util/rng.js";
import { initMmoe, mmoe, mmoeLogits, type MmoeParams } from "./models/mmoe.js";

await init("wasm");
defaultDevice("wasm");

const args = process.argv.slice(2);
const epochs = args.includes("--epochs") ? Number(args[args.indexOf("--epochs") + 1]) : 3;
if (!Number.isInteger(epochs) || epochs < 1) throw new Error("--epochs must be a positive integer");
const md = multiData("mnist", 0);
const config = { inputDim: 36 * 36, experts: 4, hidden: [128, 64] as [number, number], classes: 10, numTasks: 2 };
const model = mmoe(config);
const B = 256;

const correct = jit((params: MmoeParams, x: np.Array, y: np.Array) => {
  const logits = mmoeLogits(config, params, x);
  tree.dispose(params);
  x.dispose();
  const hit = np.max(logits.ref, -1, { keepdims: true }).lessEqual(logits).astype(np.float32);
  return hit.mul(y).sum([1, 2]);
});

async function accuracy(params: MmoeParams, idx: Int32Array): Promise<number[]> {
  const hits = [0, 0];
  for (let s = 0; s < idx.length; s += 1000) {
    const part = idx.subarray(s, Math.min(idx.length, s + 1000));
    const { x, y } = gatherMulti(md.data, part);
    const c = (await (correct(tree.ref(params), np.array(x).reshape([part.length, 1296]), np.array(y).reshape([2, part.length, 10])) as np.Array).data()) as Float32Array;
    hits[0]! += c[0]!;
    hits[1]! += c[1]!;
  }
  return hits.map((h) => h / idx.length);
}

async function train(method: string, options: Record<string, unknown>) {
  const trainer = createModelTrainer({ model, params: initMmoe(config, 0), optimizer: adam({ lr: 1e-3 }), balancer: createBalancer(method, options) });
  const rng = new Rng(1);
  const { train: rows, validation, test } = md.splits;
  const t0 = performance.now();
  for (let e = 1; e <= epochs; e++) {
    const perm = rng.permutation(rows.length);
    for (let s = 0; s + B <= rows.length; s += B) {
      const { x, y } = gatherMulti(md.data, Array.from(perm.subarray(s, s + B), (k) => rows[k]!));
      await trainer.step({ x: np.array(x).reshape([B, 1296]), y: np.array(y).reshape([2, B, 10]) });
    }
    const val = await accuracy(trainer.params as MmoeParams, validation);
    console.log(`${method.padEnd(8)} epoch ${e}  weights ${trainer.weights.map((w) => w.toFixed(3)).join(", ")}  validation accuracy ${val.map((a) => (100 * a).toFixed(2)).join(" / ")} %`);
  }
  const acc = await accuracy(trainer.params as MmoeParams, test);
  console.log(`${method.padEnd(8)} test accuracy ${acc.map((a) => (100 * a).toFixed(2)).join(" / ")} %  (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
  trainer.dispose();
}

await train("equal", {});
await train("gradnorm", { alpha: 1.5 });
await train("mgda", {});
correct.dispose();
