import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { rlw, rlwDraw } from "../../src/balancers/rlw.js";
import { gradVac } from "../../src/balancers/gradVac.js";
import { pcgrad } from "../../src/balancers/pcgrad.js";
import { MAX_GRAMIAN_TASKS, MAX_TASKS } from "../../src/balancers/validate.js";
import { BalancerInputError } from "../../src/balancers/validate.js";
import { normalAt } from "../../src/util/rng.js";
import { throwsInput } from "../helpers/assert.js";

/** Weights in force at steps 0 … n (init, then after each of n updates). */
function sequence(seed: number, T: number, n: number, loss = 1): (readonly number[])[] {
  const b = rlw({ seed });
  let s = b.init(T);
  const out: (readonly number[])[] = [s.weights];
  for (let k = 0; k < n; k++) {
    s = b.update({ losses: new Array<number>(T).fill(loss) }, s).state;
    out.push(s.weights);
  }
  return out;
}

const seedArb = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });

describe("rlw", () => {
  test("name and needs", () => {
    const b = rlw();
    assert.equal(b.name, "rlw");
    assert.deepEqual(b.needs, {});
  });

  test("property: weights are finite, positive and sum to 1 (not T)", () => {
    fc.assert(
      fc.property(seedArb, fc.integer({ min: 1, max: 10 }), (seed, T) => {
        for (const w of sequence(seed, T, 20)) {
          assert.equal(w.length, T);
          for (const x of w) assert.ok(Number.isFinite(x) && x > 0, `weight ${x}`);
          const sum = w.reduce((a, b) => a + b, 0);
          assert.ok(Math.abs(sum - 1) < 1e-12, `sum ${sum}`);
        }
      }),
      { numRuns: 50 },
    );
  });

  test("property: step k's weights are softmax(normalAt(seed, kT + j)), j < T — a pure function of (seed, step)", () => {
    fc.assert(
      fc.property(seedArb, fc.integer({ min: 1, max: 6 }), (seed, T) => {
        sequence(seed, T, 5).forEach((w, k) => {
          const z = Array.from({ length: T }, (_, j) => normalAt(seed, k * T + j));
          const e = z.map(Math.exp);
          const sum = e.reduce((a, b) => a + b, 0);
          e.forEach((x, j) => assert.ok(Math.abs(w[j]! - x / sum) < 1e-12, `step ${k} task ${j}`));
        });
      }),
      { numRuns: 50 },
    );
  });

  test("same seed → same sequence; different seeds → different sequences; draws change every step", () => {
    assert.deepEqual(sequence(7, 3, 30), sequence(7, 3, 30));
    assert.notDeepEqual(sequence(7, 3, 30), sequence(8, 3, 30));
    const seq = sequence(0, 3, 30);
    for (let k = 1; k < seq.length; k++) assert.notDeepEqual(seq[k], seq[k - 1], `steps ${k - 1} and ${k} equal`);
    fc.assert(
      fc.property(seedArb, seedArb, (a, b) => {
        fc.pre(a !== b);
        assert.notDeepEqual(sequence(a, 2, 3), sequence(b, 2, 3));
      }),
      { numRuns: 50 },
    );
  });

  test("the weights do not depend on the losses", () => {
    assert.deepEqual(sequence(3, 4, 10, 0.1), sequence(3, 4, 10, 1000));
  });

  test("mean over many steps ≈ 1/T for each task, with real spread", () => {
    const T = 3;
    const n = 4000;
    const seq = sequence(123, T, n);
    for (let j = 0; j < T; j++) {
      const xs = seq.map((w) => w[j]!);
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / xs.length);
      assert.ok(Math.abs(mean - 1 / T) < 0.015, `task ${j}: mean ${mean}`);
      assert.ok(sd > 0.1, `task ${j}: sd ${sd} (weights should vary)`);
    }
  });

  test("update is pure: the same state gives the same result and is not mutated", () => {
    const b = rlw({ seed: 5 });
    const s = b.init(3);
    const copy = structuredClone(s);
    const a = b.update({ losses: [1, 2, 3] }, s);
    assert.deepEqual(b.update({ losses: [1, 2, 3] }, s), a);
    assert.deepEqual(s, copy);
    assert.equal(a.state.step, 1);
  });

  test("bad input throws BalancerInputError naming the problem", () => {
    const b = rlw();
    const s = b.init(2);
    throwsInput(() => b.update({ losses: [Number.NaN, 1] }, s), /^rlw:/, /task 0/, /NaN/);
    throwsInput(() => b.update({ losses: [1, -Infinity] }, s), /task 1/, /Infinity/);
    throwsInput(() => b.update({ losses: [1] }, s), /expected 2 losses, got 1/);
    throwsInput(() => b.init(0), /number of tasks/);
    throwsInput(() => rlw({ seed: 1.5 }), /option seed/, /integer/);
    throwsInput(() => rlw({ seed: Number.NaN }), /option seed/);
    throwsInput(() => rlw({ seed: 2 ** 31 }), /option seed/);
  });
});

test("many tasks: RLW draws 130,000 weights (no stack overflow); absurd task counts are an error, not a crash", () => {
  const w = rlw().init(130_000).weights;
  assert.equal(w.length, 130_000);
  assert.ok(Math.abs(w.reduce((a, b) => a + b, 0) - 1) < 1e-9);
  throwsInput(() => rlw().init(MAX_TASKS + 1), /^rlw: supports at most 1000000 tasks, got 1000001/);
  throwsInput(() => rlwDraw(0, 0, 1e12), /supports at most/);
  throwsInput(() => gradVac().init(1e7), /^gradvac: supports at most 4096 tasks, got 10000000 \(it works on a T×T matrix every step\)/);
  throwsInput(() => pcgrad().init(MAX_GRAMIAN_TASKS + 1), /^pcgrad: supports at most 4096 tasks/);
});
