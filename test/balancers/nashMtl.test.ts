import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { nashMtl, nashMtlSolve, nashMtlWeights } from "../../src/balancers/nashMtl.js";
import type { Gramian } from "../../src/balancers/types.js";
import { matVec, permuteSym, quadForm } from "../../src/solvers/linalg.js";
import { close, throwsInput } from "../helpers/assert.js";
import { permutation, gramOf, jacobian, caseArb, fullRankArb, badGramians } from "../helpers/gramians.js";

/** maxᵢ |αᵢ(Gα)ᵢ − 1|: the relative residual of Gα = 1/α. */
function residual(G: readonly (readonly number[])[], a: readonly number[]): number {
  const Ga = matVec(G, a);
  return Math.max(...a.map((v, i) => Math.abs(v * Ga[i]! - 1)));
}

describe("nashMtl", () => {
  test("name, needs, timing, init", () => {
    const b = nashMtl();
    assert.equal(b.name, "nashmtl");
    assert.deepEqual(b.needs, { gramian: "shared" });
    assert.equal(b.timing, "current");
    assert.deepEqual(b.init(3), { weights: [1, 1, 1], step: 0 });
  });

  test("property: on full-rank Gramians α > 0 solves Gα = 1/α (residual ≤ 1e-9), without the ridge", () => {
    fc.assert(
      fc.property(fullRankArb, ({ seed, T, d, kind }) => {
        const G = gramOf(jacobian(seed, T, d, kind));
        const r = nashMtlSolve(G);
        assert.equal(r.ridged, false);
        assert.ok(r.weights.every((v) => v > 0 && Number.isFinite(v)), `α = ${r.weights.join(", ")}`);
        // Rounding allowance: βᵢ(Cβ)ᵢ sums terms up to β² (βᵢ = αᵢ‖gᵢ‖).
        const beta = Math.max(...r.weights.map((v, i) => v * Math.sqrt(G[i]![i]!)));
        const tol = 1e-9 + 1e-13 * beta * beta;
        assert.ok(residual(G, r.weights) <= tol, `residual ${residual(G, r.weights)} (β ${beta})`);
        // ‖Σαᵢgᵢ‖² = Σαᵢ(Gα)ᵢ = T.
        close(quadForm(G, r.weights), T, tol * T, "‖d‖²");
      }),
      { numRuns: 200 },
    );
  });

  test("property: finite, positive weights for every kind of Gramian (ridge where no solution exists)", () => {
    fc.assert(
      fc.property(caseArb, ({ seed, T, d, kind }) => {
        const G = gramOf(jacobian(seed, T, d, kind));
        const r = nashMtlSolve(G);
        assert.ok(r.weights.every((v) => v > 0 && Number.isFinite(v)), `${kind}: α = ${r.weights.join(", ")}`);
        // Where not ridged the system is solved; checked where rounding in the check itself is small (βᵢ = αᵢ‖gᵢ‖ ≤ 1e3).
        const beta = Math.max(...r.weights.map((v, i) => v * Math.sqrt(G[i]![i]!)));
        if (r.fallback === "none" && !r.ridged && beta <= 1e3) assert.ok(residual(G, r.weights) <= 1e-9, `residual ${residual(G, r.weights)}`);
        if (r.fallback === "none" && !r.ridged) assert.ok(beta <= 1e6, `β = ${beta} beyond the ridge cut`);
      }),
      { numRuns: 200 },
    );
  });

  test("property: G → kG gives α → α/√k; permuting the tasks permutes α", () => {
    fc.assert(
      fc.property(fullRankArb, fc.double({ min: -8, max: 8, noNaN: true }), fc.integer(), ({ seed, T, d, kind }, e, pSeed) => {
        const G = gramOf(jacobian(seed, T, d, kind));
        const k = 10 ** e;
        const a = nashMtlWeights(G);
        const b = nashMtlWeights(G.map((r) => r.map((v) => v * k)));
        // The solution is as well conditioned as β = αᵢ‖gᵢ‖ is small.
        const beta = Math.max(...a.map((v, i) => v * Math.sqrt(G[i]![i]!)));
        const tol = 1e-9 + 1e-13 * beta * beta;
        a.forEach((v, i) => close(b[i]! * Math.sqrt(k), v, tol * v, `α${i}·√k at k = ${k}`));
        const p = permutation(pSeed, T);
        const c = nashMtlWeights(permuteSym(G, p));
        c.forEach((v, i) => close(v, a[p[i]!]!, tol * v, `permuted α${i}`));
      }),
      { numRuns: 200 },
    );
  });

  test("hand cases: diagonal G → 1/√Gᵢᵢ; g₁ = g₂ → 1/(√2‖g‖) each; a 2-D solvable rank-deficient case", () => {
    const a = nashMtlWeights([
      [4, 0],
      [0, 0.25],
    ]);
    close(a[0]!, 0.5, 1e-12, "α₁");
    close(a[1]!, 2, 1e-12, "α₂");
    const e = nashMtlSolve([
      [9, 9],
      [9, 9],
    ]);
    assert.equal(e.ridged, false);
    e.weights.forEach((v) => close(v, 1 / (3 * Math.SQRT2), 1e-12, "α"));
    // Three gradients in the plane, (1, 0), (0, 1), (1, 1): no non-negative null vector, a solution exists.
    const r = nashMtlSolve(gramOf([
      [1, 0],
      [0, 1],
      [1, 1],
    ]));
    assert.equal(r.ridged, false);
    assert.ok(residual(gramOf([[1, 0], [0, 1], [1, 1]]), r.weights) <= 1e-10);
  });

  test("TorchJD's example J = [[−4, 1, 1], [6, 1, 1]] with maxNorm 1: Jᵀα = (0.0542, 0.7061, 0.7061)", () => {
    const J = [
      [-4, 1, 1],
      [6, 1, 1],
    ];
    const G = gramOf(J);
    const raw = nashMtlWeights(G);
    assert.ok(residual(G, raw) <= 1e-12);
    const a = nashMtlWeights(G, { maxNorm: 1 });
    raw.forEach((v, i) => close(a[i]!, v / Math.SQRT2, 1e-12, `clipped α${i} = α/‖d‖ = α/√T`));
    const d = [0, 1, 2].map((k) => a[0]! * J[0]![k]! + a[1]! * J[1]![k]!);
    [0.0542, 0.7061, 0.7061].forEach((v, k) => close(d[k]!, v, 1e-4, `d${k}`));
    // maxNorm above ‖d‖ = √T leaves α alone.
    assert.deepEqual(nashMtlWeights(G, { maxNorm: 10 }), raw);
  });

  test("no solution (0 in the convex hull): opposite gradients, a zero gradient → ridge, finite positive weights; G = 0 → ones", () => {
    const o = nashMtlSolve([
      [1, -1],
      [-1, 1],
    ]);
    assert.equal(o.ridged, true);
    assert.ok(o.weights.every((v) => v > 0 && Number.isFinite(v)));
    // The ridged system G + ε(tr G/T)I is solved to tolerance.
    const eps = 1e-8;
    assert.ok(residual([[1 + eps, -1], [-1, 1 + eps]], o.weights) <= 1e-6);
    // g₂ = −3g₁ up to rounding: the exact system would give weights ~1e8; the ridge is used.
    const g = [0.3, -1.7, 2.2];
    assert.equal(nashMtlSolve(gramOf([g, g.map((v) => -3 * v)])).ridged, true);
    const z = nashMtlSolve([
      [1, 0],
      [0, 0],
    ]);
    assert.equal(z.ridged, true);
    close(z.weights[1]!, 1 / Math.sqrt(0.5e-8), 1e-6 * z.weights[1]!, "zero-gradient task: 1/√(ε·tr G/T)");
    const n = nashMtlSolve([
      [0, 0],
      [0, 0],
    ]);
    assert.deepEqual(n.weights, [1, 1]);
    assert.equal(n.fallback, "zero");
  });

  test("update: weights for this step; info has the residual and the ridge flag; the state only counts steps", () => {
    const b = nashMtl();
    const G = gramOf([
      [-4, 1, 1],
      [6, 1, 1],
    ]);
    const r1 = b.update({ losses: [1, 2], gramian: G }, b.init(2));
    const r2 = b.update({ losses: [9, 9], gramian: G }, r1.state);
    assert.deepEqual(r1.weights, r2.weights);
    assert.equal(r2.state.step, 2);
    assert.deepEqual(r2.state.weights, r2.weights);
    assert.ok((r1.info?.["residual"] as number) <= 1e-12);
    assert.equal(r1.info?.["ridged"], 0);
  });

  test("options and bad input → BalancerInputError", () => {
    throwsInput(() => nashMtl({ maxIters: 0 }), /^nashmtl: /, /maxIters/);
    throwsInput(() => nashMtl({ maxIters: 2.5 }), /maxIters/);
    throwsInput(() => nashMtl({ tol: 0 }), /tol/);
    throwsInput(() => nashMtl({ ridge: Number.NaN }), /ridge/);
    throwsInput(() => nashMtl({ maxNorm: -1 }), /maxNorm/);
    throwsInput(() => nashMtlWeights([[1]], { ridge: -1 }), /ridge/);
    throwsInput(() => nashMtl({ gradMode: "x" as never }), /gradMode/);
    const b = nashMtl();
    for (const T of [2, 3]) {
      const s = b.init(T);
      for (const [what, G, pattern] of badGramians(T)) {
        throwsInput(() => b.update({ losses: new Array<number>(T).fill(1), gramian: G as Gramian }, s), /^nashmtl: /, pattern);
        if (G !== undefined && what !== "wrong size") throwsInput(() => nashMtlWeights(G as Gramian), /^nashmtl: /, pattern);
      }
    }
  });
});
