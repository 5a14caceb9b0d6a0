import { test, before } from "node:test";
import assert from "node:assert/strict";
import { numpy as np } from "@jax-js/jax";
import { setupJax } from "../helpers/jax.js";
import { liveBufferCounter } from "../helpers/liveBuffers.js";
import type { ModelParams, MultitaskModel } from "../../src/model/contract.js";
import { initLayersModel, layersModel } from "../../src/model/layersModel.js";
import { createModelTrainer } from "../../src/train/modelTrainer.js";
import { createBalancer } from "../../src/balancers/registry.js";
import { crossEntropy } from "../../src/train/losses.js";
import { adam } from "../../src/optim/adam.js";
import { Rng } from "../../src/util/rng.js";
import { initMmoe, mmoe } from "../../examples/models/mmoe.js";
import { initPlainLenet, lenetLayers, plainLenet, type LenetConfig } from "../../examples/models/plainLenet.js";

let counter: { live(): number };
before(async () => {
  await setupJax();
  counter = await liveBufferCounter();
});

type Batch = { x: np.Array; y: np.Array };
const T = 2;
const B = 6;
const lenet: LenetConfig = { size: 13, kernel: 3, channels: [3, 4], hidden: 6, classes: 3, numTasks: T };
const mmoeConfig = { inputDim: 169, experts: 3, hidden: [6, 5] as [number, number], classes: 3, numTasks: T };
const layersConfig = { inputShape: [169], trunk: lenetLayers(lenet), numTasks: T, outputDim: 3, loss: crossEntropy };

/** Four fixed batches of 13×13 images whose class is readable from the pixels. */
const rng = new Rng(3);
const data = Array.from({ length: 4 }, () => {
  const labels = Array.from({ length: T * B }, () => rng.int(3));
  const x = Float32Array.from(rng.normals(B * 169), (v, i) => 0.3 * v + labels[Math.floor(i / 169)]! * (i % 2));
  const y = new Float32Array(T * B * 3);
  labels.forEach((c, i) => (y[i * 3 + c] = 1));
  return { x, y };
});
const batch = (k: number): Batch => ({ x: np.array(data[k % 4]!.x).reshape([B, 169]), y: np.array(data[k % 4]!.y).reshape([T, B, 3]) });

const models: { label: string; model: () => MultitaskModel<Batch>; params: () => ModelParams }[] = [
  { label: "MMoE (generic tier)", model: () => mmoe(mmoeConfig) as MultitaskModel<Batch>, params: () => initMmoe(mmoeConfig, 1) as ModelParams },
  { label: "LeNet with plain lax.conv (generic tier)", model: () => plainLenet(lenet) as MultitaskModel<Batch>, params: () => initPlainLenet(lenet, 1) as ModelParams },
  { label: "LeNet from layers (fast tier)", model: () => layersModel(layersConfig) as MultitaskModel<Batch>, params: () => initLayersModel(layersConfig, 1) as ModelParams },
];

for (const { label, model, params } of models) {
  test(`${label}: 200 async steps of GradNorm and of MGDA (all shared parameters, two phases) leak no device buffers and lower the loss`, async () => {
    for (const [name, options] of [["gradnorm", { alpha: 1.5 }], ["mgda", { gradMode: "shared" }]] as const) {
      const run = async (steps: number) => {
        const tr = createModelTrainer({ model: model(), params: params(), optimizer: adam({ lr: 1e-2 }), balancer: createBalancer(name, options) });
        const sums: number[] = [];
        for (let k = 0; k < steps; k++) sums.push((await tr.step(batch(k))).losses.reduce((a, b) => a + b));
        tr.dispose();
        return sums;
      };
      await run(2);
      const before = counter.live();
      const sums = await run(200);
      assert.equal(counter.live(), before, `${name}: buffers leaked`);
      const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
      assert.ok(mean(sums.slice(-4)) < 0.8 * mean(sums.slice(0, 4)), `${name}: Σ losses ${mean(sums.slice(0, 4))} → ${mean(sums.slice(-4))}`);
    }
  });
}
