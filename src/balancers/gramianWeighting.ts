import type { Balancer, BalancerState, Gramian, GradStatistic, Observation, UpdateResult } from "./types.js";
import { checkLosses, checkNumTasks, MAX_GRAMIAN_TASKS, requireGramian } from "./validate.js";

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

/** One step of a weighting that carries state of its own (`X`, beside the weights and the step count). */
export interface GramianStep<X> extends GramianWeights {
  readonly state: X;
}

/** A stateful Gramian weighting: its own initial state, and one step from the validated Gramian and the current state. */
export interface StatefulGramianSolve<I, X extends object> {
  readonly init: (numTasks: number) => X;
  readonly step: (input: I, obs: Observation, numTasks: number, losses: readonly number[], state: BalancerState & X) => GramianStep<X>;
}

/**
 * The Balancer of a weighting of the current step's Gramian that keeps state (PCGrad's shuffle
 * counter, GradVac's targets, DB-MTL's averages): `timing: 'current'`, needs `{ gramian: gradMode }`;
 * `init(T)` checks T and returns weights all 1, step 0 and the method's own state; each `update`
 * checks the losses, validates the Gramian (T×T), and returns the step's weights and info, with its
 * state, the weights and the step counted as the next state.
 */
export function statefulGramianWeighting<X extends object>(name: string, gradMode: GradStatistic, solve: StatefulGramianSolve<Gramian, X>, options?: GramianWeightingOptions<Gramian>): Balancer<BalancerState & X>;
export function statefulGramianWeighting<I, X extends object>(
  name: string,
  gradMode: GradStatistic,
  solve: StatefulGramianSolve<I, X>,
  options: GramianWeightingOptions<I> & { readonly validate: GramianValidator<I> },
): Balancer<BalancerState & X>;
export function statefulGramianWeighting<I, X extends object>(name: string, gradMode: GradStatistic, solve: StatefulGramianSolve<I, X>, options: GramianWeightingOptions<I> = {}): Balancer<BalancerState & X> {
  const validate = options.validate ?? (requireGramian as GramianValidator<unknown> as GramianValidator<I>);
  const minTasks = options.minTasks ?? 1;
  return {
    name,
    needs: { gramian: gradMode },
    timing: "current",
    init(numTasks) {
      checkNumTasks(name, numTasks, minTasks, MAX_GRAMIAN_TASKS);
      options.checkInit?.(numTasks);
      return { ...solve.init(numTasks), weights: new Array<number>(numTasks).fill(1), step: 0 };
    },
    update(obs: Observation, state: BalancerState & X): UpdateResult<BalancerState & X> {
      const T = state.weights.length;
      const losses = checkLosses(name, obs, T);
      const input = validate(name, obs.gramian, T);
      const { weights, info, state: next } = solve.step(input, obs, T, losses, state);
      return { weights, state: { ...next, weights, step: state.step + 1 }, ...(info === undefined ? {} : { info }) };
    },
  };
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
  const stateless: StatefulGramianSolve<I, object> = {
    init: () => ({}),
    step: (input, obs, T, losses) => ({ ...solve(input, obs, T, losses), state: {} }),
  };
  return statefulGramianWeighting<I, object>(name, gradMode, stateless, { ...options, validate: options.validate ?? (requireGramian as GramianValidator<unknown> as GramianValidator<I>) });
}
