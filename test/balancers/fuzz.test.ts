/**
 * Fuzzing every registered balancer (defaults and a few option variants, test/helpers/balancerFuzz.ts)
 * with fast-check, bounded for `npm test` (a few seconds); `npm run fuzz` (bench/fuzz.ts) runs the same
 * properties for longer. Over sequences of 2–6 updates, the returned state fed back:
 * (1) valid input (finite positive losses, G = J Jᵀ of every Jacobian kind, gradNorms = √diag G) gives
 *     finite weights of length T, never an error;
 * (2) the weights keep each method's documented constraints (GradNorm Σw = T, w > 0; MGDA on the simplex;
 *     UPGrad/DualProj α ≥ pref and no conflict; PCGrad/GradVac α ≥ 1; …: `checkConstraints`);
 * (3) degenerate input gives finite weights (a documented result, constraints kept) or a
 *     BalancerInputError — never NaN weights, another exception type or a slow call; T = 1 and T = 1000
 *     included. Every call is timed.
 * Plus regression examples for the bugs the fuzzing found.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { methodNames } from "../../src/balancers/registry.js";
import { BalancerInputError } from "../../src/balancers/validate.js";
import { checkGramian } from "../../src/solvers/gramian.js";
import { mgdaWeights } from "../../src/balancers/mgda.js";
import { nashMtlSolve } from "../../src/balancers/nashMtl.js";
import { createBalancer } from "../../src/balancers/registry.js";
import { badCaseArb, CORRUPTION_NAMES, runCase, runManyTasks, runSingleTask, validCaseArb, variantsOf } from "../helpers/balancerFuzz.js";
import { gramOf, jacobian } from "../helpers/gramians.js";

/** A call slower than this fails (small T: milliseconds expected; generous for a loaded machine). */
const SLOW_MS = 2_000;
/** T = 1000: the non-Gramian methods and the G = 0 fallback take milliseconds. */
const SLOW_MS_LARGE = 10_000;
const SEED = 20_250_601;

const failOn = (r: { failure: string | null }) => {
  if (r.failure) throw new Error(r.failure);
};

describe("fuzz: every registered balancer", () => {
  for (const method of methodNames()) {
    const variants = variantsOf(method);
    describe(method, () => {
      test(`(1)+(2) valid sequences: finite weights within the documented constraints (${variants.length} option sets)`, () => {
        fc.assert(
          fc.property(fc.nat({ max: variants.length - 1 }), validCaseArb, (v, c) => failOn(runCase(variants[v]!, c, { slowMs: SLOW_MS }))),
          { numRuns: 40, seed: SEED },
        );
      });

      test("(3) degenerate input: finite weights or a BalancerInputError, never NaN, another error or a hang", () => {
        fc.assert(
          fc.property(fc.nat({ max: variants.length - 1 }), badCaseArb, (v, c) =>
            failOn(runCase(variants[v]!, c, { corrupt: { at: c.at, name: c.corruption }, slowMs: SLOW_MS })),
          ),
          { numRuns: 60, seed: SEED + 1 },
        );
        // Every corruption at least once, on the defaults, whatever the sample drew.
        for (const name of CORRUPTION_NAMES) {
          const c = fc.sample(validCaseArb, { numRuns: 1, seed: SEED + name.length })[0]!;
          failOn(runCase(variants[0]!, c, { corrupt: { at: 1, name }, slowMs: SLOW_MS }));
        }
      });

      test("(3) T = 1 and T = 1000", () => {
        for (const v of variants) failOn(runSingleTask(v, 3, SLOW_MS));
        const gramianMethod = createBalancer(method, variants[0]!.options(2)).needs.gramian !== undefined;
        // Random T = 1000 Gramians cost seconds to minutes per update for the O(T³) methods: `npm run fuzz` runs them.
        const r = runManyTasks(variants[0]!, 1000, gramianMethod ? "zero" : "random", 11, SLOW_MS_LARGE);
        failOn(r);
      });
    });
  }
});

describe("fuzz: regressions", () => {
  test("the Gramian rule accepts kG for k = 1e-300 (√(GᵢᵢGⱼⱼ) underflowed to 0: 'not positive semidefinite')", () => {
    const G = gramOf(jacobian(1, 3, 4, "random")).map((r) => r.map((v) => v * 1e-300));
    assert.equal(checkGramian(G), null);
    for (const m of ["mgda", "upgrad", "pcgrad", "config"]) {
      const w = createBalancer(m).update({ losses: [1, 1, 1], gramian: G }, createBalancer(m).init(3)).weights;
      assert.ok(w.every(Number.isFinite), `${m}: ${w}`);
    }
  });

  test("a zero gradient next to a Gramian of scale 1e-300 is checked, not a plain Error (NaN cosine from sᵢ = 0)", () => {
    const G = [
      [1e-300, 5e-301, 0],
      [5e-301, 1e-300, 0],
      [0, 0, 0],
    ];
    assert.equal(checkGramian(G), null);
    const w = createBalancer("mgda").update({ losses: [1, 1, 1], gramian: G }, createBalancer("mgda").init(3)).weights;
    assert.ok(w.every(Number.isFinite), `${w}`);
    // An invalid one is still a BalancerInputError.
    const bad = G.map((r) => [...r]);
    bad[2]![0] = bad[0]![2] = 1e-301;
    assert.throws(() => createBalancer("mgda").update({ losses: [1, 1, 1], gramian: bad }, createBalancer("mgda").init(3)), BalancerInputError);
  });

  test("MGDA with loss normalization and losses near the double range: finite simplex weights (was: Error from eighFlat, NaN)", () => {
    const G = gramOf(jacobian(2, 4, 6, "random"));
    for (const normalization of ["loss", "loss+"] as const) {
      for (const losses of [
        [1e300, 1e-300, 1e300, 1e-300],
        [5e-324, 1, 1, 1],
      ]) {
        const w = mgdaWeights(G, { normalization, losses });
        assert.ok(w.every((x) => Number.isFinite(x) && x >= 0), `${normalization} ${losses}: ${w}`);
        assert.ok(Math.abs(w.reduce((a, b) => a + b, 0) - 1) < 1e-9);
      }
      // G scaled to 1e300: the scaled Gramian overflowed.
      const big = G.map((r) => r.map((v) => (v / G[0]![0]!) * 1e300));
      const w = mgdaWeights(big, { normalization, losses: [1e-3, 1, 1, 1] });
      assert.ok(w.every((x) => Number.isFinite(x) && x >= 0), `${w}`);
    }
    // The normal path is unchanged: scale invariance of the losses' common factor.
    const L = [0.5, 2, 3, 1];
    const a = mgdaWeights(G, { normalization: "loss", losses: L });
    const b = mgdaWeights(G, { normalization: "loss", losses: L.map((l) => l * 1e-200) });
    a.forEach((x, i) => assert.ok(Math.abs(x - b[i]!) < 1e-9, `${a} vs ${b}`));
  });

  test("Nash-MTL on a Gramian of scale 1e308 that needs the ridge: α > 0 (was: all 0, the trace overflowed)", () => {
    const J = jacobian(3, 4, 6, "zeroRow"); // a zero gradient: the ridge path
    const G0 = gramOf(J);
    const m = Math.max(...G0.map((r, i) => r[i]!));
    const r1 = nashMtlSolve(G0);
    const r2 = nashMtlSolve(G0.map((r) => r.map((v) => (v / m) * 1e308)));
    assert.ok(r1.ridged && r2.ridged);
    assert.ok(r2.weights.every((x) => Number.isFinite(x) && x > 0), `${r2.weights}`);
    // G → kG gives α → α/√k.
    const k = 1e308 / m;
    r1.weights.forEach((a, i) => assert.ok(Math.abs(r2.weights[i]! * Math.sqrt(k) - a) <= 1e-6 * a, `${a} vs ${r2.weights[i]! * Math.sqrt(k)}`));
  });
});
