import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { dualProj, dualProjSolve, dualProjWeights } from "../../src/balancers/dualProj.js";
import type { Gramian } from "../../src/balancers/types.js";
import { permuteSym } from "../../src/solvers/linalg.js";
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

/** DualProj for T = 2 in closed form: g₀ = (g₁ + g₂)/2 projected onto the half-space it violates. */
function dualProj2(G: readonly (readonly number[])[]): number[] {
  const [a, b, c] = [G[0]![0]!, G[0]![1]!, G[1]![1]!];
  if (a + b < 0) return [-b / (2 * a), 0.5]; // ⟨g₁, g₀⟩ < 0: g₀ − (⟨g₁, g₀⟩/a) g₁
  if (c + b < 0) return [0.5, -b / (2 * c)];
  return [0.5, 0.5];
}

describe("dualProj", () => {
  test("name, needs, timing, init", () => {
    const b = dualProj();
    assert.equal(b.name, "dualproj");
    assert.deepEqual(b.needs, { gramian: "shared" });
    assert.equal(b.timing, "current");
    assert.deepEqual(b.init(4), { weights: [1, 1, 1, 1], step: 0 });
    assert.deepEqual(dualProj({ gradMode: "representation" }).needs, { gramian: "representation" });
  });

  test("property: finite weights, α ≥ 1/T, and a non-conflicting direction (Gα)ᵢ ≥ 0 (all kinds of Gramians)", () => {
    fc.assert(
      fc.property(caseArb, ({ seed, T, d, kind }) => {
        const G = gramOf(jacobian(seed, T, d, kind));
        const r = dualProjSolve(G);
        assert.equal(r.weights.length, T);
        assert.ok(r.weights.every(Number.isFinite), `α = ${r.weights.join(", ")}`);
        r.weights.forEach((v, i) => assert.ok(v >= 1 / T - 1e-12 * Math.abs(v), `α${i} = ${v} < 1/T (w ≥ u)`));
        assertNonConflicting(G, r.weights, 1e-10, `${kind} T=${T} d=${d}`);
        assert.ok(r.kktResidual <= 1e-12, `KKT residual ${r.kktResidual}`);
      }),
      { numRuns: 200 },
    );
  });

  test("property: the projection is no farther from the mean gradient than random points of the cone (explicit J)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 2, max: 5 }), fc.integer({ min: 2, max: 5 }), (seed, T, d) => {
        const J = jacobian(seed, T, d, "random");
        const a = dualProjWeights(gramOf(J));
        const combo = (w: readonly number[]) => Array.from({ length: d }, (_, k) => w.reduce((s, wi, i) => s + wi * J[i]![k]!, 0));
        const g0 = combo(new Array<number>(T).fill(1 / T));
        const p = combo(a);
        const dist = (y: readonly number[]) => Math.hypot(...y.map((v, k) => v - g0[k]!));
        const rng = mulberry32(seed + 3);
        for (let k = 0; k < 200; k++) {
          const y = Array.from({ length: d }, () => 2 * gaussian(rng));
          if (J.every((g) => g.reduce((s, v, j) => s + v * y[j]!, 0) >= 0)) assert.ok(dist(p) <= dist(y) + 1e-9, `${dist(y)} < ${dist(p)}`);
        }
      }),
      { numRuns: 100 },
    );
  });

  test("property: T = 2 matches the closed form", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 6 }), fc.constantFrom<Kind>("random", "badlyScaled"), (seed, d, kind) => {
        const G = gramOf(jacobian(seed, 2, d, kind));
        const e = dualProj2(G);
        dualProjWeights(G).forEach((v, i) => close(v, e[i]!, 1e-9 * Math.abs(e[i]!), `α${i}`));
      }),
      { numRuns: 200 },
    );
  });

  test("property: invariant to G → kG and equivariant to permutations", () => {
    fc.assert(
      fc.property(caseArb, fc.double({ min: -8, max: 8, noNaN: true }), fc.integer(), ({ seed, T, d, kind }, e, pSeed) => {
        const G = gramOf(jacobian(seed, T, d, kind));
        const a = dualProjWeights(G);
        const scaled = dualProjWeights(G.map((r) => r.map((v) => v * 10 ** e)));
        const p = permutation(pSeed, T);
        const permuted = dualProjWeights(permuteSym(G, p));
        const back = new Array<number>(T).fill(0);
        p.forEach((pi, i) => (back[pi] = permuted[i]!));
        assert.ok(directionGap(G, a, scaled) <= 1e-7, "scaled direction");
        assert.ok(directionGap(G, a, back) <= 1e-7, "permuted direction");
        if (d >= T && (kind === "random" || kind === "badlyScaled")) {
          const tol = 1e-7 * Math.max(...a.map(Math.abs));
          a.forEach((v, i) => {
            close(scaled[i]!, v, tol, `α${i} at scale 1e${e}`);
            close(back[i]!, v, tol, `permuted α${i}`);
          });
        }
      }),
      { numRuns: 200 },
    );
  });

  test("hand cases: TorchJD's J = [[−4, 1, 1], [6, 1, 1]]; no conflict → 1/T; zero → 1/T", () => {
    const a = dualProjWeights([
      [18, -22],
      [-22, 38],
    ]);
    // ⟨g₁, g₀⟩ = −2 < 0: d = g₀ + (2/18) g₁, α = (½ + 1/9, ½).
    close(a[0]!, 0.5 + 1 / 9, 1e-12, "α₁");
    close(a[1]!, 0.5, 1e-12, "α₂");
    const d = [0, 1, 2].map((k) => a[0]! * [-4, 1, 1][k]! + a[1]! * [6, 1, 1][k]!);
    [0.5563, 1.1109, 1.1109].forEach((v, k) => close(d[k]!, v, 1e-3, `d${k} vs TorchJD (which adds 1e-4·I)`));
    assert.deepEqual(
      dualProjWeights([
        [1, 0.5],
        [0.5, 2],
      ]),
      [0.5, 0.5],
    );
    assert.deepEqual(
      dualProjWeights([
        [0, 0],
        [0, 0],
      ]),
      [0.5, 0.5],
    );
    // g₁ = g₂ (no conflict): the mean.
    assert.deepEqual(
      dualProjWeights([
        [1, 1],
        [1, 1],
      ]),
      [0.5, 0.5],
    );
  });

  test("pref: the vector projected is Jᵀpref", () => {
    const G = [
      [18, -22],
      [-22, 38],
    ];
    const a = dualProjWeights(G, { pref: [1, 0] });
    close(a[0]!, 1, 1e-12, "w₁");
    close(a[1]!, 22 / 38, 1e-12, "w₂");
    const b = dualProj({ pref: [2, 2] });
    const w = b.update({ losses: [1, 1], gramian: G }, b.init(2)).weights;
    dualProjWeights(G).forEach((v, i) => close(w[i]!, 4 * v, 1e-12, `α${i}`));
    throwsInput(() => b.init(3), /^dualproj: /, /pref has 2 entries for 3 tasks/);
    throwsInput(() => dualProj({ pref: [] }), /pref/);
  });

  test("bad input → BalancerInputError naming the method and the problem", () => {
    const b = dualProj();
    for (const T of [2, 3]) {
      const s = b.init(T);
      for (const [what, G, pattern] of badGramians(T)) {
        throwsInput(() => b.update({ losses: new Array<number>(T).fill(1), gramian: G as Gramian }, s), /^dualproj: /, pattern);
        if (G !== undefined && what !== "wrong size") throwsInput(() => dualProjWeights(G as Gramian), /^dualproj: /, pattern);
      }
    }
    throwsInput(() => dualProj({ gradMode: "x" as never }), /gradMode/);
    const r = b.update({ losses: [1, 1], gramian: [[1, 0], [0, 1]] }, b.init(2));
    assert.equal(r.state.step, 1);
    assert.deepEqual(r.state.weights, r.weights);
  });
});
