import { test, before, describe } from "node:test";
import assert from "node:assert/strict";
import { numpy as np, tree } from "@jax-js/jax";
import { tanhTask } from "../helpers/tanhTask.js";
import { setupJax, toList, maxRelErr } from "../helpers/jax.js";
import { liveBufferCounter } from "../helpers/liveBuffers.js";
import { createModelTrainer } from "../../src/train/modelTrainer.js";
import { TrainingError } from "../../src/train/loop.js";
import { ModelContractError, type MultitaskModel, type ModelParams } from "../../src/model/contract.js";
import { createBalancer } from "../../src/balancers/registry.js";
import { staticWeights } from "../../src/balancers/staticWeights.js";
import type { Balancer, BalancerState, Gramian } from "../../src/balancers/types.js";
import { adam } from "../../src/optim/adam.js";
import { initTanhMlp, type RegressionBatch } from "../../examples/models/tanhMlp.js";

let counter: { live(): number };
before(async () => {
  await setupJax();
  counter = await liveBufferCounter();
});

const { T, B, config, model, data } = tanhTask(4, 6);
const batch = (k: number): RegressionBatch => ({ x: np.array(data[k % data.length]!.x).reshape([B, 6]), y: np.array(data[k % data.length]!.y).reshape([T, B, 2]) });
const flat = (p: ModelParams) => (tree.leaves(p) as np.Array[]).flatMap((a) => toList(a));

async function run(balancer: Balancer<BalancerState>, steps: number, onRecord?: (r: { gramian?: Gramian }) => void): Promise<number[]> {
  const tr = createModelTrainer({ model, params: initTanhMlp(config, 2), optimizer: adam({ lr: 1e-2 }), balancer });
  for (let k = 0; k < steps; k++) {
    const r = await tr.step(batch(k));
    onRecord?.(r);
  }
  const p = tr.finish();
  const out = flat(p);
  tree.dispose(p);
  return out;
}

describe("createModelTrainer (generic tier, async step)", () => {
  test("GradNorm on the split's W: losses fall, the weights move and stay normalized", async () => {
    const tr = createModelTrainer({ model, params: initTanhMlp(config, 2), optimizer: adam({ lr: 1e-2 }), balancer: createBalancer("gradnorm", { alpha: 1.5 }) });
    const first = await tr.step(batch(0));
    assert.equal(first.gradNorms!.length, T);
    let last = first;
    for (let k = 1; k < 60; k++) last = await tr.step(batch(k));
    const mean = (l: number[]) => l.reduce((a, b) => a + b, 0) / l.length;
    assert.ok(mean(last.losses) < mean(first.losses), `losses ${first.losses} → ${last.losses}`);
    assert.ok(Math.abs(tr.weights.reduce((a, b) => a + b, 0) - T) < 1e-9);
    assert.notDeepEqual([...tr.weights], [1, 1, 1]);
    tr.dispose();
  });

  test("two-phase (timing current) gives the same parameters as one-phase with the same weights; the Gramian reaches the balancer", async () => {
    const w = [0.2, 1.5, 0.7];
    const seen: Gramian[] = [];
    const recording: Balancer<BalancerState> = {
      name: "recording",
      needs: { gramian: "shared" },
      timing: "current",
      init: (n) => ({ weights: new Array(n).fill(1), step: 0 }),
      update: (obs, s) => {
        seen.push(obs.gramian!);
        return { weights: w, state: { weights: w, step: s.step + 1 } };
      },
    };
    const two = await run(recording, 8);
    const one = await run(staticWeights({ weights: w }) as Balancer<BalancerState>, 8);
    assert.ok(maxRelErr(two, one) < 1e-5, `max rel err ${maxRelErr(two, one)}`);
    assert.equal(seen.length, 8);
    for (const G of seen) for (let i = 0; i < T; i++) assert.ok(G[i]![i]! > 0);
  });

  test("a statistic read every k-th update (needs.every) is computed only at those steps; the training is the same as with it every step", async () => {
    const w = [0.4, 1.1, 1.5];
    const probe = (every: number, seen: (number[] | undefined)[]): Balancer<BalancerState> => ({
      name: "probe",
      needs: { gradAbs: "shared", every },
      init: (n) => ({ weights: w.slice(0, n), step: 0 }),
      update: (obs, s) => {
        seen.push(obs.gradAbsMax ? [...obs.gradAbsMax] : undefined);
        return { weights: w, state: { weights: w, step: s.step + 1 } };
      },
    });
    const sparse: (number[] | undefined)[] = [];
    const dense: (number[] | undefined)[] = [];
    const before = counter.live();
    const a = await run(probe(3, sparse), 7);
    const b = await run(probe(1, dense), 7);
    assert.equal(counter.live(), before, "leaked buffers");
    assert.deepEqual(a, b);
    assert.deepEqual(sparse.map((x) => x !== undefined), [true, false, false, true, false, false, true]);
    for (const k of [0, 3, 6]) assert.deepEqual(sparse[k], dense[k]);
  });

  test("NTK weights on a model without kernelTraces: a ModelContractError naming it when the trainer is built, nothing leaked", () => {
    const before = counter.live();
    assert.throws(
      () => createModelTrainer({ model, params: initTanhMlp(config, 2), optimizer: adam({ lr: 1e-2 }), balancer: createBalancer("ntk") }),
      (e: unknown) => e instanceof ModelContractError && /ntk: the kernel traces need per-sample outputs: the model must define kernelTraces/.test(e.message),
    );
    assert.equal(counter.live(), before);
  });

  test("every registered method trains a few steps in each gradient mode it takes", async () => {
    for (const name of ["equal", "gradnorm", "famo", "mgda", "pcgrad", "graddrop", "nashmtl", "lra"]) {
      const needs = createBalancer(name, {}).needs;
      const modes = needs.gradNorms || needs.gramian || needs.gradAbs ? (["representation", "lastShared", "shared"] as const) : ([undefined] as const);
      for (const gradMode of modes) {
        const out = await run(createBalancer(name, gradMode ? { gradMode } : {}), 3);
        assert.ok(out.every(Number.isFinite), `${name} ${gradMode}`);
      }
    }
  });

  test("no device buffers leak over 200 steps (GradNorm, and MGDA's two phases)", async () => {
    for (const name of ["gradnorm", "mgda"]) {
      await run(createBalancer(name, {}), 3);
      const before = counter.live();
      await run(createBalancer(name, {}), 200);
      assert.equal(counter.live(), before, name);
    }
  });

  test("a batch holding NaN throws and leaves the run as it was", async () => {
    const make = () => createModelTrainer({ model, params: initTanhMlp(config, 2), optimizer: adam({ lr: 1e-2 }), balancer: createBalancer("gradnorm", {}) });
    const clean = make();
    const hit = make();
    await clean.step(batch(1));
    await hit.step(batch(1));
    const bad = batch(2);
    const y = toList(bad.y);
    y[3] = Number.NaN;
    bad.y.dispose();
    await assert.rejects(hit.step({ x: bad.x, y: np.array(Float32Array.from(y)).reshape([T, B, 2]) }), (e: unknown) => e instanceof TrainingError && /loss of task \d is NaN at step 1/.test(e.message));
    for (const k of [3, 4]) {
      await clean.step(batch(k));
      await hit.step(batch(k));
    }
    assert.deepEqual(flat(hit.params), flat(clean.params));
    clean.dispose();
    hit.dispose();
  });
});

describe("contract misuse gets a clear error on the first batch", () => {
  const attempt = async (m: MultitaskModel<RegressionBatch>, params: ModelParams = initTanhMlp(config, 2)) => {
    const tr = createModelTrainer({ model: m, params, optimizer: adam({ lr: 1e-2 }), balancer: createBalancer("equal", {}) });
    try {
      await tr.step(batch(0));
    } finally {
      tr.dispose();
    }
  };
  const rejects = (p: Promise<unknown>, pattern: RegExp) => assert.rejects(p, (e: unknown) => e instanceof ModelContractError && pattern.test(e.message));

  test("a task part that reads another task's copy of the representation", async () => {
    const mixing: MultitaskModel<RegressionBatch> = {
      ...model,
      tasks: (p, repT, b) => model.tasks(p, np.flip(repT.ref, 0), b),
    };
    await rejects(attempt(mixing), /task 0's loss depends on copy 2 of the replicated representation/);
  });

  test("a representation that depends on task parameters", async () => {
    const leaky: MultitaskModel<RegressionBatch> = {
      ...model,
      split: {
        body: model.split!.body,
        last: (p, z) => model.split!.last(p, z).add((p.task as { b: np.Array }).b.ref.sum()),
      },
    };
    await rejects(attempt(leaky), /the representation depends on task parameters \(task\.b\)/);
  });

  test("a task part that reads shared parameters", async () => {
    const reading: MultitaskModel<RegressionBatch> = {
      ...model,
      tasks: (p, repT, b) => model.tasks(p, repT, b).add((p.shared as { last: { b: np.Array } }).last.b.ref.sum()),
    };
    await rejects(attempt(reading), /the task part reads shared parameters \(shared\.last\.b\)/);
  });

  test("losses not of shape [T], parameters that do not match the model", async () => {
    await rejects(attempt({ ...model, tasks: (p, r, b) => model.tasks(p, r, b).sum() }), /shape \[3\], got shape \[\]/);
    const params = initTanhMlp(config, 2);
    const wrong = { shared: { body: params.shared.body, last: {} }, task: params.task } as unknown as ModelParams;
    tree.dispose(params.shared.last);
    await rejects(attempt(model, wrong), /the model failed on the parameters and batch given/);
    await assert.rejects(attempt({ ...model, split: undefined }), /either a trunk\(params, batch\) or a split/);
  });
});
