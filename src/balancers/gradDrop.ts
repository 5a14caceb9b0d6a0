import { numpy as np, random } from "@jax-js/jax";
import type { Balancer, BalancerState, Observation, UpdateResult } from "./types.js";
import { checkLosses, checkNumTasks, checkOption, checkOptionNames } from "./validate.js";
import { hash32 } from "../util/rng.js";

export interface GradDropOptions {
  /** Leak ℓ ∈ [0, 1]: each task keeps ℓ of its gradient unmasked (paper §3.3). Default 0. */
  readonly leak?: number;
  /** Seed of the per-step uniform draws. Default 0. */
  readonly seed?: number;
}

export interface GradDropState extends BalancerState {
  readonly seed: number;
}

/**
 * GradDrop's combination of per-task gradients at one activation (pure jax-js; runs inside the step).
 * dzT [T, B, H]: the per-task gradients at the layer's pre-activation, i.e. sign(A)·∇_A Lₜ for the
 * ReLU output A (paper eq. 1 uses sign(A)∘∇_A). Sign purity per unit k, from the batch-summed
 * gradients Sₜₖ = Σ_b wₜ·dzTₜ,b,k: Pₖ = ½(1 + Σₜ Sₜₖ / Σₜ |Sₜₖ|); with U ~ Uniform(0, 1) per unit,
 * task t keeps unit k if Pₖ > Uₖ and Sₜₖ > 0, or Pₖ < Uₖ and Sₜₖ < 0 (mask Mₜₖ). The result is
 * Σₜ (ℓ + (1 − ℓ)·Mₜₖ)·wₜ·dzTₜ,b,k, [B, H]. Consumes its arguments.
 */
export function gradDropCombine(dzT: np.Array, weights: np.Array, seed: np.Array, leak: number): np.Array {
  const [T, , H] = dzT.shape as [number, number, number];
  const g = dzT.mul(weights.reshape([T, 1, 1]));
  const S = g.ref.sum(1); // [T, H]
  const P = S.ref.sum(0).div(np.abs(S.ref).sum(0).add(1e-30)).add(1).mul(0.5); // [H]
  const U = random.uniform(random.key(seed), [H]);
  const keepPos = P.ref.greater(U.ref).astype(np.float32);
  const keepNeg = P.less(U).astype(np.float32);
  const mask = S.ref.greater(0).astype(np.float32).mul(keepPos).add(S.less(0).astype(np.float32).mul(keepNeg)); // [T, H]
  const factor = mask.mul(1 - leak).add(leak).reshape([T, 1, H]);
  return g.mul(factor).sum(0);
}

/**
 * GradDrop — Chen, Ngiam, Huang, Luong, Kretzschmar, Chai, Anguelov, NeurIPS 2020 (arXiv 2010.06808),
 * Algorithm 1: Gradient Sign Dropout at the shared representation.
 *
 * Not a weighting: at the last shared layer's activation it keeps, per unit, only the task gradients
 * of one sign, chosen at random with probability given by the sign purity P (see {@link gradDropCombine});
 * the masked sum is backpropagated through the trunk, while each head keeps its own gradient. The
 * loss weights stay 1. O(T·B·H) per step, no extra backward pass.
 *
 * Options (defaults): `leak` 0, `seed` 0. Deviations: GradDrop is applied at one layer — the shared
 * representation (the paper inserts it after any chosen layer; LibMTL also uses the representation);
 * the batch-summed purity follows the paper's §3.2; one uniform draw per unit is shared by all samples
 * of the batch, as the purity is. Draws come from jax-js's PRNG keyed by hash(seed, step).
 */
export function gradDrop(options: GradDropOptions = {}): Balancer<GradDropState> {
  checkOptionNames("graddrop", options, gradDrop.optionNames);
  const name = "graddrop";
  const leak = checkOption(name, "leak", options.leak ?? 0, (v) => v >= 0 && v <= 1, "a number in [0, 1]");
  const seed = checkOption(name, "seed", options.seed ?? 0, (v) => Number.isInteger(v), "an integer");
  return {
    name,
    needs: {},
    combine: {
      representation: (dzT, weights, s) => gradDropCombine(dzT, weights, s, leak),
      seed: (state) => hash32(state.seed, state.step),
    },
    init(numTasks) {
      checkNumTasks(name, numTasks, 1);
      return { weights: new Array<number>(numTasks).fill(1), step: 0, seed };
    },
    update(obs: Observation, state: GradDropState): UpdateResult<GradDropState> {
      checkLosses(name, obs, state.weights.length);
      return { weights: state.weights, state: { ...state, step: state.step + 1 } };
    },
  };
}

/** The option names {@link gradDrop} reads; any other name is rejected. */
gradDrop.optionNames = ["leak", "seed"] as const satisfies readonly (keyof GradDropOptions)[];
