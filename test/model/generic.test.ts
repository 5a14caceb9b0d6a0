import { test, before, describe } from "node:test";
import assert from "node:assert/strict";
import { numpy as np, grad, jit, tree } from "@jax-js/jax";
import { setupJax, toList, maxRelErr, jitStat, statOfRows } from "../helpers/jax.js";
import { modelPass, type ModelStatRequest } from "../../src/model/generic.js";
import { ModelContractError, type ModelParams, type MultitaskModel } from "../../src/model/contract.js";
import { initTanhMlp, tanhMlp, type RegressionBatch } from "../../examples/models/tanhMlp.js";
import { initMmoe, mmoe } from "../../examples/models/mmoe.js";
import { mlpModel, toModelParams } from "../../src/models/mlpModel.js";
import { dense, layerNorm, tanh } from "../../src/model/layers.js";
import { initLayersModel, layersModel } from "../../src/model/layersModel.js";
import { initParams } from "../../src/models/mlp.js";
import { crossEntropy, meanSquaredError } from "../../src/train/losses.js";
import { initPlainLenet, lenetLayers, lenetLayersParams, plainLenet, type LenetConfig } from "../../examples/models/plainLenet.js";
import { Rng } from "../../src/util/rng.js";

before(setupJax);

const T = 3;
const config = { inputDim: 7, hidden: [9, 8, 6], outputDim: 2, numTasks: T };
const model = tanhMlp(config);
const rng = new Rng(11);
const batchOf = (B: number): RegressionBatch => ({ x: np.array(rng.normals(B * 7)).reshape([B, 7]), y: np.array(rng.normals(T * B * 2)).reshape([T, B, 2]) });

/** Task t's loss as a function of the whole parameter tree (borrows params and batch). */
function lossOf(m: MultitaskModel<RegressionBatch>, params: ModelParams, batch: RegressionBatch, t: number): np.Array {
  const rep = m.split ? m.split.last(params, m.split.body(params, batch)) : m.trunk!(params, batch);
  const R = rep.shape;
  const repT = np.broadcastTo(rep.reshape([1, ...R]), [T, ...R]);
  const losses = m.tasks(params, repT, batch);
  const pick = np.array(Float32Array.from({ length: T }, (_, k) => (k === t ? 1 : 0)));
  return losses.mul(pick).sum();
}

/** Per-task gradients, flattened, over the subtree `select` picks (T separate grad calls). */
function perTaskGrads(m: MultitaskModel<RegressionBatch>, params: ModelParams, batch: RegressionBatch, select: (g: ModelParams) => unknown): number[][] {
  return Array.from({ length: T }, (_, t) => {
    const g = grad((p: ModelParams) => lossOf(m, p, batch, t))(tree.ref(params)) as ModelParams;
    const flat = (tree.leaves(select(g) as never) as np.Array[]).flatMap((a) => toList(a));
    tree.dispose(g);
    return flat;
  });
}

/** Per-task gradients with respect to the representation (T separate grad calls). */
function repGrads(m: MultitaskModel<RegressionBatch>, params: ModelParams, batch: RegressionBatch): number[][] {
  const rep0 = m.split!.last(params, m.split!.body(params, batch));
  const out = Array.from({ length: T }, (_, t) => {
    const g = grad((r: np.Array) => {
      const R = r.shape;
      const losses = m.tasks(params, np.broadcastTo(r.reshape([1, ...R]), [T, ...R]), batch);
      return losses.mul(np.array(Float32Array.from({ length: T }, (_, k) => (k === t ? 1 : 0)))).sum();
    })(rep0.ref);
    const flat = toList(g);
    g.dispose();
    return flat;
  });
  rep0.dispose();
  return out;
}



/** The own tanh MLP's architecture from the library's layers (layer norm after the first tanh layer). */
const layersConfig = { inputShape: [7], trunk: [dense(9), tanh(), layerNorm(), dense(8), tanh(), dense(6), tanh()], numTasks: T, outputDim: 2, loss: meanSquaredError };

/** The example models, small, with a batch each. */
const mmoeConfig = { inputDim: 6, experts: 3, hidden: [5, 4] as [number, number], classes: 3, numTasks: T };
function oneHot(B: number): np.Array {
  const y = new Float32Array(T * B * 3);
  for (let i = 0; i < T * B; i++) y[i * 3 + rng.int(3)] = 1;
  return np.array(y).reshape([T, B, 3]);
}
/** Small LeNets (3×3 kernels; 14×14 pools evenly, 15×15 drops a row and a column at each pool). */
const lenetOf = (size: number): LenetConfig => ({ size, kernel: 3, channels: [3, 4], hidden: 6, classes: 3, numTasks: T });
const images = (size: number, B: number): RegressionBatch => ({ x: np.array(rng.normals(B * size * size)).reshape([B, size * size]), y: oneHot(B) });
const layersLenet = (size: number) => ({ inputShape: [size * size], trunk: lenetLayers(lenetOf(size)), numTasks: T, outputDim: 3, loss: crossEntropy });
const builtinLenet = { inputDim: 12 * 12, hidden: [5], outputDim: 3, numTasks: T, stem: { inputShape: [12, 12, 1] as [number, number, number], layers: [{ channels: 3, kernel: 3, pool: true }] } };

const cases: { label: string; model: MultitaskModel<RegressionBatch>; params: ModelParams; batch: RegressionBatch; fastRefuses?: string }[] = [
  ...[4, 13].map((B) => ({ label: `own tanh MLP with layer norm, B = ${B}`, model, params: initTanhMlp(config, 3), batch: batchOf(B) })),
  { label: "MMoE (3 experts, per-task gates), B = 6", model: mmoe(mmoeConfig) as MultitaskModel<RegressionBatch>, params: initMmoe(mmoeConfig, 5) as ModelParams, batch: { x: np.array(rng.normals(6 * 6)).reshape([6, 6]), y: oneHot(6) } },
  {
    label: "tanh / layer-norm MLP from the library's layers (generic and fast tiers), B = 6",
    model: layersModel(layersConfig) as MultitaskModel<RegressionBatch>,
    params: initLayersModel(layersConfig, 6) as ModelParams,
    batch: batchOf(6),
  },
  ...[5, 11].map((B) => ({
    label: `built-in MLP (generic and fast tiers), B = ${B}`,
    model: mlpModel({ inputDim: 7, hidden: [9, 6], outputDim: 2, numTasks: T }, meanSquaredError) as MultitaskModel<RegressionBatch>,
    params: toModelParams(initParams({ inputDim: 7, hidden: [9, 6], outputDim: 2, numTasks: T }, 4)) as ModelParams,
    batch: batchOf(B),
  })),
  { label: "LeNet with plain lax.conv (generic tier), 14×14, B = 5", model: plainLenet(lenetOf(14)) as MultitaskModel<RegressionBatch>, params: initPlainLenet(lenetOf(14), 7) as ModelParams, batch: images(14, 5) },
  ...[14, 15].map((size) => ({
    label: `LeNet from the library's layers (conv2d, maxPool2; generic and fast tiers), ${size}×${size}, B = 4`,
    model: layersModel(layersLenet(size)) as MultitaskModel<RegressionBatch>,
    params: initLayersModel(layersLenet(size), 8) as ModelParams,
    batch: images(size, 4),
  })),
  {
    label: "LeNet from layers on half-blank images (tied maxima in the pooling windows), B = 3",
    model: layersModel(layersLenet(14)) as MultitaskModel<RegressionBatch>,
    params: initLayersModel(layersLenet(14), 10) as ModelParams,
    batch: { x: np.array(Float32Array.from(rng.normals(3 * 196), (v, i) => (i % 196 < 98 ? 0 : v))).reshape([3, 196]), y: oneHot(3) },
  },
  {
    label: "built-in MLP behind the LeNet stem (generic and fast tiers), B = 4",
    model: mlpModel(builtinLenet, crossEntropy) as MultitaskModel<RegressionBatch>,
    params: toModelParams(initParams(builtinLenet, 9)) as ModelParams,
    batch: images(12, 4),
    fastRefuses: "shared",
  },
];

/** The tiers a model has: the generic one always, its fast tier when it has one. */
const tiers = (m: MultitaskModel<RegressionBatch>) => [
  ["generic", (p: ModelParams, b: RegressionBatch, o: Parameters<typeof modelPass>[3]) => modelPass(m, p, b, o)] as const,
  ...(m.fast ? [["fast", (p: ModelParams, b: RegressionBatch, o: Parameters<typeof modelPass>[3]) => m.fast!.pass(p, b, o ?? {})] as const] : []),
];

for (const { label, model: m, params, batch, fastRefuses } of cases) {
  describe(`generic per-task statistics: ${label}`, () => {
    const references: Record<string, number[][]> = {
      representation: repGrads(m, params, batch),
      lastShared: perTaskGrads(m, params, batch, (g) => (g.shared as { last: unknown }).last),
      shared: perTaskGrads(m, params, batch, (g) => g.shared),
    };
    for (const mode of ["representation", "lastShared", "shared"] as const) {
      test(`${mode}: norms, Gramian and gradient magnitudes equal T separate grad calls (1e-5 relative)`, () => {
        for (const [tier, pass] of tiers(m))
          for (const kind of ["norms", "gramian", "abs"] as const) {
            const stat: ModelStatRequest = { mode, kind };
            if (tier === "fast" && fastRefuses === mode) {
              assert.throws(() => pass(tree.ref(params), tree.ref(batch), { stat }), /does not support a convolutional stem/);
              continue;
            }
            const got = jitStat(pass, params, batch, stat);
            const want = statOfRows(references[mode]!, kind);
            assert.ok(maxRelErr(got, want) < 1e-5, `${tier} ${kind}: max rel err ${maxRelErr(got, want)}`);
          }
      });
    }
    test("the weighted gradients equal grad of Σ wᵢLᵢ over every parameter", () => {
      const w = [0.3, 1.7, 0.9];
      for (const [tier, pass] of tiers(m)) {
      const f = jit((p: ModelParams, b: RegressionBatch, wa: np.Array) => {
        const r = pass(p, b, { weights: wa });
        tree.dispose(p);
        tree.dispose(b);
        r.losses.dispose();
        return r.grads!;
      });
      const got = f(tree.ref(params), tree.ref(batch), np.array(Float32Array.from(w))) as ModelParams;
      const want = grad((p: ModelParams) => {
        let total: np.Array | null = null;
        for (let t = 0; t < T; t++) {
          const l = lossOf(m, p, batch, t).mul(w[t]!);
          total = total === null ? l : total.add(l);
        }
        tree.dispose(p);
        return total!;
      })(tree.ref(params)) as ModelParams;
      const a = (tree.leaves(got) as np.Array[]).flatMap((x) => toList(x));
      const b = (tree.leaves(want) as np.Array[]).flatMap((x) => toList(x));
      assert.equal(a.length, b.length);
      assert.ok(maxRelErr(a, b) < 1e-5, `${tier}: max rel err ${maxRelErr(a, b)}`);
      tree.dispose(got);
      tree.dispose(want);
      f.dispose();
      }
    });
  });
}

test("the LeNet from layers computes the plain lax.conv LeNet: same losses, representation and Gramian from the same parameters", () => {
  const config = lenetOf(15);
  const plain = initPlainLenet(config, 12);
  const layered = lenetLayersParams(plain);
  const batch = images(15, 4);
  const a = modelPass(plainLenet(config) as MultitaskModel<RegressionBatch>, plain, batch, { stat: { mode: "shared", kind: "gramian" } });
  const b = layersModel(layersLenet(15)).fast!.pass(layered, batch, { stat: { mode: "shared", kind: "gramian" } });
  assert.ok(maxRelErr(toList(a.losses), toList(b.losses)) < 1e-5);
  assert.ok(maxRelErr(toList(a.stat!), toList(b.stat!)) < 1e-5, `Gramian: max rel err ${maxRelErr(toList(a.stat!), toList(b.stat!))}`);
  tree.dispose([plain, layered, batch]);
});

describe("contract errors", () => {
  test("losses not of shape [T], and lastShared without a split, are named", () => {
    const params = initTanhMlp(config, 3);
    const batch = batchOf(4);
    const bad: MultitaskModel<RegressionBatch> = { ...model, tasks: (p, r, b) => model.tasks(p, r, b).reshape([1, T]) };
    assert.throws(() => modelPass(bad, params, batch), (e: unknown) => e instanceof ModelContractError && /shape \[3\], got shape \[1, 3\]/.test(e.message));
    const unsplit: MultitaskModel<RegressionBatch> = { numTasks: T, trunk: (p, b) => model.split!.last(p, model.split!.body(p, b)), tasks: model.tasks };
    assert.throws(() => modelPass(unsplit, params, batch, { stat: { mode: "lastShared", kind: "norms" } }), /needs the trunk split at its last shared layer/);
  });
});
