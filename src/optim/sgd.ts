import { numpy as np, tree } from "@jax-js/jax";
import type { OptimizerStateKind, Tree, TreeOptimizer } from "./types.js";
import { checkNonNegative, checkPositive, checkUnit } from "./validate.js";

export interface SgdOptions {
  /** Learning rate, finite and > 0. */
  readonly lr: number;
  /** Momentum μ, finite and ≥ 0; default 0 (plain SGD, no buffers). */
  readonly momentum?: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0); default false. */
  readonly nesterov?: boolean;
  /** Coupled (L2) weight decay λ, finite and ≥ 0; default 0. */
  readonly weightDecay?: number;
  /** Dampening τ of the momentum buffer, in [0, 1]; default 0. */
  readonly dampening?: number;
}

/**
 * The number of steps taken (a float32 scalar) and the momentum buffers: shaped like the params
 * when momentum > 0, otherwise an empty list (a tree with no leaves, so no device memory).
 */
export type SgdState<P extends Tree> = { count: np.Array; momentum: P | [] };

export interface SgdStateKind extends OptimizerStateKind {
  readonly state: SgdState<this["P"]>;
}

/**
 * Stochastic gradient descent over a parameter tree, as PyTorch's `torch.optim.SGD` (maximize off).
 * Momentum after Sutskever et al. 2013 (PyTorch's formulation); with t the step number (from 1):
 *   g ← g + λp  (if λ > 0),
 *   if μ > 0: b ← g when t = 1, else b ← μb + (1 − τ)g;  then g ← g + μb (Nesterov) or g ← b,
 *   p ← p − lr·g.
 * Options: lr (required, finite > 0), momentum μ = 0 (≥ 0), nesterov = false (needs μ > 0 and τ = 0,
 * as PyTorch requires), weightDecay λ = 0 (≥ 0), dampening τ = 0.
 * State: the step count and, when μ > 0, buffers shaped like the params (b starts at zero, so the
 * first step's b = g is computed as μ·0 + g with the (1 − τ) factor switched off while the count is 0);
 * with μ = 0 the buffers are an empty list and the update is p − lr·(g + λp).
 * Deviations from PyTorch: none in the update; dampening must lie in [0, 1] (PyTorch accepts any value).
 */
export function sgd(options: SgdOptions): TreeOptimizer<SgdStateKind> & { readonly name: "sgd" } {
  const { lr, momentum = 0, nesterov = false, weightDecay = 0, dampening = 0 } = options;
  checkPositive("sgd", "lr", lr);
  checkNonNegative("sgd", "momentum", momentum);
  checkNonNegative("sgd", "weightDecay", weightDecay);
  checkUnit("sgd", "dampening", dampening);
  if (typeof nesterov !== "boolean") throw new Error(`sgd: nesterov must be true or false (got ${String(nesterov)})`);
  if (nesterov && !(momentum > 0 && dampening === 0)) {
    throw new Error(`sgd: nesterov needs momentum > 0 and dampening = 0 (got momentum ${momentum}, dampening ${dampening})`);
  }
  return {
    name: "sgd",
    init<P extends Tree>(params: P): SgdState<P> {
      const buffers = momentum > 0 ? (tree.map((p: np.Array) => np.zeros(p.shape), params) as P) : ([] as []);
      return { count: np.array(0), momentum: buffers };
    },
    update<P extends Tree>(params: P, grads: P, state: SgdState<P>): { params: P; state: SgdState<P> } {
      if (weightDecay > 0) grads = tree.map((g: np.Array, p: np.Array) => g.add(p.mul(weightDecay)), grads, tree.ref(params)) as P;
      if (momentum === 0) {
        const next = tree.map((p: np.Array, g: np.Array) => p.sub(g.mul(lr)), params, grads) as P;
        tree.dispose(state.momentum);
        return { params: next, state: { count: state.count.add(1), momentum: [] } };
      }
      // Scale of g in the buffer: 1 on the first step (b = g), 1 − τ after.
      let gScale: np.Array | undefined;
      if (dampening > 0) gScale = np.minimum(state.count.ref, 1).mul(-dampening).add(1);
      const scaled = (g: np.Array) => (gScale ? g.mul(gScale.ref) : g);
      const buf = tree.map((b: np.Array, g: np.Array) => b.mul(momentum).add(scaled(g)), state.momentum as P, tree.ref(grads)) as P;
      gScale?.dispose();
      let next: P;
      if (nesterov) {
        next = tree.map((p: np.Array, g: np.Array, b: np.Array) => p.sub(g.add(b.mul(momentum)).mul(lr)), params, grads, tree.ref(buf)) as P;
      } else {
        tree.dispose(grads);
        next = tree.map((p: np.Array, b: np.Array) => p.sub(b.mul(lr)), params, tree.ref(buf)) as P;
      }
      return { params: next, state: { count: state.count.add(1), momentum: buf } };
    },
  };
}
