import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { gradVac, gradVacStep, gradVacWeights, GRADVAC_MAX_TARGET } from "../../src/balancers/gradVac.js";
import { pcgradOrders, pcgradWeights } from "../../src/balancers/pcgrad.js";
import { permuteSym } from "../../src/solvers/linalg.js";
import { Rng } from "../../src/util/rng.js";
import { close, throwsInput } from "../helpers/assert.js";
import { norm, cosv, gramOf, combine, rngJacobian, rngCaseArb } from "../helpers/gramians.js";

const zeros = (T: number) => Array.from({ length: T }, () => new Array<number>(T).fill(0));
const randomOrders = (T: number, seed: number) => pcgradOrders(seed, 0, T).orders;

/** Algorithm 1 of the paper on the gradient vectors: returns Σ gᵢ' and the new targets (with the same zero rule as the implementation). */
function referenceGradVac(J: readonly (readonly number[])[], targets: readonly (readonly number[])[], beta: number, orders: readonly (readonly number[])[]) {
  const next = targets.map((r) => [...r]);
  const out = new Array<number>(J[0]!.length).fill(0);
  let kappa = 1;
  J.forEach((gi, i) => {
    let g = [...gi];
    const c: number[] = J.map((_, k) => (k === i ? 1 : 0));
    for (const j of orders[i]!) {
      const gj = J[j]!;
      const parts = c.reduce((s, ck, k) => s + Math.abs(ck) * norm(J[k]!), 0);
      if (norm(g) <= 1e-7 * parts || norm(gj) === 0) continue;
      kappa = Math.max(kappa, parts / norm(g));
      const phi = Math.max(-1, Math.min(1, cosv(g, gj)));
      const t = targets[i]![j]!;
      if (phi < t) {
        const w = (norm(g) * (t * Math.sqrt(1 - phi * phi) - phi * Math.sqrt(1 - t * t))) / (norm(gj) * Math.sqrt(1 - t * t));
        g = g.map((v, d) => v + w * gj[d]!);
        c[j] = c[j]! + w;
      }
      next[i]![j] = (1 - beta) * t + beta * phi;
    }
    g.forEach((v, d) => (out[d] = out[d]! + v));
  });
  // kappa: the worst cancellation Σₖ|cₖ|‖gₖ‖ / ‖gᵢ'‖ met; the Gramian's cosines are good to about 1e-16·kappa².
  return { d: out, targets: next, kappa };
}

describe("gradvac", () => {
  test("name, needs, timing, init (targets start at 0)", () => {
    const b = gradVac();
    assert.equal(b.name, "gradvac");
    assert.deepEqual(b.needs, { gramian: "shared" });
    assert.equal(b.timing, "current");
    assert.deepEqual(b.init(2), { weights: [1, 1], step: 0, targets: zeros(2), counter: 0 });
  });

  test("hand case: orthogonal unit gradients with target ½ are rotated to 60°", () => {
    // g1 = (1, 0), g2 = (0, 1), φ = 0, φ̂ = ½: w = ‖g1‖(½·1 − 0)/(‖g2‖·√(1 − ¼)) = 1/√3.
    // g1' = (1, 1/√3): cos(g1', g2) = (1/√3)/√(4/3) = ½. Symmetrically for g2, so α = (1 + 1/√3) · (1, 1).
    const G = [
      [1, 0],
      [0, 1],
    ];
    const { weights, targets, corrections } = gradVacStep(G, [[0, 0.5], [0.5, 0]], 0.25);
    close(weights[0]!, 1 + 1 / Math.sqrt(3), 1e-15, "α1");
    close(weights[1]!, 1 + 1 / Math.sqrt(3), 1e-15, "α2");
    assert.equal(corrections, 2);
    // EMA with φ measured before the correction: (1 − ¼)·½ + ¼·0 = 3/8.
    assert.deepEqual(targets, [[0, 0.375], [0.375, 0]]);
  });

  test("property: targets below the current cosines change nothing (α = 1); the EMA still moves", () => {
    fc.assert(
      fc.property(rngCaseArb, fc.double({ min: 0, max: 2, noNaN: true }), ({ T, D, kind, seed }, delta) => {
        const J = rngJacobian(T, D, kind, seed);
        const G = gramOf(J);
        const targets = J.map((gi, i) => J.map((gj, j) => (i === j || norm(gi) === 0 || norm(gj) === 0 ? 0 : Math.max(-1, cosv(gi, gj) - delta - 1e-9))));
        const r = gradVacStep(G, targets, 0.1, randomOrders(T, seed));
        assert.deepEqual(r.weights, new Array<number>(T).fill(1));
        assert.equal(r.corrections, 0);
        J.forEach((gi, i) =>
          J.forEach((gj, j) => {
            if (i === j || norm(gi) === 0 || norm(gj) === 0) return;
            close(r.targets[i]![j]!, 0.9 * targets[i]![j]! + 0.1 * cosv(gi, gj), 1e-9, `target ${i},${j}`);
          }),
        );
      }),
      { numRuns: 200 },
    );
  });

  test("property: a correction brings cos(gᵢ', gⱼ) exactly to the target (T = 2)", () => {
    fc.assert(
      fc.property(rngCaseArb, fc.double({ min: -0.99, max: 0.99, noNaN: true }), ({ D, seed }, target) => {
        const J = rngJacobian(2, Math.max(D, 2), "random", seed);
        fc.pre(Math.abs(cosv(J[0]!, J[1]!)) < 0.999);
        fc.pre(cosv(J[0]!, J[1]!) < target);
        const { coefficients } = gradVacStep(gramOf(J), [[0, target], [target, 0]], 0.01);
        for (let i = 0; i < 2; i++) close(cosv(combine(J, coefficients[i]!), J[1 - i]!), target, 1e-9, `task ${i}`);
      }),
      { numRuns: 200 },
    );
  });

  test("property: equals Algorithm 1 on the gradient vectors (direction and targets), for the same orders", () => {
    fc.assert(
      fc.property(
        // No (nearly) collinear pairs: at φ = ±1, √(1 − φ²) turns rounding into ~1e-8 errors that a corrected gᵢ'
        // can amplify further (both implementations are right; they just round differently). Covered by the finiteness test.
        rngCaseArb.filter(({ T, D, kind, seed }) => {
          const J = rngJacobian(T, D, kind, seed);
          return J.every((a, i) => J.every((b, j) => i === j || norm(a) === 0 || norm(b) === 0 || Math.abs(cosv(a, b)) <= 0.999));
        }),
        fc.integer(),
        fc.double({ min: 0.001, max: 1, noNaN: true }),
        fc.double({ min: -1, max: 0.999, noNaN: true }),
        ({ T, D, kind, seed }, orderSeed, beta, t0) => {
          const J = rngJacobian(T, D, kind, seed);
          const rng = new Rng(orderSeed);
          const targets = Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, j) => (i === j ? 0 : Math.max(-1, Math.min(0.999, t0 + 0.3 * rng.normal())))));
          const orders = randomOrders(T, orderSeed);
          const r = gradVacStep(gramOf(J), targets, beta, orders);
          const ref = referenceGradVac(J, targets, beta, orders);
          const d = combine(J, r.weights);
          // Rounding scale of the (possibly cancelling) sum; √(1 − φ²) turns rounding at φ = ±1 (collinear gradients) into ~1e-8.
          const scale = Math.max(1e-300, r.weights.reduce((s, a, k) => s + Math.abs(a) * norm(J[k]!), 0));
          ref.d.forEach((v, k) => assert.ok(Math.abs(d[k]! - v) <= 1e-7 * scale, `component ${k}: ${d[k]} vs ${v} (${kind})`));
          const tol = 1e-9 + 1e-13 * ref.kappa ** 2;
          ref.targets.forEach((row, i) => row.forEach((v, j) => close(r.targets[i]![j]!, v, tol, `target ${i},${j}`)));
        },
      ),
      { numRuns: 300 },
    );
  });

  test("property: with all targets 0 (the first step), GradVac is PCGrad for the same orders", () => {
    fc.assert(
      fc.property(rngCaseArb, fc.integer(), ({ T, D, kind, seed }, orderSeed) => {
        const J = rngJacobian(T, D, kind, seed);
        const G = gramOf(J);
        const orders = randomOrders(T, orderSeed);
        const a = gradVacWeights(G, zeros(T), 0.01, orders);
        const b = pcgradWeights(G, orders);
        // Compared as directions: the two differ only where some gᵢ' has cancelled to rounding level
        // (GradVac then skips it, PCGrad projects the residue), which moves d by ~1e-7 of the summands.
        const da = combine(J, a);
        const db = combine(J, b);
        const scale = Math.max(1e-300, b.reduce((s, w, k) => s + Math.abs(w) * norm(J[k]!), 0));
        da.forEach((v, k) => close(v, db[k]!, 1e-6 * scale, `component ${k} (${kind})`));
        if (kind === "random") a.forEach((v, k) => close(v, b[k]!, 1e-9 * Math.max(1, ...b.map(Math.abs)), `α${k}`));
      }),
      { numRuns: 200 },
    );
  });

  test("property: finite on zero, rank-deficient, collinear and badly scaled Gramians, over many steps and targets near ±1", () => {
    fc.assert(
      fc.property(rngCaseArb, fc.constantFrom(-1, 0, 0.5, 1), ({ T, D, kind, seed }, t) => {
        const G = gramOf(rngJacobian(T, D, kind, seed));
        const targets = Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, j) => (i === j ? 0 : t)));
        for (const w of gradVacWeights(G, targets, 0.5, randomOrders(T, seed))) assert.ok(Number.isFinite(w), `${kind}, target ${t}`);
        const b = gradVac({ beta: 0.3, seed: seed | 0 });
        let st = b.init(T);
        for (let k = 0; k < 4; k++) {
          const r = b.update({ losses: new Array<number>(T).fill(1), gramian: G }, st);
          for (const w of r.weights) assert.ok(Number.isFinite(w), `${kind} step ${k}`);
          for (const row of r.state.targets) for (const v of row) assert.ok(v >= -1 && v <= 1);
          st = r.state;
        }
      }),
      { numRuns: 150 },
    );
    // A target of exactly 1 is capped: the correction reaches cosine 1 − 1e-8, not a division by 0.
    const J = [
      [1, 0],
      [0.6, 0.8],
    ];
    const { coefficients } = gradVacStep(gramOf(J), [[0, 1], [1, 0]], 0.01);
    close(cosv(combine(J, coefficients[0]!), J[1]!), GRADVAC_MAX_TARGET, 1e-9, "capped");
  });

  test("property: permutation equivariance with the permuted targets and orders", () => {
    fc.assert(
      fc.property(rngCaseArb, fc.integer(), fc.integer(), ({ T, D, kind, seed }, orderSeed, permSeed) => {
        const J = rngJacobian(T, D, kind, seed);
        const G = gramOf(J);
        const rng = new Rng(orderSeed);
        const targets = Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, j) => (i === j ? 0 : 2 * rng.uniform() - 1)));
        const orders = randomOrders(T, orderSeed);
        const p = Array.from(new Rng(permSeed).permutation(T));
        const inv = new Array<number>(T);
        p.forEach((old, a) => (inv[old] = a));
        const { weights: w, coefficients } = gradVacStep(G, targets, 0.1, orders);
        const w2 = gradVacWeights(permuteSym(G, p), permuteSym(targets, p), 0.1, p.map((old) => orders[old]!.map((j) => inv[j]!)));
        // Compared as directions at the rounding scale of the summands (see the PCGrad test), and exactly-ish on random J.
        const back = new Array<number>(T);
        p.forEach((old, a) => (back[old] = w2[a]!));
        const d = combine(J, w);
        const d2 = combine(J, back);
        const parts = coefficients.reduce((s, row) => s + row.reduce((t, c, k) => t + Math.abs(c) * norm(J[k]!), 0), 0);
        d.forEach((v, k) => close(d2[k]!, v, 1e-7 * Math.max(parts, 1e-300), `component ${k} (${kind})`));
        if (kind === "random" && D >= T) p.forEach((old, a) => close(w2[a]!, w[old]!, 1e-9 * Math.max(1, ...w.map(Math.abs)), `task ${a}`));
      }),
      { numRuns: 150 },
    );
  });

  test("stateful: the targets follow the EMA over steps; same seed → same sequence, different seeds differ", () => {
    // T = 2: φ = cos(g1, g2) = −0.6 every step, so φ̂ₜ = −0.6·(1 − (1 − β)ᵗ) (no correction changes φ for i's first and only j).
    const G = [
      [1, -0.6],
      [-0.6, 1],
    ];
    const beta = 0.2;
    const b = gradVac({ beta });
    let s = b.init(2);
    for (let t = 1; t <= 10; t++) {
      s = b.update({ losses: [1, 1], gramian: G }, s).state;
      close(s.targets[0]![1]!, -0.6 * (1 - (1 - beta) ** t), 1e-12, `step ${t}`);
      close(s.targets[1]![0]!, -0.6 * (1 - (1 - beta) ** t), 1e-12, `step ${t}`);
    }
    assert.equal(s.step, 10);

    const J = [
      [1, 0, 0],
      [-0.5, Math.sqrt(3) / 2, 0],
      [-0.5, -Math.sqrt(3) / 2, 0.1],
      [0.3, -0.2, -1],
    ];
    const G4 = gramOf(J);
    const seqFor = (seed: number) => {
      const bb = gradVac({ seed, beta: 0.1 });
      let st = bb.init(4);
      return Array.from({ length: 20 }, () => {
        const r = bb.update({ losses: [1, 1, 1, 1], gramian: G4 }, st);
        st = r.state;
        return r.weights;
      });
    };
    const a = seqFor(5);
    assert.deepEqual(a, seqFor(5));
    assert.notDeepEqual(a, seqFor(6));
  });

  test("update is pure: the same state gives the same result and is not mutated", () => {
    const b = gradVac({ seed: 3, beta: 0.5 });
    const G = gramOf(rngJacobian(3, 4, "random", 11));
    const s = b.update({ losses: [1, 2, 3], gramian: G }, b.init(3)).state;
    const copy = structuredClone(s);
    const a = b.update({ losses: [1, 2, 3], gramian: G }, s);
    assert.deepEqual(b.update({ losses: [1, 2, 3], gramian: G }, s), a);
    assert.deepEqual(s, copy);
    assert.equal(a.state.step, 2);
  });

  test("bad input throws BalancerInputError naming the problem", () => {
    const b = gradVac();
    const s = b.init(2);
    const ok = [
      [1, 0],
      [0, 1],
    ];
    throwsInput(() => b.update({ losses: [1, 1] }, s), /^gradvac:/, /Gramian is required/);
    throwsInput(() => b.update({ losses: [1, 1], gramian: [[Number.NaN, 0], [0, 1]] }, s), /^gradvac:/, /NaN/);
    throwsInput(() => b.update({ losses: [1, 1], gramian: [[1, 0, 0], [0, 1, 0]] }, s), /expected a 2×2|row 0 has 3/);
    throwsInput(() => b.update({ losses: [1, 1], gramian: [[1, 0.9], [0.1, 1]] }, s), /not symmetric/);
    throwsInput(() => b.update({ losses: [1, 1], gramian: [[1, 0, 0], [0, 1, 0], [0, 0, 1]] }, s), /expected a 2×2 Gramian/);
    throwsInput(() => b.update({ losses: [1, Infinity], gramian: ok }, s), /task 1/);
    throwsInput(() => gradVacWeights(ok, [[0, 2], [0, 0]]), /target \(0, 1\)/, /\[−1, 1\]/);
    throwsInput(() => gradVacWeights(ok, [[0, 0]]), /target matrix/);
    throwsInput(() => gradVacWeights(ok, zeros(2), 0), /option beta/);
    throwsInput(() => gradVac({ beta: 1.5 }), /option beta/);
    throwsInput(() => gradVac({ beta: Number.NaN }), /option beta/);
    throwsInput(() => gradVac({ seed: 2 ** 31 }), /option seed/);
  });
});
