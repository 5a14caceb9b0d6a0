import type { Balancer, BalancerState, Observation, UpdateResult } from "./types.js";
import { checkLosses, checkNumTasks, checkOptionNames, checkSeed } from "./validate.js";
import { maxOf } from "../solvers/linalg.js";
import { normalAt } from "../util/rng.js";

export interface RlwOptions {
  /** Seed of the weight draws, a 32-bit signed integer (the generator uses only 32 bits). Default 0. */
  readonly seed?: number;
}

export interface RlwState extends BalancerState {
  /** Index of the next standard-normal draw: the draws for a step are counter … counter+T−1. */
  readonly counter: number;
}

/** softmax(λ̃) with λ̃ⱼ = normalAt(seed, counter + j), j < T; stable (max subtracted). */
export function rlwDraw(seed: number, counter: number, T: number): number[] {
  checkNumTasks("rlw", T);
  const z = Array.from({ length: T }, (_, j) => normalAt(seed, counter + j));
  const max = maxOf(z);
  const e = z.map((x) => Math.exp(x - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / sum);
}

/**
 * Random Loss Weighting — Lin, Ye, Zhang, Tsang, TMLR 2022 (arXiv 2111.10603), §3:
 * λ = softmax(λ̃) with λ̃ ~ N(0, I) drawn afresh at every training step.
 *
 * The weights sum to 1, as in the paper — not to T like the other methods here (multiply by T
 * for the same loss scale as equal weighting). The draws are counter-based: the weights at step k
 * are softmax(normalAt(seed, kT), …, normalAt(seed, kT+T−1)), a pure function of (seed, step); `init`
 * returns the draw for step 0 and each update the draw for the next step. The losses are validated
 * but otherwise unused. The generator's counter is 32-bit, so the sequence repeats after about
 * 2³¹/T steps.
 *
 * Options (defaults): `seed` 0.
 */
export function rlw(options: RlwOptions = {}): Balancer<RlwState> {
  checkOptionNames("rlw", options, rlw.optionNames);
  const name = "rlw";
  const seed = checkSeed(name, options.seed ?? 0);
  return {
    name,
    needs: {},
    init(numTasks) {
      checkNumTasks(name, numTasks, 1);
      return { weights: rlwDraw(seed, 0, numTasks), step: 0, counter: numTasks };
    },
    update(obs: Observation, state: RlwState): UpdateResult<RlwState> {
      const T = state.weights.length;
      checkLosses(name, obs, T);
      const weights = rlwDraw(seed, state.counter, T);
      return { weights, state: { weights, step: state.step + 1, counter: state.counter + T } };
    },
  };
}

/** The option names {@link rlw} reads; any other name is rejected. */
rlw.optionNames = ["seed"] as const satisfies readonly (keyof RlwOptions)[];
