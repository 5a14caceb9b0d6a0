import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { dbMtl, dbMtlStep, dbMtlWeights, type DbMtlState } from "../../src/balancers/dbMtl.js";
import { permuteSym } from "../../src/solvers/linalg.js";
import { Rng } from "../../src/util/rng.js";
import { close, throwsInput } from "../helpers/assert.js";
import { norm, gramOf, combine, rngJacobian, rngCaseArb } from "../helpers/gramians.js";

const lossesArb = (T: number) => fc.array(fc.double({ min: 0, max: 1e3, noNaN: true }), { minLength: T, maxLength: T });

/** LibMTL's DB_MTL on the vectors: EMA of the log-gradient vectors, d = Σ (max‖b‖/‖bᵢ‖) bᵢ (without its +1e-8). */
function libmtlStep(J: readonly (readonly number[])[], losses: readonly number[], buffer: number[][], t: number, beta: number, sigma: number, eps: number) {
  const bt = beta / t ** sigma;
  const next = J.map((g, i) => g.map((v, d) => bt * buffer[i]![d]! + (1 - bt) * (v / (losses[i]! + eps))));
  const n = next.map(norm);
  const top = Math.max(...n);
  const d = J[0]!.map((_, k) => next.reduce((s, b, i) => s + (n[i]! > 0 ? (top / n[i]!) * b[k]! : 0), 0));
  return { d, buffer: next };
}

describe("dbmtl", () => {
  test("name, needs, timing, init", () => {
    const b = dbMtl();
    assert.equal(b.name, "dbmtl");
    assert.deepEqual(b.needs, { gramian: "shared" });
    assert.equal(b.timing, "current");
    assert.deepEqual(b.init(2), { weights: [1, 1], step: 0, emaNorms: [0, 0] });
  });

  test("hand case: first two steps with G = diag(4, 1) and losses (10, 1)", () => {
    // ‖∇log L‖ = ‖g‖/L = (2/10, 1/1) = (0.2, 1) (ε = 0 up to 1e-8).
    // t = 1: β₁ = 0.9/1^0.5 = 0.9, n̂ = 0.1·(0.2, 1) = (0.02, 0.1); α = max n̂/‖gᵢ‖ = (0.1/2, 0.1/1) = (0.05, 0.1).
    // t = 2: β₂ = 0.9/√2, n̂ = β₂(0.02, 0.1) + (1 − β₂)(0.2, 1); α = n̂₂/(2, 1).
    const b = dbMtl();
    const G = [
      [4, 0],
      [0, 1],
    ];
    const r1 = b.update({ losses: [10, 1], gramian: G }, b.init(2));
    close(r1.weights[0]!, 0.05, 1e-8, "α1 step 1");
    close(r1.weights[1]!, 0.1, 1e-8, "α2 step 1");
    close(r1.state.emaNorms[0]!, 0.02, 1e-8, "n̂1");
    const r2 = b.update({ losses: [10, 1], gramian: G }, r1.state);
    const b2 = 0.9 / Math.SQRT2;
    const top = b2 * 0.1 + (1 - b2) * 1;
    close(r2.weights[0]!, top / 2, 1e-8, "α1 step 2");
    close(r2.weights[1]!, top / 1, 1e-8, "α2 step 2");
    assert.equal(r2.state.step, 2);
  });

  test("property: every non-zero task contributes a vector of length max n̂ (αᵢ‖gᵢ‖ = max n̂); zero gradients get 0", () => {
    fc.assert(
      fc.property(
        rngCaseArb.chain((c) => fc.tuple(fc.constant(c), lossesArb(c.T))),
        ([{ T, D, kind, seed }, losses]) => {
          const G = gramOf(rngJacobian(T, D, kind, seed));
          const ema = new Array<number>(T).fill(0).map((_, i) => i / T);
          const r = dbMtlStep(G, losses, ema, 3, { beta: 0.7, betaSigma: 0.5 });
          const top = Math.max(...r.emaNorms);
          G.forEach((row, i) => {
            const n = Math.sqrt(row[i]!);
            if (n > 0) close(r.weights[i]! * n, top, 1e-12 * Math.max(1, top), `task ${i}`);
            else assert.equal(r.weights[i], 0);
            close(r.logGradNorms[i]!, n / (losses[i]! + 1e-8), 1e-12 * Math.max(1, r.logGradNorms[i]!), `log-grad norm ${i}`);
            const bt = 0.7 / Math.sqrt(3);
            close(r.emaNorms[i]!, bt * ema[i]! + (1 - bt) * r.logGradNorms[i]!, 1e-12 * Math.max(1, r.emaNorms[i]!), `EMA ${i}`);
          });
          for (const w of r.weights) assert.ok(Number.isFinite(w) && w >= 0, `${kind}: ${r.weights}`);
        },
      ),
      { numRuns: 300 },
    );
  });

  test("property: with β = 0 the direction equals LibMTL's DB_MTL on the vectors (whose EMA is then the current log-gradient)", () => {
    fc.assert(
      fc.property(
        rngCaseArb.chain((c) => fc.tuple(fc.constant(c), lossesArb(c.T))),
        ([{ T, D, kind, seed }, losses]) => {
          const J = rngJacobian(T, D, kind, seed);
          const w = dbMtlWeights(gramOf(J), losses, new Array<number>(T).fill(0), 1, { beta: 0 });
          const d = combine(J, w);
          const ref = libmtlStep(J, losses, J.map((g) => g.map(() => 0)), 1, 0, 0.5, 1e-8).d;
          // The summands have length max‖∇log Lᵢ‖ each: the rounding scale of the (possibly cancelling) sum.
          const scale = T * Math.max(1e-300, ...J.map((g, i) => norm(g) / (losses[i]! + 1e-8)));
          ref.forEach((v, k) => close(d[k]!, v, 1e-9 * scale, `component ${k} (${kind})`));
        },
      ),
      { numRuns: 200 },
    );
  });

  test("over steps, the EMA of norms follows β_t = β/t^σ; with constant gradients it agrees with LibMTL's vector EMA", () => {
    // Constant gradients: the EMA of vectors is a multiple of each vector, so its norm is the EMA of the norms.
    const J = [
      [3, 0, 1],
      [-1, 2, 0],
      [0.1, 0.1, -0.2],
    ];
    const G = gramOf(J);
    const losses = [2, 0.5, 7];
    const b = dbMtl({ beta: 0.8, betaSigma: 0.3 });
    let s: DbMtlState = b.init(3);
    let buffer = J.map((g) => g.map(() => 0));
    for (let t = 1; t <= 12; t++) {
      const r = b.update({ losses, gramian: G }, s);
      s = r.state;
      const ref = libmtlStep(J, losses, buffer, t, 0.8, 0.3, 1e-8);
      buffer = ref.buffer;
      const d = combine(J, r.weights);
      ref.d.forEach((v, k) => close(d[k]!, v, 1e-9 * Math.max(1, Math.abs(v)), `step ${t} component ${k}`));
      buffer.forEach((bv, i) => close(s.emaNorms[i]!, norm(bv), 1e-9, `step ${t} n̂${i}`));
    }
  });

  test("property: permutation equivariance (with the permuted state)", () => {
    fc.assert(
      fc.property(
        rngCaseArb.chain((c) => fc.tuple(fc.constant(c), lossesArb(c.T), fc.integer())),
        ([{ T, D, kind, seed }, losses, permSeed]) => {
          const G = gramOf(rngJacobian(T, D, kind, seed));
          const ema = losses.map((l) => l / 7);
          const p = Array.from(new Rng(permSeed).permutation(T));
          const w = dbMtlWeights(G, losses, ema, 2);
          const w2 = dbMtlWeights(
            permuteSym(G, p),
            p.map((i) => losses[i]!),
            p.map((i) => ema[i]!),
            2,
          );
          p.forEach((old, a) => close(w2[a]!, w[old]!, 1e-12 * Math.max(1, Math.abs(w[old]!)), `task ${a}`));
        },
      ),
      { numRuns: 200 },
    );
  });

  test("property: finite over many steps on zero, rank-deficient, collinear and badly scaled Gramians, losses 0 … 1e3", () => {
    fc.assert(
      fc.property(
        rngCaseArb.chain((c) => fc.tuple(fc.constant(c), lossesArb(c.T))),
        ([{ T, D, kind, seed }, losses]) => {
          const G = gramOf(rngJacobian(T, D, kind, seed));
          const b = dbMtl();
          let s = b.init(T);
          for (let k = 0; k < 5; k++) {
            const r = b.update({ losses, gramian: G }, s);
            for (const w of r.weights) assert.ok(Number.isFinite(w), `${kind}: ${r.weights}`);
            s = r.state;
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  test("update is pure: the same state gives the same result and is not mutated", () => {
    const b = dbMtl();
    const G = gramOf(rngJacobian(3, 4, "random", 5));
    const s = b.update({ losses: [1, 2, 3], gramian: G }, b.init(3)).state;
    const copy = structuredClone(s);
    const a = b.update({ losses: [1, 2, 3], gramian: G }, s);
    assert.deepEqual(b.update({ losses: [1, 2, 3], gramian: G }, s), a);
    assert.deepEqual(s, copy);
  });

  test("bad input throws BalancerInputError naming the problem", () => {
    const b = dbMtl();
    const s = b.init(2);
    const ok = [
      [1, 0],
      [0, 1],
    ];
    throwsInput(() => b.update({ losses: [1, 1] }, s), /^dbmtl:/, /Gramian is required/);
    throwsInput(() => b.update({ losses: [1, 1], gramian: [[1, Number.NaN], [Number.NaN, 1]] }, s), /^dbmtl:/, /NaN/);
    throwsInput(() => b.update({ losses: [1, 1], gramian: [[1, 0], [0, 1], [0, 0]] }, s), /expected a 2×2 Gramian/);
    throwsInput(() => b.update({ losses: [1, 1], gramian: [[1, 0, 0], [0, 1]] }, s), /row 0 has 3 entries/);
    throwsInput(() => b.update({ losses: [1, 1], gramian: [[1, 1], [-1, 1]] }, s), /not symmetric/);
    throwsInput(() => b.update({ losses: [1, -0.5], gramian: ok }, s), /loss of task 1 is negative/);
    throwsInput(() => b.update({ losses: [Number.NaN, 1], gramian: ok }, s), /task 0/, /NaN/);
    throwsInput(() => dbMtlWeights(ok, [1, 1], [0], 1), /expected 2 EMA norms/);
    throwsInput(() => dbMtlWeights(ok, [1, 1], [0, 0], 0), /step t/);
    throwsInput(() => dbMtl({ beta: 1 }), /option beta/);
    throwsInput(() => dbMtl({ betaSigma: -1 }), /option betaSigma/);
    throwsInput(() => dbMtl({ eps: 0 }), /option eps/);
  });
});
