import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { dualConeWeights, minNormSimplex, nonnegativeQp, simplexQp } from "../../src/solvers/qp.js";
import { prepareGramian } from "../../src/solvers/gramian.js";
import { dot, matVec, permuteSym, quadForm, symmetricEigen } from "../../src/solvers/linalg.js";
import { close } from "../helpers/assert.js";
import { mulberry32, gaussian, permutation, gramOf, combine, jacobian, caseArb, fullRankArb } from "../helpers/gramians.js";

const maxDiag = (G: readonly (readonly number[])[]) => Math.max(0, ...G.map((r, i) => r[i]!));

// ---------------------------------------------------------------------------------------------

describe("simplexQp", () => {
  test("property: x on the simplex and KKT (∇ = Qx + c equal on the support, not smaller elsewhere)", () => {
    fc.assert(
      fc.property(caseArb, fc.integer(), ({ seed, T, d, kind }, cSeed) => {
        const G = gramOf(jacobian(seed, T, d, kind));
        const m = maxDiag(G) || 1;
        const Q = G.map((r) => r.map((v) => v / m));
        const rng = mulberry32(cSeed);
        const c = Array.from({ length: T }, () => gaussian(rng));
        for (const lin of [undefined, c]) {
          const r = simplexQp(Q, lin);
          assert.ok(r.converged, `not converged: residual ${r.kktResidual}`);
          assert.ok(r.x.every((v) => v >= 0 && Number.isFinite(v)));
          close(
            r.x.reduce((a, b) => a + b, 0),
            1,
            1e-12,
            "Σx",
          );
          const grad = matVec(Q, r.x).map((v, i) => v + (lin?.[i] ?? 0));
          const lo = Math.min(...grad);
          r.x.forEach((xi, i) => {
            if (xi > 0) assert.ok(grad[i]! - lo <= 1e-10, `support coordinate ${i}: ∇ ${grad[i]} vs min ${lo}`);
          });
        }
      }),
      { numRuns: 200 },
    );
  });

  test("property: the objective is no larger than at random points of the simplex", () => {
    fc.assert(
      fc.property(caseArb, ({ seed, T, d, kind }) => {
        const Q = gramOf(jacobian(seed, T, d, kind === "badlyScaled" ? "random" : kind));
        const rng = mulberry32(seed ^ 0x5bd1e995);
        const c = Array.from({ length: T }, () => gaussian(rng));
        const f = (x: readonly number[]) => 0.5 * quadForm(Q, x) + x.reduce((s, v, i) => s + v * c[i]!, 0);
        const best = f(simplexQp(Q, c).x);
        for (let k = 0; k < 50; k++) {
          const e = Array.from({ length: T }, () => -Math.log(Math.max(rng(), 1e-12)));
          const s = e.reduce((a, b) => a + b, 0);
          const y = e.map((v) => v / s);
          assert.ok(best <= f(y) + 1e-9 * (1 + Math.abs(f(y))), `f(x*) = ${best} > f(y) = ${f(y)}`);
        }
      }),
      { numRuns: 100 },
    );
  });

  test("two points: the closed form clamp((G₂₂ − G₁₂)/(G₁₁ + G₂₂ − 2G₁₂), 0, 1)", () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 6 }), (seed, d) => {
        const G = gramOf(jacobian(seed, 2, d, "random"));
        const den = G[0]![0]! + G[1]![1]! - 2 * G[0]![1]!;
        const a = Math.min(1, Math.max(0, (G[1]![1]! - G[0]![1]!) / den));
        const x = simplexQp(G).x;
        close(x[0]!, a, 1e-9, "x₁");
        close(x[1]!, 1 - a, 1e-9, "x₂");
      }),
      { numRuns: 200 },
    );
  });
});

describe("minNormSimplex", () => {
  test("hand cases: orthogonal unit gradients → (½, ½); G = diag(1, 4) → (0.8, 0.2); equal gradients → (½, ½); zero → 1/T", () => {
    const a = minNormSimplex([
      [1, 0],
      [0, 1],
    ]);
    assert.deepEqual(
      a.weights.map((v) => +v.toFixed(12)),
      [0.5, 0.5],
    );
    close(a.value, 0.5, 1e-12, "‖d‖²");
    const b = minNormSimplex([
      [1, 0],
      [0, 4],
    ]).weights;
    close(b[0]!, 0.8, 1e-12, "α₁");
    close(b[1]!, 0.2, 1e-12, "α₂");
    const c = minNormSimplex([
      [2, 2],
      [2, 2],
    ]).weights;
    close(c[0]!, 0.5, 1e-12, "equal gradients α₁");
    const z = minNormSimplex([
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ]);
    assert.deepEqual(z.weights, [1 / 3, 1 / 3, 1 / 3]);
    assert.equal(z.value, 0);
  });

  test("a vertex: g₂ = 2g₁ → α = (1, 0); a zero gradient → all weight on it", () => {
    const a = minNormSimplex([
      [1, 2],
      [2, 4],
    ]).weights;
    assert.deepEqual(a, [1, 0]);
    const b = minNormSimplex([
      [1, 0.3, 0],
      [0.3, 2, 0],
      [0, 0, 0],
    ]);
    assert.deepEqual(b.weights, [0, 0, 1]);
    assert.equal(b.value, 0);
  });

  test("property: α invariant to G → kG, equivariant to permutations (on full-rank Gramians)", () => {
    fc.assert(
      fc.property(
        fullRankArb,
        fc.double({ min: -8, max: 8, noNaN: true }),
        fc.integer(),
        ({ seed, T, d, kind }, e, pSeed) => {
          const G = gramOf(jacobian(seed, T, d, kind));
          const a = minNormSimplex(G).weights;
          const b = minNormSimplex(G.map((r) => r.map((v) => v * 10 ** e))).weights;
          a.forEach((v, i) => close(b[i]!, v, 1e-8, `α[${i}] under scaling 1e${e}`));
          const p = permutation(pSeed, T);
          const c = minNormSimplex(permuteSym(G, p)).weights;
          c.forEach((v, i) => close(v, a[p[i]!]!, 1e-8, `permuted α[${i}]`));
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe("nonnegativeQp", () => {
  test("property: x ≥ 0 and KKT (∇ = Qx + p ≥ 0, xᵢ∇ᵢ = 0) for p = Qu", () => {
    fc.assert(
      fc.property(caseArb, fc.integer(), ({ seed, T, d, kind }, uSeed) => {
        const G = gramOf(jacobian(seed, T, d, kind));
        const C = prepareGramian(G).cosine;
        const rng = mulberry32(uSeed);
        const u = Array.from({ length: T }, () => gaussian(rng));
        const r = nonnegativeQp(C, matVec(C, u));
        assert.ok(r.converged, `residual ${r.kktResidual}`);
        const grad = matVec(C, r.x.map((v, i) => v + u[i]!));
        r.x.forEach((xi, i) => {
          assert.ok(xi >= 0 && Number.isFinite(xi));
          assert.ok(grad[i]! >= -1e-10, `∇${i} = ${grad[i]}`);
          assert.ok(Math.min(xi, Math.abs(grad[i]!)) <= 1e-10, `complementarity ${i}: x ${xi}, ∇ ${grad[i]}`);
        });
      }),
      { numRuns: 200 },
    );
  });

  test("an interior solution is the unconstrained minimizer −Q⁻¹p", () => {
    const Q = [
      [2, 0.5],
      [0.5, 1],
    ];
    const x = nonnegativeQp(Q, [-1, -1]).x;
    // Q x = (1, 1): x = (1/7·2, 1.5·4/7)…: solve 2a + 0.5b = 1, 0.5a + b = 1.
    close(x[0]!, 2 / 7, 1e-12, "x₁");
    close(x[1]!, 6 / 7, 1e-12, "x₂");
    assert.deepEqual(nonnegativeQp(Q, [1, 1]).x, [0, 0]);
  });
});

describe("dualConeWeights", () => {
  test("property: w ≥ u, Gw ≥ 0 and (w − u)ᵢ(Gw)ᵢ = 0 (Proposition 1 KKT), relative to ‖gᵢ‖", () => {
    fc.assert(
      fc.property(caseArb, fc.integer(), ({ seed, T, d, kind }, uSeed) => {
        const G = gramOf(jacobian(seed, T, d, kind));
        const rng = mulberry32(uSeed);
        const u = Array.from({ length: T }, () => gaussian(rng));
        const w = dualConeWeights(G, u).weights;
        const norms = G.map((r, i) => Math.sqrt(r[i]!));
        const dNorm = Math.sqrt(Math.max(0, quadForm(G, w)));
        const Gw = matVec(G, w);
        w.forEach((wi, i) => {
          assert.ok(Number.isFinite(wi));
          if (norms[i] === 0) return assert.equal(wi, u[i], "zero gradient keeps uᵢ");
          const scale = norms[i]! * Math.max(dNorm, Math.max(...norms) * Math.max(...u.map(Math.abs)));
          assert.ok(wi - u[i]! >= -1e-9 * Math.abs(u[i]!) - 1e-300, `w${i} < u${i}: ${wi} < ${u[i]}`);
          assert.ok(Gw[i]! >= -1e-9 * scale, `(Gw)${i} = ${Gw[i]} (scale ${scale})`);
          const slack = (wi - u[i]!) * norms[i]!;
          assert.ok(Math.min(Math.abs(slack), Math.abs(Gw[i]!) / norms[i]!) <= 1e-8 * scale / norms[i]!, `complementarity ${i}`);
        });
      }),
      { numRuns: 200 },
    );
  });

  test("the projection is no farther from Jᵀu than other points of the cone (explicit J)", () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 2, max: 5 }), fc.integer({ min: 2, max: 6 }), (seed, T, d) => {
        const J = jacobian(seed, T, d, "random");
        const G = gramOf(J);
        const rng = mulberry32(seed + 1);
        const u = Array.from({ length: T }, () => gaussian(rng));
        const w = dualConeWeights(G, u).weights;
        const x = combine(J, u);
        const p = combine(J, w);
        const dist = (y: readonly number[]) => Math.hypot(...y.map((v, k) => v - x[k]!));
        const inCone = (y: readonly number[]) => J.every((g) => dot(g, y) >= 0);
        for (let k = 0; k < 200; k++) {
          const y = Array.from({ length: d }, () => 3 * gaussian(rng));
          if (inCone(y)) assert.ok(dist(p) <= dist(y) + 1e-9, `a cone point is closer: ${dist(y)} < ${dist(p)}`);
        }
      }),
      { numRuns: 100 },
    );
  });

  test("hand case: g₁ = (−4, 1, 1), g₂ = (6, 1, 1): projecting g₁ gives w = (1, 22/38)", () => {
    const G = [
      [18, -22],
      [-22, 38],
    ];
    const w = dualConeWeights(G, [1, 0]).weights;
    close(w[0]!, 1, 1e-12, "w₁");
    close(w[1]!, 22 / 38, 1e-12, "w₂");
    assert.deepEqual(dualConeWeights(G, [0, 0]).weights, [0, 0]);
  });
});

describe("many tasks", () => {
  /** J of size T × d: `random` Gaussian, or every row a shared vector plus noise. */
  function manyTasks(seed: number, T: number, d: number, correlated = false): number[][] {
    const rng = mulberry32(seed);
    const shared = Array.from({ length: d }, () => gaussian(rng));
    return gramOf(Array.from({ length: T }, () => Array.from({ length: d }, (_, k) => (correlated ? shared[k]! : 0) + gaussian(rng))));
  }

  for (const [T, d, label] of [
    [150, 300, "random"],
    [150, 75, "rank-deficient (more tasks than dimensions)"],
    [150, 300, "correlated"],
  ] as const) {
    test(`T = ${T}, ${label}: the min-norm point and a dual-cone projection satisfy their KKT conditions`, () => {
      const G = manyTasks(T, T, d, label === "correlated");
      const m = minNormSimplex(G);
      assert.ok(m.converged, `min-norm: KKT residual ${m.kktResidual}`);
      close(m.weights.reduce((a, b) => a + b, 0), 1, 1e-12, "Σα");
      const Ga = matVec(G, m.weights);
      const value = dot(m.weights, Ga);
      const scale = maxDiag(G);
      Ga.forEach((v, i) => assert.ok(v >= value - 1e-9 * scale, `(Gα)${i} = ${v} < αᵀGα = ${value}`));
      const u = new Array<number>(T).fill(0);
      u[0] = 1;
      const r = dualConeWeights(G, u);
      assert.ok(r.converged, `projection: KKT residual ${r.kktResidual}`);
      matVec(G, r.weights).forEach((v, i) => assert.ok(v >= -1e-8 * scale, `(Gw)${i} = ${v}`));
      r.weights.forEach((w, i) => assert.ok(w >= u[i]! - 1e-12, `w${i} = ${w} < u${i}`));
    });
  }

  test("a warm start (the solution of a nearby problem) reaches the same minimizer as a cold start", () => {
    fc.assert(
      fc.property(caseArb, fc.integer(), ({ seed, T, d, kind }, cSeed) => {
        const G = gramOf(jacobian(seed, T, d, kind));
        const m = maxDiag(G) || 1;
        const Q = G.map((r) => r.map((v) => v / m));
        const rng = mulberry32(cSeed);
        const c1 = Array.from({ length: T }, () => gaussian(rng));
        const c2 = c1.map((v) => v + 0.3 * gaussian(rng));
        const near = simplexQp(Q, c1).x;
        const warm = simplexQp(Q, c2, { start: near });
        const cold = simplexQp(Q, c2);
        assert.ok(warm.converged, `warm: residual ${warm.kktResidual}`);
        const f = (x: readonly number[]) => 0.5 * quadForm(Q, x) + dot(c2, x);
        close(f(warm.x), f(cold.x), 1e-10 * (1 + Math.abs(f(cold.x))), "objective");
      }),
      { numRuns: 150 },
    );
  });
});
