import { test } from "node:test";
import assert from "node:assert/strict";
import { deltaM } from "../../src/metrics/deltaM.js";

test("Δm on hand-computed cases: positive means better than single-task", () => {
  // Accuracies 97 vs 96 (+1.0417 %) and 94 vs 95 (−1.0526 %): mean −0.00548 %.
  const d = deltaM([
    { value: 97, baseline: 96, higherIsBetter: true },
    { value: 94, baseline: 95, higherIsBetter: true },
  ]);
  assert.ok(Math.abs(d - (100 * (1 / 96 - 1 / 95)) / 2) < 1e-12, `${d}`);
  // A loss (lower is better) 0.8 vs 1.0 is a 20 % improvement.
  assert.ok(Math.abs(deltaM([{ value: 0.8, baseline: 1, higherIsBetter: false }]) - 20) < 1e-12);
  // Equal to the baseline: 0.
  assert.equal(deltaM([{ value: 5, baseline: 5, higherIsBetter: true }]), 0);
});

test("Δm rejects empty input and zero or non-finite baselines", () => {
  assert.throws(() => deltaM([]), /no metrics/);
  assert.throws(() => deltaM([{ value: 1, baseline: 0, higherIsBetter: true }]), /non-zero baseline/);
  assert.throws(() => deltaM([{ value: Number.NaN, baseline: 1, higherIsBetter: true }]), /finite value/);
});
