import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ntkWeights } from "../../src/balancers/ntkWeights.js";
import type { Observation } from "../../src/balancers/types.js";
import { createBalancer } from "../../src/balancers/registry.js";
import { close, throwsInput } from "../helpers/assert.js";

const obs = (traces: number[], losses = traces.map(() => 1)): Observation => ({ losses, kernelTraces: traces });

describe("NTK weights (Wang, Yu & Perdikaris 2022)", () => {
  test("by hand: λᵢ = Σₖ τₖ / τᵢ at steps 0, every, 2·every, …, unchanged in between", () => {
    const b = ntkWeights({ every: 2 });
    let s = b.init(3);
    assert.deepEqual(s.weights, [1, 1, 1]);
    s = b.update(obs([1, 4, 5]), s).state;
    assert.deepEqual(s.weights, [10, 2.5, 2]);
    s = b.update(obs([5, 5, 5]), s).state; // step 1: not an update step
    assert.deepEqual(s.weights, [10, 2.5, 2]);
    s = b.update(obs([5, 5, 5]), s).state;
    assert.deepEqual(s.weights, [3, 3, 3]);
  });

  test("property: weights ≥ 1 with Σ 1/λᵢ = 1; the same for traces scaled by c > 0; a permutation of the traces permutes the weights", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 1e-8, max: 1e8, noNaN: true }), { minLength: 1, maxLength: 8 }), fc.double({ min: 1e-3, max: 1e3, noNaN: true }), (tr, c) => {
        const b = ntkWeights({ every: 1 });
        const w = b.update(obs(tr), b.init(tr.length)).weights;
        const scaled = b.update(obs(tr.map((v) => v * c)), b.init(tr.length)).weights;
        const reversed = b.update(obs([...tr].reverse()), b.init(tr.length)).weights;
        w.forEach((x, i) => {
          assert.ok(x >= 1 - 1e-12, `weight ${i} = ${x}`);
          close(scaled[i]!, x, 1e-9 * x, `scaled ${i}`);
          close(reversed[tr.length - 1 - i]!, x, 1e-9 * x, `permuted ${i}`);
        });
        close(w.reduce((a, x) => a + 1 / x, 0), 1, 1e-9, "Σ 1/λ");
      }),
      { numRuns: 100, seed: 11 },
    );
  });

  test("a term with a zero trace keeps its weight; all zero keeps every weight", () => {
    const b = ntkWeights({ every: 1 });
    let s = b.update(obs([1, 3]), b.init(2)).state;
    s = b.update(obs([2, 0]), s).state;
    assert.deepEqual(s.weights, [1, 4 / 3]);
    assert.deepEqual(b.update(obs([0, 0]), s).state.weights, [1, 4 / 3]);
  });

  test("through the registry as 'ntk', needing kernel traces every 100 steps", () => {
    assert.deepEqual(createBalancer("ntk").needs, { kernelTraces: true, every: 100 });
  });

  test("bad options and observations are refused, naming the problem", () => {
    throwsInput(() => ntkWeights({ every: 0 }), /every/);
    throwsInput(() => ntkWeights({ alpha: 1 } as never), /alpha/);
    const b = ntkWeights();
    const s = b.init(2);
    throwsInput(() => b.update({ losses: [1, 1] }, s), /kernel traces are required/);
    throwsInput(() => b.update(obs([1, Number.POSITIVE_INFINITY]), s), /kernel traces of task 1 is Infinity/);
    throwsInput(() => b.update(obs([1, -2]), s), /kernel trace of task 1 is negative/);
    throwsInput(() => b.update(obs([1.7e308, 1.7e308]), s), /sum overflows/);
    throwsInput(() => b.update(obs([1, 1e-320]), s), /weight of task 1 overflows/);
  });
});
