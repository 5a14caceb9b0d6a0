import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { gradNorm, gradNormStep, renormalize } from "../../src/balancers/gradNorm.js";
import { BalancerInputError } from "../../src/balancers/validate.js";
import { throwsInput, close } from "../helpers/assert.js";

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const mean = (xs: readonly number[]) => sum(xs) / xs.length;

/** Targets Ḡ·rᵢ^α of eq. 2, computed independently of gradNormStep. */
function targets(w: readonly number[], n: readonly number[], L: readonly number[], L0: readonly number[], alpha: number): number[] {
  const G = w.map((wi, i) => wi * n[i]!);
  const Lt = L.map((l, i) => l / L0[i]!);
  const mLt = mean(Lt);
  return Lt.map((x) => mean(G) * (x / mLt) ** alpha);
}

/** A random GradNorm problem: T tasks, weights, norms, losses, initial losses, α. */
const problem = fc.integer({ min: 2, max: 6 }).chain((T) => {
  const vec = (min: number, max: number) => fc.array(fc.double({ min, max, noNaN: true }), { minLength: T, maxLength: T });
  return fc.record({
    w: vec(0.1, 3),
    n: vec(0.1, 10),
    L: vec(0.1, 10),
    L0: vec(0.1, 10),
    alpha: fc.double({ min: 0, max: 3, noNaN: true }),
  });
});

describe("gradNormStep", () => {
  test("property: grad = sign(Gᵢ − targetᵢ)·nᵢ matches finite differences of L_grad with targets frozen", () => {
    fc.assert(
      fc.property(problem, ({ w, n, L, L0, alpha }) => {
        const info = gradNormStep(w, n, L, L0, alpha);
        const tgt = targets(w, n, L, L0, alpha);
        info.target.forEach((t, i) => close(t, tgt[i]!, 1e-9 * (1 + Math.abs(tgt[i]!)), `target ${i}`));
        const Lgrad = (v: readonly number[]) => sum(v.map((vi, i) => Math.abs(vi * n[i]! - tgt[i]!)));
        close(info.lossGrad, Lgrad(w), 1e-9 * (1 + Lgrad(w)), "lossGrad");
        const h = 1e-6;
        for (let i = 0; i < w.length; i++) {
          // Skip components at a kink of |·|, where the derivative does not exist.
          if (Math.abs(w[i]! * n[i]! - tgt[i]!) <= 10 * h * n[i]!) continue;
          const up = w.map((x, j) => (j === i ? x + h : x));
          const dn = w.map((x, j) => (j === i ? x - h : x));
          const fd = (Lgrad(up) - Lgrad(dn)) / (2 * h);
          close(info.grad[i]!, fd, 1e-5 * (1 + Math.abs(fd)), `grad ${i}`);
        }
      }),
      { numRuns: 200 },
    );
  });

  test("property: r has mean 1 and G = w·n; α = 0 makes every target Ḡ", () => {
    fc.assert(
      fc.property(problem, ({ w, n, L, L0 }) => {
        const info = gradNormStep(w, n, L, L0, 0);
        close(mean(info.r), 1, 1e-12, "mean r");
        info.G.forEach((g, i) => close(g, w[i]! * n[i]!, 1e-12, `G ${i}`));
        const Gbar = mean(w.map((x, i) => x * n[i]!));
        info.target.forEach((t, i) => close(t, Gbar, 1e-12 * (1 + Gbar), `target ${i}`));
      }),
      { numRuns: 100 },
    );
  });

  test("hand example: w = [1, 1], n = [1, 3], L/L0 = [1, 0.5], α = 1", () => {
    // G = [1, 3], Ḡ = 2; L̃ = [1, 0.5], mean 0.75, r = [4/3, 2/3]; targets [8/3, 4/3].
    const info = gradNormStep([1, 1], [1, 3], [2, 1], [2, 2], 1);
    close(info.r[0]!, 4 / 3, 1e-12, "r0");
    close(info.r[1]!, 2 / 3, 1e-12, "r1");
    close(info.target[0]!, 8 / 3, 1e-12, "t0");
    close(info.target[1]!, 4 / 3, 1e-12, "t1");
    assert.deepEqual(info.grad, [-1, 3]);
    close(info.lossGrad, 5 / 3 + 5 / 3, 1e-12, "lossGrad");
  });
});

describe("renormalize", () => {
  test("property: Σ = T, all positive, proportional to the clamped input", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: 1, maxLength: 10 }),
        fc.double({ min: 1e-6, max: 1, noNaN: true }),
        (w, minWeight) => {
          const out = renormalize(w, minWeight);
          const T = w.length;
          close(sum(out), T, 1e-9 * T, "sum");
          for (const x of out) assert.ok(x > 0 && Number.isFinite(x), `weight ${x}`);
          const clamped = w.map((x) => Math.max(x, minWeight));
          const scale = T / sum(clamped);
          out.forEach((x, i) => close(x, clamped[i]! * scale, 1e-9 * (1 + x), `weight ${i}`));
        },
      ),
      { numRuns: 200 },
    );
  });

  test("already normalized weights are unchanged; ratios are kept", () => {
    assert.deepEqual(renormalize([0.5, 1.5]), [0.5, 1.5]);
    const out = renormalize([2, 6, 4]);
    close(out[0]!, 0.5, 1e-15, "w0");
    close(out[1]!, 1.5, 1e-15, "w1");
    close(out[2]!, 1, 1e-15, "w2");
  });
});

describe("gradNorm", () => {
  test("name and needs: the paper's last shared layer by default", () => {
    const b = gradNorm();
    assert.equal(b.name, "gradnorm");
    assert.deepEqual(b.needs, { gradNorms: "lastShared" });
    assert.deepEqual(gradNorm({ gradMode: "shared" }).needs, { gradNorms: "shared" });
    assert.deepEqual(b.init(3).weights, [1, 1, 1]);
  });

  test("property: one SGD update is renormalize(w − lr·sign(G − target)·n) with Σ = T", () => {
    fc.assert(
      fc.property(problem, fc.double({ min: 1e-3, max: 0.5, noNaN: true }), ({ n, L, L0, alpha }, lr) => {
        const T = n.length;
        const b = gradNorm({ optimizer: "sgd", lr, alpha, initialLoss: L0 });
        const r = b.update({ losses: L, gradNorms: n }, b.init(T));
        const w = new Array<number>(T).fill(1);
        const tgt = targets(w, n, L, L0, alpha);
        const x = w.map((wi, i) => Math.max(wi - lr * Math.sign(wi * n[i]! - tgt[i]!) * n[i]!, 1e-4));
        const expected = x.map((xi) => (xi * T) / sum(x));
        r.weights.forEach((wi, i) => close(wi, expected[i]!, 1e-9, `weight ${i}`));
      }),
      { numRuns: 100 },
    );
  });

  test("property: weights stay finite, positive and sum to T across 200 random updates", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 6 }),
        fc.double({ min: 0, max: 3, noNaN: true }),
        fc.constantFrom<"adam" | "sgd">("adam", "sgd"),
        fc.integer({ min: 0, max: 2 ** 30 }),
        (T, alpha, optimizer, seed) => {
          // A cheap deterministic stream so that 200 steps need not be drawn by fast-check.
          let z = seed;
          const next = () => {
            z = (Math.imul(z, 1103515245) + 12345) >>> 0;
            return z / 2 ** 32;
          };
          const b = gradNorm({ alpha, optimizer });
          let s = b.init(T);
          for (let k = 0; k < 200; k++) {
            const losses = Array.from({ length: T }, () => 10 ** (6 * next() - 3));
            const gradNorms = Array.from({ length: T }, () => (next() < 0.05 ? 0 : 10 ** (6 * next() - 3)));
            s = b.update({ losses, gradNorms }, s).state;
            for (const w of s.weights) assert.ok(Number.isFinite(w) && w > 0, `step ${k}: weight ${w}`);
            close(sum(s.weights), T, 1e-9 * T, `step ${k}: sum`);
          }
        },
      ),
      { numRuns: 15 },
    );
  });

  test("property: permuting tasks permutes the weights", () => {
    fc.assert(
      fc.property(
        problem.chain((p) =>
          fc.tuple(
            fc.constant(p),
            fc.shuffledSubarray(
              p.n.map((_, i) => i),
              { minLength: p.n.length },
            ),
          ),
        ),
        ([{ n, L, L0, alpha }, perm]) => {
          const T = n.length;
          const P = (v: readonly number[]) => perm.map((i) => v[i]!);
          // Gᵢ within rounding of its target: the subgradient sign(Gᵢ − target) is decided by the order in
          // which Ḡ was summed, which a permutation changes — not a property of the method; skip those cases.
          let tie = false;
          const runIt = (nn: readonly number[], LL: readonly number[], LL0: readonly number[]) => {
            const b = gradNorm({ alpha });
            let s = b.init(T);
            for (let k = 0; k < 6; k++) {
              const r = b.update({ losses: k === 0 ? LL0 : LL, gradNorms: nn }, s);
              const info = r.info as { G: number[]; target: number[] };
              const scale = Math.max(...info.G.map(Math.abs));
              if (info.G.some((g, i) => Math.abs(g - info.target[i]!) <= 1e-9 * scale)) tie = true;
              s = r.state;
            }
            return s.weights;
          };
          const w = runIt(n, L, L0);
          const wp = runIt(P(n), P(L), P(L0));
          fc.pre(!tie);
          wp.forEach((x, i) => close(x, w[perm[i]!]!, 1e-9, `weight ${i}`));
        },
      ),
      { numRuns: 50 },
    );
  });

  test("α = 0, constant losses, fixed norms [1, 10, 0.1]: the spread of wᵢnᵢ shrinks a lot", () => {
    const n = [1, 10, 0.1];
    const G = (w: readonly number[]) => w.map((x, i) => x * n[i]!);
    const cv = (g: readonly number[]) => Math.sqrt(mean(g.map((x) => (x - mean(g)) ** 2))) / mean(g);
    const b = gradNorm({ alpha: 0 });
    let s = b.init(3);
    const before = G(s.weights);
    for (let k = 0; k < 300; k++) s = b.update({ losses: [1, 1, 1], gradNorms: n }, s).state;
    const after = G(s.weights);
    assert.ok(cv(after) < 0.1 * cv(before), `cv ${cv(before)} → ${cv(after)}`);
    assert.ok(Math.max(...after) / Math.min(...after) < 1.5, `max/min of wn: ${after}`);
    // The balanced weights are ∝ 1/n, renormalized to sum 3: [0.27, 0.027, 2.7].
    const ideal = [1, 0.1, 10].map((x) => (3 * x) / 11.1);
    s.weights.forEach((w, i) => close(w, ideal[i]!, 0.05, `weight ${i}`));
  });

  test("initialLoss array is used instead of the first losses", () => {
    const given = gradNorm({ initialLoss: [1, 2] });
    let s = given.init(2);
    assert.deepEqual(s.initialLosses, [1, 2]);
    let r = given.update({ losses: [1, 1], gradNorms: [1, 1] }, s);
    // L̃ = [1, 0.5] → r = [4/3, 2/3]
    close((r.info?.["r"] as number[])[0]!, 4 / 3, 1e-12, "r0");
    close((r.info?.["r"] as number[])[1]!, 2 / 3, 1e-12, "r1");
    assert.deepEqual(r.state.initialLosses, [1, 2]);
    r = given.update({ losses: [1, 1], gradNorms: [1, 1] }, r.state);
    close((r.info?.["r"] as number[])[0]!, 4 / 3, 1e-12, "r0 at step 2");

    const first = gradNorm();
    s = first.init(2);
    assert.equal(s.initialLosses, null);
    r = first.update({ losses: [2, 4], gradNorms: [1, 1] }, s);
    assert.deepEqual(r.info?.["r"], [1, 1]);
    assert.deepEqual(r.state.initialLosses, [2, 4]);
    r = first.update({ losses: [1, 4], gradNorms: [1, 1] }, r.state);
    close((r.info?.["r"] as number[])[0]!, 2 / 3, 1e-12, "r0 from first losses");
    close((r.info?.["r"] as number[])[1]!, 4 / 3, 1e-12, "r1 from first losses");
  });

  test("update is pure: the same state gives the same result and is not mutated", () => {
    const b = gradNorm();
    let s = b.init(2);
    s = b.update({ losses: [1, 2], gradNorms: [1, 3] }, s).state;
    const copy = structuredClone(s);
    const a = b.update({ losses: [0.5, 2], gradNorms: [1, 3] }, s);
    assert.deepEqual(b.update({ losses: [0.5, 2], gradNorms: [1, 3] }, s), a);
    assert.deepEqual(s, copy);
  });

  test("bad input throws BalancerInputError naming the problem, never NaN weights", () => {
    const b = gradNorm();
    const s = b.init(2);
    throwsInput(() => b.update({ losses: [1, 0], gradNorms: [1, 1] }, s), /^gradnorm:/, /initial loss of task 1 is 0/, /> 0/);
    throwsInput(() => b.update({ losses: [-1, 1], gradNorms: [1, 1] }, s), /initial loss of task 0 is -1/);
    throwsInput(() => b.update({ losses: [Number.NaN, 1], gradNorms: [1, 1] }, s), /task 0/, /NaN/);
    throwsInput(() => b.update({ losses: [1, Infinity], gradNorms: [1, 1] }, s), /task 1/, /Infinity/);
    throwsInput(() => b.update({ losses: [1, 1, 1], gradNorms: [1, 1] }, s), /expected 2 losses, got 3/);
    throwsInput(() => b.update({ losses: [1, 1] }, s), /gradient norms are required/);
    throwsInput(() => b.update({ losses: [1, 1], gradNorms: [1, -2] }, s), /gradient norm of task 1 is negative/);
    throwsInput(() => b.update({ losses: [1, 1], gradNorms: [Number.NaN, 1] }, s), /gradient norms of task 0 is NaN/);
    throwsInput(() => b.init(1), /number of tasks ≥ 2, got 1/);
    throwsInput(() => gradNorm({ alpha: -0.5 }), /option alpha/, /≥ 0/);
    throwsInput(() => gradNorm({ alpha: Number.NaN }), /option alpha/);
    throwsInput(() => gradNorm({ lr: 0 }), /option lr/);
    throwsInput(() => gradNorm({ minWeight: 0 }), /option minWeight/);
    throwsInput(() => gradNorm({ optimizer: "rmsprop" as "adam" }), /unknown optimizer/);
    throwsInput(() => gradNorm({ initialLoss: "last" as "first" }), /option initialLoss/);
    throwsInput(() => gradNorm({ initialLoss: [1, 0] }).init(2), /initial loss of task 1 is 0/);
    throwsInput(() => gradNorm({ initialLoss: [1, Number.NaN] }).init(2), /initial loss of task 1 is NaN/);
    throwsInput(() => gradNorm({ initialLoss: [1, Infinity] }).init(2), /initial loss of task 1 is Infinity/);
    throwsInput(() => gradNorm({ initialLoss: [1, 2, 3] }).init(2), /expected 2 initial losses, got 3/);
    // After the errors the state is still usable and gives finite weights.
    const r = b.update({ losses: [1, 2], gradNorms: [1, 1] }, s);
    for (const w of r.weights) assert.ok(Number.isFinite(w));
  });

  // Losses after the first step: all-zero losses make mean(L̃) = 0 and r = NaN; negative losses
  // make rᵢ < 0 and rᵢ^α NaN for non-integer α. Both must be errors, never NaN weights.
  test("all-zero losses after the first step: error, not NaN weights", () => {
    const b = gradNorm();
    const s = b.update({ losses: [1, 1], gradNorms: [1, 1] }, b.init(2)).state;
    let weights: readonly number[] = [];
    try {
      weights = b.update({ losses: [0, 0], gradNorms: [1, 2] }, s).weights;
    } catch (e) {
      assert.ok(e instanceof BalancerInputError);
      return;
    }
    for (const w of weights) assert.ok(Number.isFinite(w), `weight ${w}`);
  });

  test("negative losses after the first step: error, not NaN weights", () => {
    const b = gradNorm();
    const s = b.update({ losses: [1, 1], gradNorms: [1, 1] }, b.init(2)).state;
    let weights: readonly number[] = [];
    try {
      weights = b.update({ losses: [-1, 2], gradNorms: [1, 2] }, s).weights;
    } catch (e) {
      assert.ok(e instanceof BalancerInputError);
      return;
    }
    for (const w of weights) assert.ok(Number.isFinite(w), `weight ${w}`);
  });
});

test("renormalize: zeros, NaN or an overflowing sum get an error or a correct result, never NaN", () => {
  throwsInput(() => renormalize([0, 0]), /^gradnorm: cannot renormalize weights that are all ≤ 0/);
  throwsInput(() => renormalize([-1, -2]), /all ≤ 0/);
  throwsInput(() => renormalize([1, Number.NaN]), /weights of task 1 is NaN/);
  throwsInput(() => renormalize([1, 2], -1), /minWeight/);
  assert.deepEqual(renormalize([1e308, 1e308]), [1, 1], "the sum overflows, the weights do not");
  assert.deepEqual(renormalize([0, 0], 0.5), [1, 1], "zeros clamped to minWeight are fine");
});
