import { test, before } from "node:test";
import assert from "node:assert/strict";
import { numpy as np, grad, tree } from "@jax-js/jax";
import { setupJax, toList, maxRelErr, statOfRows } from "../helpers/jax.js";
import { initParams, forward, type Params } from "../../src/models/mlp.js";
import { lossesAndGrads } from "../../src/train/step.js";
import { meanSquaredError, crossEntropy, type TaskLoss } from "../../src/train/losses.js";
import { Rng } from "../../src/util/rng.js";

before(setupJax);

const T = 3;
const cfg = { inputDim: 7, hidden: [6, 5, 4], outputDim: 3, numTasks: T };

function batch(B: number, seed: number, onehot: boolean) {
  const rng = new Rng(seed);
  const x = np.array(rng.normals(B * cfg.inputDim)).reshape([B, cfg.inputDim]);
  let y: Float32Array<ArrayBuffer>;
  if (onehot) {
    y = new Float32Array(T * B * cfg.outputDim);
    for (let i = 0; i < T * B; i++) y[i * cfg.outputDim + rng.int(cfg.outputDim)] = 1;
  } else y = rng.normals(T * B * cfg.outputDim);
  return { x, y: np.array(y).reshape([T, B, cfg.outputDim]) };
}

function taskLossFn(loss: TaskLoss, x: np.Array, y: np.Array) {
  return (p: Params) => loss.value(forward(p, x.ref), y.ref);
}

/** Autodiff reference: gradient of Σ wᵢLᵢ. */
function autodiffGrads(p: Params, w: number[], loss: TaskLoss, x: np.Array, y: np.Array): Params {
  const f = taskLossFn(loss, x, y);
  return grad((q: Params) => f(q).mul(np.array(w)).sum())(tree.ref(p)) as Params;
}

/** Autodiff reference for one task's gradient. */
function taskGrad(p: Params, i: number, loss: TaskLoss, x: np.Array, y: np.Array): Params {
  const w = Array.from({ length: T }, (_, j) => (j === i ? 1 : 0));
  return autodiffGrads(p, w, loss, x, y);
}

function flat(g: Params): number[] {
  return tree.leaves(g).flatMap((a) => toList(a as np.Array));
}
const norm = (v: number[]) => Math.sqrt(v.reduce((a, b) => a + b * b, 0));

for (const [loss, onehot] of [[meanSquaredError, false], [crossEntropy, true]] as const) {
  for (const B of [4, 12]) {
    test(`${loss.name}, batch ${B}: hand-written gradients of Σ wᵢLᵢ match autodiff`, () => {
      const p = initParams(cfg, 1);
      const { x, y } = batch(B, 2, onehot);
      const w = [0.3, 1.7, 1.0];
      const ref = flat(autodiffGrads(p, w, loss, x, y));
      for (const stat of [undefined, "lastShared", "representation", "shared"] as const) {
        const r = lossesAndGrads(p, np.array(w), x.ref, y.ref, loss, stat);
        const got = flat(r.grads);
        assert.equal(got.length, ref.length);
        assert.ok(maxRelErr(got, ref) < 1e-5, `stat=${stat}: max rel err ${maxRelErr(got, ref)}`);
        const refLosses = toList(taskLossFn(loss, x, y)(tree.ref(p)));
        assert.ok(maxRelErr(toList(r.losses), refLosses) < 1e-6);
        tree.dispose(r.grads);
        r.losses.dispose();
        r.gradNorms?.dispose();
      }
      tree.dispose(p);
      x.dispose();
      y.dispose();
    });

    test(`${loss.name}, batch ${B}: per-task gradient norms match per-task autodiff in every mode`, () => {
      const p = initParams(cfg, 3);
      const { x, y } = batch(B, 4, onehot);
      const L = cfg.hidden.length;
      const expected = { lastShared: [] as number[], shared: [] as number[], representation: [] as number[] };
      for (let i = 0; i < T; i++) {
        const g = taskGrad(p, i, loss, x, y);
        expected.lastShared.push(norm(toList(g.trunk.W[L - 1]!)));
        expected.shared.push(norm(tree.leaves(g.trunk).flatMap((a) => toList(a as np.Array))));
        tree.dispose(g);
      }
      // Representation reference by autodiff through the heads only.
      let h = x.ref;
      for (let l = 0; l < L; l++) h = np.maximum(np.matmul(h, p.trunk.W[l]!.ref).add(p.trunk.b[l]!.ref), 0);
      for (let i = 0; i < T; i++) {
        const gr = grad((rep: np.Array) => {
          const out = np.einsum("bk,tko->tbo", rep, p.heads.W.ref).add(p.heads.b.ref.reshape([T, 1, cfg.outputDim]));
          return loss.value(out, y.ref).mul(np.array(Array.from({ length: T }, (_, j) => (j === i ? 1 : 0)))).sum();
        })(h.ref);
        expected.representation.push(norm(toList(gr)));
        gr.dispose();
      }
      h.dispose();
      for (const stat of ["lastShared", "representation", "shared"] as const) {
        // Weights must not change the unweighted norms.
        const r = lossesAndGrads(p, np.array([5, 0.1, 2]), x.ref, y.ref, loss, stat);
        const got = toList(r.gradNorms!);
        assert.ok(maxRelErr(got, expected[stat]) < 1e-5, `${stat}: got ${got}, want ${expected[stat]}`);
        tree.dispose(r.grads);
        r.losses.dispose();
        r.gradNorms!.dispose();
      }
      tree.dispose(p);
      x.dispose();
      y.dispose();
    });
  }
}

import { forwardWithStats, combinedGrads } from "../../src/train/step.js";

test("per-task Gramians and gradient magnitudes match autodiff in every mode, both kernels (B < and > layer width)", () => {
  for (const B of [4, 12]) {
    const p = initParams(cfg, 21);
    const { x, y } = batch(B, 22, false);
    const L = cfg.hidden.length;
    const per = Array.from({ length: T }, (_, i) => taskGrad(p, i, meanSquaredError, x, y));
    const vecs = {
      lastShared: per.map((g) => toList(g.trunk.W[L - 1]!)),
      shared: per.map((g) => tree.leaves(g.trunk).flatMap((a) => toList(a as np.Array))),
    };
    per.forEach((g) => tree.dispose(g));
    for (const mode of ["lastShared", "shared"] as const)
      for (const kind of ["gramian", "abs"] as const) {
        const f = forwardWithStats(p, x.ref, y.ref, meanSquaredError, { mode, kind });
        const got = toList(f.stat!);
        tree.dispose(combinedGrads(p, np.ones([T]), f.residuals));
        f.losses.dispose();
        f.stat!.dispose();
        const want = statOfRows(vecs[mode], kind);
        assert.ok(maxRelErr(got, want) < 1e-5, `B=${B} ${mode} ${kind}: ${got} vs ${want}`);
      }
    tree.dispose(p);
    x.dispose();
    y.dispose();
  }
});
