import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { dwa, dwaWeights } from "../../src/balancers/dwa.js";
import { BalancerInputError } from "../../src/balancers/validate.js";
import { throwsInput } from "../helpers/assert.js";

function closeVec(actual: readonly number[], expected: readonly number[], rel: number, what = ""): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) => {
    const e = expected[i]!;
    assert.ok(Math.abs(a - e) <= rel * Math.max(1, Math.abs(e)), `${what}[${i}]: ${a} vs ${e}`);
  });
}

/** Runs a balancer over a sequence of per-step losses, returning the weights after each update. */
function run(b: ReturnType<typeof dwa>, T: number, seq: readonly (readonly number[])[]): (readonly number[])[] {
  let s = b.init(T);
  return seq.map((l) => {
    const r = b.update({ losses: l }, s);
    s = r.state;
    return r.weights;
  });
}

/**
 * Reference: eq. 7 of the MTAN paper written out naively (sum/count means, plain softmax).
 * Returns the weights in force after each step of `seq`.
 */
function reference(T: number, seq: readonly (readonly number[])[], epochLength: number, temp: number): number[][] {
  const epochMeans: number[][] = [];
  const out: number[][] = [];
  let current = new Array<number>(T).fill(1);
  for (let k = 0; k < seq.length; k++) {
    if ((k + 1) % epochLength === 0) {
      const mean = new Array<number>(T).fill(0);
      for (let j = k + 1 - epochLength; j <= k; j++) for (let i = 0; i < T; i++) mean[i]! += seq[j]![i]!;
      epochMeans.push(mean.map((m) => m / epochLength));
      const n = epochMeans.length;
      if (n >= 2) {
        const e = Array.from({ length: T }, (_, i) => Math.exp(epochMeans[n - 1]![i]! / epochMeans[n - 2]![i]! / temp));
        const z = e.reduce((a, b) => a + b, 0);
        current = e.map((x) => (T * x) / z);
      }
    }
    out.push([...current]);
  }
  return out;
}

const lossSeq = (T: number, min: number, max: number, minLength: number, maxLength: number) =>
  fc.array(fc.array(fc.double({ min, max, noNaN: true }), { minLength: T, maxLength: T }), { minLength, maxLength });

describe("dwa", () => {
  test("name and needs", () => {
    const b = dwa();
    assert.equal(b.name, "dwa");
    assert.deepEqual(b.needs, {});
  });

  test("hand computation: epoch means [2,4] then [1,4], T = 2 → λ = 2·softmax([0.5, 1]/2)", () => {
    // epochLength 2: epoch 1 steps [1,3],[3,5] (means 2, 4); epoch 2 steps [0.5,4],[1.5,4] (means 1, 4).
    const b = dwa({ temperature: 2, epochLength: 2 });
    const ws = run(b, 2, [
      [1, 3],
      [3, 5],
      [0.5, 4],
      [1.5, 4],
      [9, 9],
    ]);
    for (let k = 0; k < 3; k++) assert.deepEqual(ws[k], [1, 1], `first two epochs: weights 1 (step ${k})`);
    const a = Math.exp(0.5 / 2);
    const c = Math.exp(1 / 2);
    closeVec(ws[3]!, [(2 * a) / (a + c), (2 * c) / (a + c)], 1e-12, "after epoch 2");
    assert.deepEqual(ws[4], ws[3], "weights stay fixed within epoch 3");
    assert.ok(ws[3]![1]! > ws[3]![0]!, "the task whose loss fell less gets more weight");
  });

  test("default epochLength 1 and temperature 2", () => {
    const b = dwa();
    const ws = run(b, 2, [
      [4, 1],
      [2, 1],
    ]);
    assert.deepEqual(ws[0], [1, 1]);
    const a = Math.exp(0.5 / 2);
    const c = Math.exp(1 / 2);
    closeVec(ws[1]!, [(2 * a) / (a + c), (2 * c) / (a + c)], 1e-12);
  });

  test("property: matches an independent implementation of eq. 7 at every step", () => {
    fc.assert(
      fc.property(
        fc
          .tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }), fc.double({ min: 0.5, max: 10, noNaN: true }))
          .chain(([T, epochLength, temp]) =>
            fc.tuple(fc.constant(T), fc.constant(epochLength), fc.constant(temp), lossSeq(T, 0.1, 10, 0, 5 * epochLength)),
          ),
        ([T, epochLength, temp, seq]) => {
          const ws = run(dwa({ temperature: temp, epochLength }), T, seq);
          const ref = reference(T, seq, epochLength, temp);
          ws.forEach((w, k) => closeVec(w, ref[k]!, 1e-10, `step ${k}`));
        },
      ),
      { numRuns: 100 },
    );
  });

  test("info.epochLoss is the epoch's mean loss, reported when an epoch completes", () => {
    const b = dwa({ epochLength: 4 });
    let s = b.init(2);
    const seq = [
      [1, 10],
      [2, 20],
      [3, 30],
      [6, 60],
    ];
    for (let k = 0; k < 3; k++) {
      const r = b.update({ losses: seq[k]! }, s);
      assert.equal(r.info, undefined, `step ${k}: epoch not complete`);
      s = r.state;
    }
    const r = b.update({ losses: seq[3]! }, s);
    closeVec(r.info?.["epochLoss"] as number[], [3, 30], 1e-15, "epoch mean");
  });

  test("property: finite positive weights summing to K for random finite positive losses", () => {
    fc.assert(
      fc.property(
        fc
          .tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 3 }), fc.double({ min: 0.1, max: 100, noNaN: true }))
          .chain(([T, E, temp]) => fc.tuple(fc.constant(T), fc.constant(E), fc.constant(temp), lossSeq(T, 1e-6, 1e6, 1, 12))),
        ([T, E, temp, seq]) => {
          for (const w of run(dwa({ temperature: temp, epochLength: E }), T, seq)) {
            const sum = w.reduce((a, b) => a + b, 0);
            assert.ok(Math.abs(sum - T) <= 1e-9 * T, `sum ${sum}`);
            for (const x of w) assert.ok(Number.isFinite(x) && x >= 0, `weight ${x}`);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  test("property: permuting tasks permutes the weights", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 5 }).chain((T) =>
          fc.tuple(
            lossSeq(T, 0.01, 100, 2, 8),
            fc.shuffledSubarray(
              Array.from({ length: T }, (_, i) => i),
              { minLength: T },
            ),
          ),
        ),
        ([seq, perm]) => {
          const T = perm.length;
          const w = run(dwa(), T, seq);
          const wp = run(
            dwa(),
            T,
            seq.map((l) => perm.map((i) => l[i]!)),
          );
          wp.forEach((x, k) =>
            closeVec(
              x,
              perm.map((i) => w[k]![i]!),
              1e-12,
              `step ${k}`,
            ),
          );
        },
      ),
      { numRuns: 60 },
    );
  });

  test("temperature: large T → weights near 1; small T → the task with the largest ratio takes almost all of K", () => {
    const seq = [
      [1, 1, 1],
      [0.5, 0.9, 0.7],
    ];
    const hot = run(dwa({ temperature: 1e6 }), 3, seq)[1]!;
    closeVec(hot, [1, 1, 1], 1e-6, "T = 1e6");
    const cold = run(dwa({ temperature: 0.01 }), 3, seq)[1]!;
    assert.ok(cold[1]! > 3 - 1e-6 && cold[0]! < 1e-6 && cold[2]! < 1e-6, `T = 0.01: ${cold}`);
  });

  test("history keeps only the last two epochs: epoch 4 weights use L(3)/L(2)", () => {
    const ws = run(dwa({ temperature: 1 }), 2, [
      [1, 1],
      [100, 1],
      [1, 1],
      [1, 2],
    ]);
    // L(3)/L(2) = [1/1, 2/1] → 2·softmax([1, 2]).
    const a = Math.exp(1);
    const c = Math.exp(2);
    closeVec(ws[3]!, [(2 * a) / (a + c), (2 * c) / (a + c)], 1e-12);
  });

  test("zero mean loss two epochs back throws a clear error instead of NaN", () => {
    const b = dwa({ epochLength: 2 });
    let s = b.init(2);
    for (const l of [
      [1, 0],
      [1, 0],
      [1, 1],
    ]) {
      s = b.update({ losses: l }, s).state;
    }
    throwsInput(() => b.update({ losses: [1, 1] }, s), /^dwa:/, /task 1/, /two epochs ago is 0/);
  });

  test("a loss ratio that overflows throws instead of giving NaN", () => {
    const b = dwa();
    const s = b.update({ losses: [1, 1e-300] }, b.init(2)).state;
    throwsInput(() => b.update({ losses: [1, 1e300] }, s), /task 1/, /ratio/);
  });

  test("update is pure: the same state gives the same result and is not mutated", () => {
    const b = dwa({ epochLength: 2 });
    let s = b.init(2);
    s = b.update({ losses: [1, 2] }, s).state;
    s = b.update({ losses: [1, 2] }, s).state;
    s = b.update({ losses: [0.5, 2] }, s).state;
    const copy = structuredClone(s);
    const a = b.update({ losses: [0.5, 1] }, s);
    const c = b.update({ losses: [0.5, 1] }, s);
    assert.deepEqual(a, c);
    assert.deepEqual(s, copy);
  });

  test("bad input throws BalancerInputError naming the problem", () => {
    const b = dwa();
    const s = b.init(2);
    throwsInput(() => b.update({ losses: [Number.NaN, 1] }, s), /^dwa:/, /task 0/, /NaN/);
    throwsInput(() => b.update({ losses: [1, Infinity] }, s), /task 1/, /Infinity/);
    throwsInput(() => b.update({ losses: [1, -1] }, s), /task 1/, /negative/);
    throwsInput(() => b.update({ losses: [1, 2, 3] }, s), /expected 2 losses, got 3/);
    throwsInput(() => b.init(0), /number of tasks/);
    throwsInput(() => dwa({ temperature: 0 }), /option temperature/, /> 0/);
    throwsInput(() => dwa({ temperature: -2 }), /option temperature/, /-2/);
    throwsInput(() => dwa({ temperature: Infinity }), /option temperature/);
    throwsInput(() => dwa({ epochLength: 0 }), /option epochLength/, /integer ≥ 1/);
    throwsInput(() => dwa({ epochLength: 2.5 }), /option epochLength/);
  });
});

test("a tiny temperature puts the weight on the largest loss ratio instead of returning NaN", () => {
  const b = dwa({ temperature: 1e-320 });
  let s = b.init(3);
  for (const losses of [[1, 1, 1], [2, 2, 2], [1, 3, 2]]) s = b.update({ losses }, s).state;
  assert.deepEqual(s.weights, [0, 3, 0]);
  assert.deepEqual(dwaWeights([1, 1], [1, 1], 1e-320), [1, 1], "ties share it");
});

test("dwaWeights checks its inputs: temperature > 0, finite losses of equal length", () => {
  throwsInput(() => dwaWeights([1, 1], [1, 2], 0), /temperature must be a finite number > 0, got 0/);
  throwsInput(() => dwaWeights([1, 1], [1, 2], Number.NaN), /temperature/);
  throwsInput(() => dwaWeights([1, Number.NaN], [1, 2], 2), /L\(t−2\) of task 1 is NaN/);
  throwsInput(() => dwaWeights([1], [1, 2], 2), /expected 2 epoch losses L\(t−2\), got 1/);
});
