import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { imtlG, imtlGSolve, imtlGWeights } from "../../src/balancers/imtlG.js";
import { unitGramian } from "../../src/balancers/config.js";
import { permuteSym } from "../../src/solvers/linalg.js";
import { Rng } from "../../src/util/rng.js";
import { close, throwsInput } from "../helpers/assert.js";

// ---- random Jacobians (rows = task gradients) and their Gramians -------------------------------
type Kind = "random" | "zero" | "rank" | "collinear" | "scaled" | "allZero" | "mixed";
const kinds: Kind[] = ["random", "zero", "rank", "collinear", "scaled", "allZero", "mixed"];

/** J (T×D): random, with a zero row, rank-deficient, collinear rows, rows scaled 10⁻⁴…10⁴, all zero, or all of these. */
function jacobian(T: number, D: number, kind: Kind, seed: number): number[][] {
  const rng = new Rng(seed);
  const mixed = kind === "mixed";
  const r = kind === "rank" || mixed ? 1 + rng.int(Math.max(1, T - 1)) : T;
  const A = Array.from({ length: T }, () => Array.from({ length: r }, () => rng.normal()));
  const B = Array.from({ length: r }, () => Array.from({ length: D }, () => rng.normal()));
  const J = A.map((a) => Array.from({ length: D }, (_, d) => a.reduce((s, v, k) => s + v * B[k]![d]!, 0)));
  if (kind === "collinear" || mixed) {
    const i = rng.int(T);
    const j = (i + 1 + rng.int(T - 1)) % T;
    const c = (rng.uniform() < 0.5 ? -1 : 1) * 10 ** (2 * rng.uniform() - 1);
    J[i] = J[j]!.map((v) => c * v);
  }
  if (kind === "zero" || mixed) J[rng.int(T)] = new Array<number>(D).fill(0);
  if (kind === "scaled" || mixed) J.forEach((row, i) => (J[i] = row.map((v) => v * 10 ** (8 * rng.uniform() - 4))));
  if (kind === "allZero") J.forEach((row, i) => (J[i] = row.map(() => 0)));
  return J;
}
const dotv = (a: readonly number[], b: readonly number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0);
const gram = (J: readonly (readonly number[])[]) => J.map((a) => J.map((b) => dotv(a, b)));
const combine = (J: readonly (readonly number[])[], w: readonly number[]) => J[0]!.map((_, d) => J.reduce((s, row, i) => s + w[i]! * row[d]!, 0));
const caseArb = fc.record({
  T: fc.integer({ min: 2, max: 8 }),
  D: fc.integer({ min: 1, max: 10 }),
  kind: fc.constantFrom(...kinds),
  seed: fc.integer(),
});
// ------------------------------------------------------------------------------------------------
const norm = (v: readonly number[]) => Math.sqrt(dotv(v, v));

/** Linearly independent gradients with a well-conditioned unit Gramian (λ_min(Ĝ) > 1e-3). */
const fullRankArb = fc
  .record({ T: fc.integer({ min: 2, max: 8 }), extra: fc.integer({ min: 0, max: 4 }), scaled: fc.boolean(), seed: fc.integer() })
  .map(({ T, extra, scaled, seed }) => jacobian(T, T + extra, scaled ? "scaled" : "random", seed))
  .filter((J) => Math.min(...unitGramian(gram(J)).values) > 1e-3);

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
  const DUt = Drows.map((d) => Urows.map((r) => dotv(d, r)));
  const g1Ut = Urows.map((r) => dotv(J[0]!, r));
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
      fc.property(fullRankArb, (J) => {
        const { weights, projection } = imtlGSolve(gram(J));
        close(
          weights.reduce((s, v) => s + v, 0),
          1,
          1e-9,
          "Σα",
        );
        const d = combine(J, weights);
        const proj = J.map((g) => dotv(g, d) / norm(g));
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
    fc.assert(
      fc.property(caseArb, fc.integer(), ({ T, D, kind, seed }, permSeed) => {
        const G = gram(jacobian(T, D, kind, seed));
        const p = Array.from(new Rng(permSeed).permutation(T));
        const w = imtlGWeights(G);
        const w2 = imtlGWeights(permuteSym(G, p));
        const scale = Math.max(1e-300, ...w.map(Math.abs));
        // The solve divides by the smallest kept eigenvalue of Ĝ, and null vectors of Ĝ meet task scales 10⁸
        // apart: errors grow with both (rounding only — the eigensolver visits the entries in another order).
        const u = unitGramian(G);
        const kept = u.values.filter((v) => v > u.cut);
        const cond = kept.length > 0 ? kept[0]! / kept[kept.length - 1]! : 1;
        const spread = u.active.length > 0 ? Math.max(...u.active.map((i) => u.norms[i]!)) / Math.min(...u.active.map((i) => u.norms[i]!)) : 1;
        p.forEach((old, a) => close(w2[a]!, w[old]!, (1e-9 + 1e-11 * cond + 1e-14 * spread) * scale, `task ${a}: ${w2} vs ${w}`));
      }),
      { numRuns: 200 },
    );
  });

  test("property: finite on zero, rank-deficient, collinear and badly scaled Gramians; Σα = 1 with equal projections unless degenerate", () => {
    fc.assert(
      fc.property(caseArb, ({ T, D, kind, seed }) => {
        const J = jacobian(T, D, kind, seed);
        const r = imtlGSolve(gram(J));
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
          if (norm(g) > 0) close(dotv(g, d) / norm(g), r.projection, 1e-6 * scale, `projection ${i} (${kind})`);
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
    const r = imtlGSolve(gram(J));
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
      const J = jacobian(3, 3, "random", rng.int(2 ** 30));
      const r = imtlGSolve(gram(J));
      if (r.degenerate || !(r.projection < 0)) continue;
      found = true;
      const d = combine(J, r.weights);
      J.forEach((g) => assert.ok(dotv(g, d) < 0, "every task's gradient has a negative inner product with d"));
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
