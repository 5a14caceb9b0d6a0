import { test, before } from "node:test";
import assert from "node:assert/strict";
import { tree } from "@jax-js/jax";
import { setupJax, toList, maxRelErr } from "../helpers/jax.js";
import { liveBufferCounter } from "../helpers/liveBuffers.js";
import { initParams } from "../../src/models/mlp.js";
import { createTrainer, statRequest, trainLoop, TrainingError } from "../../src/train/loop.js";
import { createBalancer } from "../../src/balancers/registry.js";
import { meanSquaredError } from "../../src/train/losses.js";
import { staticWeights } from "../../src/balancers/staticWeights.js";
import type { Balancer, BalancerState, Gramian } from "../../src/balancers/types.js";
import { Rng } from "../../src/util/rng.js";

let counter: { live(): number };
before(async () => {
  await setupJax();
  counter = await liveBufferCounter();
});

const model = { inputDim: 6, hidden: [8, 7], outputDim: 3, numTasks: 3 };
const B = 5;
const rng = new Rng(3);
const batches = Array.from({ length: 6 }, () => ({ x: rng.normals(B * 6), y: rng.normals(3 * B * 3) }));

/** A `current`-timing balancer that records the Gramians it sees and applies fixed weights. */
function recordingCurrent(weights: number[], seen: Gramian[]): Balancer<BalancerState> {
  return {
    name: "recording",
    needs: { gramian: "shared" },
    timing: "current",
    init: (T) => ({ weights: new Array(T).fill(1), step: 0 }),
    update: (obs, s) => {
      seen.push(obs.gramian!);
      return { weights, state: { weights, step: s.step + 1 } };
    },
  };
}

function run(balancer: Balancer<BalancerState>, steps: number) {
  const tr = createTrainer({ step: { model, loss: meanSquaredError, optimizer: { lr: 1e-2 } }, balancer, params: initParams(model, 9), batchSize: B });
  for (let t = 0; t < steps; t++) tr.step(batches[t % batches.length]!);
  const p = tr.finish();
  const flat = tree.leaves(p).flatMap((a) => toList(a as never));
  tree.dispose(p);
  return flat;
}

test("two-phase step (timing current) = one-phase step with the same weights; the Gramian reaches the balancer", () => {
  const w = [0.2, 1.5, 0.7];
  const seen: Gramian[] = [];
  const two = run(recordingCurrent(w, seen), 12);
  const one = run(staticWeights({ weights: w }) as Balancer<BalancerState>, 12);
  assert.ok(maxRelErr(two, one) < 1e-5, `max rel err ${maxRelErr(two, one)}`);
  assert.equal(seen.length, 12);
  for (const G of seen) {
    assert.equal(G.length, 3);
    for (let i = 0; i < 3; i++) {
      assert.ok(G[i]![i]! > 0);
      for (let j = 0; j < 3; j++) assert.ok(Math.abs(G[i]![j]! - G[j]![i]!) <= 1e-5 * Math.sqrt(G[i]![i]! * G[j]![j]!));
    }
  }
});

test("two-phase step leaks no device buffers", () => {
  run(recordingCurrent([1, 1, 1], []), 3);
  const before = counter.live();
  run(recordingCurrent([1, 1, 1], []), 200);
  assert.equal(counter.live(), before);
});

test("a balancer error in the middle of a two-phase step frees the residuals", () => {
  const failing: Balancer<BalancerState> = { ...recordingCurrent([1, 1, 1], []), update: () => { throw new Error("boom"); } };
  run(recordingCurrent([1, 1, 1], []), 2);
  const before = counter.live();
  const tr = createTrainer({ step: { model, loss: meanSquaredError, optimizer: { lr: 1e-2 } }, balancer: failing, params: initParams(model, 9), batchSize: B });
  assert.throws(() => tr.step(batches[0]!), /boom/);
  tr.dispose();
  assert.equal(counter.live(), before);
});

test("statRequest: Gramian when asked (norms from its diagonal), else norms, magnitudes or kernel traces; conflicting requests are an error", () => {
  assert.deepEqual(statRequest({}), undefined);
  assert.deepEqual(statRequest({ gradNorms: "lastShared" }), { mode: "lastShared", kind: "norms" });
  assert.deepEqual(statRequest({ gramian: "representation" }), { mode: "representation", kind: "gramian" });
  assert.throws(() => statRequest({ gramian: "shared", gradNorms: "lastShared" }), /different modes/);
  assert.deepEqual(statRequest({ gradAbs: "shared" }), { mode: "shared", kind: "abs" });
  assert.deepEqual(statRequest({ kernelTraces: true }), { mode: "shared", kind: "ntk" });
  assert.throws(() => statRequest({ kernelTraces: true, gramian: "shared" }), /cannot ask for kernel traces and gradient norms or a Gramian together/);
  // The built-in MLP step has no per-sample outputs: refused when the trainer is built.
  assert.throws(
    () => createTrainer({ step: { model, loss: meanSquaredError, optimizer: { lr: 1e-2 } }, balancer: createBalancer("ntk"), params: initParams(model, 9), batchSize: B }),
    /built-in MLP step has no per-sample outputs for the ntk statistic/,
  );
  assert.throws(() => statRequest({ gradAbs: "shared", gradNorms: "shared" }), /gradient magnitudes \(gradAbs\) and gradient norms or a Gramian together/);
});

/** Batch 0 with a NaN in the inputs (x) or in task 1's targets (y). */
function poisoned(where: "x" | "y") {
  const b = { x: batches[0]!.x.slice(), y: batches[0]!.y.slice() };
  if (where === "x") b.x[3] = Number.NaN;
  else b.y[B * 3 + 2] = Number.NaN;
  return b;
}

for (const method of ["equal", "gradnorm", "famo", "mgda"] as const) {
  test(`${method}: a step on a batch holding NaN throws and leaves the trainer as it was (the next steps match a run without it)`, () => {
    const make = () =>
      createTrainer({ step: { model, loss: meanSquaredError, optimizer: { lr: 1e-2 } }, balancer: createBalancer(method, method === "mgda" ? { gradMode: "representation" } : {}), params: initParams(model, 9), batchSize: B });
    const clean = make();
    const hit = make();
    for (const t of [1, 2]) {
      clean.step(batches[t]!);
      hit.step(batches[t]!);
    }
    for (const where of ["x", "y"] as const) {
      const before = hit.stepCount;
      assert.throws(() => hit.step(poisoned(where)), (e: unknown) => e instanceof TrainingError && /loss of task \d is NaN at step 2/.test(e.message));
      assert.equal(hit.stepCount, before);
    }
    for (const t of [3, 4, 5]) {
      clean.step(batches[t]!);
      hit.step(batches[t]!);
    }
    assert.deepEqual(hit.weights, clean.weights);
    const flat = (tr: ReturnType<typeof make>) => tree.leaves(tr.params).flatMap((a) => toList(a as never));
    const a = flat(hit);
    assert.ok(a.every(Number.isFinite), "parameters stay finite");
    assert.deepEqual(a, flat(clean), "bit-identical to the run that never saw the bad batch");
    clean.dispose();
    hit.dispose();
  });
}

test("a balancer that returns a non-finite weight is stopped before the weight is used", () => {
  const bad: Balancer<BalancerState> = {
    name: "bad",
    needs: {},
    init: (T) => ({ weights: new Array(T).fill(1), step: 0 }),
    update: (_obs, s) => ({ weights: [1, Number.NaN, 1], state: { weights: [1, Number.NaN, 1], step: s.step + 1 } }),
  };
  const tr = createTrainer({ step: { model, loss: meanSquaredError, optimizer: { lr: 1e-2 } }, balancer: bad, params: initParams(model, 9), batchSize: B });
  assert.throws(() => tr.step(batches[0]!), /bad returned weight NaN for task 1 at step 0/);
  assert.deepEqual(tr.weights, [1, 1, 1]);
  assert.equal(tr.stepCount, 0);
  tr.dispose();
});

test("trainLoop rejects bad counts and an evaluate that returns NaN, naming them, and frees the trainer", () => {
  const base = { step: { model, loss: meanSquaredError, optimizer: { lr: 1e-2 } }, batchSize: B, batch: (t: number) => batches[t % batches.length]! };
  for (const [extra, pattern] of [
    [{ steps: Number.NaN }, /steps must be an integer ≥ 0, got NaN/],
    [{ steps: 2.5 }, /steps must be an integer ≥ 0, got 2.5/],
    [{ steps: 3, evalEvery: 0 }, /evalEvery must be an integer ≥ 1, got 0/],
    [{ steps: 3, recordEvery: -1 }, /recordEvery must be an integer ≥ 1/],
  ] as const) {
    assert.throws(() => trainLoop({ ...base, ...extra, balancer: createBalancer("equal"), params: initParams(model, 9) } as never), (e: unknown) => e instanceof TrainingError && pattern.test(e.message));
  }
  assert.throws(
    () => trainLoop({ ...base, batchSize: 0, steps: 1, balancer: createBalancer("equal"), params: initParams(model, 9) }),
    /batchSize must be an integer ≥ 1, got 0/,
  );
  tree.dispose(trainLoop({ ...base, steps: 2, evaluate: () => [1, 2, 3], balancer: createBalancer("equal"), params: initParams(model, 9) }).params);
  const live = counter.live();
  let calls = 0;
  assert.throws(
    () => trainLoop({ ...base, steps: 4, evalEvery: 2, evaluate: () => (++calls < 2 ? [1, 2, 3] : [1, Number.NaN, 3]), balancer: createBalancer("equal"), params: initParams(model, 9) }),
    /evaluate returned NaN for task 1 at step 2/,
  );
  assert.throws(
    () => trainLoop({ ...base, steps: 1, evaluate: () => [1, 2], balancer: createBalancer("equal"), params: initParams(model, 9) }),
    /evaluate returned 2 values at step 0, expected 3/,
  );
  assert.equal(counter.live(), live, "no buffers left behind by the failed loops");
});
