import { test, before } from "node:test";
import assert from "node:assert/strict";
import { numpy as np, tree } from "@jax-js/jax";
import { setupJax } from "../helpers/jax.js";
import { liveBufferCounter } from "../helpers/liveBuffers.js";
import { initParams } from "../../src/models/mlp.js";
import { trainLoop } from "../../src/train/loop.js";
import { meanSquaredError } from "../../src/train/losses.js";
import { gradNorm } from "../../src/balancers/gradNorm.js";
import { equalWeights } from "../../src/balancers/equalWeights.js";
import { Rng } from "../../src/util/rng.js";

let counter: { live(): number };
before(async () => {
  await setupJax();
  counter = await liveBufferCounter();
});

const model = { inputDim: 6, hidden: [8, 8], outputDim: 3, numTasks: 2 };
const B = 4;
const rng = new Rng(7);
const data = Array.from({ length: 16 }, () => ({ x: rng.normals(B * 6), y: rng.normals(2 * B * 3) }));

function run(balancer: ReturnType<typeof gradNorm> | ReturnType<typeof equalWeights>, steps: number) {
  const r = trainLoop({
    step: { model, loss: meanSquaredError, optimizer: { lr: 1e-2 } },
    balancer: balancer as never,
    params: initParams(model, 1),
    steps,
    batchSize: B,
    batch: (t) => data[t % data.length]!,
    evaluate: () => [0, 0],
    evalEvery: 100,
  });
  tree.dispose(r.params);
  return r;
}

test("the counter sees allocations and frees (so the leak test can fail)", () => {
  const before = counter.live();
  const a = np.array(new Float32Array(4096).fill(1)).add(1);
  a.ref.dataSync();
  assert.ok(counter.live() > before, "an array allocated on the device must be counted");
  a.dispose();
  assert.equal(counter.live(), before);
});

for (const [name, make] of [["gradnorm", () => gradNorm({ alpha: 0.5 })], ["equal", () => equalWeights()]] as const) {
  test(`${name}: no device buffers leak across 1,000 training steps`, () => {
    run(make(), 5); // compile and warm caches
    const before = counter.live();
    run(make(), 20);
    const after20 = counter.live();
    run(make(), 1000);
    const after = counter.live();
    assert.equal(after20 - before, after - before, "live buffers must not grow with the number of steps");
    assert.ok(after - before <= 0, `a finished run must free its buffers (grew by ${after - before})`);
  });
}
