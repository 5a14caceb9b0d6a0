import { test, before } from "node:test";
import assert from "node:assert/strict";
import { setupJax } from "../helpers/jax.js";
import { liveBufferCounter } from "../helpers/liveBuffers.js";
import { createBalancer } from "../../src/balancers/registry.js";
import { makeToy } from "../../src/data/toy.js";
import { runToy } from "../../src/experiments/toyRun.js";
import { anyModelMethods } from "../../src/cli/methodSets.js";

let counter: { live(): number };
before(async () => {
  await setupJax();
  counter = await liveBufferCounter();
});

const data = () => makeToy({ numTasks: 3, sigmas: [1, 5, 20], inputDim: 12, outputDim: 4, trainSize: 64, testSize: 16, seed: 1 });
const train = { steps: 6, batchSize: 8, hidden: [10, 9], evalEvery: 3 };

for (const name of anyModelMethods()) {
  test(`${name}: trains end to end in every gradient mode it takes, finite results, no leaked buffers`, async () => {
    const d = data();
    const base = name === "static" ? { weights: [1, 2, 3] } : {};
    const probe = createBalancer(name, base);
    const modes = probe.needs.gramian !== undefined || probe.needs.gradNorms !== undefined || probe.needs.gradAbs !== undefined ? (["representation", "lastShared", "shared"] as const) : [undefined];
    for (const mode of modes) {
      await runToy(d, name, createBalancer(name, mode ? { ...base, gradMode: mode } : base), train); // compile
      const before = counter.live();
      const r = await runToy(d, name, createBalancer(name, mode ? { ...base, gradMode: mode } : base), train);
      assert.equal(counter.live(), before, `${name} ${mode}: device buffers leaked`);
      assert.ok(Number.isFinite(r.normalizedTestLoss), `${name} ${mode}`);
      assert.equal(r.weights.length, 3);
      assert.ok(r.weights.every(Number.isFinite), `${name} ${mode}: ${r.weights}`);
      assert.equal(r.history.evalLosses.length, 3); // steps 0, 3, 6
    }
  });
}
