import type { Balancer, BalancerState, GradStatistic, Observation, UpdateResult } from "./types.js";
import { maxOf } from "../solvers/linalg.js";
import { BalancerInputError, checkFiniteVector, checkGradMode, checkGradNorms, checkLosses, checkNumTasks, checkOption, checkOptionNames } from "./validate.js";
import { vectorOptimizer, type VectorOptimizerName, type VectorOptimizerState } from "../optim/vector.js";

export interface GradNormOptions {
  /** Asymmetry α ≥ 0 (paper: 0.12 on its synthetic task, 1.5 on NYUv2). Default 1.5. */
  readonly alpha?: number;
  /** Learning rate of the weights (paper §5.1: 0.025). Default 0.025. */
  readonly lr?: number;
  /** Optimizer of the weights (paper: Adam). Default `adam`. */
  readonly optimizer?: VectorOptimizerName;
  /**
   * Lᵢ(0): `first` takes the losses observed at the first update (paper, Algorithm 1);
   * an array gives them directly (paper footnote 2: log C for C-class cross-entropy).
   */
  readonly initialLoss?: "first" | readonly number[];
  /** Where Gᵢ is measured. Default `lastShared` (the paper's W). */
  readonly gradMode?: GradStatistic;
  /** Floor applied to each weight before renormalization, keeping weights positive. Default 1e-4. */
  readonly minWeight?: number;
}

export interface GradNormState extends BalancerState {
  /** Lᵢ(0), or null until the first observation when `initialLoss` is `first`. */
  readonly initialLosses: readonly number[] | null;
  readonly opt: VectorOptimizerState;
}

/** Diagnostics of one GradNorm update, all at step t (before the weight update). */
export interface GradNormInfo {
  /** Gᵢ = wᵢ‖∇_W Lᵢ‖. */
  readonly G: number[];
  /** Ḡ·rᵢ^α, held constant. */
  readonly target: number[];
  /** rᵢ = L̃ᵢ / mean(L̃), with L̃ᵢ = Lᵢ/Lᵢ(0). */
  readonly r: number[];
  /** ∂L_grad/∂wᵢ = sign(Gᵢ − targetᵢ)·‖∇_W Lᵢ‖. */
  readonly grad: number[];
  /** L_grad = Σ |Gᵢ − targetᵢ|. */
  readonly lossGrad: number;
}

/**
 * The quantities of GradNorm's Algorithm 1 at one step, as a pure function: given the
 * current weights w, the unweighted per-task gradient norms nᵢ = ‖∇_W Lᵢ‖, the losses
 * and Lᵢ(0), returns Gᵢ = wᵢnᵢ, the targets Ḡ·rᵢ^α, and the gradient of
 * L_grad = Σ|Gᵢ − Ḡ·rᵢ^α| with respect to w with the targets held constant (eq. 2).
 */
export function gradNormStep(
  weights: readonly number[],
  gradNorms: readonly number[],
  losses: readonly number[],
  initialLosses: readonly number[],
  alpha: number,
): GradNormInfo {
  const T = weights.length;
  const G = weights.map((w, i) => w * gradNorms[i]!);
  const Gbar = G.reduce((a, b) => a + b, 0) / T;
  const ratio = losses.map((l, i) => l / initialLosses[i]!);
  const meanRatio = ratio.reduce((a, b) => a + b, 0) / T;
  const r = ratio.map((x) => x / meanRatio);
  const target = r.map((ri) => Gbar * ri ** alpha);
  const grad = G.map((g, i) => Math.sign(g - target[i]!) * gradNorms[i]!);
  const lossGrad = G.reduce((a, g, i) => a + Math.abs(g - target[i]!), 0);
  return { G, target, r, grad, lossGrad };
}

/**
 * Rescales weights so that Σ wᵢ = T (Algorithm 1, last line), after clamping each to at least
 * `minWeight` (≥ 0). The weights must be finite and, once clamped, not all zero (a BalancerInputError
 * says which); if their sum overflows they are divided by the largest first.
 */
export function renormalize(weights: readonly number[], minWeight = 0): number[] {
  checkOption("gradnorm", "minWeight", minWeight, (v) => v >= 0, "a finite number ≥ 0");
  checkFiniteVector("gradnorm", "weights", weights, weights.length);
  let clamped = weights.map((w) => Math.max(w, minWeight));
  let sum = clamped.reduce((a, b) => a + b, 0);
  if (!(sum > 0) && !(maxOf(clamped) > 0)) {
    throw new BalancerInputError("gradnorm", `cannot renormalize weights that are all ≤ 0 (${weights.length ? weights.join(", ") : "none given"})`);
  }
  if (!(sum > 0 && Number.isFinite(sum))) {
    const top = maxOf(clamped);
    clamped = clamped.map((w) => w / top);
    sum = clamped.reduce((a, b) => a + b, 0);
  }
  return clamped.map((w) => (w * clamped.length) / sum);
}

/**
 * GradNorm — Chen, Badrinarayanan, Lee, Rabinovich, ICML 2018 (arXiv 1711.02257), Algorithm 1, eq. 1–2.
 *
 * Learns loss weights wᵢ by descending L_grad = Σᵢ |Gᵢ − Ḡ·rᵢ^α| with the target Ḡ·rᵢ^α held constant,
 * where Gᵢ = ‖∇_W wᵢLᵢ‖₂ at the last shared layer W, Ḡ = meanᵢ Gᵢ and rᵢ = L̃ᵢ / meanⱼ L̃ⱼ with L̃ᵢ = Lᵢ/Lᵢ(0).
 * The network step at t uses w(t); then w(t+1) = renormalize(w(t) − opt(∂L_grad/∂w)) so that Σ wᵢ = T.
 *
 * Options (defaults): `alpha` 1.5, `lr` 0.025 (paper §5.1), `optimizer` `adam` (paper: all Adam),
 * `initialLoss` `first`, `gradMode` `lastShared`, `minWeight` 1e-4.
 *
 * Deviations: the paper does not say how weights are kept positive; we clamp each weight to
 * `minWeight` before renormalizing. LibMTL instead takes the softmax of free parameters and measures
 * gradients on all shared parameters (our `gradMode: 'shared'`) with Lᵢ(0) averaged over the first epoch.
 * The `sign(0) = 0` subgradient is used where Gᵢ equals its target exactly.
 */
export function gradNorm(options: GradNormOptions = {}): Balancer<GradNormState> {
  checkOptionNames("gradnorm", options, gradNorm.optionNames);
  const name = "gradnorm";
  const alpha = checkOption(name, "alpha", options.alpha ?? 1.5, (v) => v >= 0, "a finite number ≥ 0");
  const lr = checkOption(name, "lr", options.lr ?? 0.025, (v) => v > 0, "a finite number > 0");
  const minWeight = checkOption(name, "minWeight", options.minWeight ?? 1e-4, (v) => v > 0, "a finite number > 0");
  const initialLoss = options.initialLoss ?? "first";
  if (initialLoss !== "first" && !Array.isArray(initialLoss)) {
    throw new BalancerInputError(name, `option initialLoss must be 'first' or an array of numbers`);
  }
  if (!["adam", "sgd"].includes(options.optimizer ?? "adam")) {
    throw new BalancerInputError(name, `unknown optimizer '${String(options.optimizer)}' (adam or sgd)`);
  }
  const optimizer = vectorOptimizer({ name: options.optimizer ?? "adam", lr });
  const stat: GradStatistic = checkGradMode(name, options.gradMode, "lastShared");

  function checkInitial(values: readonly number[], T: number): readonly number[] {
    if (values.length !== T) throw new BalancerInputError(name, `expected ${T} initial losses, got ${values.length}`);
    values.forEach((v, i) => {
      if (!Number.isFinite(v)) throw new BalancerInputError(name, `initial loss of task ${i} is ${v} (must be finite)`);
      if (v <= 0) {
        throw new BalancerInputError(
          name,
          `initial loss of task ${i} is ${v}; GradNorm divides by Lᵢ(0), so it must be > 0 (pass initialLoss explicitly)`,
        );
      }
    });
    return values;
  }

  return {
    name,
    needs: { gradNorms: stat },
    init(numTasks) {
      checkNumTasks(name, numTasks, 2);
      return {
        weights: new Array<number>(numTasks).fill(1),
        step: 0,
        initialLosses: initialLoss === "first" ? null : checkInitial(initialLoss, numTasks),
        opt: optimizer.init(numTasks),
      };
    },
    update(obs: Observation, state: GradNormState): UpdateResult<GradNormState> {
      const T = state.weights.length;
      const losses = checkLosses(name, obs, T);
      const norms = checkGradNorms(name, obs, T);
      const initialLosses = state.initialLosses ?? checkInitial(losses, T);
      const negative = losses.findIndex((l) => l < 0);
      if (negative >= 0) {
        throw new BalancerInputError(name, `loss of task ${negative} is negative (${losses[negative]}); GradNorm's training rates Lᵢ/Lᵢ(0) need losses ≥ 0`);
      }
      if (losses.every((l) => l === 0)) {
        throw new BalancerInputError(name, `all task losses are 0, so the relative training rates rᵢ are undefined`);
      }
      const info = gradNormStep(state.weights, norms, losses, initialLosses, alpha);
      if (!info.r.every(Number.isFinite) || !info.grad.every(Number.isFinite)) {
        throw new BalancerInputError(name, `training rates overflowed (losses ${losses.join(", ")} against initial ${initialLosses.join(", ")})`);
      }
      const { x, state: opt } = optimizer.step(state.weights, info.grad, state.opt);
      const weights = renormalize(x, minWeight);
      return {
        weights,
        state: { weights, step: state.step + 1, initialLosses, opt },
        info: { ...info },
      };
    },
  };
}

/** The option names {@link gradNorm} reads; any other name is rejected. */
gradNorm.optionNames = ["alpha", "lr", "optimizer", "initialLoss", "gradMode", "minWeight"] as const satisfies readonly (keyof GradNormOptions)[];
