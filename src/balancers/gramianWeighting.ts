import type { Balancer, BalancerState, Gramian, GradStatistic, Observation, UpdateResult } from "./types.js";
import { checkLosses, checkNumTasks, requireGramian } from "./validate.js";

/** What a Gramian weighting computes at one step: the weights and optional diagnostics. */
export interface GramianWeights {
  readonly weights: number[];
  readonly info?: Readonly<Record<string, number | readonly number[]>>;
}

/**
 * Validates the observation's Gramian for `numTasks` tasks (throwing a BalancerInputError that names
 * `method`) and returns what the solve works on: the Gramian itself ({@link requireGramian}, the
 * default) or a prepared form of it (e.g. `gramianInput` of the MGDA family, which also checks PSD).
 */
export type GramianValidator<I> = (method: string, gramian: Gramian | undefined, numTasks: number) => I;

/**
 * One step of a Gramian weighting: `input` is the validated Gramian (see {@link GramianValidator}),
 * `losses` the validated losses of `obs`, `numTasks` the number of tasks.
 */
export type GramianSolve<I> = (input: I, obs: Observation, numTasks: number, losses: readonly number[]) => GramianWeights;

export interface GramianWeightingOptions<I> {
  /** Gramian validation; default {@link requireGramian}. */
  readonly validate?: GramianValidator<I>;
  /** Smallest number of tasks `init` accepts. Default 1. */
  readonly minTasks?: number;
  /** Further checks at `init`, after the number of tasks (e.g. the length of a preference vector). */
  readonly checkInit?: (numTasks: number) => void;
}

/**
 * The Balancer of a stateless weighting of the current step's Gramian: `timing: 'current'`, needs
 * `{ gramian: gradMode }`; `init(T)` checks T (≥ `minTasks`) and starts from weights all 1; each
 * `update` checks the losses, validates the Gramian (T×T), and returns the weights of `solve`
 * (also kept as the state's weights, with the step counted) and its info.
 */
export function gramianWeighting(
  name: string,
  gradMode: GradStatistic,
  solve: GramianSolve<Gramian>,
  options?: GramianWeightingOptions<Gramian>,
): Balancer<BalancerState>;
export function gramianWeighting<I>(
  name: string,
  gradMode: GradStatistic,
  solve: GramianSolve<I>,
  options: GramianWeightingOptions<I> & { readonly validate: GramianValidator<I> },
): Balancer<BalancerState>;
export function gramianWeighting<I>(
  name: string,
  gradMode: GradStatistic,
  solve: GramianSolve<I>,
  options: GramianWeightingOptions<I> = {},
): Balancer<BalancerState> {
  const validate = options.validate ?? (requireGramian as GramianValidator<unknown> as GramianValidator<I>);
  const minTasks = options.minTasks ?? 1;
  return {
    name,
    needs: { gramian: gradMode },
    timing: "current",
    init(numTasks) {
      checkNumTasks(name, numTasks, minTasks);
      options.checkInit?.(numTasks);
      return { weights: new Array<number>(numTasks).fill(1), step: 0 };
    },
    update(obs: Observation, state: BalancerState): UpdateResult<BalancerState> {
      const T = state.weights.length;
      const losses = checkLosses(name, obs, T);
      const input = validate(name, obs.gramian, T);
      const { weights, info } = solve(input, obs, T, losses);
      return { weights, state: { weights, step: state.step + 1 }, ...(info === undefined ? {} : { info }) };
    },
  };
}
