import type { Balancer, BalancerState, Observation, UpdateResult } from "./types.js";
import { maxOf } from "../solvers/linalg.js";
import { BalancerInputError, checkFiniteVector, checkLosses, checkNumTasks, checkOption, checkOptionNames } from "./validate.js";

/**
 * SoftAdapt's variants (paper §3.1): `original` softmax(βs), `normalized` softmax(βs/Σ|sⱼ|) (normalized
 * slopes), `lossWeighted` Lᵢ·exp(βsᵢ)/Σⱼ Lⱼ·exp(βsⱼ).
 */
export type SoftAdaptVariant = "original" | "normalized" | "lossWeighted";

const VARIANTS: readonly SoftAdaptVariant[] = ["original", "normalized", "lossWeighted"];

export interface SoftAdaptOptions {
  /**
   * β, the factor of the slopes in the softmax (official code's default, every variant: 0.1). β > 0 favors the tasks
   * whose loss falls slowest (or rises); β < 0 the ones that fall fastest; β = 0 gives equal weights
   * (`lossWeighted`: weights ∝ Lᵢ(t)). Default 0.1.
   */
  readonly beta?: number;
  /** Which of the paper's variants (see {@link SoftAdaptVariant}). Default `original`. */
  readonly variant?: SoftAdaptVariant;
}

export interface SoftAdaptState extends BalancerState {
  /** The losses of the previous update, Lᵢ(t−1), or null before the first update. */
  readonly previousLosses: readonly number[] | null;
}

function checkVariant(method: string, v: unknown): SoftAdaptVariant {
  if (!VARIANTS.includes(v as SoftAdaptVariant)) {
    throw new BalancerInputError(method, `unknown variant '${String(v)}' (original, normalized or lossWeighted)`);
  }
  return v as SoftAdaptVariant;
}

/**
 * The SoftAdapt weights T·αᵢ for the slopes sᵢ = Lᵢ(t) − Lᵢ(t−1) of `previous` → `current`, summing to T:
 * - `original`: αᵢ = exp(βsᵢ)/Σⱼ exp(βsⱼ);
 * - `normalized`: the same with sᵢ replaced by sᵢ/Σⱼ|sⱼ| (all slopes 0: equal weights);
 * - `lossWeighted`: αᵢ = Lᵢ(t)·exp(βsᵢ)/Σⱼ Lⱼ(t)·exp(βsⱼ) (losses ≥ 0; when every Lᵢ(t)·exp(βsᵢ) is 0, as
 *   with all losses 0, the `original` weights, the limit of equal losses → 0).
 *
 * Computed stably for any finite input: the largest βsᵢ is subtracted inside the exponential (from the
 * slopes, so that βsᵢ may overflow), the normalized slopes are formed after dividing by the largest
 * |sᵢ|, and the loss-weighted numerators are combined in the log domain. A weight can underflow to 0.
 * Throws if the inputs are not finite or of different lengths, β is not finite, a slope overflows,
 * or (`lossWeighted`) a loss is negative.
 */
export function softAdaptWeights(
  previous: readonly number[],
  current: readonly number[],
  beta: number,
  variant: SoftAdaptVariant = "original",
  name = "softadapt",
): number[] {
  checkOption(name, "beta", beta, () => true, "a finite number");
  checkVariant(name, variant);
  const T = current.length;
  checkFiniteVector(name, "losses L(t)", current, T);
  checkFiniteVector(name, "losses L(t−1)", previous, T);
  const s = current.map((l, i) => {
    const d = l - previous[i]!;
    if (!Number.isFinite(d)) {
      throw new BalancerInputError(name, `slope of task ${i} overflows: L(t) − L(t−1) = ${l} − ${previous[i]} = ${d}`);
    }
    return d;
  });
  if (variant === "lossWeighted") {
    current.forEach((l, i) => {
      if (l < 0) throw new BalancerInputError(name, `loss of task ${i} is negative (${l}); the loss-weighted variant weights by the losses`);
    });
  }
  if (T === 0) return [];
  let x: number[];
  if (beta === 0) {
    x = new Array<number>(T).fill(0);
  } else if (variant === "normalized") {
    const m = maxOf(s.map(Math.abs));
    if (m === 0) return new Array<number>(T).fill(1);
    const a = s.map((v) => v / m); // |a| ≤ 1, Σ|a| ∈ [1, T]: no overflow
    const l1 = a.reduce((acc, v) => acc + Math.abs(v), 0);
    x = a.map((v) => (beta * v) / l1);
    const mx = maxOf(x);
    x = x.map((v) => v - mx);
  } else {
    // The task with the largest βsᵢ: the largest slope for β > 0, the smallest for β < 0.
    let k = 0;
    for (let i = 1; i < T; i++) if (beta > 0 ? s[i]! > s[k]! : s[i]! < s[k]!) k = i;
    // β(sᵢ − sₖ) ≤ 0 (or −∞ when the difference overflows), 0 for task k.
    x = s.map((v, i) => (i === k ? 0 : beta * (v - s[k]!)));
  }
  if (variant === "lossWeighted") {
    const y = x.map((v, i) => Math.log(current[i]!) + v); // log 0 = −∞: weight 0
    const my = maxOf(y);
    if (my !== -Infinity) x = y.map((v) => v - my);
  }
  const e = x.map(Math.exp);
  const sum = e.reduce((acc, v) => acc + v, 0);
  return e.map((v) => (T * v) / sum);
}

/**
 * SoftAdapt — Heydari, Thompson, Mehmood 2019 (arXiv 1912.12355), §3.1, with the official `softadapt`
 * package (github.com/dr-aheydari/SoftAdapt, `softadapt/algorithms/*_variant.py`).
 *
 * αᵢ(t) = exp(β·sᵢ) / Σⱼ exp(β·sⱼ), sᵢ = Lᵢ(t) − Lᵢ(t−1) (the loss's rate of change, a first-order finite
 * difference); the variants (option `variant`): normalized slopes, sᵢ → sᵢ/Σⱼ|sⱼ| (scale-free), and
 * loss-weighted, αᵢ ∝ Lᵢ(t)·exp(β·sᵢ) (the official README recommends this one). With β > 0 a task whose
 * loss falls slower than the others' gets more weight. Here the weights are wᵢ = T·αᵢ and sum to T.
 * `update` with step t's losses returns the weights for step t + 1; step 0 and step 1 use equal
 * weights 1 (no rate of change before two losses are known), then every update uses the last two.
 *
 * Options (defaults): `beta` 0.1 (the official code's default for every variant and its README's
 * examples), `variant` `original`.
 *
 * Deviations: (1) scale: the paper's and official code's weights sum to 1 (a convex combination); here
 * to T, as DWA's, GradNorm's and ReLoBRaLo's, so that the loss scale does not jump between the equal
 * first steps and the adapted ones (multiply by 1/T for the paper's). The ReLoBRaLo authors' SoftAdapt
 * (github.com/rbischof/relative_balancing, `update_rules.py`) uses T·softmax too. (2) slopes: the official
 * code takes a forward finite difference of order n − 1 over the last n stored losses (by default every
 * stored value, e.g. 5 epochs) and recomputes the weights every n epochs; here the order is 1, every
 * step. (3) The official normalized variant divides by Σⱼsⱼ, not Σⱼ|sⱼ|, which flips the sign of every
 * slope when the losses fall on the whole (the README's example gives the fastest-falling loss the most
 * weight); here Σⱼ|sⱼ| as the paper. (4) The official loss-weighted variant multiplies by the mean of each
 * loss over its window (here it would be (Lᵢ(t) + Lᵢ(t−1))/2); here Lᵢ(t). (5) The official code adds
 * ε = 1e-8 to the softmax's denominator; here the softmax is exact, with the largest exponent subtracted.
 *
 * Losses must be finite; for `lossWeighted` also ≥ 0 (the original and normalized variants use only
 * differences, so a loss may be negative, e.g. a negative log-likelihood). No loss is divided by.
 */
export function softAdapt(options: SoftAdaptOptions = {}): Balancer<SoftAdaptState> {
  checkOptionNames("softadapt", options, softAdapt.optionNames);
  const name = "softadapt";
  const beta = checkOption(name, "beta", options.beta ?? 0.1, () => true, "a finite number");
  const variant = checkVariant(name, options.variant ?? "original");

  return {
    name,
    needs: {},
    init(numTasks) {
      checkNumTasks(name, numTasks, 1);
      return { weights: new Array<number>(numTasks).fill(1), step: 0, previousLosses: null };
    },
    update(obs: Observation, state: SoftAdaptState): UpdateResult<SoftAdaptState> {
      const T = state.weights.length;
      const losses = [...checkLosses(name, obs, T)];
      if (variant === "lossWeighted") {
        losses.forEach((l, i) => {
          if (l < 0) throw new BalancerInputError(name, `loss of task ${i} is negative (${l}); the loss-weighted variant weights by the losses`);
        });
      }
      const step = state.step + 1;
      const previous = state.previousLosses;
      if (previous === null) {
        const weights = new Array<number>(T).fill(1);
        return { weights, state: { weights, step, previousLosses: losses } };
      }
      const weights = softAdaptWeights(previous, losses, beta, variant, name);
      return {
        weights,
        state: { weights, step, previousLosses: losses },
        info: { slopes: losses.map((l, i) => l - previous[i]!) },
      };
    },
  };
}

/** The option names {@link softAdapt} reads; any other name is rejected. */
softAdapt.optionNames = ["beta", "variant"] as const satisfies readonly (keyof SoftAdaptOptions)[];
