import { test, before, describe } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { numpy as np, tree } from "@jax-js/jax";
import { setupJax } from "../helpers/jax.js";
import { liveBufferCounter } from "../helpers/liveBuffers.js";
import { createTfjsTrainer } from "../../src/tfjs/index.js";
import { createModelTrainer } from "../../src/train/modelTrainer.js";
import { initParams, type MultiHeadMlpConfig, type Params } from "../../src/models/mlp.js";
import { fromModelParams, mlpModel, toModelParams } from "../../src/models/mlpModel.js";
import { meanSquaredError } from "../../src/train/losses.js";
import { sgd } from "../../src/optim/sgd.js";
import { gatherBatch, makeToy, toyArrays } from "../../src/data/toy.js";
import { gradNorm, gradNormStep } from "../../src/balancers/gradNorm.js";
import { mgda } from "../../src/balancers/mgda.js";
import { upgrad } from "../../src/balancers/upgrad.js";
import type { Balancer, BalancerState } from "../../src/balancers/types.js";
import type { StepRecord } from "../../src/train/loop.js";
import { Rng, deriveSeed } from "../../src/util/rng.js";

/**
 * Parity of the TF.js trainer with the jax-js one: the synthetic GradNorm task (makeToy, T = 3 tasks with
 * σ drawn from the seed) trained by both from the same initial parameters on the same batches, with plain
 * SGD on both sides (the library's sgd without momentum, tf.train.sgd: both p ← p − lr·g). The jax-js side
 * is runToy's: the built-in MLP (mlpModel) through createModelTrainer; the TF.js side is the same network
 * as a functional tf.LayersModel (Dense+ReLU trunk, one linear Dense head per task) with the jax-js
 * initial parameters copied in. Each balancer sees the losses and statistics its own path computed, so
 * the per-step weights agree only if both paths compute the same losses, norms / Gramians and apply the
 * same weighted gradients, step after step.
 *
 * Tolerance: both sides compute in float32 with different operation orders (one jit-compiled wasm
 * program against TF.js's cpu kernels), so every quantity carries rounding of a few float32 ulps
 * (ε = 1.2e-7), which SGD carries from step to step. Measured here, the largest relative difference over
 * the 100 steps (per step, against the step's largest entry; losses entry by entry) is: weights 6.1e-7
 * (UPGrad at lastShared; GradNorm and MGDA 1.7e-8), losses 6.2e-7, statistics 6.9e-7, final parameters
 * 2.1e-7, with no growth along the run. TOL = 1e-5 (≈ 80 ε, ~15× the worst measured) leaves room for
 * other platforms' rounding and stays far below what a real difference gives: GradNorm's α 1.5 instead
 * of 0.12, MGDA at lastShared instead of the representation, or a learning rate 0.1% larger on the TF.js
 * side each move the trajectories by 1e-3 or more (asserted below).
 */

const T = 3;
const D = 20;
const O = 8;
const hidden = [16, 16];
const B = 16;
const STEPS = 100;
const LR = 0.03;
const SEED = 3;
const TOL = 1e-5;
const config: MultiHeadMlpConfig = { inputDim: D, hidden, outputDim: O, numTasks: T };
const data = makeToy({ numTasks: T, inputDim: D, outputDim: O, trainSize: 256, testSize: 8, seed: SEED });

/** runToy's batch order: a seeded permutation, a new one each epoch. */
const order: Int32Array[] = (() => {
  const rng = new Rng(deriveSeed(SEED, "batches"));
  const N = data.train.size;
  let perm = rng.permutation(N);
  let pos = 0;
  return Array.from({ length: STEPS }, () => {
    if (pos + B > N) {
      perm = rng.permutation(N);
      pos = 0;
    }
    const idx = Int32Array.from(perm.subarray(pos, pos + B));
    pos += B;
    return idx;
  });
})();
const hostBatch = (k: number) => gatherBatch(data.train, order[k]!, T, D, O);

/** Live jax-js buffers (checked around each jax-js run) and the initial parameters, flattened as below. */
let counter: { live(): number };
let initial: number[];

interface Trajectory {
  /** The weights applied at each step. */
  weights: number[][];
  losses: number[][];
  /** The gradient norms or the Gramian (flattened) the balancer saw at each step. */
  stats: number[][];
  /** Every parameter after the last step, in the TF.js model's order: per trunk layer W, b; per head W, b. */
  final: number[];
}

const statOf = (r: StepRecord): number[] => (r.gramian ? r.gramian.flat() : r.gradNorms ? [...r.gradNorms] : []);

/** The built-in parameters (borrowed) flattened in the TF.js model's order. */
async function flatParams(p: Params): Promise<number[]> {
  const read = async (a: np.Array) => Array.from((await a.ref.data()) as Float32Array);
  const out: number[] = [];
  for (let l = 0; l < hidden.length; l++) out.push(...(await read(p.trunk.W[l]!)), ...(await read(p.trunk.b[l]!)));
  const W = await read(p.heads.W);
  const b = await read(p.heads.b);
  const H = hidden[hidden.length - 1]!;
  for (let t = 0; t < T; t++) out.push(...W.slice(t * H * O, (t + 1) * H * O), ...b.slice(t * O, (t + 1) * O));
  return out;
}

async function runJax(balancer: Balancer<BalancerState>): Promise<Trajectory> {
  const live = counter.live();
  const trainer = createModelTrainer({
    model: mlpModel(config, meanSquaredError),
    params: toModelParams(initParams(config, SEED)),
    optimizer: sgd({ lr: LR }),
    balancer,
  });
  const tr: Trajectory = { weights: [], losses: [], stats: [], final: [] };
  for (let k = 0; k < STEPS; k++) {
    const r = await trainer.step(toyArrays(hostBatch(k), config));
    tr.weights.push([...r.weights]);
    tr.losses.push([...r.losses]);
    tr.stats.push(statOf(r));
  }
  const params = trainer.finish();
  tr.final = await flatParams(fromModelParams(params));
  tree.dispose(params);
  assert.equal(counter.live(), live, "jax-js buffers left after the run");
  return tr;
}

/** The built-in MLP as a functional TF.js model, holding the jax-js initial parameters. */
function tfModel(): tf.LayersModel {
  const dims = [D, ...hidden];
  const input = tf.input({ shape: [D] });
  const trunk = hidden.map((units, l) => tf.layers.dense({ units, activation: "relu", name: `trunk${l}` }));
  const rep = trunk.reduce((h: tf.SymbolicTensor, layer) => layer.apply(h) as tf.SymbolicTensor, input);
  const heads = Array.from({ length: T }, (_, t) => tf.layers.dense({ units: O, name: `task${t}` }));
  const model = tf.model({ inputs: input, outputs: heads.map((l) => l.apply(rep) as tf.SymbolicTensor) });
  let at = 0;
  const set = (layer: tf.layers.Layer, fanIn: number, fanOut: number) => {
    const ws = [[fanIn, fanOut], [fanOut]].map((shape) => {
      const n = shape.reduce((a, b) => a * b, 1);
      at += n;
      return tf.tensor(initial.slice(at - n, at), shape);
    });
    layer.setWeights(ws);
    tf.dispose(ws);
  };
  trunk.forEach((layer, l) => set(layer, dims[l]!, dims[l + 1]!));
  heads.forEach((layer) => set(layer, dims[dims.length - 1]!, O));
  assert.equal(at, initial.length);
  return model;
}

async function runTfjs(balancer: Balancer<BalancerState>, lr = LR): Promise<Trajectory> {
  const start = tf.memory().numTensors;
  const model = tfModel();
  const optimizer = tf.train.sgd(lr);
  const trainer = createTfjsTrainer({ model, loss: "meanSquaredError", balancer, optimizer });
  assert.equal(trainer.graph.repLayer, `trunk${hidden.length - 1}`);
  const tr: Trajectory = { weights: [], losses: [], stats: [], final: [] };
  for (let k = 0; k < STEPS; k++) {
    const { x, y } = hostBatch(k);
    const xt = tf.tensor2d(x, [B, D]);
    const ys = Array.from({ length: T }, (_, t) => tf.tensor2d(y.subarray(t * B * O, (t + 1) * B * O), [B, O]));
    const r = await trainer.step(xt, ys);
    tf.dispose([xt, ...ys]);
    tr.weights.push([...r.weights]);
    tr.losses.push([...r.losses]);
    tr.stats.push(statOf(r));
  }
  for (const w of model.getWeights()) tr.final.push(...((await w.data()) as Float32Array));
  optimizer.dispose();
  model.dispose();
  assert.equal(tf.memory().numTensors, start, "TF.js tensors left after the run");
  return tr;
}

/**
 * max over steps of max |a − b| / max |b| within the step (b: the jax-js side), or entry by entry
 * (|a − b| / |b|) when `perEntry` (the losses: all positive, of very different sizes across tasks).
 */
function maxRelDiff(a: readonly (readonly number[])[], b: readonly (readonly number[])[], perEntry = false): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  a.forEach((row, k) => {
    const ref = b[k]!;
    assert.equal(row.length, ref.length);
    const scale = Math.max(1e-12, ...ref.map(Math.abs));
    row.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - ref[i]!) / (perEntry ? Math.abs(ref[i]!) : scale))));
  });
  return worst;
}

function diffs(tfRun: Trajectory, jax: Trajectory) {
  return {
    weights: maxRelDiff(tfRun.weights, jax.weights),
    losses: maxRelDiff(tfRun.losses, jax.losses, true),
    stats: maxRelDiff(tfRun.stats, jax.stats),
    final: maxRelDiff([tfRun.final], [jax.final]),
  };
}

const fmt = (d: Record<string, number>) => Object.entries(d).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(", ");

/** Asserts agreement to TOL and that the run is not trivial (the weights move, the parameters move). */
function assertParity(t: { diagnostic(m: string): void }, name: string, tfRun: Trajectory, jaxRun: Trajectory): void {
  const d = diffs(tfRun, jaxRun);
  t.diagnostic(`${name}: max relative difference per step: ${fmt(d)}`);
  for (const [what, v] of Object.entries(d)) assert.ok(v < TOL, `${name}: ${what} differ by ${v} (relative) > ${TOL}`);
  const spread = Math.max(...jaxRun.weights.flatMap((w) => w.map((v, i) => Math.abs(v - jaxRun.weights[0]![i]!))));
  assert.ok(spread > 1e-2, `${name}: the weights barely moved (${spread})`);
  const moved = maxRelDiff([jaxRun.final], [initial]);
  assert.ok(moved > 1e-2, `${name}: the parameters barely moved (${moved})`);
}

before(async () => {
  await setupJax();
  counter = await liveBufferCounter();
  const p = initParams(config, SEED);
  initial = await flatParams(p);
  tree.dispose(p);
  await tf.setBackend("cpu");
  await tf.ready();
});

describe("TF.js trainer against the jax-js trainer: synthetic task, same initial parameters, batches and SGD", () => {
  test("GradNorm (α = 0.12, lastShared: the fused fan-out pass)", async (t) => {
    const jax = await runJax(gradNorm({ alpha: 0.12 }) as Balancer<BalancerState>);
    const tfRun = await runTfjs(gradNorm({ alpha: 0.12 }) as Balancer<BalancerState>);
    assertParity(t, "gradnorm", tfRun, jax);
    // How close GradNorm's sign(Gᵢ − targetᵢ) came to flipping: a flip from rounding alone would split the paths.
    const margin = Math.min(
      ...jax.weights.map((w, k) => {
        const info = gradNormStep(w, jax.stats[k]!, jax.losses[k]!, jax.losses[0]!, 0.12);
        const Gbar = info.G.reduce((a, b) => a + b, 0) / T;
        return Math.min(...info.G.map((g, i) => Math.abs(g - info.target[i]!) / Gbar));
      }),
    );
    t.diagnostic(`gradnorm: smallest |Gᵢ − targetᵢ| / Ḡ over the steps ${margin.toExponential(2)}`);
    // The comparison is sensitive: α = 1.5 (the default) on the TF.js side gives trajectories far outside the tolerance.
    const other = diffs(await runTfjs(gradNorm({ alpha: 1.5 }) as Balancer<BalancerState>), jax);
    t.diagnostic(`gradnorm α 1.5 vs 0.12: ${fmt(other)}`);
    assert.ok(other.weights > 100 * TOL && other.final > 100 * TOL, `α 1.5 vs 0.12: ${fmt(other)}`);
  });

  test("MGDA (representation: timing current, statistics pass then the weighted pass)", async (t) => {
    const jax = await runJax(mgda({ gradMode: "representation" }));
    const tfRun = await runTfjs(mgda({ gradMode: "representation" }));
    assertParity(t, "mgda representation", tfRun, jax);
    const other = diffs(await runTfjs(mgda({ gradMode: "lastShared" })), jax);
    t.diagnostic(`mgda lastShared vs representation: ${fmt(other)}`);
    assert.ok(other.weights > 100 * TOL && other.final > 100 * TOL, `MGDA's mode: ${fmt(other)}`);
  });

  for (const gradMode of ["lastShared", "representation"] as const) {
    test(`UPGrad (${gradMode})`, async (t) => {
      const jax = await runJax(upgrad({ gradMode }));
      const tfRun = await runTfjs(upgrad({ gradMode }));
      assertParity(t, `upgrad ${gradMode}`, tfRun, jax);
      if (gradMode !== "lastShared") return;
      // A small slip is caught too: a learning rate 0.1% larger on the TF.js side.
      const other = diffs(await runTfjs(upgrad({ gradMode }), LR * 1.001), jax);
      t.diagnostic(`upgrad lastShared, TF.js lr × 1.001: ${fmt(other)}`);
      assert.ok(other.weights > 100 * TOL && other.final > 100 * TOL, `lr × 1.001: ${fmt(other)}`);
    });
  }
});
