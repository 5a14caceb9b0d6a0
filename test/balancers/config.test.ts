import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { config, configSolve, configWeights } from "../../src/balancers/config.js";
import { imtlGSolve } from "../../src/balancers/imtlG.js";
import { dot } from "../../src/solvers/linalg.js";
import { Rng } from "../../src/util/rng.js";
import { close, throwsInput } from "../helpers/assert.js";
import { norm, cosv, gramOf, combine, rngJacobian, rngCaseArb, wellConditionedArb, unitGramianEquivariance } from "../helpers/gramians.js";

describe("config", () => {
  test("name, needs, timing, init", () => {
    const b = config();
    assert.equal(b.name, "config");
    assert.deepEqual(b.needs, { gramian: "shared" });
    assert.equal(b.timing, "current");
    assert.deepEqual(config({ gradMode: "representation" }).needs, { gramian: "representation" });
    assert.deepEqual(b.init(2), { weights: [1, 1], step: 0 });
  });

  test("hand case: orthogonal g1 = (2, 0), g2 = (0, 1)", () => {
    // Unit gradients e1, e2: g_v solves [e1; e2] g_v = 1 → g_v = (1, 1), g_u = (1, 1)/√2.
    // Length Σ gᵢ·g_u = (2 + 1)/√2, so g_c = (3/2)(1, 1) = (3/4)·g1 + (3/2)·g2: α = (3/4, 3/2).
    const r = configSolve([
      [4, 0],
      [0, 1],
    ]);
    close(r.weights[0]!, 0.75, 1e-15, "α1");
    close(r.weights[1]!, 1.5, 1e-15, "α2");
    close(r.cosines[0]!, Math.SQRT1_2, 1e-15, "cos1");
    close(r.cosines[1]!, Math.SQRT1_2, 1e-15, "cos2");
    assert.equal(r.degenerate, false);
  });

  test("hand case: g1 = (1, 0), g2 = (−1, 1)/√2·2 at 135°", () => {
    // u1 = (1, 0), u2 = (−1, 1)/√2. Solve u1·x = 1, u2·x = 1: x = (1, 1 + √2). ‖x‖² = 1 + (1 + √2)².
    // cos(x, gᵢ) = 1/‖x‖ for both. Length = (‖g1‖ + ‖g2‖)/‖x‖ = 3/‖x‖ with ‖g2‖ = 2; d = 3x/‖x‖².
    const s2 = Math.SQRT2;
    const J = [
      [1, 0],
      [-s2, s2],
    ];
    const d = combine(J, configWeights(gramOf(J)));
    const x = [1, 1 + s2];
    const xx = dot(x, x);
    close(d[0]!, (3 * x[0]!) / xx, 1e-14, "d0");
    close(d[1]!, (3 * x[1]!) / xx, 1e-14, "d1");
  });

  test("property: on linearly independent gradients the direction has the same positive cosine with every gᵢ, and length Σ gᵢ·d/‖d‖", () => {
    fc.assert(
      fc.property(wellConditionedArb, (J) => {
        const w = configWeights(gramOf(J));
        const d = combine(J, w);
        const cos = J.map((g) => cosv(d, g));
        assert.ok(cos[0]! > 0, `cosine ${cos[0]}`);
        cos.forEach((c, i) => close(c, cos[0]!, 1e-8, `cos ${i} (${cos.join(", ")})`));
        const length = J.reduce((s, g) => s + dot(g, d), 0) / norm(d);
        close(norm(d), length, 1e-8 * length, "length");
      }),
      { numRuns: 300 },
    );
  });

  test("property: on the line of IMTL-G's direction (same sense iff its common projection is positive); invariant to rescaling a task's gradient", () => {
    fc.assert(
      fc.property(wellConditionedArb, fc.integer(), (J, s) => {
        const G = gramOf(J);
        const d = combine(J, configWeights(G));
        const imtl = imtlGSolve(G);
        const e = combine(J, imtl.weights);
        close(cosv(d, e), Math.sign(imtl.projection), 1e-8, "parallel, same sense iff IMTL-G's projection > 0");
        // Rescaling gᵢ by a positive factor leaves the unit gradients and so the direction unchanged.
        const rng = new Rng(s);
        const J2 = J.map((g) => {
          const f = 10 ** (4 * rng.uniform() - 2);
          return g.map((v) => v * f);
        });
        const d2 = combine(J2, configWeights(gramOf(J2)));
        close(cosv(d, d2), 1, 1e-8, "scale invariance of the direction");
      }),
      { numRuns: 200 },
    );
  });

  test("property: permutation equivariance", () => {
    fc.assert(unitGramianEquivariance(configWeights), { numRuns: 200 });
  });

  test("property: finite on zero, rank-deficient, collinear and badly scaled Gramians", () => {
    fc.assert(
      fc.property(rngCaseArb, ({ T, D, kind, seed }) => {
        const G = gramOf(rngJacobian(T, D, kind, seed));
        const r = config().update({ losses: new Array<number>(T).fill(1), gramian: G }, config().init(T));
        for (const w of r.weights) assert.ok(Number.isFinite(w), `${kind}: ${r.weights}`);
      }),
      { numRuns: 300 },
    );
  });

  test("fallbacks: zero gradients get weight 0 and the rest is solved without them; no conflict-free direction → all 0", () => {
    const J = [
      [2, 0, 0],
      [0, 0, 0],
      [0, 1, 0],
    ];
    const w = configWeights(gramOf(J));
    assert.equal(w[1], 0);
    close(w[0]!, 0.75, 1e-15, "α1");
    close(w[2]!, 1.5, 1e-15, "α3");
    assert.deepEqual(configWeights([[0, 0], [0, 0]]), [0, 0]);
    // Three unit gradients at 120° (summing to 0): no direction has a positive cosine with all three.
    const s3 = Math.sqrt(3) / 2;
    const r = configSolve(gramOf([[1, 0], [-0.5, s3], [-0.5, -s3]].map((g, i) => g.map((v) => v * (i + 1)))));
    assert.equal(r.degenerate, true);
    assert.deepEqual(r.weights, [0, 0, 0]);
    // Anti-parallel pair: same.
    assert.deepEqual(configWeights([[1, -2], [-2, 4]]), [0, 0]);
    // Collinear, same direction: d ∥ g with cosine 1, length ‖g1‖ + ‖g2‖.
    const d = combine([[1, 0], [3, 0]], configWeights([[1, 3], [3, 9]]));
    close(d[0]!, 4, 1e-12, "collinear length");
  });

  test("bad input throws BalancerInputError naming the problem", () => {
    const b = config();
    const s = b.init(2);
    throwsInput(() => b.update({ losses: [1, 1] }, s), /^config:/, /Gramian is required/);
    throwsInput(() => b.update({ losses: [1, 1], gramian: [[1, Number.NaN], [Number.NaN, 1]] }, s), /^config:/, /NaN/);
    throwsInput(() => b.update({ losses: [1, 1], gramian: [[1, 0], [0, 1, 2]] }, s), /row 1 has 3 entries/);
    throwsInput(() => b.update({ losses: [1, 1], gramian: [[1, 1], [0, 1]] }, s), /not symmetric/);
    throwsInput(() => b.update({ losses: [1, 1], gramian: [[1]] }, s), /expected a 2×2 Gramian/);
    throwsInput(() => b.update({ losses: [Number.NaN, 1], gramian: [[1, 0], [0, 1]] }, s), /task 0/);
    throwsInput(() => configWeights([[1, 0], [0, Number.NEGATIVE_INFINITY]]), /^config:/);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    throwsInput(() => config({ gradMode: "all" as any }), /unknown gradMode/);
  });
});
