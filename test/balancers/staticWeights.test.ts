import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { staticWeights } from "../../src/balancers/staticWeights.js";
import { BalancerInputError } from "../../src/balancers/validate.js";
import { throwsInput } from "../helpers/assert.js";

const weightsArb = fc
  .array(fc.double({ min: 0, max: 100, noNaN: true }), { minLength: 1, maxLength: 8 })
  .filter((w) => w.some((x) => x > 0));

describe("staticWeights", () => {
  test("name and needs", () => {
    const b = staticWeights({ weights: [1, 2] });
    assert.equal(b.name, "static");
    assert.deepEqual(b.needs, {});
  });

  test("property: the given weights are returned unchanged (not renormalized) at every step", () => {
    fc.assert(
      fc.property(weightsArb, fc.integer({ min: 1, max: 6 }), fc.double({ min: 0, max: 1e6, noNaN: true }), (w, steps, loss) => {
        const b = staticWeights({ weights: w });
        let s = b.init(w.length);
        assert.deepEqual(s.weights, w);
        for (let k = 0; k < steps; k++) {
          const r = b.update({ losses: w.map((_, i) => loss + i) }, s);
          assert.deepEqual(r.weights, w);
          s = r.state;
        }
        assert.equal(s.step, steps);
      }),
      { numRuns: 50 },
    );
  });

  test("property: permuting the given weights permutes the output", () => {
    fc.assert(
      fc.property(
        weightsArb.chain((w) => fc.tuple(fc.constant(w), fc.shuffledSubarray(w.map((_, i) => i), { minLength: w.length }))),
        ([w, perm]) => {
          const b = staticWeights({ weights: w });
          const bp = staticWeights({ weights: perm.map((i) => w[i]!) });
          const r = b.update({ losses: w.map(() => 1) }, b.init(w.length));
          const rp = bp.update({ losses: w.map(() => 1) }, bp.init(w.length));
          assert.deepEqual(rp.weights, perm.map((i) => r.weights[i]));
        },
      ),
      { numRuns: 50 },
    );
  });

  test("the options array is copied: mutating it later changes nothing", () => {
    const given = [1, 2, 3];
    const b = staticWeights({ weights: given });
    const s = b.init(3);
    given[0] = 100;
    assert.deepEqual(s.weights, [1, 2, 3]);
    assert.deepEqual(b.update({ losses: [1, 1, 1] }, s).weights, [1, 2, 3]);
    assert.deepEqual(b.init(3).weights, [1, 2, 3]);
    // Nor does mutating a returned state (typed readonly, but plain arrays at run time).
    (s.weights as number[])[1] = -7;
    assert.deepEqual(b.init(3).weights, [1, 2, 3]);
    const u = b.update({ losses: [1, 1, 1] }, b.init(3));
    (u.weights as number[])[0] = 5;
    assert.deepEqual(b.update({ losses: [1, 1, 1] }, u.state).weights, [1, 2, 3]);
  });

  test("bad options throw BalancerInputError naming the problem", () => {
    throwsInput(() => staticWeights({ weights: [1, Number.NaN] }), /^static:/, /task 1/, /NaN/);
    throwsInput(() => staticWeights({ weights: [Infinity, 1] }), /task 0/, /Infinity/);
    throwsInput(() => staticWeights({ weights: [1, -0.5, 2] }), /task 1/, /negative/);
    throwsInput(() => staticWeights({ weights: [0, 0] }), /all 2 weights are zero/);
    throwsInput(() => staticWeights({ weights: [] }), /empty/);
    throwsInput(() => staticWeights(undefined as unknown as { weights: number[] }), /weights is required/);
    throwsInput(() => staticWeights({} as { weights: number[] }), /weights is required/);
  });

  test("length mismatch with the number of tasks throws at init", () => {
    const b = staticWeights({ weights: [1, 2, 3] });
    throwsInput(() => b.init(2), /^static:/, /3 weights were given but there are 2 tasks/);
  });

  test("bad losses throw", () => {
    const b = staticWeights({ weights: [1, 2] });
    const s = b.init(2);
    throwsInput(() => b.update({ losses: [Number.NaN, 1] }, s), /task 0/, /NaN/);
    throwsInput(() => b.update({ losses: [1, -Infinity] }, s), /task 1/, /-Infinity/);
    throwsInput(() => b.update({ losses: [1, 2, 3] }, s), /expected 2 losses, got 3/);
  });
});
