import type { Balancer, BalancerState, Observation, UpdateResult } from "./types.js";
import { BalancerInputError, checkLosses, checkNumTasks, checkOptionNames } from "./validate.js";

export interface StaticWeightsOptions {
  /** One fixed weight per task: finite, ≥ 0, not all zero. Required. */
  readonly weights: readonly number[];
}

export type StaticWeightsState = BalancerState;

/**
 * Static weighting — fixed, hand-chosen loss weights wᵢ (e.g. from a grid search), the
 * baseline adaptive methods are compared against (GradNorm §5, "grid search" weights).
 *
 * Options: `weights` (required): used as given, not renormalized, so their sum is whatever
 * was given. They must be finite, ≥ 0 and not all zero; their number must equal the number
 * of tasks given to `init`. The losses are validated at every update.
 */
export function staticWeights(options: StaticWeightsOptions): Balancer<StaticWeightsState> {
  checkOptionNames("static", options, staticWeights.optionNames);
  const name = "static";
  const given: unknown = options?.weights;
  if (!Array.isArray(given)) {
    throw new BalancerInputError(name, `option weights is required: an array with one weight per task`);
  }
  const fixed = (given as unknown[]).map((v, i) => {
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new BalancerInputError(name, `weight of task ${i} is ${String(v)} (must be a finite number)`);
    }
    if (v < 0) throw new BalancerInputError(name, `weight of task ${i} is negative (${v})`);
    return v;
  });
  if (fixed.length === 0) throw new BalancerInputError(name, `option weights is empty (one weight per task needed)`);
  if (fixed.every((v) => v === 0)) throw new BalancerInputError(name, `all ${fixed.length} weights are zero`);

  return {
    name,
    needs: {},
    init(numTasks) {
      checkNumTasks(name, numTasks, 1);
      if (numTasks !== fixed.length) {
        throw new BalancerInputError(name, `${fixed.length} weights were given but there are ${numTasks} tasks`);
      }
      return { weights: [...fixed], step: 0 };
    },
    update(obs: Observation, state: StaticWeightsState): UpdateResult<StaticWeightsState> {
      checkLosses(name, obs, state.weights.length);
      const weights = [...fixed];
      return { weights, state: { weights, step: state.step + 1 } };
    },
  };
}

/** The option names {@link staticWeights} reads; any other name is rejected. */
staticWeights.optionNames = ["weights"] as const satisfies readonly (keyof StaticWeightsOptions)[];
