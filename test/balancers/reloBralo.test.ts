import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { reloBralo, reloBraloBalance, type ReLoBRaLoOptions, type ReLoBRaLoState } from "../../src/balancers/reloBralo.js";
import { dwaWeights } from "../../src/balancers/dwa.js";
import { createBalancer } from "../../src/balancers/registry.js";
import { uniformAt } from "../../src/util/rng.js";
import { throwsInput } from "../helpers/assert.js";

function closeVec(actual: readonly number[], expected: readonly number[], rel: number, what = ""): void {
  assert.equal(actual.length, expected.length, what);
  actual.forEach((a, i) => {
    const e = expected[i]!;
    assert.ok(Math.abs(a - e) <= rel * Math.max(1, Math.abs(e)), `${what}[${i}]: ${a} vs ${e}`);
  });
}

/** The weights in force after each update of `seq`, and the draws of ρ. */
function run(options: ReLoBRaLoOptions, T: number, seq: readonly (readonly number[])[]): { weights: (readonly number[])[]; rho: number[]; state: ReLoBRaLoState } {
  const b = reloBralo(options);
  let s = b.init(T);
  const weights: (readonly number[])[] = [];
  const rho: number[] = [];
  for (const l of seq) {
    const r = b.update({ losses: l }, s);
    s = r.state;
    weights.push(r.weights);
    rho.push(r.info!["rho"] as number);
  }
  return { weights, rho, state: s };
}

/**
 * Naive reference of the equations (plain softmax, no max subtracted), with the documented conventions:
 * λ(0) = 1, λ(1) = λ^bal(1, 0) (official α = 0 at t = 1), ρₜ = [uniformAt(seed, t) < E[ρ]].
 */
function reference(seq: readonly (readonly number[])[], o: Required<ReLoBRaLoOptions>): number[][] {
  const T = seq[0]!.length;
  const bal = (a: readonly number[], b: readonly number[]) => {
    const e = a.map((x, i) => Math.exp(x / (o.temperature * b[i]!)));
    const z = e.reduce((u, v) => u + v, 0);
    return e.map((x) => (T * x) / z);
  };
  const out: number[][] = [];
  let lam = new Array<number>(T).fill(1);
  seq.forEach((L, t) => {
    if (t === 1) lam = bal(L, seq[0]!);
    else if (t > 1) {
      const rho = uniformAt(o.seed, t) < o.rho ? 1 : 0;
      const b0 = bal(L, seq[0]!);
      const b1 = bal(L, seq[t - 1]!);
      lam = lam.map((w, i) => o.alpha * (rho * w + (1 - rho) * b0[i]!) + (1 - o.alpha) * b1[i]!);
    }
    out.push([...lam]);
  });
  return out;
}

const MAX_T = 8;
/**
 * Sequences of per-step losses for T ∈ [minT, maxT] tasks: rows of MAX_T drawn and sliced to T (no
 * `chain`, whose shrinking can run for minutes when a property fails).
 */
const lossSeq = (minT: number, maxT: number, min: number, max: number, minLength: number, maxLength: number) =>
  fc
    .tuple(fc.integer({ min: minT, max: maxT }), fc.array(fc.array(fc.double({ min, max, noNaN: true }), { minLength: MAX_T, maxLength: MAX_T }), { minLength, maxLength }))
    .map(([T, rows]) => rows.map((r) => r.slice(0, T)));
/** A permutation of 0..T−1 from MAX_T random keys (argsort of the first T). */
const permOf = (keys: readonly number[], T: number) =>
  Array.from({ length: T }, (_, i) => i).sort((a, b) => keys[a]! - keys[b]! || a - b);
const keysArb = fc.array(fc.nat(), { minLength: MAX_T, maxLength: MAX_T });
const optionsArb = fc.record({
  alpha: fc.double({ min: 0, max: 1, noNaN: true }),
  rho: fc.double({ min: 0, max: 1, noNaN: true }),
  temperature: fc.double({ min: 0.05, max: 10, noNaN: true }),
  seed: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
});
const sum = (w: readonly number[]) => w.reduce((a, b) => a + b, 0);

describe("relobralo", () => {
  test("name, needs, and the registry builds it", () => {
    const b = reloBralo();
    assert.equal(b.name, "relobralo");
    assert.deepEqual(b.needs, {});
    assert.equal(b.timing, undefined, "timing next (the default)");
    assert.equal(createBalancer("relobralo", { alpha: 0.9 }).name, "relobralo");
  });

  test("first steps: init and the first update give 1; the second gives λ^bal(1, 0)", () => {
    const b = reloBralo({ temperature: 1 });
    const s0 = b.init(2);
    assert.deepEqual(s0.weights, [1, 1]);
    assert.deepEqual([s0.initialLosses, s0.previousLosses, s0.counter], [null, null, 0]);
    const r1 = b.update({ losses: [1, 2] }, s0);
    assert.deepEqual(r1.weights, [1, 1]);
    assert.deepEqual(r1.state.initialLosses, [1, 2]);
    // Hand computation: ratios L(1)/L(0) = [0.5, 1], τ = 1 → 2·softmax([0.5, 1]).
    const r2 = b.update({ losses: [0.5, 2] }, r1.state);
    const a = Math.exp(0.5);
    const c = Math.exp(1);
    closeVec(r2.weights, [(2 * a) / (a + c), (2 * c) / (a + c)], 1e-14);
    closeVec(r2.weights, [0.75508, 1.24492], 1e-5, "digits worked by hand: e^0.5 = 1.64872, e = 2.71828");
    assert.ok(r2.weights[1]! > r2.weights[0]!, "the task whose loss fell less gets more weight");
  });

  test("hand computation, T = 3, τ = 0.5, α = 0.9, step 2 with ρ = 1 (history) and ρ = 0 (lookback)", () => {
    const seq = [
      [1, 1, 2],
      [0.5, 1, 2],
      [0.5, 0.5, 1],
    ];
    const sm = (x: number[]) => {
      const e = x.map(Math.exp);
      const z = sum(e);
      return e.map((v) => (3 * v) / z);
    };
    const lam1 = sm([0.5 / 0.5, 1 / 0.5, 2 / (2 * 0.5)]); // L(1)/(τL(0)) = [1, 2, 2]
    const bal20 = sm([0.5 / 0.5, 0.5 / 0.5, 1 / (2 * 0.5)]); // L(2)/(τL(0)) = [1, 1, 1] → [1, 1, 1]
    const bal21 = sm([0.5 / 0.25, 0.5 / 0.5, 1 / 1]); // L(2)/(τL(1)) = [2, 1, 1]
    closeVec(bal20, [1, 1, 1], 1e-15);
    const keep = run({ alpha: 0.9, rho: 1, temperature: 0.5 }, 3, seq);
    closeVec(keep.weights[1]!, lam1, 1e-14, "λ(1)");
    closeVec(keep.weights[2]!, lam1.map((w, i) => 0.9 * w + 0.1 * bal21[i]!), 1e-14, "ρ = 1");
    assert.deepEqual(keep.rho, [1, 1, 1]);
    const back = run({ alpha: 0.9, rho: 0, temperature: 0.5 }, 3, seq);
    closeVec(back.weights[2]!, bal20.map((w, i) => 0.9 * w + 0.1 * bal21[i]!), 1e-14, "ρ = 0");
    assert.deepEqual(back.rho, [0, 0, 0]);
  });

  test("property: matches a naive implementation of the equations at every step, with the same draws", () => {
    fc.assert(
      fc.property(
        // Ratios ≤ 20 and τ ≥ 0.2: the naive softmax's exp(ratio/τ) stays finite.
        optionsArb.map((o) => ({ ...o, temperature: Math.max(o.temperature, 0.2) })),
        lossSeq(1, 6, 0.5, 10, 1, 12),
        (o, seq) => {
          const { weights } = run(o, seq[0]!.length, seq);
          const ref = reference(seq, o);
          weights.forEach((w, k) => closeVec(w, ref[k]!, 1e-10, `step ${k}`));
        },
      ),
      { numRuns: 150 },
    );
  });

  test("α = 0: every weight is λ^bal(t, t−1) (DWA's softmax of consecutive loss ratios, per step)", () => {
    fc.assert(
      fc.property(
        lossSeq(1, 5, 0.1, 10, 2, 8),
        (seq) => {
          const { weights } = run({ alpha: 0, temperature: 0.3 }, seq[0]!.length, seq);
          for (let k = 1; k < seq.length; k++) closeVec(weights[k]!, dwaWeights(seq[k - 1]!, seq[k]!, 0.3), 1e-13, `step ${k}`);
        },
      ),
      { numRuns: 60 },
    );
  });

  test("property: finite, positive weights summing to T for finite positive losses", () => {
    fc.assert(
      fc.property(
        optionsArb,
        lossSeq(1, 8, 1e-3, 1e3, 1, 15),
        (o, seq) => {
          const T = seq[0]!.length;
          // τ ≥ 0.05 and ratios ≤ 10⁶: exp(−2·10⁷) underflows, so only ≥ 0 is guaranteed in general.
          for (const w of run(o, T, seq).weights) {
            assert.equal(w.length, T);
            for (const x of w) assert.ok(Number.isFinite(x) && x >= 0, `weight ${x}`);
            assert.ok(Math.abs(sum(w) - T) <= 1e-12 * T, `Σw = ${sum(w)}`);
          }
        },
      ),
      { numRuns: 150 },
    );
    fc.assert(
      fc.property(
        optionsArb.map((o) => ({ ...o, temperature: 1 })),
        lossSeq(1, 8, 0.1, 10, 1, 15),
        (o, seq) => {
          for (const w of run(o, seq[0]!.length, seq).weights) for (const x of w) assert.ok(x > 0, `weight ${x}`);
        },
      ),
      { numRuns: 100 },
    );
  });

  test("property: equal losses across tasks give equal weights 1", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 7 }), optionsArb, fc.array(fc.double({ min: 1e-3, max: 1e3, noNaN: true }), { minLength: 1, maxLength: 10 }), (T, o, values) => {
        for (const w of run(o, T, values.map((v) => new Array<number>(T).fill(v))).weights) closeVec(w, new Array<number>(T).fill(1), 1e-13);
      }),
      { numRuns: 80 },
    );
  });

  test("property: permuting the tasks permutes the weights (ρ is one draw per step, shared by all tasks)", () => {
    fc.assert(
      fc.property(
        optionsArb,
        lossSeq(2, 6, 0.01, 100, 2, 10),
        keysArb,
        (o, seq, keys) => {
          const T = seq[0]!.length;
          const perm = permOf(keys, T);
          const w = run(o, T, seq).weights;
          const wp = run(
            o,
            T,
            seq.map((l) => perm.map((i) => l[i]!)),
          ).weights;
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
      { numRuns: 80 },
    );
  });

  test("property: multiplying each task's losses by its own constant cᵢ > 0 leaves the weights unchanged", () => {
    fc.assert(
      fc.property(
        optionsArb,
        lossSeq(1, 6, 0.1, 10, 1, 10),
        fc.array(fc.double({ min: 1e-6, max: 1e6, noNaN: true }), { minLength: MAX_T, maxLength: MAX_T }),
        (o, seq, c) => {
          const T = seq[0]!.length;
          const a = run(o, T, seq).weights;
          const b = run(
            o,
            T,
            seq.map((l) => l.map((x, i) => x * c[i]!)),
          ).weights;
          b.forEach((w, k) => closeVec(w, a[k]!, 1e-12, `step ${k}`));
        },
      ),
      { numRuns: 80 },
    );
  });

  test("seeded: the same seed gives the same run, ρ at update k is [uniformAt(seed, k) < E[ρ]], seeds differ", () => {
    const T = 3;
    const seq = Array.from({ length: 200 }, (_, k) => [1 + Math.sin(k), 2 + Math.cos(0.3 * k), 1.5 + Math.sin(0.7 * k + 1)]);
    const a = run({ seed: 7, rho: 0.5 }, T, seq);
    assert.deepEqual(run({ seed: 7, rho: 0.5 }, T, seq), a);
    assert.deepEqual(
      a.rho,
      seq.map((_, k) => (uniformAt(7, k) < 0.5 ? 1 : 0)),
    );
    assert.equal(a.state.counter, seq.length);
    const b = run({ seed: 8, rho: 0.5 }, T, seq);
    assert.notDeepEqual(b.rho, a.rho);
    assert.notDeepEqual(b.weights, a.weights);
    // The default E[ρ] = 0.999: lookbacks are rare; their frequency is 1 − E[ρ].
    const n = 20_000;
    const d = run({ rho: 0.9 }, 1, new Array(n).fill([1])).rho;
    const freq = d.filter((x) => x === 0).length / n;
    assert.ok(Math.abs(freq - 0.1) < 0.01, `lookback frequency ${freq}`);
    assert.ok(run({}, 1, new Array(3000).fill([1])).rho.some((x) => x === 0), "default 0.999: some lookback in 3000 steps");
  });

  test("the state is plain data: a JSON round trip mid-run resumes the run exactly", () => {
    const o = { seed: 3, rho: 0.6, alpha: 0.8 };
    const seq = Array.from({ length: 30 }, (_, k) => [1 / (k + 1), 2 + Math.sin(k), 0.5 + 0.01 * k]);
    const full = run(o, 3, seq);
    const b = reloBralo(o);
    let s = b.init(3);
    for (const l of seq.slice(0, 12)) s = b.update({ losses: l }, s).state;
    let revived = JSON.parse(JSON.stringify(s)) as ReLoBRaLoState;
    assert.deepEqual(revived, s);
    const tail: (readonly number[])[] = [];
    for (const l of seq.slice(12)) {
      const r = b.update({ losses: l }, revived);
      revived = r.state;
      tail.push(r.weights);
    }
    assert.deepEqual(tail, full.weights.slice(12));
    assert.deepEqual(revived, full.state);
  });

  test("update is pure: the same state gives the same result and is not mutated", () => {
    const b = reloBralo({ rho: 0.5 });
    let s = b.init(2);
    for (const l of [
      [1, 2],
      [0.5, 2],
      [0.4, 1],
    ])
      s = b.update({ losses: l }, s).state;
    const copy = structuredClone(s);
    const a = b.update({ losses: [0.3, 1] }, s);
    assert.deepEqual(b.update({ losses: [0.3, 1] }, s), a);
    assert.deepEqual(s, copy);
    assert.equal(a.state.step, 4);
  });

  test("α = 1, E[ρ] = 1: after the warm start the weights never change; a tiny τ puts the weight on the largest ratio", () => {
    const seq = [
      [1, 1, 1],
      [1, 2, 1],
      [5, 1, 9],
      [0.1, 7, 3],
    ];
    const w = run({ alpha: 1, rho: 1 }, 3, seq).weights;
    assert.deepEqual(w[3], w[1]);
    assert.deepEqual(w[2], w[1]);
    const cold = run({ temperature: 1e-320 }, 3, seq.slice(0, 2)).weights[1]!;
    assert.deepEqual(cold, [0, 3, 0]);
    assert.deepEqual(reloBraloBalance([2, 2], [1, 1], 1e-320), [1, 1], "ties share it");
  });

  test("bad input throws BalancerInputError naming the problem: NaN, ±Inf, negative and zero losses (divisors), overflow", () => {
    const b = reloBralo();
    const s = b.update({ losses: [1, 1] }, b.init(2)).state;
    throwsInput(() => b.update({ losses: [Number.NaN, 1] }, s), /^relobralo:/, /task 0/, /NaN/);
    throwsInput(() => b.update({ losses: [1, Infinity] }, s), /task 1/, /Infinity/);
    throwsInput(() => b.update({ losses: [1, -1] }, s), /loss of task 1 is -1 \(must be > 0\)/, /divides/);
    throwsInput(() => b.update({ losses: [0, 1] }, s), /loss of task 0 is 0 \(must be > 0\)/);
    throwsInput(() => b.update({ losses: [0, 1] }, b.init(2)), /task 0 is 0/); // also at the first update: L(0) divides later
    throwsInput(() => b.update({ losses: [1, 2, 3] }, s), /expected 2 losses, got 3/);
    const tiny = b.update({ losses: [1, 1e-300] }, b.init(2)).state;
    throwsInput(() => b.update({ losses: [1, 1e300] }, tiny), /loss ratio of task 1 overflows/);
    throwsInput(() => b.init(0), /number of tasks/);
    throwsInput(() => reloBraloBalance([1, -1], [1, 1], 1), /task 1/, /needs L\(t\) ≥ 0 and L\(t'\) > 0/);
    assert.deepEqual(reloBraloBalance([0, 0], [1, 2], 1), [1, 1], "a zero current loss is a ratio 0");
    throwsInput(() => reloBraloBalance([1, 1], [1, 0], 1), /task 1/, /L\(t'\) > 0/);
    throwsInput(() => reloBraloBalance([1, 1], [1, 1], 0), /option temperature/);
  });

  test("options are validated and unknown option names rejected", () => {
    throwsInput(() => reloBralo({ alpha: 1.5 }), /^relobralo: option alpha must be a number in \[0, 1\], got 1.5/);
    throwsInput(() => reloBralo({ alpha: -0.1 }), /option alpha/);
    throwsInput(() => reloBralo({ rho: 2 }), /option rho must be a number in \[0, 1\] \(E\[ρ\]\)/);
    throwsInput(() => reloBralo({ rho: Number.NaN }), /option rho/);
    throwsInput(() => reloBralo({ temperature: 0 }), /option temperature must be a finite number > 0/);
    throwsInput(() => reloBralo({ temperature: -1 }), /option temperature/);
    throwsInput(() => reloBralo({ seed: 1.5 }), /option seed/);
    throwsInput(() => reloBralo({ seed: 2 ** 31 }), /option seed/);
    throwsInput(() => reloBralo({ tau: 1 } as never), /^relobralo: unknown option 'tau' \(known: alpha, rho, temperature, seed\)/);
    // The edges are accepted.
    for (const o of [{ alpha: 0 }, { alpha: 1 }, { rho: 0 }, { rho: 1 }, { seed: -(2 ** 31) }]) assert.equal(reloBralo(o).name, "relobralo");
  });
});
