import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { config, configSolve, configWeights, unitGramian } from "../../src/balancers/config.js";
import { imtlGSolve } from "../../src/balancers/imtlG.js";
import { permuteSym } from "../../src/solvers/linalg.js";
import { Rng } from "../../src/util/rng.js";
import { close, throwsInput } from "../helpers/assert.js";

// ---- random Jacobians (rows = task gradients) and their Gramians -------------------------------
type Kind = "random" | "zero" | "rank" | "collinear" | "scaled" | "allZero" | "mixed";
const kinds: Kind[] = ["random", "zero", "rank", "collinear", "scaled", "allZero", "mixed"];

/** J (T×D): random, with a zero row, rank-deficient, collinear rows, rows scaled 10⁻⁴…10⁴, all zero, or all of these. */
function jacobian(T: number, D: number, kind: Kind, seed: number): number[][] {
  const rng = new Rng(seed);
  const mixed = kind === "mixed";
  const r = kind === "rank" || mixed ? 1 + rng.int(Math.max(1, T - 1)) : T;
  const A = Array.from({ length: T }, () => Array.from({ length: r }, () => rng.normal()));
  const B = Array.from({ length: r }, () => Array.from({ length: D }, () => rng.normal()));
  const J = A.map((a) => Array.from({ length: D }, (_, d) => a.reduce((s, v, k) => s + v * B[k]![d]!, 0)));
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
const dotv = (a: readonly number[], b: readonly number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0);
const gram = (J: readonly (readonly number[])[]) => J.map((a) => J.map((b) => dotv(a, b)));
const combine = (J: readonly (readonly number[])[], w: readonly number[]) => J[0]!.map((_, d) => J.reduce((s, row, i) => s + w[i]! * row[d]!, 0));
const caseArb = fc.record({
  T: fc.integer({ min: 2, max: 8 }),
  D: fc.integer({ min: 1, max: 10 }),
  kind: fc.constantFrom(...kinds),
  seed: fc.integer(),
});
// ------------------------------------------------------------------------------------------------
const norm = (v: readonly number[]) => Math.sqrt(dotv(v, v));
const cosv = (a: readonly number[], b: readonly number[]) => dotv(a, b) / (norm(a) * norm(b));

/** Linearly independent gradients with a well-conditioned unit Gramian (λ_min(Ĝ) > 1e-3). */
const fullRankArb = fc
  .record({ T: fc.integer({ min: 2, max: 8 }), extra: fc.integer({ min: 0, max: 4 }), scaled: fc.boolean(), seed: fc.integer() })
  .map(({ T, extra, scaled, seed }) => jacobian(T, T + extra, scaled ? "scaled" : "random", seed))
  .filter((J) => Math.min(...unitGramian(gram(J)).values) > 1e-3);

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
    const d = combine(J, configWeights(gram(J)));
    const x = [1, 1 + s2];
    const xx = dotv(x, x);
    close(d[0]!, (3 * x[0]!) / xx, 1e-14, "d0");
    close(d[1]!, (3 * x[1]!) / xx, 1e-14, "d1");
  });

  test("property: on linearly independent gradients the direction has the same positive cosine with every gᵢ, and length Σ gᵢ·d/‖d‖", () => {
    fc.assert(
      fc.property(fullRankArb, (J) => {
        const w = configWeights(gram(J));
        const d = combine(J, w);
        const cos = J.map((g) => cosv(d, g));
        assert.ok(cos[0]! > 0, `cosine ${cos[0]}`);
        cos.forEach((c, i) => close(c, cos[0]!, 1e-8, `cos ${i} (${cos.join(", ")})`));
        const length = J.reduce((s, g) => s + dotv(g, d), 0) / norm(d);
        close(norm(d), length, 1e-8 * length, "length");
      }),
      { numRuns: 300 },
    );
  });

  test("property: on the line of IMTL-G's direction (same sense iff its common projection is positive); invariant to rescaling a task's gradient", () => {
    fc.assert(
      fc.property(fullRankArb, fc.integer(), (J, s) => {
        const G = gram(J);
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
        const d2 = combine(J2, configWeights(gram(J2)));
        close(cosv(d, d2), 1, 1e-8, "scale invariance of the direction");
      }),
      { numRuns: 200 },
    );
  });

  test("property: permutation equivariance", () => {
    fc.assert(
      fc.property(caseArb, fc.integer(), ({ T, D, kind, seed }, permSeed) => {
        const G = gram(jacobian(T, D, kind, seed));
        const p = Array.from(new Rng(permSeed).permutation(T));
        const w = configWeights(G);
        const w2 = configWeights(permuteSym(G, p));
        const scale = Math.max(1e-300, ...w.map(Math.abs));
        // The solve divides by the smallest kept eigenvalue of Ĝ, and null vectors of Ĝ meet task scales 10⁸
        // apart: errors grow with both (rounding only — the eigensolver visits the entries in another order).
        const u = unitGramian(G);
        const kept = u.values.filter((v) => v > u.cut);
        const cond = kept.length > 0 ? kept[0]! / kept[kept.length - 1]! : 1;
        const spread = u.active.length > 0 ? Math.max(...u.active.map((i) => u.norms[i]!)) / Math.min(...u.active.map((i) => u.norms[i]!)) : 1;
        p.forEach((old, a) => close(w2[a]!, w[old]!, (1e-9 + 1e-11 * cond + 1e-14 * spread) * scale, `task ${a}: ${w2} vs ${w}`));
      }),
      { numRuns: 200 },
    );
  });

  test("property: finite on zero, rank-deficient, collinear and badly scaled Gramians", () => {
    fc.assert(
      fc.property(caseArb, ({ T, D, kind, seed }) => {
        const G = gram(jacobian(T, D, kind, seed));
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
    const w = configWeights(gram(J));
    assert.equal(w[1], 0);
    close(w[0]!, 0.75, 1e-15, "α1");
    close(w[2]!, 1.5, 1e-15, "α3");
    assert.deepEqual(configWeights([[0, 0], [0, 0]]), [0, 0]);
    // Three unit gradients at 120° (summing to 0): no direction has a positive cosine with all three.
    const s3 = Math.sqrt(3) / 2;
    const r = configSolve(gram([[1, 0], [-0.5, s3], [-0.5, -s3]].map((g, i) => g.map((v) => v * (i + 1)))));
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
