import { test, before } from "node:test";
import assert from "node:assert/strict";
import { setupJax } from "../helpers/jax.js";
import { makeToy, toySigmas, gatherBatch } from "../../src/data/toy.js";
import { runToy } from "../../src/experiments/toyRun.js";
import { gradNorm } from "../../src/balancers/gradNorm.js";
import { equalWeights } from "../../src/balancers/equalWeights.js";
import type { Balancer, BalancerState } from "../../src/balancers/types.js";

before(setupJax);

test("toy data: the paper's σ for T = 2, shapes, |yᵢ| ≤ σᵢ, determinism by seed", () => {
  assert.deepEqual(toySigmas(2, 0), [1, 100]);
  const cfg = { numTasks: 3, sigmas: [1, 5, 20], inputDim: 9, outputDim: 4, trainSize: 50, testSize: 20, seed: 3 };
  const a = makeToy(cfg);
  assert.equal(a.train.x.length, 50 * 9);
  assert.equal(a.train.y.length, 3 * 50 * 4);
  assert.equal(a.test.y.length, 3 * 20 * 4);
  for (let t = 0; t < 3; t++) {
    const ys = a.train.y.subarray(t * 200, (t + 1) * 200);
    const maxAbs = Math.max(...Array.from(ys, Math.abs));
    assert.ok(maxAbs <= cfg.sigmas[t]! * (1 + 1e-6), `task ${t}: max |y| ${maxAbs} > σ`);
    assert.ok(maxAbs > cfg.sigmas[t]! * 0.5, `task ${t}: targets should reach a good part of σ`);
  }
  const b = makeToy(cfg);
  assert.deepEqual(a.train.y, b.train.y);
  const c = makeToy({ ...cfg, seed: 4 });
  assert.notDeepEqual(a.train.y, c.train.y);
});

test("toy data: fᵢ(x) = σᵢ tanh((B + εᵢ)x) — tasks share B, so they correlate, but differ by εᵢ", () => {
  const d = makeToy({ numTasks: 2, sigmas: [1, 1], inputDim: 30, outputDim: 10, trainSize: 400, testSize: 1, inputScale: 0.01, seed: 1 });
  const n = 400 * 10;
  const y0 = d.train.y.subarray(0, n);
  const y1 = d.train.y.subarray(n, 2 * n);
  let s01 = 0, s00 = 0, s11 = 0;
  for (let i = 0; i < n; i++) {
    s01 += y0[i]! * y1[i]!;
    s00 += y0[i]! ** 2;
    s11 += y1[i]! ** 2;
  }
  const corr = s01 / Math.sqrt(s00 * s11);
  // B has std 10 and εᵢ std 3.5, so the pre-activations correlate at 100 / (100 + 12.25) ≈ 0.89.
  assert.ok(corr > 0.8 && corr < 0.97, `correlation ${corr}`);
});

test("gatherBatch copies rows and per-task targets", () => {
  const d = makeToy({ numTasks: 2, sigmas: [1, 2], inputDim: 3, outputDim: 2, trainSize: 5, testSize: 1 });
  const { x, y } = gatherBatch(d.train, [4, 1], 2, 3, 2);
  assert.deepEqual(Array.from(x), Array.from(d.train.x.subarray(12, 15)).concat(Array.from(d.train.x.subarray(3, 6))));
  // task 1, batch row 0 = sample 4
  assert.deepEqual(Array.from(y.subarray(4, 6)), Array.from(d.train.y.subarray((5 + 4) * 2, (5 + 4) * 2 + 2)));
});

test("seeded T = 2 run: GradNorm (α = 0.12) beats equal weights and raises the σ = 1 task's weight", async () => {
  const data = makeToy({ numTasks: 2, inputScale: 1, trainSize: 2000, testSize: 500, seed: 0 });
  const cfg = { steps: 400, seed: 0 };
  const eq = await runToy(data, "equal", equalWeights() as Balancer<BalancerState>, cfg);
  const gn = await runToy(data, "gradnorm", gradNorm({ alpha: 0.12 }) as Balancer<BalancerState>, cfg);
  assert.deepEqual(eq.initialTestLoss, gn.initialTestLoss, "same initialization for both methods");
  assert.ok(gn.weights[0]! > gn.weights[1]!, `weights ${gn.weights}`);
  assert.ok(Math.abs(gn.weights[0]! + gn.weights[1]! - 2) < 1e-9, "Σw = T");
  assert.ok(
    gn.normalizedTestLoss < eq.normalizedTestLoss - 0.1,
    `GradNorm ${gn.normalizedTestLoss.toFixed(3)} vs equal ${eq.normalizedTestLoss.toFixed(3)}`,
  );
});
