import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { learningRateAnnealing, type LearningRateAnnealingOptions, type LearningRateAnnealingState } from "../../src/balancers/learningRateAnnealing.js";
import type { Observation } from "../../src/balancers/types.js";
import { createBalancer } from "../../src/balancers/registry.js";
import { close, throwsInput } from "../helpers/assert.js";

const obs = (max: number[], mean: number[], losses = max.map(() => 1)): Observation => ({ losses, gradAbsMax: max, gradAbsMean: mean });

/** The weights in force after each of `n` updates on the same observation. */
function run(options: LearningRateAnnealingOptions, o: Observation, n: number): { weights: (readonly number[])[]; state: LearningRateAnnealingState } {
  const b = learningRateAnnealing(options);
  let s = b.init(o.losses.length);
  const weights: (readonly number[])[] = [];
  for (let k = 0; k < n; k++) {
    s = b.update(o, s).state;
    weights.push(s.weights);
  }
  return { weights, state: s };
}

describe("learning-rate annealing (Wang, Teng & Perdikaris 2021)", () => {
  test("one update by hand: λ̂ᵢ = max|∇L_r| / (λᵢ·mean|∇Lᵢ|), λᵢ ← 0.9·λᵢ + 0.1·λ̂ᵢ, the reference kept at 1", () => {
    // max of the residual 8, boundary means 0.5 and 2: λ̂ = 16 and 4 from λ = 1.
    const { weights, state } = run({}, obs([8, 3, 1], [0.1, 0.5, 2]), 1);
    assert.deepEqual(weights[0], [1, 0.9 + 1.6, 0.9 + 0.4]);
    assert.deepEqual(state.estimates, [1, 16, 4]);
    // The second update (step 1) is not an update step with every = 10: nothing moves.
    const b = learningRateAnnealing();
    const r = b.update(obs([8, 3, 1], [0.1, 0.5, 2]), state);
    assert.deepEqual(r.weights, state.weights);
    assert.equal(r.state.step, 2);
  });

  test("updates at steps 0, every, 2·every, …", () => {
    const b = learningRateAnnealing({ every: 3, alpha: 1 });
    let s = b.init(2);
    const changed: number[] = [];
    for (let t = 0; t < 10; t++) {
      const before = s.weights[1];
      s = b.update(obs([1, 1], [1, 1 / (t + 2)]), s).state;
      if (s.weights[1] !== before) changed.push(t);
    }
    assert.deepEqual(changed, [0, 3, 6, 9]);
  });

  test("fixed points: weighted (SIAM) λ² = max/mean; unweighted (arXiv) λ = max/mean", () => {
    const o = obs([5, 1], [1, 0.2]); // max/mean = 25
    const siam = run({ every: 1 }, o, 400).weights.at(-1)!;
    close(siam[1]!, 5, 1e-9, "weighted λ");
    const arxiv = run({ every: 1, weighted: false, alpha: 0.9 }, o, 60).weights.at(-1)!;
    close(arxiv[1]!, 25, 1e-9, "unweighted λ");
  });

  test("property: finite positive weights, the reference at 1; invariant to scaling every gradient by c > 0 and to the losses", () => {
    const vec = (n: number) => fc.array(fc.double({ min: 1e-6, max: 1e6, noNaN: true }), { minLength: n, maxLength: n });
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 6 }).chain((T) => fc.tuple(vec(T), vec(T), vec(T), fc.nat({ max: T - 1 }), fc.double({ min: 1e-3, max: 1e3, noNaN: true }))), ([max, mean, losses, reference, c]) => {
        const T = max.length;
        const b = learningRateAnnealing({ reference, every: 1 });
        let s = b.init(T);
        let scaled = b.init(T);
        for (let k = 0; k < 5; k++) {
          s = b.update(obs(max, mean, losses), s).state;
          scaled = b.update(obs(max.map((v) => v * c), mean.map((v) => v * c), losses.map((l) => l * 7)), scaled).state;
        }
        assert.equal(s.weights[reference], 1);
        s.weights.forEach((w, i) => {
          assert.ok(Number.isFinite(w) && w > 0, `weight ${i} = ${w}`);
          close(scaled.weights[i]!, w, 1e-9 * Math.max(1, w), `weight ${i} after scaling`);
        });
      }),
      { numRuns: 100, seed: 7 },
    );
  });

  test("a term without gradient (mean 0) keeps its weight; a residual without gradient pulls the others down", () => {
    const { state } = run({ every: 1, alpha: 0.5 }, obs([4, 1, 1], [1, 0, 1]), 2);
    assert.equal(state.weights[1], 1);
    const down = run({ every: 1, alpha: 0.5 }, obs([0, 1], [1, 1]), 3).weights.map((w) => w[1]);
    assert.deepEqual(down, [0.5, 0.25, 0.125]);
  });

  test("through the registry as 'lra', needing gradient magnitudes over all shared parameters", () => {
    const b = createBalancer("lra");
    assert.deepEqual(b.needs, { gradAbs: "shared", every: 10 });
    assert.deepEqual(createBalancer("lra", { gradMode: "lastShared", every: 1 }).needs, { gradAbs: "lastShared", every: 1 });
  });

  test("bad options and observations are refused, naming the problem", () => {
    throwsInput(() => learningRateAnnealing({ alpha: 0 }), /alpha/);
    throwsInput(() => learningRateAnnealing({ every: 1.5 }), /every/);
    throwsInput(() => learningRateAnnealing({ reference: -1 }), /reference/);
    throwsInput(() => learningRateAnnealing({ reference: 3 }).init(3), /reference 3 is not a task index/);
    throwsInput(() => learningRateAnnealing({ weighted: "yes" as unknown as boolean }), /weighted/);
    throwsInput(() => learningRateAnnealing({ beta: 1 } as LearningRateAnnealingOptions), /beta/);
    const b = learningRateAnnealing();
    const s = b.init(2);
    throwsInput(() => b.update({ losses: [1, 1] }, s), /largest gradient entries are required/);
    throwsInput(() => b.update(obs([1, Number.NaN], [1, 1]), s), /largest gradient entries of task 1 is NaN/);
    throwsInput(() => b.update(obs([1, 1], [1, -1]), s), /mean gradient magnitudes of task 1 is negative/);
    throwsInput(() => b.update(obs([1e300], [1], [1, 1]), s), /expected 2 largest gradient entries/);
    throwsInput(() => b.update(obs([1e308, 1], [1, 1e-300]), s), /weight of task 1 overflows/);
  });
});
