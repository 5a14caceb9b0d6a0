import { numpy as np, random } from "@jax-js/jax";
import type { GradientCombination } from "../balancers/types.js";
import type { Combiner } from "../model/generic.js";

export type { Combiner };

/*
 * The training side of the gradient combinations balancers declare as data (`Balancer.combine.spec`):
 * inside the jit-compiled step, a {@link Combiner} turns the unweighted per-task cotangents at a shared
 * layer into the one cotangent backpropagated through the shared trunk.
 */

/**
 * GradDrop's sign dropout (Chen et al., NeurIPS 2020, Algorithm 1) at one layer. With gₜ = wₜ·dTₜ
 * (times sign(A) when the activation is given), per unit k (every entry after the batch axis) the sign
 * purity of the batch-summed gradients Sₜₖ = Σ_b gₜ,b,k is Pₖ = ½(1 + Σₜ Sₜₖ / Σₜ |Sₜₖ|); with
 * U ~ Uniform(0, 1) per unit, task t keeps unit k if Pₖ > Uₖ and Sₜₖ > 0, or Pₖ < Uₖ and Sₜₖ < 0
 * (mask Mₜₖ). The result is Σₜ (ℓ + (1 − ℓ)·Mₜₖ)·wₜ·dTₜ,b,k. Consumes dT, weights and seed.
 */
export function signDropout(dT: np.Array, weights: np.Array, seed: np.Array, leak: number, activation?: np.Array): np.Array {
  const [T, B, ...rest] = dT.shape as [number, number, ...number[]];
  const H = rest.reduce((a, b) => a * b, 1);
  const g = dT.reshape([T, B, H]).mul(weights.reshape([T, 1, 1]));
  const signed = activation ? g.ref.mul(np.sign(activation.ref.reshape([1, B, H]))) : g.ref;
  const S = signed.sum(1); // [T, H]
  const P = S.ref.sum(0).div(np.abs(S.ref).sum(0).add(1e-30)).add(1).mul(0.5); // [H]
  const U = random.uniform(random.key(seed), [H]);
  const keepPos = P.ref.greater(U.ref).astype(np.float32);
  const keepNeg = P.less(U).astype(np.float32);
  const mask = S.ref.greater(0).astype(np.float32).mul(keepPos).add(S.less(0).astype(np.float32).mul(keepNeg)); // [T, H]
  const factor = mask.mul(1 - leak).add(leak).reshape([T, 1, H]);
  return g.mul(factor).sum(0).reshape([B, ...rest]);
}

/** The combiner implementing a declared combination. */
export function combinerFor(spec: GradientCombination): Combiner {
  switch (spec.kind) {
    case "signDropout":
      return (dT, weights, seed, activation) => signDropout(dT, weights, seed, spec.leak, activation);
  }
}
