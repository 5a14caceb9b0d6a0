import { test, before, describe } from "node:test";
import assert from "node:assert/strict";
import { setupJax } from "../helpers/jax.js";
import { runPinn, pinnBatches } from "../../src/experiments/pinnRun.js";
import { pinnProblems, type PinnProblem } from "../../src/pinn/problems.js";
import { createBalancer } from "../../src/balancers/registry.js";
import { tree } from "@jax-js/jax";
import { toList } from "../helpers/jax.js";

before(setupJax);

const small = { steps: 400, hidden: [20, 20], lr: 0.01, points: 64, grid: 41, evalEvery: 100 };

describe("runPinn", () => {
  test("a short seeded Poisson run: the relative L2 error falls from about 1 to below 0.25 (equal weights, 400 steps)", async () => {
    const r = await runPinn(pinnProblems.poisson(), "equal", createBalancer("equal"), small);
    assert.ok(r.errors.values[0]! > 0.5, `initial error ${r.errors.values[0]}`);
    assert.ok(r.relativeL2 < 0.25, `final error ${r.relativeL2}`);
    assert.deepEqual(r.errors.steps, [0, 100, 200, 300, 400]);
    assert.equal(r.prediction.length, 41 * 41);
    assert.deepEqual(r.terms, ["residual", "boundary"]);
  });

  test("every problem trains a few steps with GradNorm and MGDA (shared mode): finite losses, weights on the terms", async () => {
    for (const name of ["helmholtz", "kleingordon", "burgers"] as const) {
      for (const method of ["gradnorm", "mgda"]) {
        const r = await runPinn(pinnProblems[name](), method, createBalancer(method), { ...small, steps: 6, evalEvery: 3 });
        assert.ok(Number.isFinite(r.relativeL2), `${name} ${method}`);
        assert.equal(r.weights.length, pinnProblems[name]().terms.length);
        assert.ok(r.history.evalLosses.every((l) => l.every(Number.isFinite)));
      }
    }
  });

  test("the points of step t are a pure function of (seed, t): the same batch twice, another at t + 1 or another seed", () => {
    const p = pinnProblems.burgers();
    const read = (b: ReturnType<ReturnType<typeof pinnBatches>>) => {
      const v = b.points.flatMap((a) => toList(a));
      tree.dispose(b);
      return v;
    };
    const a = read(pinnBatches(p, 3, 16)(7));
    assert.deepEqual(read(pinnBatches(p, 3, 16)(7)), a);
    assert.notDeepEqual(read(pinnBatches(p, 3, 16)(8)), a);
    assert.notDeepEqual(read(pinnBatches(p, 4, 16)(7)), a);
  });

  test("NTK weights and learning-rate annealing train every problem a few steps (every = 2): finite results, the weights moved", async () => {
    for (const name of ["poisson", "helmholtz", "kleingordon", "burgers"] as const) {
      for (const method of ["ntk", "lra"]) {
        const r = await runPinn(pinnProblems[name](), method, createBalancer(method, { every: 2 }), { ...small, steps: 6, evalEvery: 3 });
        assert.ok(Number.isFinite(r.relativeL2), `${name} ${method}`);
        assert.ok(r.weights.every((w) => Number.isFinite(w) && w > 0), `${name} ${method}: ${r.weights}`);
        assert.ok(r.weights.some((w) => w !== 1), `${name} ${method}: weights never moved`);
      }
    }
  });

  test("two seeded runs with NTK weights are bit-identical (but for timings)", async () => {
    const go = () => runPinn(pinnProblems.kleingordon(), "ntk", createBalancer("ntk", { every: 2 }), { ...small, steps: 6, evalEvery: 3 });
    const [a, b] = [await go(), await go()];
    for (const k of ["relativeL2", "errors", "weights", "history", "prediction"] as const) assert.deepEqual(a[k], b[k], k);
  });

  for (const method of ["relobralo", "lra", "ntk"]) test(`${method}: a run resumed from its checkpoint ends as the uninterrupted run: error curve, weights, history, prediction`, async () => {
    const cfg = { ...small, steps: 30, evalEvery: 10 };
    const balancer = () => createBalancer(method, method === "relobralo" ? {} : { every: 3 });
    const saved = new Map<number, { trainer: never; loop: never }>();
    const save = (cp: { trainer: unknown; loop: unknown }, step: number) => void saved.set(step, structuredClone(cp) as never);
    const full = await runPinn(pinnProblems.kleingordon(), method, balancer(), cfg, undefined, undefined, { every: 10, save });
    assert.deepEqual([...saved.keys()], [10, 20, 30]);
    const resumed = await runPinn(pinnProblems.kleingordon(), method, balancer(), cfg, undefined, undefined, { resume: saved.get(20)! });
    for (const k of ["relativeL2", "errors", "weights", "history", "prediction"] as const) assert.deepEqual(resumed[k], full[k], k);
    // Resumed at its last step, nothing is left to train or evaluate: the checkpoint carries the result.
    const atEnd = await runPinn(pinnProblems.kleingordon(), method, balancer(), cfg, undefined, undefined, { resume: saved.get(30)! });
    for (const k of ["relativeL2", "errors", "weights", "history", "prediction"] as const) assert.deepEqual(atEnd[k], full[k], `at the end: ${k}`);
  });

  test("bad input: zero collocation points, a loss term that is NaN at initialization — clear errors naming them", async () => {
    await assert.rejects(runPinn(pinnProblems.poisson(), "equal", createBalancer("equal"), { ...small, points: 0 }), /pinn: points \(per loss term and step\) must be an integer ≥ 1, got 0/);
    const base = pinnProblems.poisson();
    const nanBoundary: PinnProblem = {
      ...base,
      terms: [base.terms[0]!, { ...base.terms[1]!, sample: (rng, n) => ({ ...base.terms[1]!.sample(rng, n), data: new Float32Array(n).fill(NaN) }) }],
    };
    await assert.rejects(runPinn(nanBoundary, "gradnorm", createBalancer("gradnorm"), small), /NaN for task 1 \(term 'boundary'\) at step 0/);
  });
});
