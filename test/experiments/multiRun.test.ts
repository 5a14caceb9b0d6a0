import { test, before } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setupJax } from "../helpers/jax.js";
import { multiData, runMulti, gatherMulti, resolveTrainConfig } from "../../src/experiments/multiRun.js";
import { createBalancer } from "../../src/balancers/registry.js";

before(setupJax);

test("gatherMulti: canvases as rows and one-hot labels per task", () => {
  const md = multiData("mnist", 0, mkdtempSync(join(tmpdir(), "lb-mm-")));
  const { x, y } = gatherMulti(md.data, [5, 17]);
  assert.equal(x.length, 2 * 36 * 36);
  assert.deepEqual(Array.from(x.subarray(36 * 36, 2 * 36 * 36)), Array.from(md.data.images.subarray(17 * 1296, 18 * 1296)));
  for (let t = 0; t < 2; t++)
    for (let b = 0; b < 2; b++) {
      const row = Array.from(y.subarray((t * 2 + b) * 10, (t * 2 + b + 1) * 10));
      assert.equal(row.reduce((a, v) => a + v, 0), 1);
      assert.equal(row.indexOf(1), md.data.labels[t * md.data.count + [5, 17][b]!]);
    }
});

test("a short seeded MultiMNIST run beats chance (10 %) clearly on both tasks", async () => {
  const md = multiData("mnist", 0, mkdtempSync(join(tmpdir(), "lb-mm-")));
  const r = await runMulti(md, "equal", createBalancer("equal"), { epochs: 1, hidden: [64], batchSize: 128, seed: 0 });
  assert.equal(r.epochsRun, 1);
  assert.ok(r.testAccuracy[0]! > 0.5 && r.testAccuracy[1]! > 0.4, `test accuracy ${r.testAccuracy}`);
  const again = await runMulti(md, "equal", createBalancer("equal"), { epochs: 1, hidden: [64], batchSize: 128, seed: 0 });
  assert.deepEqual(again.testAccuracy, r.testAccuracy, "same seed, same result");
});

test("run settings: defaults filled in, the encoder picks its own widths unless given, undefined means unset", () => {
  assert.deepEqual(resolveTrainConfig({}).hidden, [256, 128]);
  assert.equal(resolveTrainConfig({}).encoder, "mlp");
  assert.deepEqual(resolveTrainConfig({ encoder: "lenet" }).hidden, [50]);
  assert.deepEqual(resolveTrainConfig({ encoder: "lenet", hidden: [32, 16] }).hidden, [32, 16]);
  const c = resolveTrainConfig({ hidden: undefined, epochs: undefined, seed: 4 });
  assert.deepEqual(c.hidden, [256, 128]);
  assert.equal(c.epochs, 10);
  assert.equal(c.seed, 4);
});
