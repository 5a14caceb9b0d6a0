import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { upgrad, upgradSolve, upgradWeights } from "../../src/balancers/upgrad.js";
import type { Gramian } from "../../src/balancers/types.js";
import { matVec, permuteSym } from "../../src/solvers/linalg.js";
import { close, throwsInput } from "../helpers/assert.js";
import { permutation, gramOf, type JacobianKind, jacobian, caseArb, directionGap, assertNonConflicting, badGramians } from "../helpers/gramians.js";

/** UPGrad for T = 2 in closed form: projecting gᵢ onto the half-space of the other task when they conflict. */
function upgrad2(G: readonly (readonly number[])[]): number[] {
  const [a, b, c] = [G[0]![0]!, G[0]![1]!, G[1]![1]!];
  if (b >= 0) return [0.5, 0.5];
  // w(e₁) = (1, −b/c), w(e₂) = (−b/a, 1); a, c > 0 when b < 0.
  return [(1 - b / a) / 2, (1 - b / c) / 2];
}

describe("upgrad", () => {
  test("name, needs, timing, init", () => {
    const b = upgrad();
    assert.equal(b.name, "upgrad");
    assert.deepEqual(b.needs, { gramian: "shared" });
    assert.equal(b.timing, "current");
    assert.deepEqual(b.init(2), { weights: [1, 1], step: 0 });
    assert.deepEqual(upgrad({ gradMode: "lastShared" }).needs, { gramian: "lastShared" });
  });

  test("property: finite weights and a non-conflicting direction, (Gα)ᵢ ≥ 0 (all kinds of Gramians)", () => {
    fc.assert(
      fc.property(caseArb, ({ seed, T, d, kind }) => {
        const G = gramOf(jacobian(seed, T, d, kind));
        const r = upgradSolve(G);
        assert.equal(r.weights.length, T);
        assert.ok(r.weights.every(Number.isFinite), `α = ${r.weights.join(", ")}`);
        assertNonConflicting(G, r.weights, 1e-10, `${kind} T=${T} d=${d}`);
        // The residual is relative to maxᵢ Gᵢᵢ; a badly scaled Gramian's rounding grows with its diagonal's
        // range (seed 463334066, T = 3, d = 2: range 45, residual 1.4e-10).
        const diag = G.map((row, i) => row[i]!).filter((v) => v > 0);
        const range = diag.length ? Math.max(...diag) / Math.min(...diag) : 1;
        assert.ok(r.kktResidual <= 1e-10 * Math.max(1, range), `KKT residual ${r.kktResidual} (diagonal range ${range})`);
      }),
      { numRuns: 200, examples: [[{ seed: 463334066, T: 3, d: 2, kind: "badlyScaled" as const }]] },
    );
  });

  test("property: each projected gradient is in the cone, so α ≥ 1/T componentwise (w(eᵢ) ≥ eᵢ)", () => {
    fc.assert(
      fc.property(caseArb, ({ seed, T, d, kind }) => {
        const G = gramOf(jacobian(seed, T, d, kind));
        upgradWeights(G).forEach((v, i) => assert.ok(v >= 1 / T - 1e-12 * Math.abs(v), `α${i} = ${v} < 1/T`));
      }),
      { numRuns: 150 },
    );
  });

  test("property: T = 2 matches the closed form (project each gradient onto the other's half-space)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 6 }), fc.constantFrom<JacobianKind>("random", "badlyScaled"), (seed, d, kind) => {
        const G = gramOf(jacobian(seed, 2, d, kind));
        const e = upgrad2(G);
        upgradWeights(G).forEach((v, i) => close(v, e[i]!, 1e-9 * Math.abs(e[i]!), `α${i}`));
      }),
      { numRuns: 200 },
    );
  });

  test("without conflict (G ≥ 0 entrywise) α = 1/T, the mean gradient", () => {
    fc.assert(
      fc.property(caseArb, ({ seed, T, d }) => {
        const J = jacobian(seed, T, d, "random").map((r) => r.map(Math.abs));
        const a = upgradWeights(gramOf(J));
        a.forEach((v) => close(v, 1 / T, 1e-12, "α"));
      }),
      { numRuns: 100 },
    );
  });

  test("property: invariant to G → kG and equivariant to permutations", () => {
    fc.assert(
      fc.property(caseArb, fc.double({ min: -8, max: 8, noNaN: true }), fc.integer(), ({ seed, T, d, kind }, e, pSeed) => {
        const G = gramOf(jacobian(seed, T, d, kind));
        const a = upgradWeights(G);
        const scaled = upgradWeights(G.map((r) => r.map((v) => v * 10 ** e)));
        const p = permutation(pSeed, T);
        const permuted = upgradWeights(permuteSym(G, p));
        const tol = 1e-7 * Math.max(...a.map(Math.abs));
        const unique = d >= T && (kind === "random" || kind === "badlyScaled");
        a.forEach((v, i) => {
          if (unique) close(scaled[i]!, v, tol, `α${i} at scale 1e${e}`);
        });
        p.forEach((pi, i) => {
          if (unique) close(permuted[i]!, a[pi]!, tol, `permuted α${i}`);
        });
        assert.ok(directionGap(G, a, scaled) <= 1e-7);
      }),
      { numRuns: 200 },
    );
  });

  test("hand cases: TorchJD's J = [[−4, 1, 1], [6, 1, 1]]; g₁ = g₂; opposite gradients; zero", () => {
    const G = [
      [18, -22],
      [-22, 38],
    ];
    const a = upgradWeights(G);
    close(a[0]!, (1 + 22 / 18) / 2, 1e-12, "α₁");
    close(a[1]!, (1 + 22 / 38) / 2, 1e-12, "α₂");
    // TorchJD (quadprog on G/tr G + 1e-4·I) reports Jᵀα = (0.2929, 1.9004, 1.9004) and α = (1.1109, 0.7894).
    const J = [
      [-4, 1, 1],
      [6, 1, 1],
    ];
    const d = [0, 1, 2].map((k) => a[0]! * J[0]![k]! + a[1]! * J[1]![k]!);
    [0.2929, 1.9004, 1.9004].forEach((v, k) => close(d[k]!, v, 1e-3, `d${k} vs TorchJD`));
    // Equal gradients: no conflict, the mean.
    assert.deepEqual(
      upgradWeights([
        [2, 2],
        [2, 2],
      ]),
      [0.5, 0.5],
    );
    // g₂ = −g₁: each projection is 0 (the cone is the hyperplane ⟂ g₁): α = (½ − ½, …) gives d = 0.
    const o = upgradWeights([
      [1, -1],
      [-1, 1],
    ]);
    close(o[0]! - o[1]!, 0, 1e-12, "d = (α₁ − α₂)g₁ = 0");
    assert.deepEqual(
      upgradWeights([
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
      ]),
      [1 / 3, 1 / 3, 1 / 3],
    );
    // Repeated rows get equal weights.
    const r = upgradWeights([
      [1, 1, -0.5],
      [1, 1, -0.5],
      [-0.5, -0.5, 1],
    ]);
    close(r[0]!, r[1]!, 1e-12, "repeated task");
  });

  test("pref: α = Σᵢ prefᵢ w(eᵢ); pref = e₁ projects g₁ alone; pref = 1 is T × the default", () => {
    const G = [
      [18, -22],
      [-22, 38],
    ];
    const a = upgradWeights(G, { pref: [1, 0] });
    close(a[0]!, 1, 1e-12, "w₁");
    close(a[1]!, 22 / 38, 1e-12, "w₂");
    const ones = upgradWeights(G, { pref: [1, 1] });
    upgradWeights(G).forEach((v, i) => close(ones[i]!, 2 * v, 1e-12, `α${i}`));
    const b = upgrad({ pref: [1, 0] });
    assert.deepEqual(b.update({ losses: [1, 1], gramian: G }, b.init(2)).weights, a);
    throwsInput(() => b.init(3), /^upgrad: /, /pref has 2 entries for 3 tasks/);
    throwsInput(() => upgrad({ pref: [1, Number.NaN] }), /pref entry 1 is NaN/);
    throwsInput(() => upgradWeights(G, { pref: [1] }), /pref has 1 entries for 2 tasks/);
  });

  test("update: the state only counts steps; info carries the KKT residual", () => {
    const b = upgrad();
    const G = [
      [18, -22],
      [-22, 38],
    ];
    const r1 = b.update({ losses: [1, 2], gramian: G }, b.init(2));
    const r2 = b.update({ losses: [3, 4], gramian: G }, r1.state);
    assert.deepEqual(r1.weights, r2.weights);
    assert.equal(r2.state.step, 2);
    assert.deepEqual(r2.state.weights, r2.weights);
    assert.ok((r1.info?.["kktResidual"] as number) <= 1e-12);
    const Gα = matVec(G, r1.weights);
    assert.ok(Gα.every((v) => v >= 0));
  });

  test("bad input → BalancerInputError naming the method and the problem", () => {
    const b = upgrad();
    for (const T of [2, 3]) {
      const s = b.init(T);
      for (const [what, G, pattern] of badGramians(T)) {
        throwsInput(() => b.update({ losses: new Array<number>(T).fill(1), gramian: G as Gramian }, s), /^upgrad: /, pattern);
        if (G !== undefined && what !== "wrong size") throwsInput(() => upgradWeights(G as Gramian), /^upgrad: /, pattern);
      }
      throwsInput(() => b.update({ losses: [Number.NaN, 1, 1].slice(0, T), gramian: gramOf(jacobian(1, T, 3, "random")) }, s), /loss/);
    }
    throwsInput(() => upgrad({ gradMode: "all" as never }), /gradMode/);
  });
});

test("pref must be ≥ 0 and not all zero (pref = 0 would give weights 0: a network that never trains)", () => {
  throwsInput(() => upgrad({ pref: [0, 0] }), /^upgrad: option pref is all zeros/);
  throwsInput(() => upgrad({ pref: [1, -0.5] }), /pref entry 1 is -0.5 \(must be a finite number ≥ 0\)/);
  throwsInput(() => upgradWeights([[1, 0], [0, 1]], { pref: [0, 0] }), /all zeros/);
  assert.deepEqual(upgradWeights([[1, 0], [0, 1]], { pref: [0, 1] }), [0, 1]);
});
