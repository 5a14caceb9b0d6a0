import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { mgda, mgdaSolve, mgdaWeights } from "../../src/balancers/mgda.js";
import { BalancerInputError } from "../../src/balancers/validate.js";
import type { Gramian } from "../../src/balancers/types.js";
import { matVec, permuteSym, quadForm } from "../../src/solvers/linalg.js";
import { close, throwsInput } from "../helpers/assert.js";
import { mulberry32, permutation, gramOf, jacobian, caseArb, directionGap, assertNonConflicting, badGramians } from "../helpers/gramians.js";

/** KKT of the min-norm problem: (Gα)ᵢ ≥ αᵀGα for all i, equality where αᵢ > 0 (tolerance relative to the terms). */
function assertKkt(G: readonly (readonly number[])[], alpha: readonly number[], what: string): void {
  const Ga = matVec(G, alpha);
  const mu = quadForm(G, alpha);
  const norms = G.map((r, i) => Math.sqrt(Math.max(0, r[i]!)));
  const dNorm = Math.sqrt(Math.max(0, mu));
  Ga.forEach((v, i) => {
    // |(Gα)ᵢ − μ| is compared with what rounding can move it by: ‖gᵢ‖·maxⱼ‖gⱼ‖ for (Gα)ᵢ, maxⱼ‖gⱼ‖² for μ.
    const tol = 1e-9 * norms[i]! * Math.max(...norms) + 1e-12 * Math.max(...norms) ** 2 + 1e-300;
    assert.ok(v >= mu - tol, `${what}: (Gα)${i} = ${v} < αᵀGα = ${mu}`);
    if (alpha[i]! > 1e-9) assert.ok(v <= mu + tol + 1e-9 * norms[i]! * dNorm, `${what}: support ${i}: (Gα)ᵢ = ${v} > αᵀGα = ${mu}`);
  });
}

describe("mgda", () => {
  test("name, needs, timing, init", () => {
    const b = mgda();
    assert.equal(b.name, "mgda");
    assert.deepEqual(b.needs, { gramian: "shared" });
    assert.equal(b.timing, "current");
    assert.deepEqual(b.init(3), { weights: [1, 1, 1], step: 0 });
    assert.deepEqual(mgda({ gradMode: "representation" }).needs, { gramian: "representation" }, "MGDA-UB");
  });

  test("property: weights finite, ≥ 0, Σ = 1, and the KKT conditions hold (all kinds of Gramians)", () => {
    fc.assert(
      fc.property(caseArb, ({ seed, T, d, kind }) => {
        const G = gramOf(jacobian(seed, T, d, kind));
        const r = mgdaSolve(G);
        const a = r.weights;
        assert.equal(a.length, T);
        assert.ok(a.every((v) => Number.isFinite(v) && v >= 0), `α = ${a.join(", ")}`);
        close(
          a.reduce((s, v) => s + v, 0),
          1,
          1e-12,
          "Σα",
        );
        assertKkt(G, a, `${kind} T=${T} d=${d}`);
        close(r.minNorm, quadForm(G, a), 1e-9 * (Math.max(...G.map((row, i) => row[i]!)) || 1), "minNorm = αᵀGα");
        // The direction conflicts with no task: (Gα)ᵢ ≥ ‖d‖² ≥ 0.
        assertNonConflicting(G, a, 1e-9, kind);
      }),
      { numRuns: 300 },
    );
  });

  test("property: α is optimal — no point of the simplex has a smaller ‖Σαᵢgᵢ‖²", () => {
    fc.assert(
      fc.property(caseArb, ({ seed, T, d, kind }) => {
        const G = gramOf(jacobian(seed, T, d, kind));
        const best = quadForm(G, mgdaWeights(G));
        const rng = mulberry32(seed + 17);
        const scale = Math.max(...G.map((r, i) => r[i]!));
        for (let k = 0; k < 30; k++) {
          const e = Array.from({ length: T }, () => (-Math.log(Math.max(rng(), 1e-12))) ** 2);
          const s = e.reduce((a, b) => a + b, 0);
          const y = e.map((v) => v / s);
          assert.ok(best <= quadForm(G, y) + 1e-12 * scale, `${best} > ${quadForm(G, y)}`);
        }
      }),
      { numRuns: 150 },
    );
  });

  test("property: invariant to G → kG (α itself on positive definite G; the direction always)", () => {
    fc.assert(
      fc.property(caseArb, fc.double({ min: -8, max: 8, noNaN: true }), ({ seed, T, d, kind }, e) => {
        const G = gramOf(jacobian(seed, T, d, kind));
        const k = 10 ** e;
        const a = mgdaWeights(G);
        const b = mgdaWeights(G.map((r) => r.map((v) => v * k)));
        assert.ok(directionGap(G, a, b) <= 1e-7, `direction moved by ${directionGap(G, a, b)}`);
        if (d >= T && (kind === "random" || kind === "badlyScaled")) a.forEach((v, i) => close(b[i]!, v, 1e-7, `α${i} at k = ${k}`));
      }),
      { numRuns: 200 },
    );
  });

  test("property: permuting the tasks permutes the weights (α on positive definite G and repeated rows; the direction always)", () => {
    fc.assert(
      fc.property(caseArb, fc.integer(), ({ seed, T, d, kind }, pSeed) => {
        const G = gramOf(jacobian(seed, T, d, kind));
        const p = permutation(pSeed, T);
        const a = mgdaWeights(G);
        const b = mgdaWeights(permuteSym(G, p));
        const back = new Array<number>(T).fill(0);
        p.forEach((pi, i) => (back[pi] = b[i]!));
        assert.ok(directionGap(G, a, back) <= 1e-7, `direction moved by ${directionGap(G, a, back)}`);
        if (d >= T && (kind === "random" || kind === "badlyScaled")) a.forEach((v, i) => close(back[i]!, v, 1e-7, `α${i}`));
      }),
      { numRuns: 200 },
    );
  });

  test("hand cases: orthogonal unit gradients (½, ½); G = diag(1, 4) → (0.8, 0.2); g₁ = g₂ → (½, ½); zero → 1/T", () => {
    const a = mgdaWeights([
      [1, 0],
      [0, 1],
    ]);
    close(a[0]!, 0.5, 1e-12, "α₁");
    close(a[1]!, 0.5, 1e-12, "α₂");
    const b = mgdaWeights([
      [1, 0],
      [0, 4],
    ]);
    close(b[0]!, 0.8, 1e-12, "α₁");
    close(b[1]!, 0.2, 1e-12, "α₂");
    // Equal gradients: every α gives the same direction; the repeated task gets the same weight.
    const c = mgdaWeights([
      [3, 3, 0],
      [3, 3, 0],
      [0, 0, 3],
    ]);
    c.forEach((v, i) => close(v, [0.25, 0.25, 0.5][i]!, 1e-12, `α${i}`));
    assert.deepEqual(
      mgdaWeights([
        [0, 0],
        [0, 0],
      ]),
      [0.5, 0.5],
    );
    // TorchJD's example J = [[−4, 1, 1], [6, 1, 1]]: α = (0.6, 0.4), d = (0, 1, 1).
    const t = mgdaWeights([
      [18, -22],
      [-22, 38],
    ]);
    close(t[0]!, 0.6, 1e-12, "α₁");
    close(t[1]!, 0.4, 1e-12, "α₂");
  });

  test("Pareto-stationary: a zero gradient or opposite gradients give ‖d‖ = 0", () => {
    const r = mgdaSolve([
      [1, 0.2, 0],
      [0.2, 1, 0],
      [0, 0, 0],
    ]);
    assert.deepEqual(r.weights, [0, 0, 1]);
    assert.equal(r.minNorm, 0);
    const o = mgdaSolve([
      [4, -2],
      [-2, 1],
    ]); // g₂ = −g₁/2: α = (1/3, 2/3)
    close(o.weights[0]!, 1 / 3, 1e-12, "α₁");
    close(o.minNorm, 0, 1e-12, "‖d‖²");
  });

  test("normalization (official code): l2 = MGDA on unit gradients; loss divides by Lᵢ; loss+ by Lᵢ‖gᵢ‖", () => {
    const G = [
      [4, 1, -1],
      [1, 9, 2],
      [-1, 2, 1],
    ];
    const n = G.map((r, i) => Math.sqrt(r[i]!));
    const L = [0.5, 2, 4];
    const scaled = (s: readonly number[]) => G.map((r, i) => r.map((v, j) => v / (s[i]! * s[j]!)));
    const cases: [Parameters<typeof mgdaWeights>[1], number[][]][] = [
      [{ normalization: "l2" }, scaled(n)],
      [{ normalization: "loss", losses: L }, scaled(L)],
      [{ normalization: "loss+", losses: L }, scaled(n.map((v, i) => v * L[i]!))],
    ];
    for (const [options, expectedG] of cases) {
      const a = mgdaWeights(G, options);
      const e = mgdaWeights(expectedG);
      a.forEach((v, i) => close(v, e[i]!, 1e-12, `${options?.normalization} α${i}`));
    }
    assert.notDeepEqual(mgdaWeights(G, { normalization: "l2" }), mgdaWeights(G));
    // The balancer passes its observed losses.
    const b = mgda({ normalization: "loss" });
    const w = b.update({ losses: L, gramian: G }, b.init(3)).weights;
    w.forEach((v, i) => close(v, mgdaWeights(scaled(L))[i]!, 1e-12, `balancer α${i}`));
    throwsInput(() => mgdaWeights(G, { normalization: "loss" }), /mgda/, /losses are required/);
    throwsInput(() => mgdaWeights(G, { normalization: "loss+", losses: [1, 0, 1] }), /loss of task 1 is 0/);
    throwsInput(() => b.update({ losses: [1, -1, 1], gramian: G }, b.init(3)), /loss of task 1 is -1/);
  });

  test("update: weights for this step, in info the min-norm value; the state only counts steps", () => {
    const b = mgda();
    const G = [
      [1, 0],
      [0, 4],
    ];
    const s0 = b.init(2);
    const r1 = b.update({ losses: [1, 1], gramian: G }, s0);
    const r2 = b.update({ losses: [5, 0.1], gramian: G }, r1.state);
    assert.deepEqual(r1.weights, r2.weights);
    assert.deepEqual(r1.state.weights, r1.weights);
    assert.equal(r2.state.step, 2);
    close(r1.info?.["minNorm"] as number, 0.8, 1e-12, "min norm = 0.8²·1 + 0.2²·4");
    assert.ok((r1.info?.["kktResidual"] as number) <= 1e-12);
  });

  test("bad input → BalancerInputError naming the method and the problem", () => {
    const b = mgda();
    for (const T of [2, 3]) {
      const s = b.init(T);
      for (const [what, G, pattern] of badGramians(T)) {
        throwsInput(() => b.update({ losses: new Array<number>(T).fill(1), gramian: G as Gramian }, s), /^mgda: /, pattern);
        if (G !== undefined && what !== "wrong size") throwsInput(() => mgdaWeights(G as Gramian), /^mgda: /, pattern);
      }
      throwsInput(() => b.update({ losses: [1], gramian: gramOf(jacobian(1, T, 3, "random")) }, s), /losses/);
    }
    throwsInput(() => mgdaWeights([]), /empty/);
    throwsInput(() => mgda({ gradMode: "last" as never }), /gradMode/);
    throwsInput(() => mgda({ normalization: "max" as never }), /normalization/);
    throwsInput(() => b.init(0), /tasks/);
    assert.ok(new BalancerInputError("mgda", "x") instanceof Error);
  });
});
