import { test, before, describe } from "node:test";
import assert from "node:assert/strict";
import { numpy as np, tree } from "@jax-js/jax";
import { tanhTask } from "../helpers/tanhTask.js";
import { setupJax, toList } from "../helpers/jax.js";
import { liveBufferCounter } from "../helpers/liveBuffers.js";
import { isNonFiniteError, nonFiniteGuard, trainModelLoop, type ModelLoopOptions, type SkippedStep } from "../../src/train/modelLoop.js";
import { checkEvaluation, checkObservation, checkWeights, TrainingError } from "../../src/train/checks.js";
import type { ModelParams } from "../../src/model/contract.js";
import { createBalancer } from "../../src/balancers/registry.js";
import type { Balancer, BalancerState } from "../../src/balancers/types.js";
import { adam } from "../../src/optim/adam.js";
import { initTanhMlp, type RegressionBatch } from "../../examples/models/tanhMlp.js";
import type { StepRecord } from "../../src/train/loop.js";

let counter: { live(): number };
before(async () => {
  await setupJax();
  counter = await liveBufferCounter();
});

const { T, B, config, model, data } = tanhTask(11, 40);

/**
 * How batch k is spoiled: NaN in one target of task 1, +Infinity in one target of task 2, NaN in an input
 * (every task), or huge but finite targets. (Not +Infinity in an input: tanh saturates, the losses stay
 * finite and only the gradient is NaN — which the step checks do not see; see the README.)
 */
type Poison = "nan-y" | "inf-y" | "nan-x" | "huge-y";
function hostBatch(k: number, poison?: Poison) {
  const x = Float32Array.from(data[k]!.x);
  const y = Float32Array.from(data[k]!.y);
  if (poison === "nan-y") y[1 * B * 2 + 3] = NaN;
  if (poison === "inf-y") y[2 * B * 2 + 1] = Infinity;
  if (poison === "nan-x") x[4] = NaN;
  if (poison === "huge-y") y.fill(1e5);
  return { x, y };
}
const device = (b: { x: Float32Array<ArrayBuffer>; y: Float32Array<ArrayBuffer> }): RegressionBatch => ({ x: np.array(b.x).reshape([B, 6]), y: np.array(b.y).reshape([T, B, 2]) });
const flat = (p: ModelParams) => (tree.leaves(p) as np.Array[]).flatMap((a) => toList(a));

/** A batch source for `steps` steps: clean batch k at step k, spoiled at the steps in `poisoned`. */
const source = (poisoned: ReadonlyMap<number, Poison>) => (t: number) => device(hostBatch(t, poisoned.get(t)));

async function loop(balancer: () => Balancer<BalancerState>, steps: number, batch: (t: number) => RegressionBatch, extra: Partial<ModelLoopOptions<RegressionBatch>> = {}) {
  const records: StepRecord[] = [];
  const skips: number[] = [];
  const r = await trainModelLoop({
    model,
    params: initTanhMlp(config, 3),
    optimizer: adam({ lr: 1e-2 }),
    balancer: balancer(),
    steps,
    batch,
    onStep: (_t, rec) => records.push(rec),
    onSkip: (t) => skips.push(t),
    ...extra,
  });
  const params = flat(r.params);
  tree.dispose(r.params);
  return { params, weights: r.finalWeights, records, skips, skipped: r.skipped, history: r.history };
}

/** A balancer that returns NaN weights when task 0's loss is above 1e6 (a finite but absurd batch); else equal weights. */
function nanWeightsOnHugeLoss(): Balancer<BalancerState> {
  const eq = createBalancer("equal");
  return {
    ...eq,
    name: "nan-on-huge",
    update(obs, state) {
      const r = eq.update(obs, state);
      return obs.losses[0]! > 1e6 ? { ...r, state: { ...r.state, weights: r.state.weights.map(() => NaN) } } : r;
    },
  };
}

describe("onNonFinite in trainModelLoop", () => {
  test("isNonFiniteError: the step checks' non-finite errors, and nothing else", () => {
    const caught = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e;
      }
      assert.fail("expected a throw");
    };
    assert.ok(isNonFiniteError(caught(() => checkObservation({ losses: [1, NaN] }, 3))));
    assert.ok(isNonFiniteError(caught(() => checkObservation({ losses: [1, 2], gradNorms: [Infinity, 1] }, 3))));
    assert.ok(isNonFiniteError(caught(() => checkObservation({ losses: [1, 2], gramian: [[1, 0], [0, -Infinity]] }, 3))));
    assert.ok(isNonFiniteError(caught(() => checkWeights("b", [1, NaN], 2, 0))));
    assert.ok(!isNonFiniteError(caught(() => checkWeights("b", [1], 2, 0))), "a wrong weight count is not a non-finite value");
    assert.ok(!isNonFiniteError(caught(() => checkEvaluation([NaN, 1], 2, 0))), "a bad evaluation is not a step's");
    assert.ok(!isNonFiniteError(new Error("loss of task 0 is NaN at step 1")), "only TrainingErrors");
    assert.throws(() => nonFiniteGuard({ onNonFinite: "ignore" as never }, 10), (e: unknown) => e instanceof TrainingError && /onNonFinite must be one of "stop", "skip", got "ignore"/.test(e.message));
    assert.throws(() => nonFiniteGuard({ onNonFinite: "skip", maxSkippedInARow: 0 }, 10), /maxSkippedInARow must be an integer ≥ 1/);
    assert.equal(nonFiniteGuard({}, 5000).maxSkipped, 50);
    assert.equal(nonFiniteGuard({}, 300).maxSkipped, 10);
  });

  test("stop (the default): the TrainingError names the step, task and value, the policy and how to change it; nothing leaks", async () => {
    const live0 = counter.live();
    for (const onNonFinite of [undefined, "stop"] as const) {
      await assert.rejects(
        loop(() => createBalancer("gradnorm", { alpha: 1.5 }), 8, source(new Map([[3, "nan-y"]])), onNonFinite ? { onNonFinite } : {}),
        (e: unknown) =>
          e instanceof TrainingError &&
          /^loss of task 1 is NaN at step 3 /.test(e.message) &&
          /onNonFinite: "stop"/.test(e.message) &&
          /onNonFinite: "skip", on the CLI --on-nonfinite skip/.test(e.message) &&
          isNonFiniteError((e as { cause?: unknown }).cause),
      );
    }
    await assert.rejects(loop(nanWeightsOnHugeLoss, 8, source(new Map([[2, "huge-y"]]))), /^TrainingError: nan-on-huge returned weight NaN for task 0 at step 2; the run stopped \(onNonFinite: "stop"/);
    assert.equal(counter.live(), live0, "live buffers after the failed runs");
  });

  const cases: [string, () => Balancer<BalancerState>, Map<number, Poison>][] = [
    ["equal weights", () => createBalancer("equal"), new Map<number, Poison>([[2, "nan-y"], [5, "inf-y"], [6, "nan-x"], [11, "inf-y"]])],
    ["GradNorm (timing next, norms)", () => createBalancer("gradnorm", { alpha: 1.5 }), new Map<number, Poison>([[1, "nan-y"], [4, "nan-x"], [9, "inf-y"], [13, "nan-y"]])],
    ["MGDA (timing current, Gramian)", () => createBalancer("mgda"), new Map<number, Poison>([[1, "nan-x"], [2, "nan-y"], [8, "inf-y"], [13, "nan-x"]])],
    ["balancer weights NaN (checkWeights)", nanWeightsOnHugeLoss, new Map<number, Poison>([[3, "huge-y"], [7, "huge-y"]])],
  ];
  for (const [name, balancer, poisoned] of cases) {
    test(`skip, ${name}: finishes, reports the skipped steps, and is bit-identical to a run that never saw those batches`, async () => {
      const steps = 14;
      const live0 = counter.live();
      const a = await loop(balancer, steps, source(poisoned), { onNonFinite: "skip", recordEvery: 1 });
      const kept = Array.from({ length: steps }, (_, k) => k).filter((k) => !poisoned.has(k));
      const b = await loop(balancer, kept.length, (t) => device(hostBatch(kept[t]!)), { recordEvery: 1 });
      const skippedSteps = [...poisoned.keys()].sort((x, y) => x - y);
      assert.deepEqual(a.skipped.map((s: SkippedStep) => s.step), skippedSteps);
      assert.deepEqual(a.skips, skippedSteps, "onSkip saw each skipped step");
      for (const s of a.skipped) assert.match(s.reason, new RegExp(`(is|weight) (NaN|-?Infinity) .*step ${s.step}\\b`), "the reason names the run's step");
      assert.deepEqual(b.skipped, []);
      assert.deepEqual(a.params, b.params, "final parameters bit-identical");
      assert.deepEqual(a.weights, b.weights, "final weights bit-identical");
      assert.equal(a.records.length, kept.length);
      assert.deepEqual(a.records, b.records, "every applied step's losses, statistics and weights bit-identical");
      assert.deepEqual(a.history.steps, kept, "the history records the applied steps by their own index");
      assert.deepEqual(a.history.losses, b.history.losses);
      assert.equal(counter.live(), live0, "live buffers after both runs");
    });
  }

  test("skip: more than maxSkippedInARow in a row stops the run, saying how many were skipped", async () => {
    const poisoned = new Map<number, Poison>(Array.from({ length: 11 }, (_, i) => [i + 2, "nan-y"]));
    const live0 = counter.live();
    await assert.rejects(
      loop(() => createBalancer("gradnorm", { alpha: 1.5 }), 30, source(poisoned), { onNonFinite: "skip" }),
      (e: unknown) =>
        e instanceof TrainingError &&
        /^11 steps skipped with non-finite values, 11 of them in a row: more than the 10 allowed in a row \(onNonFinite: "skip"; limits maxSkipped 10, maxSkippedInARow 10\); the run stopped at step 12\. Skipped steps: 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12\. Last: loss of task 1 is NaN at step 12 /.test(e.message) &&
        (e as unknown as { skipped: SkippedStep[] }).skipped.length === 11,
    );
    assert.equal(counter.live(), live0);
  });

  test("skip: more than maxSkipped in all stops the run (default max(10, 1 % of the steps); settable)", async () => {
    const everyOther = new Map<number, Poison>(Array.from({ length: 15 }, (_, i) => [2 * i + 1, i % 2 ? "inf-y" : "nan-x"]));
    await assert.rejects(loop(() => createBalancer("equal"), 30, source(everyOther), { onNonFinite: "skip" }), /^TrainingError: 11 steps skipped with non-finite values, 1 of them in a row: more than the 10 allowed in all .*stopped at step 21\. Skipped steps: 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21\./);
    await assert.rejects(loop(() => createBalancer("equal"), 30, source(everyOther), { onNonFinite: "skip", maxSkipped: 2 }), /^TrainingError: 3 steps skipped .*more than the 2 allowed in all .*stopped at step 5\./);
    await assert.rejects(loop(() => createBalancer("equal"), 30, source(new Map([[4, "nan-y"], [5, "nan-y"]])), { onNonFinite: "skip", maxSkippedInARow: 1 }), /^TrainingError: 2 steps skipped .*2 of them in a row: more than the 1 allowed in a row .*stopped at step 5\./);
    const r = await loop(() => createBalancer("equal"), 30, source(everyOther), { onNonFinite: "skip", maxSkipped: 15 });
    assert.equal(r.skipped.length, 15);
  });

  test("skip does not skip other errors: a batch of the wrong shape still stops the run", async () => {
    const bad = (t: number): RegressionBatch => (t === 2 ? { x: np.array(hostBatch(t).x).reshape([B, 6]), y: np.zeros([T, B + 1, 2]) } : device(hostBatch(t)));
    await assert.rejects(loop(() => createBalancer("equal"), 6, bad, { onNonFinite: "skip" }), (e: unknown) => e instanceof Error && !/skipped/.test(e.message));
  });

  test("skip: evaluations stay on the run's schedule when the step before one is skipped", async () => {
    const evals: number[] = [];
    const r = await loop(() => createBalancer("equal"), 8, source(new Map([[3, "nan-y"], [7, "nan-y"]])), {
      onNonFinite: "skip",
      evalEvery: 4,
      evaluate: () => [1, 2, 3],
      onEval: (t) => evals.push(t),
    });
    assert.deepEqual(evals, [0, 4, 8]);
    assert.deepEqual(r.history.evalSteps, [0, 4, 8]);
  });
});

describe("onNonFinite in the experiments (runToy, runMulti)", () => {
  test("runToy and runMulti pass the policy on: lr 1e30 diverges after step 0; stop names step 1, skip stops at the 11th skip in a row", async () => {
    const { runToy } = await import("../../src/experiments/toyRun.js");
    const { makeToy } = await import("../../src/data/toy.js");
    const { multiData, runMulti } = await import("../../src/experiments/multiRun.js");
    const { mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const toy = makeToy({ numTasks: 2, trainSize: 64, testSize: 16 });
    const toyCfg = { steps: 200, lr: 1e30, hidden: [16], evalEvery: 100 };
    await assert.rejects(runToy(toy, "equal", createBalancer("equal"), toyCfg), /loss of task 0 is (NaN|Infinity) at step 1 .*onNonFinite: "stop"/);
    await assert.rejects(runToy(toy, "equal", createBalancer("equal"), { ...toyCfg, onNonFinite: "skip" }), /11 steps skipped .*more than the 10 allowed in a row .*stopped at step 11\./);
    const ok = await runToy(toy, "equal", createBalancer("equal"), { steps: 5, hidden: [16], onNonFinite: "skip" });
    assert.deepEqual(ok.skipped, []);
    const md = multiData("mnist", 0, mkdtempSync(join(tmpdir(), "lb-mm-")));
    const multiCfg = { epochs: 1, hidden: [16], batchSize: 128, seed: 0, lr: 1e30 };
    await assert.rejects(runMulti(md, "equal", createBalancer("equal"), multiCfg), /loss of task \d is (NaN|Infinity) at step 1 .*onNonFinite: "stop"/);
    await assert.rejects(runMulti(md, "equal", createBalancer("equal"), { ...multiCfg, onNonFinite: "skip" }), /11 steps skipped .*more than the 10 allowed in a row .*stopped at step 11\./);
  });
});
