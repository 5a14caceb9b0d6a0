import { test, before } from "node:test";
import assert from "node:assert/strict";
import { tree } from "@jax-js/jax";
import { setupJax, toList, maxRelErr } from "../helpers/jax.js";
import { liveBufferCounter } from "../helpers/liveBuffers.js";
import { initParams } from "../../src/models/mlp.js";
import { createTrainer, statRequest } from "../../src/train/loop.js";
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

test("statRequest: Gramian when asked (norms from its diagonal), else norms; conflicting modes are an error", () => {
  assert.deepEqual(statRequest({}), undefined);
  assert.deepEqual(statRequest({ gradNorms: "lastShared" }), { mode: "lastShared", kind: "norms" });
  assert.deepEqual(statRequest({ gramian: "representation" }), { mode: "representation", kind: "gramian" });
  assert.throws(() => statRequest({ gramian: "shared", gradNorms: "lastShared" }), /different modes/);
});
