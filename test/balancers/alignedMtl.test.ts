import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { alignedMtl, alignedMtlMatrix, alignedMtlWeights, FLOAT32_EPS, type AlignedMtlScale } from "../../src/balancers/alignedMtl.js";
import { dot, matMul, permuteSym, symmetricEigen } from "../../src/solvers/linalg.js";
import { Rng } from "../../src/util/rng.js";
import { close, throwsInput } from "../helpers/assert.js";
import { gramOf, combine, rngJacobian, rngCaseArb } from "../helpers/gramians.js";

const scales: AlignedMtlScale[] = ["min", "median", "rmse"];

describe("alignedmtl", () => {
  test("name, needs, timing, init", () => {
    const b = alignedMtl();
    assert.equal(b.name, "alignedmtl");
    assert.deepEqual(b.needs, { gramian: "shared" });
    assert.equal(b.timing, "current");
    assert.deepEqual(b.init(2), { weights: [1, 1], step: 0 });
  });

  test("hand case: orthogonal g1 (‖g1‖ = 2) and g2 (‖g2‖ = 1)", () => {
    // G = diag(4, 1): V = I, λ = (4, 1). min: σ = 1, B = diag(½, 1), α = B·1 = (½, 1): both aligned
    // components g1/2 and g2 have norm 1. median (lower median of {1, 4}) = 1: the same. rmse: σ² = 2.5.
    const G = [
      [4, 0],
      [0, 1],
    ];
    const r = alignedMtlMatrix(G, "min");
    close(r.weights[0]!, 0.5, 1e-15, "α1");
    close(r.weights[1]!, 1, 1e-15, "α2");
    assert.equal(r.rank, 2);
    close(r.sigma, 1, 1e-15, "σ");
    assert.deepEqual(alignedMtlWeights(G, "median"), r.weights);
    const rm = alignedMtlWeights(G, "rmse");
    close(rm[0]!, Math.sqrt(2.5) / 2, 1e-15, "rmse α1");
    close(rm[1]!, Math.sqrt(2.5), 1e-15, "rmse α2");
  });

  test("hand case: collinear g1 = g2 (rank 1) and the all-zero Gramian", () => {
    // G = [[1, 1], [1, 1]] = 2vvᵀ, v = (1, 1)/√2: rank 1, σ = √2, B = √2·vvᵀ/√2 = vvᵀ → α = (1, 1).
    const r = alignedMtlMatrix([
      [1, 1],
      [1, 1],
    ]);
    assert.equal(r.rank, 1);
    close(r.weights[0]!, 1, 1e-12, "α1");
    close(r.weights[1]!, 1, 1e-12, "α2");
    const z = alignedMtlMatrix([
      [0, 0],
      [0, 0],
    ]);
    assert.deepEqual(z.weights, [0, 0]);
    assert.equal(z.rank, 0);
  });

  test("property: the aligned components' Gramian BᵀGB has r equal eigenvalues σ² and the rest 0; α = B·1, B symmetric", () => {
    fc.assert(
      fc.property(rngCaseArb, fc.constantFrom(...scales), ({ T, D, kind, seed }, scale) => {
        const G = gramOf(rngJacobian(T, D, kind, seed));
        const { B, weights, rank, sigma } = alignedMtlMatrix(G, scale);
        B.forEach((row, i) => row.forEach((v, j) => close(v, B[j]![i]!, 1e-12 * Math.max(1, Math.abs(v)), `B sym ${i},${j}`)));
        weights.forEach((a, i) => close(a, B[i]!.reduce((s, v) => s + v, 0), 1e-12 * Math.max(1, Math.abs(a)), `α${i}`));
        const lmax = Math.max(...symmetricEigen(G).values, 0);
        const M = matMul(matMul(B, G), B);
        const mu = symmetricEigen(M).values; // descending
        const tol = 1e-9 * (lmax + sigma * sigma) + 1e-300;
        for (let k = 0; k < T; k++) close(mu[k]!, k < rank ? sigma * sigma : 0, tol, `eigenvalue ${k} (rank ${rank}, ${kind}, ${scale})`);
        // The aligned components are the columns of JᵀB: their norms are all σ (over the kept span).
        if (rank === T) {
          const J = rngJacobian(T, D, kind, seed);
          for (let j = 0; j < T; j++) {
            const comp = combine(J, B.map((row) => row[j]!));
            close(Math.sqrt(dot(comp, comp)), sigma, 1e-6 * sigma, `component ${j} norm`);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  test("property: finite on zero, rank-deficient, collinear and badly scaled Gramians, for every scale and for eps = 0", () => {
    fc.assert(
      fc.property(rngCaseArb, fc.constantFrom(...scales), fc.constantFrom(FLOAT32_EPS, 0), ({ T, D, kind, seed }, scale, eps) => {
        const G = gramOf(rngJacobian(T, D, kind, seed));
        const b = alignedMtl({ scale, eps });
        const r = b.update({ losses: new Array<number>(T).fill(1), gramian: G }, b.init(T));
        for (const w of r.weights) assert.ok(Number.isFinite(w), `${kind} ${scale} ${eps}: ${r.weights}`);
      }),
      { numRuns: 300 },
    );
  });

  test("property: permutation equivariance", () => {
    fc.assert(
      fc.property(rngCaseArb, fc.integer(), fc.constantFrom(...scales), ({ T, D, kind, seed }, permSeed, scale) => {
        const G = gramOf(rngJacobian(T, D, kind, seed));
        const p = Array.from(new Rng(permSeed).permutation(T));
        const w = alignedMtlWeights(G, scale);
        const w2 = alignedMtlWeights(permuteSym(G, p), scale);
        const s = Math.max(1e-300, ...w.map(Math.abs));
        p.forEach((old, a) => close(w2[a]!, w[old]!, 1e-7 * s, `task ${a}: ${w2} vs ${w}`));
      }),
      { numRuns: 200 },
    );
  });

  test("rank cut: with the official float32 tolerance a direction 10¹⁶ times weaker is dropped; eps = 0 keeps it", () => {
    // G = diag(1e8, 1e-8): λ_min/λ_max = 1e-16 < 2·2⁻²³.
    const G = [
      [1e8, 0],
      [0, 1e-8],
    ];
    const dropped = alignedMtlMatrix(G);
    assert.equal(dropped.rank, 1);
    close(dropped.weights[0]!, 1, 1e-12, "α1");
    assert.equal(dropped.weights[1], 0);
    const kept = alignedMtlMatrix(G, "min", 0);
    assert.equal(kept.rank, 2);
    close(kept.weights[0]!, 1e-8, 1e-20, "α1 (both components scaled to norm 1e-4)");
    close(kept.weights[1]!, 1, 1e-12, "α2");
  });

  test("bad input throws BalancerInputError naming the problem", () => {
    const b = alignedMtl();
    const s = b.init(2);
    throwsInput(() => b.update({ losses: [1, 1] }, s), /^alignedmtl:/, /Gramian is required/);
    throwsInput(() => b.update({ losses: [1, 1], gramian: [[1, Number.NaN], [Number.NaN, 1]] }, s), /^alignedmtl:/, /NaN/);
    throwsInput(() => b.update({ losses: [1, 1], gramian: [[1, 0], [0]] }, s), /row 1 has 1 entries/);
    throwsInput(() => b.update({ losses: [1, 1], gramian: [[1, 2], [3, 1]] }, s), /not symmetric/);
    throwsInput(() => b.update({ losses: [1, 1], gramian: [[1]] }, s), /expected a 2×2 Gramian/);
    throwsInput(() => b.update({ losses: [1, Number.NaN], gramian: [[1, 0], [0, 1]] }, s), /task 1/);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    throwsInput(() => alignedMtl({ scale: "max" as any }), /unknown scale 'max'/);
    throwsInput(() => alignedMtl({ eps: -1 }), /option eps/);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    throwsInput(() => alignedMtlWeights([[1]], "mean" as any), /unknown scale/);
  });
});
