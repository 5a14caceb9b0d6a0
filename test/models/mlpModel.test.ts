import { test, before } from "node:test";
import assert from "node:assert/strict";
import { numpy as np, tree } from "@jax-js/jax";
import { setupJax, toList } from "../helpers/jax.js";
import { liveBufferCounter } from "../helpers/liveBuffers.js";
import { initParams, type MultiHeadMlpConfig, type Params } from "../../src/models/mlp.js";
import { fromModelParams, mlpModel, toModelParams } from "../../src/models/mlpModel.js";
import { createTrainer } from "../../src/train/loop.js";
import { createModelTrainer } from "../../src/train/modelTrainer.js";
import { meanSquaredError } from "../../src/train/losses.js";
import { createBalancer } from "../../src/balancers/registry.js";
import { adam } from "../../src/optim/adam.js";
import { Rng } from "../../src/util/rng.js";

let counter: { live(): number };
before(async () => {
  await setupJax();
  counter = await liveBufferCounter();
});

const flat = (p: Params) => (tree.leaves(p) as np.Array[]).flatMap((a) => toList(a));

/** The same run through the built-in trainer and through the contract's trainer with the fast tier. */
async function both(config: MultiHeadMlpConfig, method: string, options: Record<string, unknown>, steps: number) {
  const T = config.numTasks;
  const B = 4;
  const D = config.inputDim;
  const O = config.outputDim;
  const rng = new Rng(8);
  const data = Array.from({ length: steps }, () => ({ x: rng.normals(B * D), y: rng.normals(T * B * O) }));
  const old = createTrainer({ step: { model: config, loss: meanSquaredError, optimizer: { lr: 1e-2 } }, balancer: createBalancer(method, options), params: initParams(config, 5), batchSize: B });
  const neu = createModelTrainer({ model: mlpModel(config, meanSquaredError), params: toModelParams(initParams(config, 5)), optimizer: adam({ lr: 1e-2 }), balancer: createBalancer(method, options) });
  for (const d of data) {
    const a = old.step(d);
    const b = await neu.step({ x: np.array(d.x).reshape([B, D]), y: np.array(d.y).reshape([T, B, O]) });
    assert.deepEqual(b.losses, a.losses);
    assert.deepEqual(b.weights, a.weights);
  }
  const pa = old.finish();
  const pb = fromModelParams(neu.finish());
  const out = { a: flat(pa), b: flat(pb) };
  tree.dispose(pa);
  tree.dispose(pb);
  return out;
}

const mlp: MultiHeadMlpConfig = { inputDim: 6, hidden: [8, 7], outputDim: 3, numTasks: 3 };
const lenet: MultiHeadMlpConfig = { inputDim: 12 * 12, hidden: [5], outputDim: 2, numTasks: 2, stem: { inputShape: [12, 12, 1], layers: [{ channels: 3, kernel: 3, pool: true }] } };

for (const [label, config] of [["MLP", mlp], ["conv stem + MLP", lenet]] as const) {
  const runs: [string, Record<string, unknown>][] = [
    ["equal", {}],
    ["gradnorm", { alpha: 1.5 }],
    ["gradnorm", { gradMode: "representation" }],
    ["graddrop", {}],
    ["mgda", { gradMode: "lastShared" }],
    ["pcgrad", { gradMode: "representation" }],
    ...(config.stem ? [] : [["upgrad", { gradMode: "shared" }] as [string, Record<string, unknown>]]),
  ];
  for (const [method, options] of runs) {
    test(`${label}, ${method} ${JSON.stringify(options)}: the contract's trainer with the fast tier gives the built-in trainer's numbers, bit for bit`, async () => {
      const { a, b } = await both(config, method, options, 6);
      assert.deepEqual(b, a);
    });
  }
}

test("the fast tier's two phases keep the residuals, leak nothing over 100 steps; layouts round-trip", async () => {
  const run = async (steps: number) => {
    const tr = createModelTrainer({ model: mlpModel(mlp, meanSquaredError), params: toModelParams(initParams(mlp, 5)), optimizer: adam({ lr: 1e-2 }), balancer: createBalancer("mgda", {}) });
    for (let k = 0; k < steps; k++) await tr.step({ x: np.ones([4, 6]), y: np.zeros([3, 4, 3]) });
    tr.dispose();
  };
  await run(2);
  const before = counter.live();
  await run(100);
  assert.equal(counter.live(), before);
  const p = initParams(mlp, 1);
  const back = fromModelParams(toModelParams(p));
  assert.deepEqual(flat(back), flat(p));
  tree.dispose(p);
});
