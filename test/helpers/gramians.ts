/**
 * Test Jacobians J (rows = task gradients), their Gramians G = J Jᵀ, fast-check arbitraries over
 * them, and the checks the Gramian-based balancer and solver tests share. Two seeded families:
 *
 * - `jacobian(seed, T, d, kind)` / `caseArb` / `fullRankArb`: mulberry32 + Box–Muller, kinds
 *   `JACOBIAN_KINDS` (the MGDA/UPGrad/DualProj/CAGrad/Nash-MTL and QP solver tests, the Gramian suite);
 * - `rngJacobian(T, D, kind, seed)` / `rngCaseArb` / `wellConditionedArb`: the project's `Rng`,
 *   kinds `RNG_JACOBIAN_KINDS` (the PCGrad/GradVac/ConFIG/IMTL-G/Aligned-MTL/DB-MTL tests).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { unitGramian } from "../../src/balancers/config.js";
import { dot, matMul, matVec, permuteSym, quadForm, type Matrix, type Vector } from "../../src/solvers/linalg.js";
import { Rng } from "../../src/util/rng.js";
import { close } from "./assert.js";

// ---------------------------------------------------------------------------------------------
// Seeded random numbers.

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal sample (Box–Muller, two draws). */
export const gaussian = (rng: () => number) => Math.sqrt(-2 * Math.log(Math.max(rng(), 1e-12))) * Math.cos(2 * Math.PI * rng());

/** A rows×cols matrix of standard normal samples, row by row. */
export function gaussianMatrix(rng: () => number, rows: number, cols: number): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => gaussian(rng)));
}

/** Fisher–Yates shuffle of `xs` in place (returns `xs`). */
export function shuffle<X>(rng: () => number, xs: X[]): X[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

/** A seeded random permutation of 0..T-1. */
export function permutation(seed: number, T: number): number[] {
  return shuffle(mulberry32(seed), Array.from({ length: T }, (_, i) => i));
}

// ---------------------------------------------------------------------------------------------
// Vectors and Gramians.

export const norm = (v: Vector) => Math.sqrt(dot(v, v));
export const cosv = (a: Vector, b: Vector) => dot(a, b) / (norm(a) * norm(b));

/** G = J Jᵀ (exactly symmetric: Gᵢⱼ and Gⱼᵢ sum the same products in the same order). */
export function gramOf(J: Matrix): number[][] {
  return J.map((a) => J.map((b) => dot(a, b)));
}

/** Σᵢ wᵢ gᵢ = Jᵀw. */
export function combine(J: Matrix, w: Vector): number[] {
  return J[0]!.map((_, d) => J.reduce((s, row, i) => s + w[i]! * row[d]!, 0));
}

// ---------------------------------------------------------------------------------------------
// Family 1 (mulberry32): test Gramians G = J Jᵀ (seeded), of several kinds.

export type JacobianKind = "random" | "rankDeficient" | "collinear" | "duplicate" | "zeroRow" | "zero" | "badlyScaled";
export const JACOBIAN_KINDS: readonly JacobianKind[] = ["random", "rankDeficient", "collinear", "duplicate", "zeroRow", "zero", "badlyScaled"];

export function jacobian(seed: number, T: number, d: number, kind: JacobianKind): number[][] {
  const rng = mulberry32(seed);
  const row = (n = d) => Array.from({ length: n }, () => gaussian(rng));
  switch (kind) {
    case "random":
      return gaussianMatrix(rng, T, d);
    case "rankDeficient": {
      const r = Math.max(1, Math.min(T - 1, d));
      const basis = gaussianMatrix(rng, r, d);
      return matMul(gaussianMatrix(rng, T, r), basis);
    }
    case "collinear": {
      const g = row();
      return Array.from({ length: T }, () => {
        const c = gaussian(rng);
        return g.map((v) => c * v);
      });
    }
    case "duplicate": {
      const J = gaussianMatrix(rng, T, d);
      J[T - 1] = J[0]!.slice();
      return J;
    }
    case "zeroRow": {
      const J = gaussianMatrix(rng, T, d);
      J[Math.floor(rng() * T)] = new Array<number>(d).fill(0);
      return J;
    }
    case "zero":
      return Array.from({ length: T }, () => new Array<number>(d).fill(0));
    case "badlyScaled":
      return Array.from({ length: T }, () => {
        const s = 10 ** (-4 + 8 * rng());
        return row().map((v) => v * s);
      });
  }
}

export const caseArb = fc.record({
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  T: fc.integer({ min: 2, max: 8 }),
  d: fc.integer({ min: 1, max: 10 }),
  kind: fc.constantFrom(...JACOBIAN_KINDS),
});
/** Cases whose Gramian is positive definite (unique solutions). */
export const fullRankArb = caseArb.filter((c) => c.d >= c.T && (c.kind === "random" || c.kind === "badlyScaled"));

/** ‖Jᵀ(a − b)‖ / (maxᵢ‖gᵢ‖·max(‖a‖₁, ‖b‖₁)): how far apart the directions of two weightings are. */
export function directionGap(G: Matrix, a: Vector, b: Vector): number {
  const diff = a.map((v, i) => v - b[i]!);
  const sq = quadForm(G, diff);
  const maxNorm = Math.sqrt(Math.max(0, ...G.map((r, i) => r[i]!)));
  const l1 = Math.max(
    a.reduce((s, v) => s + Math.abs(v), 0),
    b.reduce((s, v) => s + Math.abs(v), 0),
  );
  return maxNorm === 0 || l1 === 0 ? 0 : Math.sqrt(Math.max(0, sq)) / (maxNorm * l1);
}

/**
 * (Gα)ᵢ ≥ −tol·scaleᵢ for every task (the direction conflicts with no task), scaleᵢ = ‖gᵢ‖·maxⱼ‖gⱼ‖·‖α‖₁:
 * the Cauchy–Schwarz bound on |(Gα)ᵢ|, so the tolerance is relative to what rounding can move it by.
 */
export function assertNonConflicting(G: Matrix, alpha: Vector, tol: number, what: string): void {
  const maxNorm = Math.sqrt(Math.max(0, ...G.map((r, i) => r[i]!)));
  const l1 = alpha.reduce((s, v) => s + Math.abs(v), 0);
  const Ga = matVec(G, alpha);
  G.forEach((row, i) => {
    const gd = Ga[i]!;
    const scale = Math.sqrt(row[i]!) * maxNorm * l1;
    assert.ok(gd >= -tol * scale, `${what}: task ${i} conflicts: (Gα)ᵢ = ${gd} (scale ${scale}), α = ${alpha.join(", ")}`);
  });
}

/** The standard bad Gramians for a T-task method, each with a pattern its error must match. */
export function badGramians(T: number): [string, unknown, RegExp][] {
  const ok = gramOf(jacobian(7, T, 4, "random"));
  const nan = ok.map((r) => r.slice());
  nan[0]![1] = Number.NaN;
  nan[1]![0] = Number.NaN;
  const asym = ok.map((r) => r.slice());
  asym[1]![0] = asym[1]![0]! + 10 + ok[0]![0]! + ok[1]![1]!;
  const ragged = ok.map((r, i) => (i === 1 ? r.slice(0, T - 1) : r.slice()));
  const notPsd = ok.map((r, i) => r.map((v, j) => (i === j ? 1 : i + j === 1 ? 3 : 0)));
  return [
    ["NaN entry", nan, /NaN/],
    ["asymmetric", asym, /symmetric/],
    ["non-square row", ragged, /row 1 has/],
    ["wrong size", gramOf(jacobian(7, T + 1, 4, "random")), new RegExp(`${T}×${T}`)],
    ["missing", undefined, /required/],
    ["not PSD", notPsd, /positive semidefinite/],
  ];
}

// ---------------------------------------------------------------------------------------------
// Family 2 (Rng): random Jacobians (rows = task gradients).

export type RngJacobianKind = "random" | "zero" | "rank" | "collinear" | "scaled" | "allZero" | "mixed";
export const RNG_JACOBIAN_KINDS: readonly RngJacobianKind[] = ["random", "zero", "rank", "collinear", "scaled", "allZero", "mixed"];

/** J (T×D): random, with a zero row, rank-deficient, collinear rows, rows scaled 10⁻⁴…10⁴, all zero, or all of these. */
export function rngJacobian(T: number, D: number, kind: RngJacobianKind, seed: number): number[][] {
  const rng = new Rng(seed);
  const mixed = kind === "mixed";
  const r = kind === "rank" || mixed ? 1 + rng.int(Math.max(1, T - 1)) : T;
  const A = Array.from({ length: T }, () => Array.from({ length: r }, () => rng.normal()));
  const B = Array.from({ length: r }, () => Array.from({ length: D }, () => rng.normal()));
  const J = matMul(A, B);
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

export const rngCaseArb = fc.record({
  T: fc.integer({ min: 2, max: 8 }),
  D: fc.integer({ min: 1, max: 10 }),
  kind: fc.constantFrom(...RNG_JACOBIAN_KINDS),
  seed: fc.integer(),
});

/** Linearly independent gradients with a well-conditioned unit Gramian (λ_min(Ĝ) > 1e-3). */
export const wellConditionedArb = fc
  .record({ T: fc.integer({ min: 2, max: 8 }), extra: fc.integer({ min: 0, max: 4 }), scaled: fc.boolean(), seed: fc.integer() })
  .map(({ T, extra, scaled, seed }) => rngJacobian(T, T + extra, scaled ? "scaled" : "random", seed))
  .filter((J) => Math.min(...unitGramian(gramOf(J)).values) > 1e-3);

/**
 * Property: permuting the tasks permutes the weights, for a method solved through the unit Gramian Ĝ
 * (ConFIG, IMTL-G), over `rngCaseArb`.
 */
export function unitGramianEquivariance(weightsOf: (G: Matrix) => readonly number[]) {
  return fc.property(rngCaseArb, fc.integer(), ({ T, D, kind, seed }, permSeed) => {
    const G = gramOf(rngJacobian(T, D, kind, seed));
    const p = Array.from(new Rng(permSeed).permutation(T));
    const w = weightsOf(G);
    const w2 = weightsOf(permuteSym(G, p));
    const scale = Math.max(1e-300, ...w.map(Math.abs));
    // The solve divides by the smallest kept eigenvalue of Ĝ, and null vectors of Ĝ meet task scales 10⁸
    // apart: errors grow with both (rounding only — the eigensolver visits the entries in another order).
    const u = unitGramian(G);
    const kept = u.values.filter((v) => v > u.cut);
    const cond = kept.length > 0 ? kept[0]! / kept[kept.length - 1]! : 1;
    const spread = u.active.length > 0 ? Math.max(...u.active.map((i) => u.norms[i]!)) / Math.min(...u.active.map((i) => u.norms[i]!)) : 1;
    p.forEach((old, a) => close(w2[a]!, w[old]!, (1e-9 + 1e-11 * cond + 1e-14 * spread) * scale, `task ${a}: ${w2} vs ${w}`));
  });
}
