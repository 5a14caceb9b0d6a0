import { numpy as np, tree } from "@jax-js/jax";
import type { OptimizerStateKind, Tree, TreeOptimizer } from "./types.js";
import { checkBeta, checkPositive } from "./validate.js";

export interface AdamOptions {
  /** Learning rate, finite and > 0. */
  readonly lr: number;
  /** First-moment decay, in [0, 1); default 0.9. */
  readonly beta1?: number;
  /** Second-moment decay, in [0, 1); default 0.999. */
  readonly beta2?: number;
  /** Added to √v̂, > 0; default 1e-8. */
  readonly eps?: number;
}

/** Moments shaped like the parameters and the number of steps taken (a float32 scalar). */
export type AdamState<P extends Tree> = { m: P; v: P; count: np.Array };

export interface AdamStateKind extends OptimizerStateKind {
  readonly state: AdamState<this["P"]>;
}

/** Checks Adam's options (for `opt` = "adam" or "adamw") and fills in the defaults. */
export function adamHyper(opt: string, options: AdamOptions): Required<AdamOptions> {
  const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8 } = options;
  checkPositive(opt, "lr", lr);
  checkBeta(opt, "beta1", beta1);
  checkBeta(opt, "beta2", beta2);
  checkPositive(opt, "eps", eps);
  return { lr, beta1, beta2, eps };
}

/** Zero moments shaped like `params` (borrowed) and a zero step count. */
export function adamInit<P extends Tree>(params: P): AdamState<P> {
  const zeros = () => tree.map((p: np.Array) => np.zeros(p.shape), params) as P;
  return { m: zeros(), v: zeros(), count: np.array(0) };
}

/**
 * 1 − βᵗ for the step count t (consumed), as np.power(β, t) — which jax-js computes as exp(t·log β)
 * with a float32 log that is off by about 1e-5 absolute near 1 (log 0.999 comes out −0.0010128), so
 * that 1 − 0.999ᵗ is about 1.2% too large for the first ~1,000 steps and Adam's early steps about 0.6%
 * too large. Kept (a documented deviation from PyTorch) because every figure in the README was made
 * with it; {@link exactBiasCorrection} is the accurate form, for when the figures are regenerated.
 */
function biasCorrection(beta: number, count: np.Array): np.Array {
  return np.power(beta, count).mul(-1).add(1);
}

/**
 * 1 − βᵗ to float32 accuracy, as −expm1(t·ln β) with ln β taken in float64 (β = 0: ln β = −∞ gives 1).
 * Not used by {@link adam} yet (see {@link biasCorrection}).
 */
export function exactBiasCorrection(beta: number, count: np.Array): np.Array {
  return np.expm1(count.mul(Math.log(beta))).mul(-1);
}

/** The bias-corrected Adam step (shared by adam and adamw). Consumes params, grads and state. */
export function adamStep<P extends Tree>(params: P, grads: P, state: AdamState<P>, h: Required<AdamOptions>): { params: P; state: AdamState<P> } {
  const { lr, beta1, beta2, eps } = h;
  const count = state.count.add(1);
  const c1 = biasCorrection(beta1, count.ref);
  const c2 = biasCorrection(beta2, count.ref);
  const m = tree.map((mi: np.Array, g: np.Array) => mi.mul(beta1).add(g.mul(1 - beta1)), state.m, tree.ref(grads)) as P;
  const v = tree.map((vi: np.Array, g: np.Array) => vi.mul(beta2).add(np.square(g).mul(1 - beta2)), state.v, grads) as P;
  const stepSize = np.reciprocal(c1).mul(lr);
  const denomScale = np.reciprocal(np.sqrt(c2));
  const next = tree.map(
    (p: np.Array, mi: np.Array, vi: np.Array) => p.sub(mi.mul(stepSize.ref).div(np.sqrt(vi).mul(denomScale.ref).add(eps))),
    params,
    tree.ref(m),
    tree.ref(v),
  ) as P;
  stepSize.dispose();
  denomScale.dispose();
  return { params: next, state: { m, v, count } };
}

/**
 * Adam over a parameter tree, as PyTorch's `torch.optim.Adam` (weight_decay = 0, amsgrad off).
 * Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization". With t the step number (from 1):
 *   m ← β₁m + (1 − β₁)g,  v ← β₂v + (1 − β₂)g²,
 *   p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε).
 * Options: lr (required, finite > 0), beta1 = 0.9, beta2 = 0.999 (each in [0, 1)), eps = 1e-8 (> 0).
 * State: { m, v } shaped like the params, and the step count. Deviation from PyTorch: the bias
 * corrections 1 − βᵗ are computed in float32 through jax-js's power, about 1.2% too large for β = 0.999
 * in the first ~1,000 steps (early steps ≈ 0.6% larger than PyTorch's; see the module's biasCorrection).
 */
export function adam(options: AdamOptions): TreeOptimizer<AdamStateKind> & { readonly name: "adam" } {
  const h = adamHyper("adam", options);
  return {
    name: "adam",
    /** Zero moments shaped like `params` (borrowed). */
    init: adamInit,
    /** Consumes params, grads and state; returns the stepped params and the next state. */
    update: (params, grads, state) => adamStep(params, grads, state, h),
  };
}
