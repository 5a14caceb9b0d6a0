import type { Balancer, BalancerState, Observation, UpdateResult } from "./types.js";
import { checkLosses, checkNumTasks, checkOption, checkOptionNames, checkSeed } from "./validate.js";
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
 * GradDrop — Chen, Ngiam, Huang, Luong, Kretzschmar, Chai, Anguelov, NeurIPS 2020 (arXiv 2010.06808),
 * Algorithm 1: Gradient Sign Dropout at the shared representation.
 *
 * Not a weighting: at the last shared layer's activation it keeps, per unit, only the task gradients
 * of one sign, chosen at random with probability given by the sign purity P (the training side's
 * `signDropout`, src/train/combiners.ts: the balancer only declares it);
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
  const seed = checkSeed(name, options.seed ?? 0);
  return {
    name,
    needs: {},
    combine: {
      spec: { kind: "signDropout", leak },
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
