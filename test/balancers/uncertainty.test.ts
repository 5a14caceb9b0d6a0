import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { uncertainty, uncertaintyGrad, type UncertaintyTaskType } from "../../src/balancers/uncertainty.js";
import { BalancerInputError } from "../../src/balancers/validate.js";
import { throwsInput, close } from "../helpers/assert.js";

/** The paper's factor, written out independently: eq. 7 (regression) ½, eq. 10 (classification) 1. */
const factor = (t: UncertaintyTaskType) => (t === "regression" ? 0.5 : 1);

/** Golden-section minimiser of f on [a, b], independent of the closed form. */
function argmin(f: (x: number) => number, a: number, b: number): number {
  const g = (Math.sqrt(5) - 1) / 2;
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  for (let k = 0; k < 200; k++) {
    if (f(c) < f(d)) b = d;
    else a = c;
    c = b - g * (b - a);
    d = a + g * (b - a);
  }
  return (a + b) / 2;
}

const typeArb = fc.constantFrom<UncertaintyTaskType>("regression", "classification");

describe("uncertainty", () => {
  test("name, needs, info", () => {
    const b = uncertainty();
    assert.equal(b.name, "uncertainty");
    assert.deepEqual(b.needs, {});
    const r = b.update({ losses: [1, 2] }, b.init(2));
    assert.deepEqual(r.info?.["logVariance"], r.state.logVariances);
  });

  test("init weights are c·exp(−s₀): ½ for regression, 1 for classification", () => {
    const b = uncertainty({ taskTypes: ["regression", "classification"] });
    assert.deepEqual(b.init(2).weights, [0.5, 1]);
    const b2 = uncertainty({ taskTypes: ["regression", "classification"], initialLogVariance: Math.log(2) });
    const w = b2.init(2).weights;
    close(w[0]!, 0.25, 1e-15);
    close(w[1]!, 0.5, 1e-15);
    assert.deepEqual(b2.init(2).logVariances, [Math.log(2), Math.log(2)]);
    assert.deepEqual(uncertainty().init(3).weights, [0.5, 0.5, 0.5], "default: all regression");
  });

  test("defaults are Adam with lr 0.025: first step moves s by exactly lr against the gradient's sign", () => {
    // L = 5, c = ½, s = 0: ∂/∂s = −½·5 + ½ = −2. Adam's first step is lr·g/|g| = −0.025 → s = +0.025;
    // SGD would give +0.05, another lr another value.
    const b = uncertainty();
    const r = b.update({ losses: [5, 0] }, b.init(2));
    close(r.state.logVariances[0]!, 0.025, 1e-9, "s₀");
    close(r.state.logVariances[1]!, -0.025, 1e-9, "s₁ (L = 0: gradient +½)");
    close(r.weights[0]!, 0.5 * Math.exp(-0.025), 1e-9, "w₀");
  });

  test("property: one SGD step equals s − lr·(−c·e^{−s}·L + ½), weight c·e^{−s}", () => {
    fc.assert(
      fc.property(
        fc.double({ min: -3, max: 3, noNaN: true }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        fc.double({ min: 1e-4, max: 0.5, noNaN: true }),
        typeArb,
        (s0, L, lr, type) => {
          const b = uncertainty({ optimizer: "sgd", lr, initialLogVariance: s0, taskTypes: [type] });
          const c = factor(type);
          const r = b.update({ losses: [L] }, b.init(1));
          const expected = s0 - lr * (-c * Math.exp(-s0) * L + 0.5);
          close(r.state.logVariances[0]!, expected, 1e-12 * (1 + Math.abs(expected)), "s");
          close(r.weights[0]!, c * Math.exp(-expected), 1e-10 * (1 + c * Math.exp(-expected)), "w");
        },
      ),
      { numRuns: 100 },
    );
  });

  test("property: iterating with constant L reaches s* = log(2cL), the minimiser of c·e^{−s}·L + s/2 (w* = 1/(2L))", () => {
    fc.assert(
      fc.property(fc.double({ min: 0.01, max: 50, noNaN: true }), typeArb, (L, type) => {
        const c = factor(type);
        const sStar = argmin((s) => c * Math.exp(-s) * L + s / 2, -20, 20);
        close(sStar, Math.log(2 * c * L), 1e-6, "golden section vs closed form");
        const b = uncertainty({ optimizer: "sgd", lr: 0.1, taskTypes: [type, "regression"] });
        let s = b.init(2);
        for (let k = 0; k < 1500; k++) s = b.update({ losses: [L, 1] }, s).state;
        close(s.logVariances[0]!, sStar, 1e-5, "s after 1500 SGD steps");
        close(s.weights[0]!, 1 / (2 * L), 1e-5 / L, "w*");
        close(s.logVariances[1]!, Math.log(1), 1e-5, "second task (L = 1, regression)");
      }),
      { numRuns: 15 },
    );
  });

  test("with the default Adam the log-variance settles near the same fixed point", () => {
    const b = uncertainty({ taskTypes: ["regression", "classification"] });
    let s = b.init(2);
    for (let k = 0; k < 3000; k++) s = b.update({ losses: [4, 0.3] }, s).state;
    close(s.logVariances[0]!, Math.log(2 * 0.5 * 4), 0.05, "regression task");
    close(s.logVariances[1]!, Math.log(2 * 1 * 0.3), 0.05, "classification task");
  });

  test("property: finite positive weights for random finite non-negative losses", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }).chain((T) =>
          fc.tuple(
            fc.array(typeArb, { minLength: T, maxLength: T }),
            fc.array(fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: T, maxLength: T }), {
              minLength: 1,
              maxLength: 30,
            }),
            fc.constantFrom<"adam" | "sgd">("adam", "sgd"),
          ),
        ),
        ([types, seq, optimizer]) => {
          const b = uncertainty({ taskTypes: types, optimizer, lr: optimizer === "sgd" ? 1e-7 : 0.025 });
          let s = b.init(types.length);
          for (const l of seq) {
            const r = b.update({ losses: l }, s);
            for (const w of r.weights) assert.ok(Number.isFinite(w) && w > 0, `weight ${w}`);
            s = r.state;
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  test("property: any finite losses give finite weights or a BalancerInputError, never NaN", () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.double({ min: 0, max: Number.MAX_VALUE, noNaN: true }), { minLength: 2, maxLength: 2 }), {
          minLength: 1,
          maxLength: 10,
        }),
        fc.constantFrom<"adam" | "sgd">("adam", "sgd"),
        (seq, optimizer) => {
          const b = uncertainty({ optimizer });
          let s = b.init(2);
          try {
            for (const l of seq) {
              s = b.update({ losses: l }, s).state;
              for (const w of s.weights) assert.ok(Number.isFinite(w), `weight ${w}`);
            }
          } catch (e) {
            assert.ok(e instanceof BalancerInputError, String(e));
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  test("property: permuting tasks (losses and task types) permutes the weights exactly", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 5 }).chain((T) =>
          fc.tuple(
            fc.array(typeArb, { minLength: T, maxLength: T }),
            fc.array(fc.array(fc.double({ min: 0, max: 100, noNaN: true }), { minLength: T, maxLength: T }), {
              minLength: 1,
              maxLength: 15,
            }),
            fc.shuffledSubarray(
              Array.from({ length: T }, (_, i) => i),
              { minLength: T },
            ),
          ),
        ),
        ([types, seq, perm]) => {
          const run = (tt: UncertaintyTaskType[], ls: number[][]) => {
            const b = uncertainty({ taskTypes: tt });
            let s = b.init(tt.length);
            for (const l of ls) s = b.update({ losses: l }, s).state;
            return s.weights;
          };
          const w = run(types, seq);
          const wp = run(
            perm.map((i) => types[i]!),
            seq.map((l) => perm.map((i) => l[i]!)),
          );
          assert.deepEqual(wp, perm.map((i) => w[i]));
        },
      ),
      { numRuns: 50 },
    );
  });

  test("update is pure: the same state gives the same result and is not mutated", () => {
    const b = uncertainty();
    const s0 = b.init(2);
    const copy = structuredClone(s0);
    const a = b.update({ losses: [3, 1] }, s0);
    const c = b.update({ losses: [3, 1] }, s0);
    assert.deepEqual(a, c);
    assert.deepEqual(s0, copy);
  });

  test("bad input throws BalancerInputError naming the problem", () => {
    const b = uncertainty();
    const s = b.init(2);
    throwsInput(() => b.update({ losses: [Number.NaN, 1] }, s), /^uncertainty:/, /task 0/, /NaN/);
    throwsInput(() => b.update({ losses: [1, Infinity] }, s), /task 1/, /Infinity/);
    throwsInput(() => b.update({ losses: [1, -0.5] }, s), /task 1/, /negative/);
    throwsInput(() => b.update({ losses: [1] }, s), /expected 2 losses, got 1/);
    throwsInput(() => b.init(0), /number of tasks/);
    throwsInput(() => uncertainty({ lr: 0 }), /option lr/, /> 0/);
    throwsInput(() => uncertainty({ lr: -0.1 }), /option lr/);
    throwsInput(() => uncertainty({ lr: Number.NaN }), /option lr/);
    throwsInput(() => uncertainty({ initialLogVariance: Infinity }), /option initialLogVariance/);
    throwsInput(() => uncertainty({ optimizer: "rmsprop" as "adam" }), /unknown optimizer 'rmsprop'/);
    throwsInput(() => uncertainty({ taskTypes: ["regression", "segmentation" as "regression"] }), /task 1/, /segmentation/);
    throwsInput(() => uncertainty({ taskTypes: ["regression"] }).init(2), /1 task types were given but there are 2 tasks/);
    throwsInput(() => uncertainty({ initialLogVariance: -1000 }).init(1), /task 0/, /not finite/);
  });
});

test("uncertaintyGrad: exp(−s) overflowing gives the right finite gradient when there is one, else an error naming the task", () => {
  assert.deepEqual(uncertaintyGrad([-800], [0], [0.5]), [0.5], "zero loss: ½ whatever s (was 0·∞ = NaN)");
  const g = uncertaintyGrad([0, -720], [1, 1e-10], [0.5, 0.5]);
  close(g[1]!, -Math.exp(Math.log(0.5e-10) + 720) + 0.5, 1e-12 * Math.abs(g[1]!), "exp(720) overflows alone, not times 5e-11");
  assert.equal(g[0], 0); // −½·e⁰·1 + ½
  throwsInput(() => uncertaintyGrad([0, -800], [1, 1], [0.5, 0.5]), /^uncertainty: gradient of task 1's log-variance overflows/);
  throwsInput(() => uncertaintyGrad([Number.NaN], [1], [0.5]), /log-variances of task 0 is NaN/);
  throwsInput(() => uncertaintyGrad([0], [-1], [0.5]), /negative/);
});
