import { test, before } from "node:test";
import assert from "node:assert/strict";
import { numpy as np, tree } from "@jax-js/jax";
import { setupJax, toList, maxRelErr } from "../helpers/jax.js";
import { gradDrop } from "../../src/balancers/gradDrop.js";
import { signDropout } from "../../src/train/combiners.js";

const gradDropCombine = signDropout;
import { equalWeights } from "../../src/balancers/equalWeights.js";
import { initParams } from "../../src/models/mlp.js";
import { createTrainer } from "../../src/train/loop.js";
import { meanSquaredError } from "../../src/train/losses.js";
import type { Balancer, BalancerState } from "../../src/balancers/types.js";
import { throwsInput } from "../helpers/assert.js";
import { Rng } from "../../src/util/rng.js";

before(setupJax);

const seedArr = (s: number) => np.array(s, { dtype: np.uint32 });

test("gradients of one sign at a unit pass through untouched (P ∈ {0, 1}), for any draw", () => {
  // T = 2, B = 2, H = 3; per unit both tasks' batch sums have the same sign.
  const dz = [1, -2, 0.5, 2, -1, 0.25, 3, -0.5, 1, 0.5, -4, 2];
  const w = [0.5, 2];
  const expected = [0, 1].flatMap((b) => [0, 1, 2].map((k) => w[0]! * dz[b * 3 + k]! + w[1]! * dz[6 + b * 3 + k]!));
  for (const s of [0, 1, 2, 99]) {
    const out = toList(gradDropCombine(np.array(dz).reshape([2, 2, 3]), np.array(w), seedArr(s), 0));
    assert.ok(maxRelErr(out, expected) < 1e-6, `seed ${s}: ${out}`);
  }
});

test("conflicting signs: the positive side is kept with probability P = ½(1 + ΣS/Σ|S|)", () => {
  // One unit, B = 1: S₁ = +3, S₂ = −1 → P = ½(1 + 2/4) = 0.75.
  let keptPositive = 0;
  const n = 400;
  for (let s = 0; s < n; s++) {
    const out = toList(gradDropCombine(np.array([3, -1]).reshape([2, 1, 1]), np.array([1, 1]), seedArr(s), 0))[0]!;
    assert.ok(out === 3 || out === -1, `the result is one side or the other, got ${out}`);
    if (out === 3) keptPositive++;
  }
  const p = keptPositive / n;
  assert.ok(Math.abs(p - 0.75) < 0.07, `kept positive in ${p} of draws`);
});

test("leak 1 is the plain weighted sum; leak ℓ mixes it with the masked one", () => {
  const dz = np.array([3, -1]).reshape([2, 1, 1]);
  assert.deepEqual(toList(gradDropCombine(dz.ref, np.array([1, 2]), seedArr(5), 1)), [1]);
  const masked = toList(gradDropCombine(dz.ref, np.array([1, 2]), seedArr(5), 0))[0]!;
  const half = toList(gradDropCombine(dz, np.array([1, 2]), seedArr(5), 0.5))[0]!;
  assert.ok(Math.abs(half - (0.5 * 1 + 0.5 * masked)) < 1e-6);
});

test("in training: heads get their usual gradients, the trunk the masked ones; same seed → same run; no NaN", () => {
  const model = { inputDim: 5, hidden: [6, 6], outputDim: 2, numTasks: 3 };
  const rng = new Rng(4);
  const batches = Array.from({ length: 4 }, () => ({ x: rng.normals(8 * 5), y: rng.normals(3 * 8 * 2) }));
  const run = (b: Balancer<BalancerState>) => {
    const tr = createTrainer({ step: { model, loss: meanSquaredError, optimizer: { lr: 1e-2 } }, balancer: b, params: initParams(model, 1), batchSize: 8 });
    tr.step(batches[0]!);
    const p = tr.finish();
    const out = { heads: tree.leaves(p.heads).flatMap((a) => toList(a as np.Array)), trunk: tree.leaves(p.trunk).flatMap((a) => toList(a as np.Array)) };
    tree.dispose(p);
    return out;
  };
  const gd = run(gradDrop({ seed: 3 }) as Balancer<BalancerState>);
  const eq = run(equalWeights() as Balancer<BalancerState>);
  assert.ok(maxRelErr(gd.heads, eq.heads) < 1e-6, "heads are not affected by GradDrop");
  assert.ok(maxRelErr(gd.trunk, eq.trunk) > 1e-6, "the trunk update differs from equal weights");
  assert.deepEqual(run(gradDrop({ seed: 3 }) as Balancer<BalancerState>).trunk, gd.trunk);
  assert.ok(gd.trunk.every(Number.isFinite));
});

test("bad options and input", () => {
  throwsInput(() => gradDrop({ leak: 2 }), /leak/);
  throwsInput(() => gradDrop({ seed: 0.5 }), /seed/);
  const b = gradDrop();
  throwsInput(() => b.update({ losses: [1, Number.NaN] }, b.init(2)), /task 1/);
});
