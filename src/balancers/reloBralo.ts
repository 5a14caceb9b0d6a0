import type { Balancer, BalancerState, Observation, UpdateResult } from "./types.js";
import { maxOf } from "../solvers/linalg.js";
import { BalancerInputError, checkFiniteVector, checkLosses, checkNumTasks, checkOption, checkOptionNames, checkSeed } from "./validate.js";
import { uniformAt } from "../util/rng.js";

export interface ReLoBRaLoOptions {
  /** α ∈ [0, 1], the exponential decay of the weights' history (official code: 0.999). Default 0.999. */
  readonly alpha?: number;
  /**
   * E[ρ] ∈ [0, 1], the probability that a step keeps its history λ(t−1); with probability 1 − E[ρ] it looks
   * back to the first losses instead ("saudade"). Official CLI default 1 (never looks back); the PyTorch
   * port of the official code, 0.999. Default 0.999.
   */
  readonly rho?: number;
  /** τ > 0, the softmax temperature (official CLI default 1; the PyTorch port of the official code, 0.1). Default 0.1. */
  readonly temperature?: number;
  /** Seed of the Bernoulli draws of ρ, a 32-bit signed integer. Default 0. */
  readonly seed?: number;
}

export interface ReLoBRaLoState extends BalancerState {
  /** The first update's losses, Lᵢ(0), or null before the first update. */
  readonly initialLosses: readonly number[] | null;
  /** The previous update's losses, Lᵢ(t−1), or null before the first update. */
  readonly previousLosses: readonly number[] | null;
  /** Index of the next uniform draw: update k draws ρ from uniformAt(seed, counter). */
  readonly counter: number;
}

/**
 * λᵢ^bal(t, t') = T·exp(Lᵢ(t)/(τ·Lᵢ(t'))) / Σⱼ exp(Lⱼ(t)/(τ·Lⱼ(t'))): T times the softmax of the loss
 * ratios over the temperature, summing to T. Stable: the largest ratio is subtracted (before dividing
 * by τ when the ratios over τ overflow, so that any τ > 0 gives finite weights). Throws if the losses
 * are not finite and > 0, of different lengths, τ is not > 0, or a ratio overflows.
 */
export function reloBraloBalance(current: readonly number[], reference: readonly number[], temperature: number, name = "relobralo"): number[] {
  checkOption(name, "temperature", temperature, (v) => v > 0, "a finite number > 0");
  const T = current.length;
  checkFiniteVector(name, "losses L(t)", current, T);
  checkFiniteVector(name, "reference losses L(t')", reference, T);
  const r = current.map((l, i) => {
    const p = reference[i]!;
    if (!(p > 0) || l < 0) {
      throw new BalancerInputError(name, `losses of task ${i} are L(t) = ${l}, L(t') = ${p}: the ratio L(t)/L(t') needs L(t) ≥ 0 and L(t') > 0`);
    }
    const ratio = l / p;
    if (!Number.isFinite(ratio)) throw new BalancerInputError(name, `loss ratio of task ${i} overflows: L(t)/L(t') = ${l}/${p}`);
    return ratio;
  });
  const scaled = r.map((x) => x / temperature);
  let e: number[];
  if (scaled.every(Number.isFinite)) {
    const max = maxOf(scaled);
    e = scaled.map((x) => Math.exp(x - max));
  } else {
    const max = maxOf(r);
    e = r.map((x) => Math.exp((x - max) / temperature));
  }
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => (T * x) / sum);
}

/**
 * ReLoBRaLo, Relative Loss Balancing with Random Lookback — Bischof & Kraus 2021 (arXiv 2110.09813),
 * the equations for λ^bal, λ^hist and λ, with the official code (github.com/rbischof/relative_balancing,
 * `src/update_rules.py` `relobralo`, `src/train.py`).
 *
 * λᵢ^bal(t, t') = T·softmax(Lⱼ(t)/(τ·Lⱼ(t')))ᵢ (see {@link reloBraloBalance});
 * λᵢ^hist(t) = ρ·λᵢ(t−1) + (1 − ρ)·λᵢ^bal(t, 0);
 * λᵢ(t) = α·λᵢ^hist(t) + (1 − α)·λᵢ^bal(t, t−1),
 * with ρ ~ Bernoulli(E[ρ]) drawn once per step for all tasks: ρ = 0 ("saudade") replaces the history by
 * the balance against the first losses. Each λ term sums to T, so the weights do (up to rounding). Only
 * loss ratios enter: multiplying a task's losses by a constant cᵢ > 0 leaves the weights unchanged.
 *
 * Steps: `init` gives λ = 1; the first update (L(0)) returns λ(0) = 1; the second returns λ^bal(1, 0)
 * (see below); later updates apply the equations. ρ at update k is [uniformAt(seed, k) < E[ρ]]
 * (`counter` in the state), so a run is a pure function of the seed and the losses, and a checkpointed
 * state resumes it exactly. Info: `rho`, the step's draw (1: history kept).
 *
 * Options (defaults): `alpha` 0.999, `rho` (E[ρ]) 0.999, `temperature` (τ) 0.1, `seed` 0 — the defaults
 * of the PyTorch port of the official code (github.com/Khadrawi/-ReLoBRaLo_PyTorch). The official
 * train.py's command-line defaults are `--alpha` 0.999, `--rho` 1 (no lookback), `--T` 1; neuraloperator's
 * `Relobralo` uses α 0.95, E[ρ] 0.99, τ 1.
 *
 * Differences from the official code: (1) timing: the official step multiplies Lᵢ(t) by λᵢ(t) computed
 * from Lᵢ(t) itself (values only, under stop_gradient); here `update` with step t's losses returns
 * λ(t) for step t + 1 (timing `next`, one forward pass), a one-step lag. (2) The official α schedule
 * is 1, 0, α, α, …: at t = 1 α = 0, so λ(1) = λ^bal(1, 0) (a warm start, kept here); the paper's
 * equation with λ(0) = 1 would instead keep the weights near 1 for about 1/(1 − α) steps. (3) The
 * official reference losses Lᵢ(0) are those of step 1 (the second step), with a placeholder 1 during
 * step 0; here the first update's losses, as the paper's t' = 0. (4) The official code adds 1e-12 to
 * τ·Lᵢ(t'); here losses must be > 0 instead (every loss becomes a divisor at a later step), which keeps
 * the per-task scale invariance exact. The Bernoulli draws come from the counter-based generator, not
 * NumPy's.
 */
export function reloBralo(options: ReLoBRaLoOptions = {}): Balancer<ReLoBRaLoState> {
  checkOptionNames("relobralo", options, reloBralo.optionNames);
  const name = "relobralo";
  const alpha = checkOption(name, "alpha", options.alpha ?? 0.999, (v) => v >= 0 && v <= 1, "a number in [0, 1]");
  const rho = checkOption(name, "rho", options.rho ?? 0.999, (v) => v >= 0 && v <= 1, "a number in [0, 1] (E[ρ])");
  const temperature = checkOption(name, "temperature", options.temperature ?? 0.1, (v) => v > 0, "a finite number > 0");
  const seed = checkSeed(name, options.seed ?? 0);

  return {
    name,
    needs: {},
    init(numTasks) {
      checkNumTasks(name, numTasks, 1);
      return { weights: new Array<number>(numTasks).fill(1), step: 0, initialLosses: null, previousLosses: null, counter: 0 };
    },
    update(obs: Observation, state: ReLoBRaLoState): UpdateResult<ReLoBRaLoState> {
      const T = state.weights.length;
      const losses = [...checkLosses(name, obs, T)];
      losses.forEach((l, i) => {
        if (!(l > 0)) {
          throw new BalancerInputError(name, `loss of task ${i} is ${l} (must be > 0): ReLoBRaLo divides later losses by it (Lᵢ(t)/Lᵢ(t−1), Lᵢ(t)/Lᵢ(0))`);
        }
      });
      const draw = uniformAt(seed, state.counter) < rho ? 1 : 0;
      const step = state.step + 1;
      const counter = state.counter + 1;
      const initial = state.initialLosses;
      const previous = state.previousLosses;
      let weights: number[];
      if (initial === null || previous === null) {
        weights = new Array<number>(T).fill(1); // λ^bal(0, 0) = 1 and λ(−1) = 1
      } else {
        const balPrevious = reloBraloBalance(losses, previous, temperature, name);
        const balInitial = reloBraloBalance(losses, initial, temperature, name);
        if (state.step === 1) {
          weights = balPrevious; // official α = 0 at t = 1 (and then λ^bal(1, 0) = λ^bal(1, t−1))
        } else {
          weights = state.weights.map((w, i) => alpha * (draw * w + (1 - draw) * balInitial[i]!) + (1 - alpha) * balPrevious[i]!);
        }
      }
      return {
        weights,
        state: { weights, step, initialLosses: initial ?? losses, previousLosses: losses, counter },
        info: { rho: draw },
      };
    },
  };
}

/** The option names {@link reloBralo} reads; any other name is rejected. */
reloBralo.optionNames = ["alpha", "rho", "temperature", "seed"] as const satisfies readonly (keyof ReLoBRaLoOptions)[];
