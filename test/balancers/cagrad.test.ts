import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { cagrad, cagradSolve, cagradWeights } from "../../src/balancers/cagrad.js";
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

const combo = (J: readonly (readonly number[])[], w: readonly number[]) =>
  Array.from({ length: J[0]!.length }, (_, k) => w.reduce((s, wi, i) => s + wi * J[i]![k]!, 0));
const dotv = (a: readonly number[], b: readonly number[]) => a.reduce((s, v, k) => s + v * b[k]!, 0);

describe("cagrad", () => {
  test("name, needs, timing, init", () => {
    const b = cagrad();
    assert.equal(b.name, "cagrad");
    assert.deepEqual(b.needs, { gramian: "shared" });
    assert.equal(b.timing, "current");
    assert.deepEqual(b.init(2), { weights: [1, 1], step: 0 });
  });

  test("c = 0 gives the mean, α = 1/T (any Gramian)", () => {
    fc.assert(
      fc.property(caseArb, ({ seed, T, d, kind }) => {
        const a = cagradWeights(gramOf(jacobian(seed, T, d, kind)), { c: 0 });
        a.forEach((v) => assert.equal(v, 1 / T));
      }),
      { numRuns: 50 },
    );
  });

  test("property: finite weights for every kind of Gramian, and α ≥ 1/T·factor (αᵢ = (1/T + λwᵢ)/(1 + c²))", () => {
    fc.assert(
      fc.property(caseArb, fc.double({ min: 0, max: 3, noNaN: true }), ({ seed, T, d, kind }, c) => {
        const a = cagradWeights(gramOf(jacobian(seed, T, d, kind)), { c });
        assert.equal(a.length, T);
        a.forEach((v) => assert.ok(Number.isFinite(v) && v >= (1 / T / (1 + c * c)) * (1 - 1e-12), `α = ${a.join(", ")}`));
      }),
      { numRuns: 120 },
    );
  });

  test("property: d = Jᵀα (no rescale) lies on the ball ‖d − g₀‖ = c‖g₀‖ and maximizes minᵢ⟨gᵢ, d⟩ over it (explicit J)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.integer({ min: 2, max: 5 }),
        fc.integer({ min: 1, max: 6 }),
        fc.double({ min: 0.05, max: 0.95, noNaN: true }),
        (seed, T, dim, c) => {
          const J = jacobian(seed, T, dim, "random");
          const r = cagradSolve(gramOf(J), { c, rescale: 0 });
          fc.pre(r.fallback === "none");
          const d = combo(J, r.weights);
          const g0 = combo(J, new Array<number>(T).fill(1 / T));
          const radius = c * Math.hypot(...g0);
          close(Math.hypot(...d.map((v, k) => v - g0[k]!)), radius, 1e-9 * (1 + radius), "‖d − g₀‖");
          const worst = (y: readonly number[]) => Math.min(...J.map((g) => dotv(g, y)));
          const best = worst(d);
          const rng = mulberry32(seed + 5);
          for (let k = 0; k < 300; k++) {
            const u = Array.from({ length: dim }, () => gaussian(rng));
            const n = Math.hypot(...u) || 1;
            const t = radius * Math.sqrt(rng());
            const y = g0.map((v, j) => v + (t * u[j]!) / n);
            assert.ok(worst(y) <= best + 1e-9 * (1 + Math.abs(best)), `a point of the ball does better: ${worst(y)} > ${best}`);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  test("property: the inner w is optimal — KKT of min g_wᵀg₀ + √φ‖g_w‖ over the simplex", () => {
    fc.assert(
      fc.property(caseArb, fc.double({ min: 0.05, max: 2, noNaN: true }), ({ seed, T, d, kind }, c) => {
        const G = gramOf(jacobian(seed, T, d, kind));
        const r = cagradSolve(G, { c });
        fc.pre(r.fallback === "none");
        const w = r.w;
        const b = new Array<number>(T).fill(1 / T);
        const phi = Math.sqrt(Math.max(0, quadForm(G, b))) * c;
        const gw = Math.sqrt(quadForm(G, w));
        const Gb = matVec(G, b);
        const Gw = matVec(G, w);
        const grad = Gb.map((v, i) => v + (phi * Gw[i]!) / gw);
        const lo = Math.min(...grad);
        const norms = G.map((row, i) => Math.sqrt(row[i]!));
        const maxNorm = Math.max(...norms);
        w.forEach((wi, i) => {
          if (wi > 1e-9) assert.ok(grad[i]! - lo <= 1e-7 * maxNorm * Math.max(maxNorm, phi), `support ${i}: ${grad[i]} vs min ${lo}`);
        });
      }),
      { numRuns: 200 },
    );
  });

  test("property: invariant to G → kG and equivariant to permutations", () => {
    fc.assert(
      fc.property(caseArb, fc.double({ min: -8, max: 8, noNaN: true }), fc.integer(), ({ seed, T, d, kind }, e, pSeed) => {
        const G = gramOf(jacobian(seed, T, d, kind));
        const a = cagradWeights(G);
        const scaled = cagradWeights(G.map((r) => r.map((v) => v * 10 ** e)));
        const p = permutation(pSeed, T);
        const permuted = cagradWeights(permuteSym(G, p));
        const back = new Array<number>(T).fill(0);
        p.forEach((pi, i) => (back[pi] = permuted[i]!));
        assert.ok(directionGap(G, a, scaled) <= 1e-6, `scaled direction ${directionGap(G, a, scaled)}`);
        assert.ok(directionGap(G, a, back) <= 1e-6, `permuted direction ${directionGap(G, a, back)}`);
        if (d >= T && (kind === "random" || kind === "badlyScaled")) {
          const tol = 1e-6 * Math.max(...a.map(Math.abs));
          a.forEach((v, i) => {
            close(scaled[i]!, v, tol, `α${i} at scale 1e${e}`);
            close(back[i]!, v, tol, `permuted α${i}`);
          });
        }
      }),
      { numRuns: 150 },
    );
  });

  test("TorchJD's example: J = [[−4, 1, 1], [6, 1, 1]], c = 0.5, no rescale → d = (0.1835, 1.2041, 1.2041)", () => {
    const J = [
      [-4, 1, 1],
      [6, 1, 1],
    ];
    const a = cagradWeights(gramOf(J), { c: 0.5, rescale: 0 });
    [0.1835, 1.2041, 1.2041].forEach((v, k) => close(combo(J, a)[k]!, v, 1e-4, `d${k}`));
    // Here w* = e₁ (g₁ is the worse task): α = (½ + c‖g₀‖/‖g₁‖, ½) exactly.
    close(a[0]!, 0.5 + (0.5 * Math.sqrt(3)) / Math.sqrt(18), 1e-12, "α₁");
    close(a[1]!, 0.5, 1e-12, "α₂");
  });

  test("rescale: 1 (default) divides by 1 + c², 2 by 1 + c, 0 not at all", () => {
    const G = gramOf(jacobian(3, 4, 5, "random"));
    const c = 0.7;
    const raw = cagradWeights(G, { c, rescale: 0 });
    const one = cagradWeights(G, { c });
    const two = cagradWeights(G, { c, rescale: 2 });
    raw.forEach((v, i) => {
      close(one[i]!, v / (1 + c * c), 1e-14, `rescale 1, α${i}`);
      close(two[i]!, v / (1 + c), 1e-14, `rescale 2, α${i}`);
    });
  });

  test("closed-form cases: one task → (1 + c)/(1 + c²); g₁ = g₂ → equal weights; g₂ = −g₁ → mean (g₀ = 0); zero → mean", () => {
    close(cagradWeights([[4]], { c: 0.5 })[0]!, 1.5 / 1.25, 1e-12, "T = 1");
    const e = cagradWeights([
      [2, 2],
      [2, 2],
    ]);
    close(e[0]!, e[1]!, 1e-12, "equal gradients, equal weights");
    close(e[0]! + e[1]!, 1.5 / 1.25, 1e-12, "d = (1 + c)g / (1 + c²)");
    assert.deepEqual(cagradSolve([
      [1, -1],
      [-1, 1],
    ]).fallback, "mean");
    assert.deepEqual(
      cagradWeights(
        [
          [0, 0],
          [0, 0],
        ],
        { rescale: 0 },
      ),
      [0.5, 0.5],
    );
  });

  test("0 in the convex hull: with c < 1 the root is found above s = 0; with c large the mean is returned (Pareto-stationary)", () => {
    // g = (2, 0), (−1, 0), (0, 1), (0, −1): g₀ = (¼, 0); the hull contains 0 in its interior.
    const J = [
      [2, 0],
      [-1, 0],
      [0, 1],
      [0, -1],
    ];
    const G = gramOf(J);
    const small = cagradSolve(G, { c: 0.5, rescale: 0 });
    assert.equal(small.fallback, "none");
    const d = combo(J, small.weights);
    close(Math.hypot(d[0]! - 0.25, d[1]!), 0.125, 1e-9, "‖d − g₀‖ = c‖g₀‖");
    const large = cagradSolve(G, { c: 2 });
    assert.equal(large.fallback, "stationary");
    large.weights.forEach((v) => close(v, 0.25 / 5, 1e-15, "mean / (1 + c²)"));
  });

  test("options and bad input → BalancerInputError", () => {
    throwsInput(() => cagrad({ c: -0.1 }), /^cagrad: /, /option c/);
    throwsInput(() => cagrad({ c: Number.NaN }), /option c/);
    throwsInput(() => cagrad({ rescale: 3 as never }), /rescale/);
    throwsInput(() => cagradWeights([[1]], { c: Number.POSITIVE_INFINITY }), /option c/);
    throwsInput(() => cagrad({ gradMode: "x" as never }), /gradMode/);
    const b = cagrad();
    for (const T of [2, 3]) {
      const s = b.init(T);
      for (const [what, G, pattern] of badGramians(T)) {
        throwsInput(() => b.update({ losses: new Array<number>(T).fill(1), gramian: G as Gramian }, s), /^cagrad: /, pattern);
        if (G !== undefined && what !== "wrong size") throwsInput(() => cagradWeights(G as Gramian), /^cagrad: /, pattern);
      }
    }
    const r = b.update({ losses: [1, 1], gramian: [[18, -22], [-22, 38]] }, b.init(2));
    assert.equal(r.state.step, 1);
    assert.deepEqual(r.state.weights, r.weights);
    assert.ok((r.info?.["residual"] as number) <= 1e-12);
  });
});
