import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { pcgrad, pcgradOrders, pcgradProject, pcgradWeights, pcgradDrawsPerStep } from "../../src/balancers/pcgrad.js";
import { dot, permuteSym } from "../../src/solvers/linalg.js";
import { Rng } from "../../src/util/rng.js";
import { close, throwsInput } from "../helpers/assert.js";
import { gramOf, combine, rngJacobian, rngCaseArb } from "../helpers/gramians.js";

/** Algorithm 1 written out on the gradient vectors themselves, for a given order per task. */
function referencePcgrad(J: readonly (readonly number[])[], orders: readonly (readonly number[])[]): number[] {
  const out = new Array<number>(J[0]!.length).fill(0);
  J.forEach((gi, i) => {
    let pc = [...gi];
    for (const j of orders[i]!) {
      const gj = J[j]!;
      const ip = dot(pc, gj);
      const nn = dot(gj, gj);
      if (ip < 0 && nn > 0) pc = pc.map((v, d) => v - (ip / nn) * gj[d]!);
    }
    pc.forEach((v, d) => (out[d] = out[d]! + v));
  });
  return out;
}

const randomOrders = (T: number, seed: number) => pcgradOrders(seed, 0, T).orders;

describe("pcgrad", () => {
  test("name, needs, timing, init", () => {
    const b = pcgrad();
    assert.equal(b.name, "pcgrad");
    assert.deepEqual(b.needs, { gramian: "shared" });
    assert.equal(b.timing, "current");
    assert.deepEqual(pcgrad({ gradMode: "lastShared" }).needs, { gramian: "lastShared" });
    const s = b.init(3);
    assert.deepEqual(s, { weights: [1, 1, 1], step: 0, counter: 0 });
  });

  test("hand case: two unit gradients at 120° are each projected onto the other's normal plane", () => {
    // g1 = (1, 0), g2 = (−½, √3/2): g1·g2 = −½, ‖g‖ = 1.
    // g1^PC = g1 − (−½)g2 = g1 + ½g2 = (¾, √3/4), orthogonal to g2: −3/8 + 3/8 = 0. Likewise g2^PC = g2 + ½g1.
    // Sum: (3/2)(g1 + g2), so α = (3/2, 3/2).
    const G = [
      [1, -0.5],
      [-0.5, 1],
    ];
    const { weights, coefficients, conflicts } = pcgradProject(G);
    close(weights[0]!, 1.5, 1e-15, "α1");
    close(weights[1]!, 1.5, 1e-15, "α2");
    assert.deepEqual(coefficients, [
      [1, 0.5],
      [0.5, 1],
    ]);
    assert.equal(conflicts, 2);
    // g1^PC · g2 = (G c1)₂ = −½ + ½ = 0.
    close(-0.5 * 1 + 1 * 0.5, 0, 0, "orthogonal");
  });

  test("hand case: unequal norms — only the conflicting component is removed", () => {
    // g1 = (2, 0), g2 = (−1, 1): G = [[4, −2], [−2, 2]].
    // g1^PC = g1 − (−2/2) g2 = g1 + g2 = (1, 1); g2^PC = g2 − (−2/4) g1 = g2 + ½g1 = (0, 1).
    // Sum = (1, 2) = 1.5·g1 + 2·g2 → α = (1.5, 2).
    const w = pcgradWeights([
      [4, -2],
      [-2, 2],
    ]);
    close(w[0]!, 1.5, 1e-15, "α1");
    close(w[1]!, 2, 1e-15, "α2");
  });

  test("property: non-conflicting gradients (all Gᵢⱼ ≥ 0) give the plain sum, α = 1", () => {
    fc.assert(
      fc.property(rngCaseArb, fc.integer(), ({ T, D, seed }, orderSeed) => {
        const J = rngJacobian(T, D, "random", seed).map((row) => row.map(Math.abs));
        const w = pcgradWeights(gramOf(J), randomOrders(T, orderSeed));
        assert.deepEqual(w, new Array<number>(T).fill(1));
      }),
      { numRuns: 100 },
    );
  });

  test("property: equals Algorithm 1 run on the gradient vectors, for the same orders", () => {
    fc.assert(
      fc.property(rngCaseArb, fc.integer(), ({ T, D, kind, seed }, orderSeed) => {
        const J = rngJacobian(T, D, kind, seed);
        const orders = randomOrders(T, orderSeed);
        const { weights, coefficients } = pcgradProject(gramOf(J), orders);
        const d = combine(J, weights);
        const ref = referencePcgrad(J, orders);
        // Rounding scale: the summands Σᵢ Σₖ |Cᵢₖ|‖gₖ‖ of the (possibly cancelling) combination.
        const parts = coefficients.reduce((s, row) => s + row.reduce((t, c, k) => t + Math.abs(c) * Math.sqrt(dot(J[k]!, J[k]!)), 0), 0);
        ref.forEach((v, k) => assert.ok(Math.abs(d[k]! - v) <= 1e-7 * Math.max(parts, 1e-300), `component ${k}: ${d[k]} vs ${v} (${kind})`));
      }),
      { numRuns: 300 },
    );
  });

  test("property: after its projections, gᵢ^PC does not conflict with the last gⱼ it was projected on (T = 2)", () => {
    fc.assert(
      fc.property(rngCaseArb, ({ D, kind, seed }) => {
        const J = rngJacobian(2, D, kind, seed);
        const G = gramOf(J);
        const { coefficients } = pcgradProject(G);
        for (let i = 0; i < 2; i++) {
          const pc = combine(J, coefficients[i]!);
          const j = 1 - i;
          const ip = dot(pc, J[j]!);
          assert.ok(ip >= -1e-12 * Math.sqrt(G[i]![i]! * G[j]![j]!), `task ${i}: gᵢ^PC·gⱼ = ${ip}`);
        }
      }),
      { numRuns: 200 },
    );
  });

  test("property: finite on zero, rank-deficient, collinear and badly scaled Gramians", () => {
    fc.assert(
      fc.property(rngCaseArb, fc.integer(), ({ T, D, kind, seed }, s) => {
        const b = pcgrad({ seed: s | 0 });
        let st = b.init(T);
        const G = gramOf(rngJacobian(T, D, kind, seed));
        for (let k = 0; k < 3; k++) {
          const r = b.update({ losses: new Array<number>(T).fill(1), gramian: G }, st);
          for (const w of r.weights) assert.ok(Number.isFinite(w), `${kind}: ${r.weights}`);
          st = r.state;
        }
      }),
      { numRuns: 200 },
    );
    assert.deepEqual(pcgradWeights([[0, 0], [0, 0]]), [1, 1]);
  });

  test("property: permutation equivariance with the permuted orders", () => {
    fc.assert(
      fc.property(rngCaseArb, fc.integer(), fc.integer(), ({ T, D, kind, seed }, orderSeed, permSeed) => {
        const J = rngJacobian(T, D, kind, seed);
        const G = gramOf(J);
        const orders = randomOrders(T, orderSeed);
        const p = Array.from(new Rng(permSeed).permutation(T));
        const inv = new Array<number>(T);
        p.forEach((old, a) => (inv[old] = a));
        // New task a is old task p[a]; its order visits the new indices of old p[a]'s order.
        const orders2 = p.map((old) => orders[old]!.map((j) => inv[j]!));
        const { weights: w, coefficients } = pcgradProject(G, orders);
        const w2 = pcgradWeights(permuteSym(G, p), orders2);
        // Compared as directions, at the rounding scale of the summands: with gradients 10⁸ apart in scale a
        // coefficient of a tiny gⱼ can differ in its last digits by more than max|α|·eps without moving d.
        const back = new Array<number>(T);
        p.forEach((old, a) => (back[old] = w2[a]!));
        const d = combine(J, w);
        const d2 = combine(J, back);
        const parts = coefficients.reduce((s, row) => s + row.reduce((t, c, k) => t + Math.abs(c) * Math.sqrt(G[k]![k]!), 0), 0);
        d.forEach((v, k) => close(d2[k]!, v, 1e-7 * Math.max(parts, 1e-300), `component ${k} (${kind})`));
        if (kind === "random") p.forEach((old, a) => close(w2[a]!, w[old]!, 1e-12 * Math.max(1, ...w.map(Math.abs)), `task ${a}`));
      }),
      { numRuns: 150 },
    );
  });

  test("T = 2: the order does not matter, so any seed gives the same weights", () => {
    const G = [
      [3, -1.2],
      [-1.2, 0.7],
    ];
    const seqFor = (seed: number) => {
      const b = pcgrad({ seed });
      let s = b.init(2);
      return Array.from({ length: 5 }, () => {
        const r = b.update({ losses: [1, 1], gramian: G }, s);
        s = r.state;
        return r.weights;
      });
    };
    assert.deepEqual(seqFor(1), seqFor(99));
    assert.equal(pcgradDrawsPerStep(2), 0);
  });

  test("random orders: permutations of the other tasks, a pure function of (seed, counter); same seed → same sequence, different seeds differ", () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 8 }), (seed, counter, T) => {
        const { orders, counter: next } = pcgradOrders(seed, counter, T);
        assert.equal(next, counter + pcgradDrawsPerStep(T));
        orders.forEach((o, i) => assert.deepEqual([...o].sort((a, b) => a - b), Array.from({ length: T }, (_, j) => j).filter((j) => j !== i)));
        assert.deepEqual(pcgradOrders(seed, counter, T), { orders, counter: next });
      }),
      { numRuns: 200 },
    );
    // Three unit gradients at 120° in the plane plus a fourth: the visiting order changes the result.
    const J = [
      [1, 0, 0],
      [-0.5, Math.sqrt(3) / 2, 0],
      [-0.5, -Math.sqrt(3) / 2, 0.1],
      [0.3, -0.2, -1],
    ];
    const G = gramOf(J);
    const seqFor = (seed: number) => {
      const b = pcgrad({ seed });
      let s = b.init(4);
      return Array.from({ length: 20 }, () => {
        const r = b.update({ losses: [1, 1, 1, 1], gramian: G }, s);
        s = r.state;
        return r.weights;
      });
    };
    const a = seqFor(7);
    assert.deepEqual(a, seqFor(7));
    assert.notDeepEqual(a, seqFor(8));
    assert.ok(new Set(a.map((w) => w.join())).size > 1, "the order should change from step to step");
    // Every ordering of the other two tasks of T = 3 shows up.
    const seen = new Set<string>();
    let c = 0;
    for (let k = 0; k < 50; k++) {
      const r = pcgradOrders(3, c, 3);
      c = r.counter;
      seen.add(r.orders[0]!.join());
    }
    assert.deepEqual([...seen].sort(), ["1,2", "2,1"]);
  });

  test("update is pure: the same state gives the same result and is not mutated; T = 1 is the identity", () => {
    const b = pcgrad({ seed: 3 });
    const s = b.init(3);
    const copy = structuredClone(s);
    const G = gramOf(rngJacobian(3, 4, "random", 11));
    const a = b.update({ losses: [1, 2, 3], gramian: G }, s);
    assert.deepEqual(b.update({ losses: [1, 2, 3], gramian: G }, s), a);
    assert.deepEqual(s, copy);
    assert.equal(a.state.step, 1);
    assert.equal(a.state.counter, pcgradDrawsPerStep(3));
    const one = pcgrad();
    assert.deepEqual(one.update({ losses: [1], gramian: [[4]] }, one.init(1)).weights, [1]);
  });

  test("bad input throws BalancerInputError naming the problem", () => {
    const b = pcgrad();
    const s = b.init(2);
    const ok = [
      [1, 0],
      [0, 1],
    ];
    throwsInput(() => b.update({ losses: [1, 1] }, s), /^pcgrad:/, /Gramian is required/);
    throwsInput(() => b.update({ losses: [1, 1], gramian: [[1, Number.NaN], [Number.NaN, 1]] }, s), /^pcgrad:/, /NaN/);
    throwsInput(() => b.update({ losses: [1, 1], gramian: [[1, 0], [0]] }, s), /row 1 has 1 entries/);
    throwsInput(() => b.update({ losses: [1, 1], gramian: [[1, 0.5], [-0.5, 1]] }, s), /not symmetric/);
    throwsInput(() => b.update({ losses: [1, 1], gramian: [[1]] }, s), /expected a 2×2 Gramian/);
    throwsInput(() => b.update({ losses: [1, 1], gramian: [[-1, 0], [0, 1]] }, s), /negative/);
    throwsInput(() => b.update({ losses: [1, Number.NaN], gramian: ok }, s), /task 1/, /NaN/);
    throwsInput(() => b.update({ losses: [1], gramian: ok }, s), /expected 2 losses/);
    throwsInput(() => pcgradWeights([[1, Infinity], [Infinity, 1]]), /^pcgrad:/, /Infinity/);
    throwsInput(() => pcgradWeights(ok, [[1], [1]]), /order of task 1 contains 1/);
    throwsInput(() => pcgradWeights(ok, [[1]]), /expected 2 task orders/);
    throwsInput(() => pcgrad({ seed: 1.5 }), /option seed/);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    throwsInput(() => pcgrad({ gradMode: "everything" as any }), /unknown gradMode/);
    throwsInput(() => b.init(0), /number of tasks/);
  });
});
