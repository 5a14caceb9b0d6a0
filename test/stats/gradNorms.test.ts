import { test, before } from "node:test";
import assert from "node:assert/strict";
import { numpy as np, grad, jit, tree } from "@jax-js/jax";
import { setupJax, toList, maxRelErr, jitStat, statOfRows } from "../helpers/jax.js";
import { liveBufferCounter } from "../helpers/liveBuffers.js";
import {
  absMaxMean,
  affineGradAbsStats,
  affineGradGramian,
  affineGradSquaredNorms,
  linearGradAbsStats,
  linearGradGramian,
  linearGradSquaredNorms,
  linearStatCosts,
  linearStatForm,
  type LinearForm,
} from "../../src/stats/gradNorms.js";
import type { ModelParams } from "../../src/model/contract.js";
import { mlpModel, toModelParams } from "../../src/models/mlpModel.js";
import { initParams, type MultiHeadMlpConfig } from "../../src/models/mlp.js";
import { meanSquaredError } from "../../src/train/losses.js";
import type { LayersBatch } from "../../src/model/layersModel.js";
import { Rng } from "../../src/util/rng.js";

let counter: { live(): number };
before(async () => {
  await setupJax();
  counter = await liveBufferCounter();
});

/** Per-task gradients in float64: hᵀdzₜ flattened [I·O], then (with bias) Σ_b dzₜ [O]. */
function reference(h: Float32Array, dz: Float32Array, B: number, I: number, O: number, T: number, bias: boolean): number[][] {
  return Array.from({ length: T }, (_, t) => {
    const g = new Array<number>(I * O + (bias ? O : 0)).fill(0);
    for (let b = 0; b < B; b++)
      for (let o = 0; o < O; o++) {
        const d = dz[(t * B + b) * O + o]!;
        for (let i = 0; i < I; i++) g[i * O + o]! += h[b * I + i]! * d;
        if (bias) g[I * O + o]! += d;
      }
    return g;
  });
}
const dot = (a: number[], b: number[]) => a.reduce((s, v, k) => s + v * b[k]!, 0);

/**
 * Shapes for every layout the kernels pick: I a multiple of 4 (lanes along I, K reduced in SIMD lanes),
 * only O a multiple of 4 (lanes along O; hᵀ written out for K), neither, the toy network's first layer
 * (I = 250) at a small batch, and one task.
 */
const shapes: [B: number, I: number, O: number, T: number][] = [
  [5, 8, 12, 3],
  [6, 10, 8, 2],
  [7, 9, 5, 3],
  [12, 250, 20, 4],
  [8, 16, 16, 1],
];

/**
 * A kernel of (h [B, I], dz [T, B, O]) run eagerly (checking that it leaks no buffer) or under jit, on
 * fresh arrays of the data: its output as a list.
 */
function runKernel(f: (h: np.Array, dz: np.Array) => np.Array, compiled: boolean, h: Float32Array<ArrayBuffer>, dz: Float32Array<ArrayBuffer>, [B, I, O, T]: readonly number[], what: string): number[] {
  const run = compiled ? jit(f) : f;
  const before = counter.live();
  const out = run(np.array(h).reshape([B!, I!]), np.array(dz).reshape([T!, B!, O!]));
  const got = toList(out);
  out.dispose();
  if (compiled) (run as ReturnType<typeof jit>).dispose();
  else assert.equal(counter.live(), before, `${what}: leaked buffers`);
  return got;
}

for (const [B, I, O, T] of shapes) {
  test(`gradient magnitudes (abs), B=${B} I=${I} O=${O} T=${T}: linear and affine kernels, eager and under jit, equal the per-task gradients' max and sum of |g|`, () => {
    const rng = new Rng(B * 7 + I * 3 + O + T);
    const hData = rng.normals(B * I);
    const dzData = rng.normals(T * B * O);
    for (const bias of [false, true]) {
      const rows = reference(hData, dzData, B, I, O, T, bias);
      const kernel = bias ? affineGradAbsStats : linearGradAbsStats;
      for (const compiled of [false, true]) {
        const got = runKernel((h, dz) => absMaxMean(kernel(h, dz)), compiled, hData, dzData, [B, I, O, T], `bias=${bias}`);
        const raw = statOfRows(rows, "abs");
        const want = [...raw.slice(0, T), ...raw.slice(T, 2 * T).map((s, t) => s / raw[2 * T + t]!)];
        assert.ok(maxRelErr(got, want) < 1e-5, `bias=${bias} jit=${compiled}: max rel err ${maxRelErr(got, want)}`);
      }
    }
  });

  test(`linear and affine statistics, B=${B} I=${I} O=${O} T=${T}: both forms, eager and under jit, equal the per-task gradients (1e-5 relative)`, () => {
    const rng = new Rng(B * 1000 + I * 10 + O + T);
    const hData = rng.normals(B * I);
    const dzData = rng.normals(T * B * O);
    for (const bias of [false, true]) {
      const rows = reference(hData, dzData, B, I, O, T, bias);
      const wantGram = rows.flatMap((a) => rows.map((b) => dot(a, b)));
      const wantNorms = rows.map((a) => dot(a, a));
      const kernels = bias ? { norms: affineGradSquaredNorms, gramian: affineGradGramian } : { norms: linearGradSquaredNorms, gramian: linearGradGramian };
      for (const form of ["direct", "batch", undefined] as (LinearForm | undefined)[]) {
        for (const compiled of [false, true]) {
          for (const kind of ["norms", "gramian"] as const) {
            const got = runKernel((h, dz) => kernels[kind](h, dz, form), compiled, hData, dzData, [B, I, O, T], `${kind} ${form ?? "auto"} bias=${bias}`);
            const want = kind === "norms" ? wantNorms : wantGram;
            assert.equal(got.length, want.length);
            assert.ok(maxRelErr(got, want) < 1e-5, `${kind} ${form ?? "auto"} bias=${bias} jit=${compiled}: max rel err ${maxRelErr(got, want)}`);
          }
        }
      }
    }
  });
}

test("the form is chosen by multiply-adds: the toy network's shapes take both branches", () => {
  assert.deepEqual(linearStatCosts("norms", 32, 100, 100, 10), { direct: 3_200_000, batch: 1_126_400 });
  assert.deepEqual(linearStatCosts("gramian", 100, 100, 100, 10), { direct: 11_000_000, batch: 12_000_000 });
  // T = 10, batch 100: the first layer (250 → 100) in batch space, the 100 → 100 layers directly.
  assert.equal(linearStatForm("gramian", 100, 250, 100, 10), "batch");
  assert.equal(linearStatForm("gramian", 100, 100, 100, 10), "direct");
  assert.equal(linearStatForm("norms", 100, 100, 100, 10), "direct");
  // Batch 32: every layer in batch space.
  assert.equal(linearStatForm("gramian", 32, 100, 100, 10), "batch");
  assert.equal(linearStatForm("norms", 32, 100, 100, 2), "batch");
  // MultiMNIST's last shared layer (256 → 128, batch 256, T = 2): directly.
  assert.equal(linearStatForm("norms", 256, 256, 128, 2), "direct");
});

/** Task t's loss of a built-in MLP through its generic functions (borrows params and batch). */
function taskLoss(m: ReturnType<typeof mlpModel>, params: ModelParams, batch: LayersBatch, t: number, T: number): np.Array {
  const rep = m.split!.last(params, m.split!.body(params, batch));
  const repT = np.broadcastTo(rep.reshape([1, ...rep.shape]), [T, ...rep.shape]);
  const pick = np.array(Float32Array.from({ length: T }, (_, k) => (k === t ? 1 : 0)));
  return m.tasks(params, repT, batch).mul(pick).sum();
}

test("the fast tier's shared and lastShared statistics with layers in both forms and every layout equal T autodiff gradients", () => {
  // Batch 16: the first layer (62 → 8, 62 not a multiple of 4) in batch space, 8 → 6 directly with
  // lanes along I, 6 → 8 directly with lanes along O.
  const T = 3;
  const B = 16;
  const config: MultiHeadMlpConfig = { inputDim: 62, hidden: [8, 6, 8], outputDim: 4, numTasks: T };
  assert.equal(linearStatForm("gramian", B, 62, 8, T), "batch");
  assert.equal(linearStatForm("gramian", B, 8, 6, T), "direct");
  assert.equal(linearStatForm("gramian", B, 6, 8, T), "direct");
  const m = mlpModel(config, meanSquaredError);
  const params = toModelParams(initParams(config, 12)) as ModelParams;
  const rng = new Rng(13);
  const batch: LayersBatch = { x: np.array(rng.normals(B * 62)).reshape([B, 62]), y: np.array(rng.normals(T * B * 4)).reshape([T, B, 4]) };
  const perTask = (select: (g: ModelParams) => unknown) =>
    Array.from({ length: T }, (_, t) => {
      const g = grad((p: ModelParams) => taskLoss(m, p, batch, t, T))(tree.ref(params)) as ModelParams;
      const flat = (tree.leaves(select(g) as never) as np.Array[]).flatMap((a) => toList(a));
      tree.dispose(g);
      return flat;
    });
  const refs = { shared: perTask((g) => g.shared), lastShared: perTask((g) => (g.shared as { last: unknown }).last) };
  for (const mode of ["shared", "lastShared"] as const) {
    const rows = refs[mode];
    for (const kind of ["norms", "gramian", "abs"] as const) {
      const got = jitStat((p: ModelParams, b: LayersBatch, o) => m.fast!.pass(p, b, o), params, batch, { mode, kind });
      const want = statOfRows(rows, kind);
      assert.ok(maxRelErr(got, want) < 1e-5, `${mode} ${kind}: max rel err ${maxRelErr(got, want)}`);
    }
  }
  tree.dispose(params);
  tree.dispose(batch);
});
