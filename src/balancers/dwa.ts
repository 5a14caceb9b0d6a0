import type { Balancer, BalancerState, Observation, UpdateResult } from "./types.js";
import { maxOf } from "../solvers/linalg.js";
import { BalancerInputError, checkFiniteVector, checkLosses, checkNumTasks, checkOption, checkOptionNames } from "./validate.js";

export interface DwaOptions {
  /** Temperature T > 0 of the softmax (paper: 2). Default 2. */
  readonly temperature?: number;
  /** Training steps per epoch: the losses of this many updates are averaged into Lₖ(t). Default 1. */
  readonly epochLength?: number;
}

export interface DwaState extends BalancerState {
  /** Σ Lₖ/epochLength over the steps of the current epoch so far. */
  readonly epochSums: readonly number[];
  /** Steps seen in the current epoch. */
  readonly epochCount: number;
  /** Mean losses of the last (at most two) completed epochs, oldest first: [L(t−2), L(t−1)]. */
  readonly history: readonly (readonly number[])[];
}

/**
 * λₖ = K·exp(wₖ/T) / Σᵢ exp(wᵢ/T) with wₖ = Lₖ(t−1)/Lₖ(t−2) (eq. 7), computed stably (max
 * subtracted); when wₖ/T overflows (a tiny temperature) as exp((wₖ − maxᵢwᵢ)/T), so that any
 * temperature > 0 gives finite weights (a tiny one puts all the weight on the largest ratio). Throws if the inputs are not finite or of different lengths, the
 * temperature is not > 0, some Lₖ(t−2) is zero, or a ratio is not finite.
 */
export function dwaWeights(previous: readonly number[], last: readonly number[], temperature: number, name = "dwa"): number[] {
  checkOption(name, "temperature", temperature, (v) => v > 0, "a finite number > 0");
  const K = last.length;
  checkFiniteVector(name, "epoch losses L(t−1)", last, K);
  checkFiniteVector(name, "epoch losses L(t−2)", previous, K);
  const w = last.map((l, k) => {
    const p = previous[k]!;
    if (p === 0) {
      throw new BalancerInputError(name, `mean loss of task ${k} two epochs ago is 0, so the ratio L(t−1)/L(t−2) is undefined`);
    }
    const ratio = l / p;
    if (!Number.isFinite(ratio)) {
      throw new BalancerInputError(name, `loss ratio of task ${k} is ${ratio} (L(t−1) = ${l}, L(t−2) = ${p})`);
    }
    return ratio;
  });
  const scaled = w.map((r) => r / temperature);
  let e: number[];
  if (scaled.every(Number.isFinite)) {
    const max = maxOf(scaled);
    e = scaled.map((x) => Math.exp(x - max));
  } else {
    const max = maxOf(w);
    e = w.map((r) => Math.exp((r - max) / temperature));
  }
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => (K * x) / sum);
}

/**
 * Dynamic Weight Average — Liu, Johns, Davison, CVPR 2019 (MTAN, arXiv 1803.10704), eq. 7.
 *
 * λₖ(t) = K·exp(wₖ(t−1)/T) / Σᵢ exp(wᵢ(t−1)/T), wₖ(t−1) = Lₖ(t−1)/Lₖ(t−2), where Lₖ(t) is the mean
 * training loss of task k over epoch t and T the temperature; the weights sum to K. For the first two
 * epochs wₖ = 1, i.e. λₖ = 1. Each update adds the step's losses to the running epoch mean; when
 * `epochLength` updates have been seen the epoch's mean joins a two-entry history, and, once two
 * epochs are complete, the weights for the whole next epoch are computed from it.
 *
 * Options (defaults): `temperature` 2 (paper), `epochLength` 1 (steps per epoch; with 1 this is the
 * per-iteration variant some reimplementations use).
 *
 * Notes: the losses must be ≥ 0; a zero epoch mean two epochs back makes the ratio undefined and
 * raises an error instead of producing NaN weights. The paper's text does not say whether L is the
 * mean or the sum over the epoch; the ratio is the same either way for equal-length epochs.
 */
export function dwa(options: DwaOptions = {}): Balancer<DwaState> {
  checkOptionNames("dwa", options, dwa.optionNames);
  const name = "dwa";
  const temperature = checkOption(name, "temperature", options.temperature ?? 2, (v) => v > 0, "a finite number > 0");
  const epochLength = checkOption(
    name,
    "epochLength",
    options.epochLength ?? 1,
    (v) => Number.isInteger(v) && v >= 1,
    "an integer ≥ 1",
  );

  return {
    name,
    needs: {},
    init(numTasks) {
      checkNumTasks(name, numTasks, 1);
      return {
        weights: new Array<number>(numTasks).fill(1),
        step: 0,
        epochSums: new Array<number>(numTasks).fill(0),
        epochCount: 0,
        history: [],
      };
    },
    update(obs: Observation, state: DwaState): UpdateResult<DwaState> {
      const K = state.weights.length;
      const losses = checkLosses(name, obs, K);
      losses.forEach((l, k) => {
        if (l < 0) throw new BalancerInputError(name, `loss of task ${k} is negative (${l}); DWA uses loss ratios`);
      });
      // Dividing before summing keeps the mean finite for any finite losses.
      const epochSums = state.epochSums.map((s, k) => s + losses[k]! / epochLength);
      const epochCount = state.epochCount + 1;
      const step = state.step + 1;
      if (epochCount < epochLength) {
        return { weights: state.weights, state: { ...state, step, epochSums, epochCount } };
      }
      const history = [...state.history, epochSums].slice(-2);
      const [previous, last] = history;
      // With fewer than two completed epochs `last` is undefined and the weights stay 1.
      const weights =
        previous !== undefined && last !== undefined ? dwaWeights(previous, last, temperature, name) : new Array<number>(K).fill(1);
      return {
        weights,
        state: { weights, step, epochSums: new Array<number>(K).fill(0), epochCount: 0, history },
        info: { epochLoss: epochSums },
      };
    },
  };
}

/** The option names {@link dwa} reads; any other name is rejected. */
dwa.optionNames = ["temperature", "epochLength"] as const satisfies readonly (keyof DwaOptions)[];
