import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { famo, famoLogitGrad, famoSoftmax, famoWeights, type FamoState } from "../../src/balancers/famo.js";
import type { Balancer } from "../../src/balancers/types.js";
import { BalancerInputError } from "../../src/balancers/validate.js";
import { throwsInput, close } from "../helpers/assert.js";

/** Runs a balancer over per-step losses; returns each update's result. */
function run(b: Balancer<FamoState>, T: number, seq: readonly (readonly number[])[]) {
  let s = b.init(T);
  return seq.map((losses) => {
    const r = b.update({ losses }, s);
    s = r.state;
    return r;
  });
}

/** Independent of the closed form: central finite difference of ξ ↦ Σ softmax(ξ)ᵢδᵢ (softmax written naively). */
function fdLogitGrad(xi: readonly number[], delta: readonly number[], h = 1e-6): number[] {
  const f = (x: readonly number[]) => {
    const e = x.map(Math.exp);
    const s = e.reduce((a, b) => a + b, 0);
    return e.reduce((a, ei, i) => a + (ei / s) * delta[i]!, 0);
  };
  return xi.map((_, k) => {
    const p = xi.map((v, i) => (i === k ? v + h : v));
    const m = xi.map((v, i) => (i === k ? v - h : v));
    return (f(p) - f(m)) / (2 * h);
  });
}

/**
 * Independent of the closed form: the gradient, with respect to the losses, of the official
 * objective Σ zᵢ·log(Lᵢ − Lᵢ* + ε)/c with c = Σ zⱼ/Dⱼ held fixed (detached), by finite differences.
 */
function fdOfficialObjectiveGrad(z: readonly number[], L: readonly number[], min: number, eps: number): number[] {
  const D = L.map((l) => l - min + eps);
  const c = z.reduce((a, zi, i) => a + zi / D[i]!, 0);
  const obj = (x: readonly number[]) => x.reduce((a, l, i) => a + (z[i]! * Math.log(l - min + eps)) / c, 0);
  return L.map((l, k) => {
    const h = 1e-6 * Math.max(1, l);
    const p = L.map((v, i) => (i === k ? v + h : v));
    const m = L.map((v, i) => (i === k ? v - h : v));
    return (obj(p) - obj(m)) / (2 * h);
  });
}

const finitePos = fc.double({ min: 1e-3, max: 1e3, noNaN: true });

describe("famo", () => {
  test("name, needs, timing, init", () => {
    const b = famo();
    assert.equal(b.name, "famo");
    assert.deepEqual(b.needs, {});
    assert.equal(b.timing, "next");
    const s = b.init(4);
    assert.deepEqual(s.weights, [0.25, 0.25, 0.25, 0.25], "step 0: z = 1/T, no 1/D factor: the mean loss");
    assert.deepEqual(s.logits, [0, 0, 0, 0]);
    assert.equal(s.previousLosses, null);
    assert.deepEqual(famo({ weightSum: 4 }).init(4).weights, [1, 1, 1, 1]);
  });

  test("first update: no logit step, weights zᵢ/(c·Dᵢ) from the observed losses, summing to 1", () => {
    const b = famo();
    const r = b.update({ losses: [2, 1, 0.5] }, b.init(3));
    assert.deepEqual(r.state.logits, [0, 0, 0]);
    assert.equal(r.info?.["delta"], undefined);
    // z = 1/3 each, D ≈ L: w ∝ 1/L = (0.5, 1, 2) / 3.5
    close(r.weights[0]!, 0.5 / 3.5, 1e-8, "w0");
    close(r.weights[1]!, 1 / 3.5, 1e-8, "w1");
    close(r.weights[2]!, 2 / 3.5, 1e-8, "w2");
    assert.deepEqual(r.state.weights, r.weights);
    assert.deepEqual(r.state.previousLosses, [2, 1, 0.5]);
  });

  test("property: finite weights summing to weightSum for positive losses", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }).chain((T) => fc.array(fc.array(finitePos, { minLength: T, maxLength: T }), { minLength: 1, maxLength: 6 })),
        fc.constantFrom(1, 3),
        (seq, weightSum) => {
          const T = seq[0]!.length;
          for (const r of run(famo({ weightSum }), T, seq)) {
            assert.ok(r.weights.every((w) => Number.isFinite(w) && w > 0), `weights ${r.weights.join(", ")}`);
            close(r.weights.reduce((a, b) => a + b, 0), weightSum, 1e-12 * weightSum, "Σw");
            assert.ok(r.state.logits.every(Number.isFinite));
          }
        },
      ),
    );
  });

  test("weights are the gradient of the official objective Σ zᵢ log Dᵢ / c (c detached)", () => {
    const z = famoSoftmax([0.3, -0.2, 0.9]);
    const L = [0.7, 2.5, 0.05];
    const min = 0.01;
    const eps = 1e-8;
    const expected = fdOfficialObjectiveGrad(z, L, min, eps);
    const w = famoWeights([0.3, -0.2, 0.9], L.map((l) => l - min + eps));
    w.forEach((wi, i) => close(wi, expected[i]!, 1e-7, `w${i}`));
  });

  test("logit gradient J_softmax(ξ)ᵀδ matches finite differences", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 6 }).chain((T) =>
          fc.tuple(
            fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: T, maxLength: T }),
            fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: T, maxLength: T }),
          ),
        ),
        ([xi, delta]) => {
          const g = famoLogitGrad(xi, delta);
          const fd = fdLogitGrad(xi, delta);
          g.forEach((gi, i) => close(gi, fd[i]!, 1e-7, `g${i}`));
          close(g.reduce((a, b) => a + b, 0), 0, 1e-12, "Σ g (softmax is shift-invariant)");
        },
      ),
    );
  });

  test("T = 2 by hand with SGD: δ, logit step (with decay γ) and next weights", () => {
    const lr = 0.1;
    const gamma = 0.5;
    const b = famo({ optimizer: "sgd", lr, gamma, epsilon: 1e-12 });
    const [r0, r1, r2] = run(b, 2, [
      [2, 1],
      [1, 0.9],
      [0.8, 0.3],
    ]);
    // Step 1: ξ = 0, z = (½, ½), δ = (log 2 − log 1, log 1 − log 0.9); zᵀδ = (δ₀+δ₁)/2;
    // g = z ⊙ (δ − zᵀδ) = ((δ₀−δ₁)/4, −(δ₀−δ₁)/4); γξ = 0; ξ = −lr·g.
    const d0 = Math.log(2);
    const d1 = -Math.log(0.9);
    const g = (d0 - d1) / 4;
    const xi1 = [-lr * g, lr * g];
    assert.equal(r0!.info?.["delta"], undefined);
    const delta1 = r1!.info?.["delta"] as readonly number[];
    close(delta1[0]!, d0, 1e-10, "δ0");
    close(delta1[1]!, d1, 1e-10, "δ1");
    close(r1!.state.logits[0]!, xi1[0]!, 1e-10, "ξ0");
    close(r1!.state.logits[1]!, xi1[1]!, 1e-10, "ξ1");
    // Weights for step 2: z = softmax(ξ), w ∝ z/L with L = (1, 0.9).
    const z1 = [1 / (1 + Math.exp(xi1[1]! - xi1[0]!)), 1 / (1 + Math.exp(xi1[0]! - xi1[1]!))];
    const u = [z1[0]! / 1, z1[1]! / 0.9];
    close(r1!.weights[0]!, u[0]! / (u[0]! + u[1]!), 1e-10, "w0");
    close(r1!.weights[1]!, u[1]! / (u[0]! + u[1]!), 1e-10, "w1");
    // Step 2: δ = log(1/0.8), log(0.9/0.3); gradient by finite differences plus γξ.
    const delta2 = [Math.log(1 / 0.8), Math.log(0.9 / 0.3)];
    const fd = fdLogitGrad(xi1, delta2);
    const xi2 = xi1.map((x, i) => x - lr * (fd[i]! + gamma * x));
    close(r2!.state.logits[0]!, xi2[0]!, 1e-9, "ξ0 step 2");
    close(r2!.state.logits[1]!, xi2[1]!, 1e-9, "ξ1 step 2");
    // Task 1's log-loss fell more at step 2 (log 3 vs log 1.25): its logit went down.
    assert.ok(r2!.state.logits[1]! < xi1[1]!);
  });

  test("defaults: Adam with lr 0.025 — the first logit step is exactly ±lr", () => {
    const b = famo();
    const [, r1] = run(b, 2, [
      [1, 1],
      [0.5, 0.9],
    ]);
    // Task 0 decreased more: positive gradient on ξ₀, negative on ξ₁; Adam's first step is
    // lr·g/(|g| + 1e-8) ≈ lr·sign(g) (|g| ≈ 0.07 here, so ε changes it by ~1e-7 relative).
    close(r1!.state.logits[0]!, -0.025, 1e-8, "ξ0");
    close(r1!.state.logits[1]!, 0.025, 1e-8, "ξ1");
  });

  test("minLoss: D = L − L* + ε", () => {
    const b = famo({ minLoss: [0.5, 0], epsilon: 1e-12 });
    const r = b.update({ losses: [1.5, 1] }, b.init(2));
    // D = (1, 1): equal weights.
    close(r.weights[0]!, 0.5, 1e-10);
    close(r.weights[1]!, 0.5, 1e-10);
    const r2 = famo({ minLoss: 1 }).update({ losses: [1, 3] }, famo({ minLoss: 1 }).init(2));
    assert.ok(r2.weights.every(Number.isFinite));
    assert.ok(r2.weights[0]! > 0.999, "loss at its minimum: D = ε, almost all the weight");
  });

  test("a task whose loss decreases faster loses z-weight over steps (balances log-loss decrease rates)", () => {
    // Task 0: L = e^{−0.05 t}; tasks 1, 2: L = e^{−0.01 t}. Task 0's log-loss falls 5× faster.
    const seq = Array.from({ length: 60 }, (_, t) => [Math.exp(-0.05 * t), Math.exp(-0.01 * t), 2 * Math.exp(-0.01 * t)]);
    const rs = run(famo(), 3, seq);
    const zs = rs.map((r) => r.info?.["z"] as readonly number[]);
    const first = zs[1]!;
    const last = zs[zs.length - 1]!;
    assert.ok(last[0]! < first[0]!, `z0 ${first[0]} → ${last[0]}`);
    assert.ok(last[0]! < 1 / 3 - 0.1, `z0 = ${last[0]} should fall well below 1/3`);
    for (let k = 2; k < zs.length; k++) assert.ok(zs[k]![0]! < zs[k - 1]![0]!, `z0 decreases at every step (k = ${k})`);
    close(last[1]!, last[2]!, 1e-6, "tasks 1 and 2 fall at the same log-rate: same z (up to ε in Dᵢ)");
    // Its share of the log-objective, wᵢLᵢ/Σ wⱼLⱼ = zᵢ, falls too.
    const r = rs[rs.length - 1]!;
    const L = seq[seq.length - 1]!;
    const share = (r.weights[0]! * L[0]!) / r.weights.reduce((a, w, i) => a + w * L[i]!, 0);
    close(share, last[0]!, 1e-6, "w0·L0 share = z0");
  });

  test("weight decay γ pulls the logits back to 0 when losses stop moving", () => {
    const seq: number[][] = [];
    for (let t = 0; t < 20; t++) seq.push([Math.exp(-0.1 * t), 1]);
    for (let t = 0; t < 200; t++) seq.push([Math.exp(-1.9), 1]);
    const rs = run(famo({ optimizer: "sgd", lr: 0.5, gamma: 0.1 }), 2, seq);
    const peak = Math.abs(rs[19]!.state.logits[0]!);
    const end = Math.abs(rs[rs.length - 1]!.state.logits[0]!);
    assert.ok(peak > 0.01, `peak ${peak}`);
    assert.ok(end < 1e-3 * peak, `decayed to ${end}`);
  });

  test("bad input: NaN, below minLoss, wrong length → BalancerInputError naming the problem", () => {
    const b = famo();
    const s = b.init(2);
    throwsInput(() => b.update({ losses: [1, Number.NaN] }, s), /famo/, /task 1/, /NaN/);
    throwsInput(() => b.update({ losses: [1, Number.POSITIVE_INFINITY] }, s), /task 1/);
    throwsInput(() => b.update({ losses: [-0.1, 1] }, s), /task 0/, /below its minimum loss 0/);
    throwsInput(() => b.update({ losses: [1, 2, 3] }, s), /expected 2 losses, got 3/);
    throwsInput(() => famo({ minLoss: 2 }).update({ losses: [1.5, 3] }, famo({ minLoss: 2 }).init(2)), /task 0/, /minimum loss 2/);
    throwsInput(() => famo({ minLoss: [0, 0, 0] }).init(2), /3 minimum losses.*2 tasks/);
    throwsInput(() => famo({ lr: 0 }), /lr/);
    throwsInput(() => famo({ gamma: -1 }), /gamma/);
    throwsInput(() => famo({ epsilon: 0 }), /epsilon/);
    throwsInput(() => famo({ weightSum: Number.NaN }), /weightSum/);
    throwsInput(() => famo({ minLoss: Number.NaN }), /minLoss/);
    throwsInput(() => famo({ optimizer: "rmsprop" as never }), /optimizer/);
    throwsInput(() => famo().init(0), /number of tasks/);
    // A failed update leaves the state usable.
    assert.ok(b.update({ losses: [1, 2] }, s).weights.every(Number.isFinite));
    assert.throws(() => b.update({ losses: [1, Number.NaN] }, s), BalancerInputError);
  });

  test("determinism and purity: same inputs, same outputs; the state is not mutated", () => {
    const seq = Array.from({ length: 15 }, (_, t) => [1 + Math.sin(t), 2 * Math.exp(-0.1 * t), 0.5 + 0.01 * t]);
    const a = run(famo(), 3, seq).map((r) => r.state);
    const b = run(famo(), 3, seq).map((r) => r.state);
    assert.deepEqual(a, b);
    const bal = famo();
    const s = bal.update({ losses: [1, 2, 3] }, bal.init(3)).state;
    const frozen = JSON.stringify(s);
    const r1 = bal.update({ losses: [0.5, 1.5, 3] }, s);
    const r2 = bal.update({ losses: [0.5, 1.5, 3] }, s);
    assert.equal(JSON.stringify(s), frozen);
    assert.deepEqual(r1, r2);
  });
});

test("famoSoftmax, famoLogitGrad and famoWeights reject non-finite input instead of returning NaN", () => {
  throwsInput(() => famoSoftmax([0, Number.NaN]), /^famo: logits of task 1 is NaN/);
  throwsInput(() => famoSoftmax([Infinity, 0]), /logits of task 0 is Infinity/);
  throwsInput(() => famoSoftmax([]), /empty/);
  throwsInput(() => famoLogitGrad([0, 0], [1, Number.NaN]), /δ of task 1 is NaN/);
  throwsInput(() => famoWeights([0, 0], [1, 0]), /loss gap D of task 1 is 0/);
  throwsInput(() => famoWeights([0, 0], [1, 1], 0), /weightSum/);
  assert.deepEqual(famoSoftmax([1000, 1000]), [0.5, 0.5], "large finite logits are fine");
});
