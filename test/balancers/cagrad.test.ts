import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { cagrad, cagradSolve, cagradWeights } from "../../src/balancers/cagrad.js";
import type { Gramian } from "../../src/balancers/types.js";
import { dot, matVec, permuteSym, quadForm } from "../../src/solvers/linalg.js";
import { close, throwsInput } from "../helpers/assert.js";
import { mulberry32, gaussian, permutation, gramOf, combine, jacobian, caseArb, directionGap, badGramians } from "../helpers/gramians.js";

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
          const d = combine(J, r.weights);
          const g0 = combine(J, new Array<number>(T).fill(1 / T));
          const radius = c * Math.hypot(...g0);
          close(Math.hypot(...d.map((v, k) => v - g0[k]!)), radius, 1e-9 * (1 + radius), "‖d − g₀‖");
          const worst = (y: readonly number[]) => Math.min(...J.map((g) => dot(g, y)));
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
    [0.1835, 1.2041, 1.2041].forEach((v, k) => close(combine(J, a)[k]!, v, 1e-4, `d${k}`));
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
    const d = combine(J, small.weights);
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
