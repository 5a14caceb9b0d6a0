import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { nashMtl, nashMtlSolve, nashMtlWeights } from "../../src/balancers/nashMtl.js";
import type { Gramian } from "../../src/balancers/types.js";
import { matVec, permuteSym, quadForm } from "../../src/solvers/linalg.js";
import { close, throwsInput } from "../helpers/assert.js";

// ---------------------------------------------------------------------------------------------
// Test Gramians G = J Jᵀ (seeded), of several kinds.

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const gaussian = (rng: () => number) => Math.sqrt(-2 * Math.log(Math.max(rng(), 1e-12))) * Math.cos(2 * Math.PI * rng());

type Kind = "random" | "rankDeficient" | "collinear" | "duplicate" | "zeroRow" | "zero" | "badlyScaled";
const KINDS: readonly Kind[] = ["random", "rankDeficient", "collinear", "duplicate", "zeroRow", "zero", "badlyScaled"];

function jacobian(seed: number, T: number, d: number, kind: Kind): number[][] {
  const rng = mulberry32(seed);
  const row = (n = d) => Array.from({ length: n }, () => gaussian(rng));
  switch (kind) {
    case "random":
      return Array.from({ length: T }, () => row());
    case "rankDeficient": {
      const r = Math.max(1, Math.min(T - 1, d));
      const basis = Array.from({ length: r }, () => row());
      return Array.from({ length: T }, () => {
        const c = row(r);
        return Array.from({ length: d }, (_, k) => basis.reduce((s, b, j) => s + c[j]! * b[k]!, 0));
      });
    }
    case "collinear": {
      const g = row();
      return Array.from({ length: T }, () => {
        const c = gaussian(rng);
        return g.map((v) => c * v);
      });
    }
    case "duplicate": {
      const J = Array.from({ length: T }, () => row());
      J[T - 1] = J[0]!.slice();
      return J;
    }
    case "zeroRow": {
      const J = Array.from({ length: T }, () => row());
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

function gramOf(J: readonly (readonly number[])[]): number[][] {
  return J.map((a) => J.map((b) => a.reduce((s, v, k) => s + v * b[k]!, 0)));
}

const caseArb = fc.record({
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  T: fc.integer({ min: 2, max: 8 }),
  d: fc.integer({ min: 1, max: 10 }),
  kind: fc.constantFrom(...KINDS),
});
/** Cases whose Gramian is positive definite (unique solutions). */
const fullRankArb = caseArb.filter((c) => c.d >= c.T && (c.kind === "random" || c.kind === "badlyScaled"));

function permutation(seed: number, T: number): number[] {
  const rng = mulberry32(seed);
  const p = Array.from({ length: T }, (_, i) => i);
  for (let i = T - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

/** ‖Jᵀ(a − b)‖ / (maxᵢ‖gᵢ‖·max(‖a‖₁, ‖b‖₁)): how far apart the directions of two weightings are. */
function directionGap(G: readonly (readonly number[])[], a: readonly number[], b: readonly number[]): number {
  const diff = a.map((v, i) => v - b[i]!);
  const sq = diff.reduce((s, di, i) => s + di * G[i]!.reduce((t, g, j) => t + g * diff[j]!, 0), 0);
  const maxNorm = Math.sqrt(Math.max(0, ...G.map((r, i) => r[i]!)));
  const l1 = Math.max(
    a.reduce((s, v) => s + Math.abs(v), 0),
    b.reduce((s, v) => s + Math.abs(v), 0),
  );
  return maxNorm === 0 || l1 === 0 ? 0 : Math.sqrt(Math.max(0, sq)) / (maxNorm * l1);
}

/** (Gα)ᵢ ≥ −tol·‖gᵢ‖·maxⱼ‖gⱼ‖·‖α‖₁ for every task (the direction conflicts with no task). */
function assertNonConflicting(G: readonly (readonly number[])[], alpha: readonly number[], tol: number, what: string): void {
  const maxNorm = Math.sqrt(Math.max(0, ...G.map((r, i) => r[i]!)));
  const l1 = alpha.reduce((s, v) => s + Math.abs(v), 0);
  G.forEach((row, i) => {
    const gd = row.reduce((s, g, j) => s + g * alpha[j]!, 0);
    const scale = Math.sqrt(row[i]!) * maxNorm * l1;
    assert.ok(gd >= -tol * scale, `${what}: task ${i} conflicts: (Gα)ᵢ = ${gd} (scale ${scale}), α = ${alpha.join(", ")}`);
  });
}

/** The standard bad Gramians for a T-task method, each with a pattern its error must match. */
function badGramians(T: number): [string, unknown, RegExp][] {
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
