import { test, before } from "node:test";
import assert from "node:assert/strict";
import { numpy as np, grad, tree } from "@jax-js/jax";
import { setupJax, toList } from "../helpers/jax.js";
import { initParams, forward, type Params } from "../../src/models/mlp.js";
import { lossesAndGrads } from "../../src/train/step.js";
import { meanSquaredError } from "../../src/train/losses.js";
import { gradNormStep } from "../../src/balancers/gradNorm.js";
import { Rng } from "../../src/util/rng.js";

before(setupJax);

test("GradNorm on a tiny network: ∂L_grad/∂wᵢ by finite differences of autodiff norms = sign(Gᵢ − targetᵢ)·‖∇_W Lᵢ‖", () => {
  const T = 3;
  const cfg = { inputDim: 5, hidden: [6, 4], outputDim: 2, numTasks: T };
  const p = initParams(cfg, 11);
  const rng = new Rng(5);
  const B = 8;
  const x = np.array(rng.normals(B * 5)).reshape([B, 5]);
  const y = np.array(rng.normals(T * B * 2, 3)).reshape([T, B, 2]);
  const L = cfg.hidden.length;
  // Gᵢ(w) = ‖∇_W (wᵢ Lᵢ)‖ at the last shared layer, by autodiff of the whole network.
  const G = (w: number[]) =>
    w.map((wi, i) => {
      const g = grad((q: Params) => meanSquaredError.value(forward(q, x.ref), y.ref).mul(np.array(w.map((_, j) => (j === i ? wi : 0)))).sum())(tree.ref(p)) as Params;
      const v = toList(g.trunk.W[L - 1]!);
      tree.dispose(g);
      return Math.sqrt(v.reduce((a, b) => a + b * b, 0));
    });
  const w = [0.7, 1.9, 0.4];
  const losses = toList(meanSquaredError.value(forward(tree.ref(p), x.ref), y.ref));
  const initial = losses.map((l, i) => l * [1.3, 0.8, 1.1][i]!); // some Lᵢ(0) so that rᵢ ≠ 1
  const r = lossesAndGrads(p, np.array(w), x.ref, y.ref, meanSquaredError, "lastShared");
  const norms = toList(r.gradNorms!);
  tree.dispose(r.grads);
  r.losses.dispose();
  r.gradNorms!.dispose();
  const info = gradNormStep(w, norms, losses, initial, 0.12);
  const G0 = G(w);
  G0.forEach((g, i) => assert.ok(Math.abs(g - info.G[i]!) < 1e-5 * Math.max(1, g), `G${i}: autodiff ${g} vs step ${info.G[i]}`));
  // Targets held constant: finite differences of Σ|Gᵢ(w) − targetᵢ| in each wᵢ.
  const Lgrad = (ww: number[]) => G(ww).reduce((a, g, i) => a + Math.abs(g - info.target[i]!), 0);
  const h = 1e-2;
  for (let i = 0; i < T; i++) {
    const up = w.map((v, j) => (j === i ? v + h : v));
    const dn = w.map((v, j) => (j === i ? v - h : v));
    const fd = (Lgrad(up) - Lgrad(dn)) / (2 * h);
    assert.ok(Math.abs(fd - info.grad[i]!) < 2e-3 * Math.max(1, Math.abs(fd)), `task ${i}: finite difference ${fd} vs closed form ${info.grad[i]}`);
    assert.notEqual(info.grad[i], 0);
  }
  tree.dispose(p);
  x.dispose();
  y.dispose();
});
