import type { Balancer, BalancerState, Observation, UpdateResult } from "./types.js";
import { checkLosses, checkNumTasks, checkOptionNames } from "./validate.js";

export type EqualWeightsState = BalancerState;

/** Equal weighting takes no options. */
export type EqualWeightsOptions = Readonly<Record<string, never>>;

/**
 * Equal weighting — the usual multitask baseline: every task loss gets weight 1, so the
 * weights sum to T and the total loss is Σᵢ Lᵢ.
 *
 * Options: none. The losses are still validated at every update (finite, one per task), so
 * that a broken training step fails here as it would with any other method.
 */
export function equalWeights(options: EqualWeightsOptions = {}): Balancer<EqualWeightsState> {
  checkOptionNames("equal", options, equalWeights.optionNames);
  const name = "equal";
  return {
    name,
    needs: {},
    init(numTasks) {
      checkNumTasks(name, numTasks, 1);
      return { weights: new Array<number>(numTasks).fill(1), step: 0 };
    },
    update(obs: Observation, state: EqualWeightsState): UpdateResult<EqualWeightsState> {
      const T = state.weights.length;
      checkLosses(name, obs, T);
      const weights = new Array<number>(T).fill(1);
      return { weights, state: { weights, step: state.step + 1 } };
    },
  };
}

/** The option names {@link equalWeights} reads; any other name is rejected. */
equalWeights.optionNames = [] as const satisfies readonly (keyof EqualWeightsOptions)[];
