import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { softAdapt, softAdaptWeights, type SoftAdaptVariant } from "../../src/balancers/softAdapt.js";
import { createBalancer } from "../../src/balancers/registry.js";
import { throwsInput } from "../helpers/assert.js";

function closeVec(actual: readonly number[], expected: readonly number[], rel: number, what = ""): void {
  assert.equal(actual.length, expected.length, what);
  actual.forEach((a, i) => {
    const e = expected[i]!;
    assert.ok(Math.abs(a - e) <= rel * Math.max(1, Math.abs(e)), `${what}[${i}]: ${a} vs ${e}`);
  });
}

/** The weights in force after each update of `seq` (the first is always 1). */
function run(b: ReturnType<typeof softAdapt>, T: number, seq: readonly (readonly number[])[]): (readonly number[])[] {
  let s = b.init(T);
  return seq.map((l) => {
    const r = b.update({ losses: l }, s);
    s = r.state;
    return r.weights;
  });
}

/** Naive reference: §3.1 written out with a plain softmax (no max subtracted), times T. */
function reference(prev: readonly number[], cur: readonly number[], beta: number, variant: SoftAdaptVariant): number[] {
  const T = cur.length;
  let s = cur.map((l, i) => l - prev[i]!);
  if (variant === "normalized") {
    const l1 = s.reduce((a, v) => a + Math.abs(v), 0);
    s = s.map((v) => (l1 === 0 ? 0 : v / l1));
  }
  const num = s.map((v, i) => (variant === "lossWeighted" ? cur[i]! : 1) * Math.exp(beta * v));
  const z = num.reduce((a, v) => a + v, 0);
  return num.map((v) => (T * v) / z);
}

const VARIANTS: readonly SoftAdaptVariant[] = ["original", "normalized", "lossWeighted"];
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
const sum = (w: readonly number[]) => w.reduce((a, b) => a + b, 0);
/** 2–5 steps of losses n/16, n ∈ [1, 160], for T ∈ [2, 5] (exactly representable, as are their sums and 2^k multiples). */
const dyadicSeq = fc
  .tuple(fc.integer({ min: 2, max: 5 }), fc.array(fc.array(fc.integer({ min: 1, max: 160 }).map((n) => n / 16), { minLength: MAX_T, maxLength: MAX_T }), { minLength: 2, maxLength: 5 }))
  .map(([T, rows]) => rows.map((r) => r.slice(0, T)));

describe("softadapt", () => {
  test("name, needs, and the registry builds it", () => {
    const b = softAdapt();
    assert.equal(b.name, "softadapt");
    assert.deepEqual(b.needs, {});
    assert.equal(b.timing, undefined, "timing next (the default)");
    assert.equal(createBalancer("softadapt", { variant: "normalized" }).name, "softadapt");
  });

  test("first steps: init and the first update give equal weights 1 (no rate of change yet)", () => {
    const b = softAdapt({ beta: 5 });
    const s0 = b.init(3);
    assert.deepEqual(s0.weights, [1, 1, 1]);
    assert.equal(s0.previousLosses, null);
    const r1 = b.update({ losses: [3, 1, 2] }, s0);
    assert.deepEqual(r1.weights, [1, 1, 1]);
    assert.deepEqual(r1.state.previousLosses, [3, 1, 2]);
    assert.equal(r1.info, undefined);
    const r2 = b.update({ losses: [1, 1, 2] }, r1.state);
    assert.notDeepEqual(r2.weights, [1, 1, 1], "the second update adapts");
  });

  test("hand computation, original, T = 2, β = 0.1: L(0) = [1, 2], L(1) = [1.5, 1] → s = [0.5, −1]", () => {
    const ws = run(softAdapt(), 2, [
      [1, 2],
      [1.5, 1],
    ]);
    const a = Math.exp(0.05);
    const c = Math.exp(-0.1);
    closeVec(ws[1]!, [(2 * a) / (a + c), (2 * c) / (a + c)], 1e-14);
    closeVec(ws[1]!, [1.07486, 0.92514], 1e-5, "digits worked by hand: e^0.05 = 1.05127, e^−0.1 = 0.90484");
    assert.ok(ws[1]![0]! > ws[1]![1]!, "the task whose loss rose gets more weight");
  });

  test("hand computation, normalized, T = 3, β = 1: s = [0.5, −1, 0.5], Σ|s| = 2 → 3·softmax([0.25, −0.5, 0.25])", () => {
    const ws = run(softAdapt({ variant: "normalized", beta: 1 }), 3, [
      [1, 2, 3],
      [1.5, 1, 3.5],
    ]);
    const a = Math.exp(0.25);
    const c = Math.exp(-0.5);
    const z = 2 * a + c;
    closeVec(ws[1]!, [(3 * a) / z, (3 * c) / z, (3 * a) / z], 1e-14);
  });

  test("hand computation, loss-weighted, T = 2, β = 1: L(1) = [1.5, 1], s = [0.5, −1] → ∝ [1.5e^0.5, e^−1]", () => {
    const ws = run(softAdapt({ variant: "lossWeighted", beta: 1 }), 2, [
      [1, 2],
      [1.5, 1],
    ]);
    const a = 1.5 * Math.exp(0.5);
    const c = Math.exp(-1);
    closeVec(ws[1]!, [(2 * a) / (a + c), (2 * c) / (a + c)], 1e-14);
  });

  test("the official README's example (β = 0.1): the same softmax for the original and loss-weighted variants", () => {
    // README: losses [1..5], [150, 100, 50, 10, 0.1], [1500, 1000, 500, 100, 1]; its slopes are 4th-order
    // forward differences (coefficients −25/12, 4, −3, 4/3, −1/4) and the loss-weighted factor the window mean.
    const fd = (l: number[]) => (-25 / 12) * l[0]! + 4 * l[1]! - 3 * l[2]! + (4 / 3) * l[3]! - 0.25 * l[4]!;
    const series = [
      [1, 2, 3, 4, 5],
      [150, 100, 50, 10, 0.1],
      [1500, 1000, 500, 100, 1],
    ];
    const s = series.map(fd);
    const mean = series.map((l) => sum(l) / l.length);
    // Our weights sum to T = 3; the official ones to 1 (less ε = 1e-8 in the denominator).
    const original = softAdaptWeights([0, 0, 0], s, 0.1).map((w) => w / 3);
    closeVec(original, [9.9343e-1, 6.5666e-3, 3.8908e-22], 1e-4, "original");
    assert.ok(Math.abs(original[2]! / 3.8908e-22 - 1) < 1e-4, `${original[2]}`);
    const weighted = softAdaptWeights(
      mean.map((m, i) => m - s[i]!),
      mean,
      0.1,
      "lossWeighted",
    ).map((w) => w / 3);
    closeVec(weighted, [8.7978e-1, 1.2022e-1, 7.1234e-20], 1e-4, "loss-weighted");
    assert.ok(Math.abs(weighted[2]! / 7.1234e-20 - 1) < 1e-4, `${weighted[2]}`);
    // Normalized: the paper's Σ|sⱼ| keeps the rising loss first; the official code's Σsⱼ (negative here)
    // flips every sign and gives README's [0.3221, 0.3251, 0.3528] instead.
    const normalized = softAdaptWeights([0, 0, 0], s, 0.1, "normalized").map((w) => w / 3);
    assert.ok(normalized[0]! > normalized[1]! && normalized[1]! > normalized[2]!, `${normalized}`);
    const signed = s.map((v) => Math.exp((0.1 * v) / sum(s)));
    closeVec(
      signed.map((v) => v / sum(signed)),
      [0.3221, 0.3251, 0.3528],
      1e-4,
      "the official signed normalization",
    );
  });

  test("property: every variant matches a naive implementation of §3.1 at every step", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...VARIANTS),
        fc.double({ min: -5, max: 5, noNaN: true }),
        lossSeq(1, 6, 0.01, 10, 1, 8),
        (variant, beta, seq) => {
          const T = seq[0]!.length;
          const ws = run(softAdapt({ beta, variant }), T, seq);
          assert.deepEqual(ws[0], new Array<number>(T).fill(1));
          for (let k = 1; k < seq.length; k++) closeVec(ws[k]!, reference(seq[k - 1]!, seq[k]!, beta, variant), 1e-12, `step ${k}`);
        },
      ),
      { numRuns: 150 },
    );
  });

  test("property: finite, positive weights summing to T for finite positive losses, every variant", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...VARIANTS),
        fc.double({ min: -10, max: 10, noNaN: true }),
        lossSeq(1, 8, 1e-3, 1e3, 1, 10),
        (variant, beta, seq) => {
          const T = seq[0]!.length;
          for (const w of run(softAdapt({ beta, variant }), T, seq)) {
            assert.equal(w.length, T);
            for (const x of w) assert.ok(Number.isFinite(x) && x >= 0, `weight ${x}`);
            assert.ok(Math.abs(sum(w) - T) <= 1e-12 * T, `Σw = ${sum(w)}`);
          }
        },
      ),
      { numRuns: 150 },
    );
    // Positive (not only ≥ 0) where nothing underflows.
    for (const variant of VARIANTS) {
      const w = run(softAdapt({ variant }), 3, [
        [1, 5, 9],
        [2, 1, 0.5],
      ])[1]!;
      assert.ok(w.every((x) => x > 0), `${variant}: ${w}`);
    }
  });

  test("property: equal losses across tasks give equal weights, every variant", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 7 }), fc.constantFrom(...VARIANTS), fc.array(fc.double({ min: 1e-3, max: 1e3, noNaN: true }), { minLength: 2, maxLength: 6 }), (T, variant, values) => {
        for (const w of run(softAdapt({ variant, beta: 3 }), T, values.map((v) => new Array<number>(T).fill(v)))) {
          closeVec(w, new Array<number>(T).fill(1), 1e-14);
        }
      }),
      { numRuns: 80 },
    );
  });

  test("property: permuting the tasks permutes the weights, every variant", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...VARIANTS),
        lossSeq(2, 6, 0.01, 100, 2, 6),
        keysArb,
        (variant, seq, keys) => {
          const T = seq[0]!.length;
          const perm = permOf(keys, T);
          const w = run(softAdapt({ variant, beta: 0.7 }), T, seq);
          const wp = run(
            softAdapt({ variant, beta: 0.7 }),
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
      { numRuns: 80 },
    );
  });

  test("property: scaling every loss by c > 0 — normalized invariant; original and loss-weighted as β·c", () => {
    fc.assert(
      fc.property(
        // c = 2^k and losses n/16: every product and difference is exact, so only the weights' formula is tested.
        dyadicSeq,
        fc.integer({ min: -20, max: 20 }).map((k) => 2 ** k),
        fc.double({ min: -2, max: 2, noNaN: true }),
        (seq, c, beta) => {
          const T = seq[0]!.length;
          const scaled = seq.map((l) => l.map((x) => c * x));
          const n = run(softAdapt({ variant: "normalized", beta }), T, seq);
          const nc = run(softAdapt({ variant: "normalized", beta }), T, scaled);
          nc.forEach((w, k) => closeVec(w, n[k]!, 1e-12, `normalized step ${k}`));
          for (const variant of ["original", "lossWeighted"] as const) {
            const a = run(softAdapt({ variant, beta }), T, scaled);
            const b = run(softAdapt({ variant, beta: beta * c }), T, seq);
            a.forEach((w, k) => closeVec(w, b[k]!, 1e-12, `${variant} step ${k}`));
          }
        },
      ),
      { numRuns: 80 },
    );
  });

  test("property: adding a constant per task to its losses changes neither the original nor the normalized weights", () => {
    fc.assert(
      fc.property(
        // Losses n/16 and integer shifts: exact sums, so only the weights' formula is tested.
        dyadicSeq,
        fc.array(fc.integer({ min: -5, max: 5 }), { minLength: MAX_T, maxLength: MAX_T }),
        fc.constantFrom<SoftAdaptVariant>("original", "normalized"),
        (seq, shift, variant) => {
          const T = seq[0]!.length;
          const a = run(softAdapt({ variant, beta: 2 }), T, seq);
          const b = run(
            softAdapt({ variant, beta: 2 }),
            T,
            seq.map((l) => l.map((x, i) => x + shift[i]!)),
          );
          b.forEach((w, k) => closeVec(w, a[k]!, 1e-13, `step ${k}`));
        },
      ),
      { numRuns: 60 },
    );
  });

  test("β: 0 gives equal weights (loss-weighted: ∝ L); β > 0 favors the slowest-falling loss, β < 0 the fastest; large β concentrates", () => {
    const seq = [
      [1, 1, 1],
      [0.5, 0.9, 0.7],
    ];
    assert.deepEqual(run(softAdapt({ beta: 0 }), 3, seq)[1], [1, 1, 1]);
    closeVec(run(softAdapt({ beta: 0, variant: "normalized" }), 3, seq)[1]!, [1, 1, 1], 0);
    closeVec(run(softAdapt({ beta: 0, variant: "lossWeighted" }), 3, seq)[1]!, [0.5 / 0.7, 0.9 / 0.7, 1], 1e-15, "lossWeighted, β = 0: ∝ L(t)");
    const pos = run(softAdapt({ beta: 1 }), 3, seq)[1]!;
    assert.ok(pos[1]! > pos[2]! && pos[2]! > pos[0]!, `${pos}`);
    const neg = run(softAdapt({ beta: -1 }), 3, seq)[1]!;
    assert.ok(neg[0]! > neg[2]! && neg[2]! > neg[1]!, `${neg}`);
    const cold = run(softAdapt({ beta: 1e4 }), 3, seq)[1]!;
    assert.ok(cold[1]! > 3 - 1e-9 && cold[0]! < 1e-9 && cold[2]! < 1e-9, `${cold}`);
  });

  test("stable for extreme slopes and β: finite weights where βs overflows; an overflowing slope is an error", () => {
    const w = softAdaptWeights([0, 0, 0], [1e308, -1e308, 5], 1e10);
    assert.deepEqual(w, [3, 0, 0]);
    assert.deepEqual(softAdaptWeights([0, 0], [1e300, 1e300], 1e300), [1, 1], "ties share it");
    const wn = softAdaptWeights([0, 0, 0], [1e308, -1e308, 1e308], 1e300, "normalized");
    closeVec(wn, [1.5, 0, 1.5], 1e-15);
    const wl = softAdaptWeights([0, 0], [1e308, 1e-300], -1e300, "lossWeighted");
    assert.ok(wl.every(Number.isFinite), `${wl}`);
    throwsInput(() => softAdaptWeights([-1e308, 0], [1e308, 0], 1), /^softadapt:/, /slope of task 0 overflows/);
  });

  test("loss-weighted: a zero loss gets weight 0; all-zero losses fall back to the original weights; negative losses are rejected", () => {
    const w = run(softAdapt({ variant: "lossWeighted", beta: 1 }), 3, [
      [1, 1, 1],
      [0, 2, 1],
    ])[1]!;
    assert.equal(w[0], 0);
    closeVec(w, [0, (3 * 2 * Math.E) / (2 * Math.E + 1), 3 / (2 * Math.E + 1)], 1e-14);
    const all0 = softAdaptWeights([1, 2, 3], [0, 0, 0], 1, "lossWeighted");
    closeVec(all0, softAdaptWeights([1, 2, 3], [0, 0, 0], 1, "original"), 1e-15);
    throwsInput(() => softAdapt({ variant: "lossWeighted" }).update({ losses: [1, -1] }, softAdapt().init(2)), /^softadapt:/, /task 1/, /negative/);
    // The original and normalized variants use only differences: a negative loss is accepted.
    const ok = run(softAdapt(), 2, [
      [-1, 2],
      [-3, 2],
    ])[1]!;
    assert.ok(ok.every(Number.isFinite) && ok[1]! > ok[0]!, `${ok}`);
  });

  test("info.slopes is L(t) − L(t−1), reported from the second update on", () => {
    const b = softAdapt();
    const r1 = b.update({ losses: [1, 4] }, b.init(2));
    const r2 = b.update({ losses: [3, 2.5] }, r1.state);
    assert.deepEqual(r2.info?.["slopes"], [2, -1.5]);
  });

  test("update is pure, and the state is plain data: a JSON round trip gives the same next update", () => {
    const b = softAdapt({ variant: "lossWeighted", beta: 0.5 });
    let s = b.init(3);
    for (const losses of [
      [1, 2, 3],
      [0.9, 2.5, 2],
      [0.7, 2.2, 2.5],
    ]) {
      s = b.update({ losses }, s).state;
    }
    const copy = structuredClone(s);
    const a = b.update({ losses: [0.5, 2, 2] }, s);
    assert.deepEqual(b.update({ losses: [0.5, 2, 2] }, s), a);
    assert.deepEqual(s, copy, "state not mutated");
    const revived = JSON.parse(JSON.stringify(s)) as typeof s;
    assert.deepEqual(revived, s);
    assert.deepEqual(b.update({ losses: [0.5, 2, 2] }, revived), a);
    assert.equal(a.state.step, 4);
  });

  test("bad input throws BalancerInputError naming the problem", () => {
    const b = softAdapt();
    const s = b.update({ losses: [1, 1] }, b.init(2)).state;
    throwsInput(() => b.update({ losses: [Number.NaN, 1] }, s), /^softadapt:/, /task 0/, /NaN/);
    throwsInput(() => b.update({ losses: [1, Infinity] }, s), /task 1/, /Infinity/);
    throwsInput(() => b.update({ losses: [1, 2, 3] }, s), /expected 2 losses, got 3/);
    throwsInput(() => b.init(0), /number of tasks/);
    throwsInput(() => softAdapt({ beta: Number.NaN }), /option beta must be a finite number/);
    throwsInput(() => softAdapt({ beta: Infinity }), /option beta/);
    throwsInput(() => softAdapt({ variant: "normalised" as SoftAdaptVariant }), /unknown variant 'normalised' \(original, normalized or lossWeighted\)/);
    throwsInput(() => softAdapt({ temperature: 2 } as never), /^softadapt: unknown option 'temperature' \(known: beta, variant\)/);
    throwsInput(() => softAdaptWeights([1], [1, 2], 0.1), /expected 2 losses L\(t−1\), got 1/);
    throwsInput(() => softAdaptWeights([1, 2], [1, 2], 0.1, "x" as SoftAdaptVariant), /unknown variant/);
  });
});
