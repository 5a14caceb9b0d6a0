import type { Balancer, BalancerState, GradStatistic, Observation, UpdateResult } from "./types.js";
import { BalancerInputError, checkGradMode, checkLosses, checkNonNegativeVector, checkNumTasks, checkOption, checkOptionNames } from "./validate.js";

export interface LearningRateAnnealingOptions {
  /** Index of the reference term (the PDE residual L_r): its weight stays 1 and its largest gradient entry is the numerator. Default 0. */
  readonly reference?: number;
  /** α ∈ (0, 1], the weight of the new estimate in λᵢ ← (1 − α)·λᵢ + α·λ̂ᵢ (SIAM paper and official code: 0.1). Default 0.1. */
  readonly alpha?: number;
  /** Update the weights every this many steps (the papers' experiments: 10). Default 10. */
  readonly every?: number;
  /**
   * Whether the denominator is the mean |∇θ(λᵢLᵢ)| of the weighted term (SIAM version, eq. 2.30, and the
   * official code; default true) or the mean |∇θLᵢ| of the term alone (arXiv version, eq. 40, whose
   * recommended α is 0.9).
   */
  readonly weighted?: boolean;
  /** Where the gradient entries are taken (the paper: all parameters θ). Default `shared`. */
  readonly gradMode?: GradStatistic;
}

export interface LearningRateAnnealingState extends BalancerState {
  /** The latest estimates λ̂ (1 for the reference term and before the first update). */
  readonly estimates: readonly number[];
}

/**
 * Learning-rate annealing — Wang, Teng & Perdikaris, "Understanding and mitigating gradient flow
 * pathologies in physics-informed neural networks", SIAM J. Sci. Comput. 43(5), 2021, Algorithm 2.1,
 * eqs. 2.30–2.31: every `every` steps,
 *
 *   λ̂ᵢ = maxθ |∇θ L_r| / meanθ |∇θ (λᵢ Lᵢ)|,   λᵢ ← (1 − α)·λᵢ + α·λ̂ᵢ,
 *
 * for every term i but the reference r (the PDE residual, weight 1), so that the weighted terms'
 * typical gradient entry keeps up with the residual's largest. Needs the largest and the mean
 * |∂Lᵢ/∂θⱼ| of each task's own loss (`needs.gradAbs`, over `gradMode`'s parameters). With `weighted`
 * (default) λᵢ is inside the denominator as in the SIAM version and the official code, and the weights
 * settle where λᵢ² = max|∇L_r| / mean|∇Lᵢ|; `weighted: false` is the arXiv version (eq. 40), λᵢ → that
 * ratio itself.
 *
 * Options (defaults): `reference` 0, `alpha` 0.1 (SIAM and the official code, λ ← 0.9·λ + 0.1·λ̂; the
 * arXiv version recommends 0.9), `every` 10 (the papers' experiments and code), `weighted` true,
 * `gradMode` `shared`. Timing `next`: step t's gradients give the weights from step t + 1 on (the
 * official code measures them after step t's update, on the same batch). A term whose weighted mean is
 * 0 (no gradient) keeps its weight (so with `alpha` 1, a term whose weight dropped to 0 because the
 * reference had no gradient stays at 0 in the weighted form). Info: `estimates`, the latest λ̂. The statistic is read only at
 * update steps (`needs.every`), so the model trainer computes it only there: the other steps cost what
 * equal weights cost.
 *
 * Differences from the official code (github.com/PredictiveIntelligenceLab/GradientPathologiesPINNs,
 * Helmholtz2D_model_tf.py): (1) the code takes the gradients with respect to the weight matrices only and
 * averages the per-layer means (a mean of means); here max and mean run over every parameter of
 * `gradMode` (biases included), the paper's "θ". (2) The code gives all boundary terms one λ (the
 * gradient of their weighted sum); here each term i has its own λᵢ, as in the paper's equations. (3) The
 * code uses Adam with an exponentially decaying learning rate; that is the trainer's choice here.
 */
export function learningRateAnnealing(options: LearningRateAnnealingOptions = {}): Balancer<LearningRateAnnealingState> {
  const name = "lra";
  checkOptionNames(name, options, learningRateAnnealing.optionNames);
  const reference = options.reference ?? 0;
  if (!Number.isInteger(reference) || reference < 0) throw new BalancerInputError(name, `reference must be a task index (an integer ≥ 0), got ${String(reference)}`);
  const alpha = checkOption(name, "alpha", options.alpha ?? 0.1, (v) => v > 0 && v <= 1, "a number in (0, 1]");
  const every = checkOption(name, "every", options.every ?? 10, (v) => Number.isInteger(v) && v >= 1, "an integer ≥ 1");
  const weighted = options.weighted ?? true;
  if (typeof weighted !== "boolean") throw new BalancerInputError(name, `weighted must be true or false, got ${String(weighted)}`);
  const mode = checkGradMode(name, options.gradMode, "shared");

  return {
    name,
    needs: { gradAbs: mode, every },
    init(numTasks) {
      checkNumTasks(name, numTasks, 1);
      if (reference >= numTasks) throw new BalancerInputError(name, `reference ${reference} is not a task index (${numTasks} tasks)`);
      const ones = new Array<number>(numTasks).fill(1);
      return { weights: ones, step: 0, estimates: ones };
    },
    update(obs: Observation, state: LearningRateAnnealingState): UpdateResult<LearningRateAnnealingState> {
      const T = state.weights.length;
      checkLosses(name, obs, T);
      const step = state.step + 1;
      if (state.step % every !== 0) return { weights: state.weights, state: { ...state, step }, info: { estimates: state.estimates } };
      const max = checkNonNegativeVector(name, "largest gradient entries", "largest gradient entries", obs.gradAbsMax, T);
      const mean = checkNonNegativeVector(name, "mean gradient magnitudes", "mean gradient magnitudes", obs.gradAbsMean, T);
      const top = max[reference]!;
      const estimates = [...state.estimates];
      const weights = state.weights.map((w, i) => {
        if (i === reference) return 1;
        const denominator = weighted ? w * mean[i]! : mean[i]!;
        if (!(denominator > 0)) return w; // no gradient (or a zero weight): nothing to measure, the weight is kept
        estimates[i] = top / denominator;
        const next = (1 - alpha) * w + alpha * estimates[i]!;
        if (!Number.isFinite(next)) throw new BalancerInputError(name, `weight of task ${i} overflows: λ̂ = ${top} / ${denominator}`);
        return next;
      });
      return { weights, state: { weights, step, estimates }, info: { estimates } };
    },
  };
}

/** The option names {@link learningRateAnnealing} reads; any other name is rejected. */
learningRateAnnealing.optionNames = ["reference", "alpha", "every", "weighted", "gradMode"] as const satisfies readonly (keyof LearningRateAnnealingOptions)[];
