import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { dualProj, dualProjSolve, dualProjWeights } from "../../src/balancers/dualProj.js";
import type { Gramian } from "../../src/balancers/types.js";
import { permuteSym } from "../../src/solvers/linalg.js";
import { close, throwsInput } from "../helpers/assert.js";
import { mulberry32, gaussian, permutation, gramOf, combine, type JacobianKind, jacobian, caseArb, directionGap, assertNonConflicting, badGramians } from "../helpers/gramians.js";

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
        assert.ok(r.kktResidual <= 1e-10, `KKT residual ${r.kktResidual}`);
      }),
      { numRuns: 200 },
    );
  });

  test("property: the projection is no farther from the mean gradient than random points of the cone (explicit J)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 2, max: 5 }), fc.integer({ min: 2, max: 5 }), (seed, T, d) => {
        const J = jacobian(seed, T, d, "random");
        const a = dualProjWeights(gramOf(J));
        const g0 = combine(J, new Array<number>(T).fill(1 / T));
        const p = combine(J, a);
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
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 6 }), fc.constantFrom<JacobianKind>("random", "badlyScaled"), (seed, d, kind) => {
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

test("pref must be ≥ 0 and not all zero", () => {
  throwsInput(() => dualProj({ pref: [0, 0, 0] }), /^dualproj: option pref is all zeros/);
  throwsInput(() => dualProjWeights([[1, 0], [0, 1]], { pref: [-1, 1] }), /pref entry 0 is -1/);
});
