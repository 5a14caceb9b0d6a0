import { numpy as np, tree } from "@jax-js/jax";
import { adamHyper, adamInit, adamStep, type AdamOptions, type AdamState, type AdamStateKind } from "./adam.js";
import type { Tree, TreeOptimizer } from "./types.js";
import { checkNonNegative } from "./validate.js";

export interface AdamWOptions extends AdamOptions {
  /** Decoupled weight decay λ, finite and ≥ 0; default 0.01 (PyTorch's default). */
  readonly weightDecay?: number;
}

/** The same state as Adam's: { m, v } shaped like the params and the step count. */
export type AdamWState<P extends Tree> = AdamState<P>;

/**
 * AdamW over a parameter tree, as PyTorch's `torch.optim.AdamW` (amsgrad off).
 * Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization". With t the step number (from 1):
 *   p ← p − lr·λ·p  (computed as p·(1 − lr·λ), as PyTorch does), then the Adam step
 *   m ← β₁m + (1 − β₁)g,  v ← β₂v + (1 − β₂)g²,  p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε).
 * Options: lr (required, finite > 0), beta1 = 0.9, beta2 = 0.999 (each in [0, 1)), eps = 1e-8 (> 0),
 * weightDecay = 0.01 (finite ≥ 0; with 0 the update is exactly {@link adam}'s). Deviations from PyTorch: none.
 */
export function adamw(options: AdamWOptions): TreeOptimizer<AdamStateKind> & { readonly name: "adamw" } {
  const h = adamHyper("adamw", options);
  const weightDecay = options.weightDecay ?? 0.01;
  checkNonNegative("adamw", "weightDecay", weightDecay);
  const keep = 1 - h.lr * weightDecay;
  return {
    name: "adamw",
    init: adamInit,
    update(params, grads, state) {
      const decayed = weightDecay === 0 ? params : (tree.map((p: np.Array) => p.mul(keep), params) as typeof params);
      return adamStep(decayed, grads, state, h);
    },
  };
}
