import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { imtlG, imtlGSolve, imtlGWeights } from "../../src/balancers/imtlG.js";
import { dot } from "../../src/solvers/linalg.js";
import { Rng } from "../../src/util/rng.js";
import { close, throwsInput } from "../helpers/assert.js";
import { norm, gramOf, combine, rngJacobian, rngCaseArb, wellConditionedArb, unitGramianEquivariance } from "../helpers/gramians.js";

/** Solves A x = b by Gaussian elimination with partial pivoting (A square, non-singular). */
function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]!]);
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(M[i]![k]!) > Math.abs(M[p]![k]!)) p = i;
    [M[k], M[p]] = [M[p]!, M[k]!];
    for (let i = k + 1; i < n; i++) {
      const f = M[i]![k]! / M[k]![k]!;
      for (let j = k; j <= n; j++) M[i]![j] = M[i]![j]! - f * M[k]![j]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i--) {
    let s = M[i]![n]!;
    for (let j = i + 1; j < n; j++) s -= M[i]![j]! * x[j]!;
    x[i] = s / M[i]![i]!;
  }
  return x;
}

/** The paper's closed form on the vectors: D = [g₁ − gᵢ], U = [u₁ − uᵢ] (i ≥ 2), α₂..T = g₁Uᵀ(DUᵀ)⁻¹, α₁ = 1 − Σ. */
function paperClosedForm(J: readonly (readonly number[])[]): number[] {
  const u = J.map((g) => g.map((v) => v / norm(g)));
  const Drows = J.slice(1).map((g) => J[0]!.map((v, k) => v - g[k]!));
  const Urows = u.slice(1).map((ui) => u[0]!.map((v, k) => v - ui[k]!));
  const DUt = Drows.map((d) => Urows.map((r) => dot(d, r)));
  const g1Ut = Urows.map((r) => dot(J[0]!, r));
  // αᵀ (DUᵀ) = g₁Uᵀ  ⇔  (DUᵀ)ᵀ α = (g₁Uᵀ)ᵀ.
  const DUtT = DUt[0]!.map((_, j) => DUt.map((row) => row[j]!));
  const rest = solve(DUtT, g1Ut);
  return [1 - rest.reduce((s, v) => s + v, 0), ...rest];
}

describe("imtlg", () => {
  test("name, needs, timing, init", () => {
    const b = imtlG();
    assert.equal(b.name, "imtlg");
    assert.deepEqual(b.needs, { gramian: "shared" });
    assert.equal(b.timing, "current");
    assert.deepEqual(b.init(3), { weights: [1, 1, 1], step: 0 });
  });

  test("hand case: orthogonal g1 = (2, 0), g2 = (0, 1)", () => {
    // α ∝ G⁻¹(‖g1‖, ‖g2‖) = (2/4, 1/1) = (½, 1) → α = (⅓, ⅔); d = (⅔, ⅔): u1·d = u2·d = ⅔.
    const r = imtlGSolve([
      [4, 0],
      [0, 1],
    ]);
    close(r.weights[0]!, 1 / 3, 1e-15, "α1");
    close(r.weights[1]!, 2 / 3, 1e-15, "α2");
    close(r.projection, 2 / 3, 1e-15, "c");
    // The paper's T = 2 form: α₂ = g1·(u1 − u2) / ((g1 − g2)·(u1 − u2)) = 2 / 3.
    close(r.weights[1]!, 2 / (2 + 1), 1e-15, "paper");
  });

  test("property: Σα = 1 and d = Σαᵢgᵢ has equal projections onto every unit gradient; equals the paper's closed form", () => {
    fc.assert(
      fc.property(wellConditionedArb, (J) => {
        const { weights, projection } = imtlGSolve(gramOf(J));
        close(
          weights.reduce((s, v) => s + v, 0),
          1,
          1e-9,
          "Σα",
        );
        const d = combine(J, weights);
        const proj = J.map((g) => dot(g, d) / norm(g));
        const scale = weights.reduce((s, a, i) => s + Math.abs(a) * norm(J[i]!), 0);
        proj.forEach((p, i) => close(p, proj[0]!, 1e-9 * scale, `projection ${i} (${proj.join(", ")})`));
        close(projection, proj[0]!, 1e-9 * scale, "reported projection");
        const ref = paperClosedForm(J);
        const wscale = Math.max(1, ...ref.map(Math.abs));
        ref.forEach((v, i) => close(weights[i]!, v, 1e-6 * wscale, `α${i} vs paper`));
      }),
      { numRuns: 300 },
    );
  });

  test("property: permutation equivariance", () => {
    fc.assert(unitGramianEquivariance(imtlGWeights), { numRuns: 200 });
  });

  test("property: finite on zero, rank-deficient, collinear and badly scaled Gramians; Σα = 1 with equal projections unless degenerate", () => {
    fc.assert(
      fc.property(rngCaseArb, ({ T, D, kind, seed }) => {
        const J = rngJacobian(T, D, kind, seed);
        const r = imtlGSolve(gramOf(J));
        for (const w of r.weights) assert.ok(Number.isFinite(w), `${kind}: ${r.weights}`);
        if (r.degenerate) {
          assert.deepEqual(r.weights, new Array<number>(T).fill(0));
          return;
        }
        close(
          r.weights.reduce((s, v) => s + v, 0),
          1,
          1e-6,
          `Σα (${kind})`,
        );
        const d = combine(J, r.weights);
        const scale = r.weights.reduce((s, a, i) => s + Math.abs(a) * norm(J[i]!), 0);
        J.forEach((g, i) => {
          if (norm(g) > 0) close(dot(g, d) / norm(g), r.projection, 1e-6 * scale, `projection ${i} (${kind})`);
        });
      }),
      { numRuns: 300 },
    );
  });

  test("degenerate cases: zero gradient, collinear pair, 120° trio, all zero", () => {
    // A zero gradient gets weight 0; the others are solved as if it were absent.
    const w = imtlGWeights([
      [4, 0, 0],
      [0, 0, 0],
      [0, 0, 1],
    ]);
    close(w[0]!, 1 / 3, 1e-15, "α1");
    assert.equal(w[1], 0);
    close(w[2]!, 2 / 3, 1e-15, "α3");
    // g1 = 2·g2 (‖g2‖ = 1): every α has equal projections; least Σ‖αᵢgᵢ‖² with Σα = 1 → αᵢ ∝ 1/‖gᵢ‖² → (0.2, 0.8).
    const c = imtlGWeights([
      [4, 2],
      [2, 1],
    ]);
    close(c[0]!, 0.2, 1e-12, "collinear α1");
    close(c[1]!, 0.8, 1e-12, "collinear α2");
    // Three equal-norm gradients at 120°: the affine hull contains 0, so d = 0 with α = ⅓ each (the paper's formula too).
    const s3 = Math.sqrt(3) / 2;
    const J = [
      [1, 0],
      [-0.5, s3],
      [-0.5, -s3],
    ];
    const r = imtlGSolve(gramOf(J));
    r.weights.forEach((v, i) => close(v, 1 / 3, 1e-12, `trio α${i}`));
    close(r.projection, 0, 1e-12, "trio projection");
    close(paperClosedForm(J)[0]!, 1 / 3, 1e-12, "paper trio");
    assert.deepEqual(imtlGWeights([[0, 0], [0, 0]]), [0, 0]);
    assert.equal(imtlGSolve([[0, 0], [0, 0]]).degenerate, true);
  });

  test("the closed form can give a negative common projection (an ascent direction for every task): reported, not altered", () => {
    // Search a fixed (seeded) family of 3-task Jacobians for a case with projection < 0.
    let found = false;
    const rng = new Rng(1);
    for (let k = 0; k < 200 && !found; k++) {
      const J = rngJacobian(3, 3, "random", rng.int(2 ** 30));
      const r = imtlGSolve(gramOf(J));
      if (r.degenerate || !(r.projection < 0)) continue;
      found = true;
      const d = combine(J, r.weights);
      J.forEach((g) => assert.ok(dot(g, d) < 0, "every task's gradient has a negative inner product with d"));
      const ref = paperClosedForm(J);
      ref.forEach((v, i) => close(r.weights[i]!, v, 1e-6 * Math.max(1, ...ref.map(Math.abs)), `α${i} vs paper`));
    }
    assert.ok(found, "expected a case with a negative projection among 200 random 3-task Jacobians");
  });

  test("bad input throws BalancerInputError naming the problem", () => {
    const b = imtlG();
    const s = b.init(2);
    throwsInput(() => b.update({ losses: [1, 1] }, s), /^imtlg:/, /Gramian is required/);
    throwsInput(() => b.update({ losses: [1, 1], gramian: [[Number.NaN, 0], [0, 1]] }, s), /^imtlg:/, /NaN/);
    throwsInput(() => b.update({ losses: [1, 1], gramian: [[1, 0]] }, s), /expected a 2×2 Gramian/);
    throwsInput(() => b.update({ losses: [1, 1], gramian: [[1, 0], [0.5, 1]] }, s), /not symmetric/);
    throwsInput(() => imtlGWeights([[1, 0], [0]]), /row 1 has 1 entries/);
    throwsInput(() => b.update({ losses: [1], gramian: [[1, 0], [0, 1]] }, s), /expected 2 losses/);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    throwsInput(() => imtlG({ gradMode: 1 as any }), /unknown gradMode/);
  });
});
