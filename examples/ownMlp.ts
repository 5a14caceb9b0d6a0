/**
 * Your own model, GradNorm on its last shared layer: a multitask MLP written with plain jax-js
 * operations (tanh layers with biases and layer norm; see examples/models/tanhMlp.ts), trained on
 * GradNorm's synthetic task (paper §4, T = 2 with σ = (1, 100)) by the library's generic trainer.
 * Prints the task weights and test losses as training goes, then the same run with equal weights.
 *
 * Run: npm run example:own-mlp
 */
import { init, defaultDevice, numpy as np, jit, tree } from "@jax-js/jax";
import { createBalancer, createModelTrainer, adam, type ModelParams } from "../src/index.js";
import { gatherBatch, makeToy, toyArrays } from "../src/data/toy.js";
import { Rng } from "../src/util/rng.js";
import { initTanhMlp, tanhMlp, type RegressionBatch } from "./models/tanhMlp.js";

await init("wasm");
defaultDevice("wasm");

const T = 2;
const data = makeToy({ numTasks: T, inputScale: 1, trainSize: 2000, testSize: 1000 });
const config = { inputDim: 250, hidden: [100, 100, 100, 100], outputDim: 100, numTasks: T };
const model = tanhMlp(config);
const B = 32;
const steps = 2000;

/** Rows `idx` of a split as a device batch. */
const batchOf = (split: typeof data.train, idx: ArrayLike<number>): RegressionBatch => toyArrays(gatherBatch(split, idx, T, 250, 100), config);
const test = batchOf(data.test, Array.from({ length: 1000 }, (_, i) => i));
/** Per-task test losses (the model's own task part on the test set). */
const testLosses = jit((params: ModelParams, batch: RegressionBatch) => {
  const z = model.split!.body(params, batch);
  const rep = model.split!.last(params, z);
  z.dispose();
  const R = rep.shape;
  const losses = model.tasks(params, np.broadcastTo(rep.reshape([1, ...R]), [T, ...R]), batch);
  tree.dispose(params);
  tree.dispose(batch);
  return losses;
});

async function train(method: string, options: Record<string, unknown>) {
  const trainer = createModelTrainer({ model, params: initTanhMlp(config, 0), optimizer: adam({ lr: 1e-3 }), balancer: createBalancer(method, options) });
  const rng = new Rng(7);
  const initial = Array.from((await testLosses(tree.ref(trainer.params), tree.ref(test)).data()) as Float32Array);
  const t0 = performance.now();
  for (let s = 1; s <= steps; s++) {
    const idx = Array.from({ length: B }, () => rng.int(data.train.size));
    await trainer.step(batchOf(data.train, idx));
    if (s % 500 === 0) {
      const l = Array.from((await testLosses(tree.ref(trainer.params), tree.ref(test)).data()) as Float32Array);
      const ratios = l.map((v, i) => (v / initial[i]!).toFixed(3));
      console.log(`${method.padEnd(8)} step ${String(s).padStart(4)}  weights ${trainer.weights.map((w) => w.toFixed(4)).join(" ")}  test Lᵢ/Lᵢ(0) ${ratios.join(" ")}  Σ ${l.reduce((a, v, i) => a + v / initial[i]!, 0).toFixed(3)}`);
    }
  }
  console.log(`${method}: ${((performance.now() - t0) / steps).toFixed(2)} ms/step\n`);
  trainer.dispose();
}

await train("gradnorm", { alpha: 0.12, gradMode: "lastShared" });
await train("equal", {});
tree.dispose(test);
testLosses.dispose();
