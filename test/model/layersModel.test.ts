import { test, before } from "node:test";
import assert from "node:assert/strict";
import { numpy as np } from "@jax-js/jax";
import { setupJax } from "../helpers/jax.js";
import { liveBufferCounter } from "../helpers/liveBuffers.js";
import { dense, flatten, layerNorm, relu, sequential, tanh } from "../../src/model/layers.js";
import { initLayersModel, layersModel } from "../../src/model/layersModel.js";
import { ModelContractError } from "../../src/model/contract.js";
import { createModelTrainer } from "../../src/train/modelTrainer.js";
import { createBalancer } from "../../src/balancers/registry.js";
import { meanSquaredError } from "../../src/train/losses.js";
import { adam } from "../../src/optim/adam.js";

let counter: { live(): number };
before(async () => {
  await setupJax();
  counter = await liveBufferCounter();
});

const config = { inputShape: [2, 3], trunk: [flatten(), dense(8), tanh(), layerNorm(), dense(5), relu()], numTasks: 3, outputDim: 2, loss: meanSquaredError };

test("a layer model (flatten, dense, tanh, layer norm, relu) trains through its fast tier without leaking, GradNorm and MGDA", async () => {
  for (const name of ["gradnorm", "mgda"]) {
    const run = async (steps: number) => {
      const tr = createModelTrainer({ model: layersModel(config), params: initLayersModel(config, 1), optimizer: adam({ lr: 1e-2 }), balancer: createBalancer(name, { gradMode: "shared" }) });
      let first: number[] = [];
      let last: number[] = [];
      for (let k = 0; k < steps; k++) {
        const r = await tr.step({ x: np.ones([4, 2, 3]).mul(0.5 + (k % 3)), y: np.ones([3, 4, 2]) });
        if (k === 0) first = r.losses;
        last = r.losses;
      }
      tr.dispose();
      return { first, last };
    };
    await run(2);
    const before = counter.live();
    const { first, last } = await run(200);
    assert.equal(counter.live(), before, `${name}: buffers leaked`);
    assert.ok(last.reduce((a, b) => a + b) < first.reduce((a, b) => a + b), `${name}: losses ${first} → ${last}`);
  }
});

test("layer models: the last layer with parameters must be dense, the trunk needs one; sequential needs layers", () => {
  assert.throws(() => layersModel({ ...config, trunk: [dense(4), layerNorm()] }), (e: unknown) => e instanceof ModelContractError && /last layer with parameters must be dense/.test(e.message));
  assert.throws(() => layersModel({ ...config, trunk: [relu()] }), /needs a layer with parameters/);
  assert.throws(() => sequential([]), /at least one layer/);
  assert.deepEqual(sequential([flatten(), dense(4), relu()]).outShape([2, 3]), [4]);
});
