import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { checkGramian, gramianEigenTolerance, prepareGramian } from "../../src/solvers/gramian.js";
import { symmetricEigen } from "../../src/solvers/linalg.js";
import { mgdaWeights } from "../../src/balancers/mgda.js";
import { upgradWeights } from "../../src/balancers/upgrad.js";
import { dualProjWeights } from "../../src/balancers/dualProj.js";
import { cagradWeights } from "../../src/balancers/cagrad.js";
import { nashMtlWeights } from "../../src/balancers/nashMtl.js";
import { pcgradWeights } from "../../src/balancers/pcgrad.js";
import { gradVacWeights } from "../../src/balancers/gradVac.js";
import { configWeights } from "../../src/balancers/config.js";
import { imtlGWeights } from "../../src/balancers/imtlG.js";
import { alignedMtlWeights } from "../../src/balancers/alignedMtl.js";
import { dbMtlWeights } from "../../src/balancers/dbMtl.js";
import { caseArb, gaussianMatrix, gramOf, jacobian, mulberry32 } from "../helpers/gramians.js";
import { close } from "../helpers/assert.js";

/**
 * D·C·D with C the identity except that the first three tasks have mutual cosines c: C's eigenvalues
 * are 1 + 2c, 1 − c (twice) and 1, so c = −0.5 − δ gives λ_min = −2δ with every pair well within
 * Cauchy–Schwarz.
 */
function withCosines(T: number, c: number, scales: readonly number[]): number[][] {
  return Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, j) => (i === j ? 1 : i < 3 && j < 3 ? c : 0) * scales[i]! * scales[j]!));
}

describe("checkGramian: the one rule for every Gramian method", () => {
  test("property: every J Jᵀ passes, also rounded to float32, also scaled by 1e±30 or by a positive diagonal", () => {
    fc.assert(
      fc.property(caseArb, fc.double({ min: -30, max: 30, noNaN: true }), fc.integer(), ({ seed, T, d, kind }, e, dSeed) => {
        const G = gramOf(jacobian(seed, T, d, kind));
        const rng = mulberry32(dSeed);
        const D = Array.from({ length: T }, () => 10 ** (-6 + 12 * rng()));
        for (const H of [
          G,
          G.map((row, i) => row.map((v, j) => Math.fround(i <= j ? v : G[j]![i]!))),
          G.map((row) => row.map((v) => v * 10 ** e)),
          G.map((row, i) => row.map((v, j) => v * D[i]! * D[j]!)),
        ]) {
          assert.equal(checkGramian(H, T), null);
        }
      }),
      { numRuns: 300 },
    );
  });

  test("large rank-deficient float32 Gramians pass (T = 200 gradients in 20 dimensions)", () => {
    const rng = mulberry32(4);
    const G = gramOf(gaussianMatrix(rng, 200, 20));
    const f32 = G.map((row, i) => row.map((v, j) => Math.fround(i <= j ? v : G[j]![i]!)));
    assert.equal(checkGramian(f32, 200), null);
  });

  test("an eigenvalue of the cosine matrix below −tolerance fails, one above passes; the same for kG and DGD", () => {
    for (const T of [3, 5, 40]) {
      const tau = gramianEigenTolerance(T);
      assert.equal(tau, 1e-5 * Math.max(T, 10));
      for (const scales of [new Array<number>(T).fill(1), Array.from({ length: T }, (_, i) => 10 ** (i % 7 - 3))]) {
        for (const k of [1e-20, 1, 1e20]) {
          const ok = withCosines(T, -0.5 - tau / 4, scales).map((row) => row.map((v) => v * k));
          const bad = withCosines(T, -0.5 - tau, scales).map((row) => row.map((v) => v * k));
          assert.equal(checkGramian(ok, T), null, `T=${T} k=${k}: λ = −τ/2`);
          const problem = checkGramian(bad, T);
          assert.ok(problem !== null, `T=${T} k=${k}: λ = −2τ passed`);
          assert.match(problem, /the Gramian is not positive semidefinite: its cosine matrix has eigenvalue -0\.000\d+ \(G = J Jᵀ has none below 0; rounding allows down to −/);
        }
      }
    }
  });

  test("shape, finiteness, diagonal, symmetry and zero gradients", () => {
    assert.match(checkGramian([[1, 0], [0, 1]], 3)!, /expected a 3×3 Gramian, got 2 rows/);
    assert.match(checkGramian([[1, 0], [0]])!, /row 1 has 1 entries, expected 2/);
    assert.match(checkGramian([[1, Number.NaN], [Number.NaN, 1]])!, /entry \(0, 1\) is NaN/);
    assert.match(checkGramian([[-1e-9, 0], [0, 1]])!, /diagonal entry 0 is negative/);
    assert.match(checkGramian([[4, 1], [1.001, 4]])!, /not symmetric at \(1, 0\)/);
    assert.equal(checkGramian([[4, 1], [1 + 1e-6, 4]]), null, "asymmetry below 1e-5 of the pair's scale");
    assert.equal(checkGramian([[0, 0], [0, 0]]), null, "the zero Gramian");
    assert.match(checkGramian([[0, 1e-3], [1e-3, 0]])!, /every diagonal entry is 0/);
    assert.match(checkGramian([[0, 0.5], [0.5, 1]])!, /not positive semidefinite/, "beside a zero gradient an entry must be 0");
    assert.match(checkGramian([[1, 1e-14], [1e-14, 1e-30]])!, /entry \(1, 0\) is 1e-14, beyond √\(G11·G00\) = 1\.00e-15/, "cosine 10 with a tiny gradient");
    assert.match(checkGramian([[1, 1.0003], [1.0003, 1]])!, /not positive semidefinite: entry \(1, 0\)/, "a pair with cosine 1.0003 (tolerance 1.0001)");
    assert.equal(checkGramian([[1, 1.00005], [1.00005, 1]]), null, "cosine 1 + 5e-5: rounding");
    assert.match(checkGramian([[1, 2e-16], [2e-16, 1e-32]])!, /not positive semidefinite/, "DGD of [[1, 2], [2, 1]] with D = (1, 1e-16)");
    assert.equal(checkGramian([[0, 0], [0, 1]]), null);
    assert.equal(checkGramian([]), null);
  });
});

test("the plain functions apply the same rule as the balancers", () => {
  const G = gramOf(gaussianMatrix(mulberry32(9), 3, 5));
  const bad = G.map((row) => row.slice());
  bad[0]![2] = bad[2]![0] = -1.3 * Math.sqrt(G[0]![0]! * G[2]![2]!);
  const zeros = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  for (const [name, f] of [
    ["mgdaWeights", mgdaWeights],
    ["upgradWeights", upgradWeights],
    ["dualProjWeights", dualProjWeights],
    ["cagradWeights", cagradWeights],
    ["nashMtlWeights", nashMtlWeights],
    ["pcgradWeights", pcgradWeights],
    ["gradVacWeights", (M: number[][]) => gradVacWeights(M, zeros)],
    ["configWeights", configWeights],
    ["imtlGWeights", imtlGWeights],
    ["alignedMtlWeights", alignedMtlWeights],
    ["dbMtlWeights", (M: number[][]) => dbMtlWeights(M, [1, 1, 1], [0, 0, 0], 1)],
  ] as const) {
    assert.ok((f as (m: number[][]) => number[])(G).every(Number.isFinite), name);
    assert.throws(() => (f as (m: number[][]) => number[])(bad), /not positive semidefinite/, name);
  }
});

describe("prepareGramian", () => {
  test("cosine matrix has unit diagonal (0 for zero gradients) and is the same for kG and for DGD", () => {
    fc.assert(
      fc.property(caseArb, fc.double({ min: -8, max: 8, noNaN: true }), ({ seed, T, d, kind }, e) => {
        const G = gramOf(jacobian(seed, T, d, kind));
        const P = prepareGramian(G);
        const Q = prepareGramian(G.map((r) => r.map((v) => v * 10 ** e)));
        P.cosine.forEach((row, i) => {
          if (P.norms[i]! > 0) close(row[i]!, 1, 1e-9, `C[${i}][${i}]`);
          else assert.ok(row.every((v) => v === 0));
          row.forEach((v, j) => close(v, Q.cosine[i]![j]!, 1e-9, `C[${i}][${j}] under scaling`));
        });
        const ev = symmetricEigen(P.cosine).values;
        assert.ok(Math.min(...ev) >= -1e-12, `cosine not PSD: ${Math.min(...ev)}`);
      }),
      { numRuns: 150 },
    );
  });

  test("a slightly indefinite matrix is reported and projected onto the PSD cone", () => {
    const P = prepareGramian([
      [1, 1.001],
      [1.001, 1],
    ]);
    close(P.minCosineEigen ?? Number.NaN, -0.001, 1e-12, "min eigenvalue");
    assert.ok(Math.min(...symmetricEigen(P.cosine).values) >= -1e-15);
    close(P.cosine[0]![1]!, 1.001 / 2 + 0.5, 1e-12, "projected off-diagonal ((1 + 1.001)/2)");
  });
});
