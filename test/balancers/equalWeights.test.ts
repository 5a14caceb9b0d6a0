import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { equalWeights } from "../../src/balancers/equalWeights.js";
import { BalancerInputError } from "../../src/balancers/validate.js";
import { throwsInput } from "../helpers/assert.js";

const losses = (T: number) => fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: T, maxLength: T });

describe("equalWeights", () => {
  test("name and needs", () => {
    const b = equalWeights();
    assert.equal(b.name, "equal");
    assert.deepEqual(b.needs, {});
  });

  test("property: every weight is 1 (sum T) after any sequence of finite losses", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }).chain((T) => fc.tuple(fc.constant(T), fc.array(losses(T), { minLength: 1, maxLength: 10 }))),
        ([T, seq]) => {
          const b = equalWeights();
          let s = b.init(T);
          assert.deepEqual(s.weights, new Array(T).fill(1));
          for (const l of seq) {
            const r = b.update({ losses: l }, s);
            assert.deepEqual(r.weights, new Array(T).fill(1));
            assert.deepEqual(r.state.weights, r.weights);
            assert.equal(r.state.step, s.step + 1);
            s = r.state;
          }
          assert.equal(s.step, seq.length);
        },
      ),
      { numRuns: 50 },
    );
  });

  test("update is pure: frozen input state is not mutated and reuse gives the same result", () => {
    const b = equalWeights();
    const s = Object.freeze({ ...b.init(3), weights: Object.freeze([1, 1, 1]) });
    const a = b.update({ losses: [1, 2, 3] }, s);
    const c = b.update({ losses: [1, 2, 3] }, s);
    assert.deepEqual(a, c);
    assert.equal(s.step, 0);
  });

  test("bad input throws BalancerInputError naming method, problem and task", () => {
    const b = equalWeights();
    const s = b.init(3);
    throwsInput(() => b.update({ losses: [1, Number.NaN, 3] }, s), /^equal:/, /task 1/, /NaN/);
    throwsInput(() => b.update({ losses: [1, 2, Infinity] }, s), /task 2/, /Infinity/);
    throwsInput(() => b.update({ losses: [1, 2] }, s), /expected 3 losses, got 2/);
    throwsInput(() => b.init(0), /^equal:/, /number of tasks/);
    throwsInput(() => b.init(2.5), /number of tasks/);
  });
});
