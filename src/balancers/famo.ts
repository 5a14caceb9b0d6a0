import type { Balancer, BalancerState, Observation, UpdateResult } from "./types.js";
import { maxOf } from "../solvers/linalg.js";
import { BalancerInputError, checkFiniteVector, checkLosses, checkNumTasks, checkOption, checkOptionNames } from "./validate.js";
import { vectorOptimizer, type VectorOptimizerName, type VectorOptimizerState } from "../optim/vector.js";

export interface FamoOptions {
  /** Learning rate β of the task logits ξ (official code: `w_lr`, 0.025). Default 0.025. */
  readonly lr?: number;
  /**
   * Decay γ ≥ 0 on the logits: γξ is added to their gradient, as torch Adam's (coupled, L2)
   * `weight_decay` does in the official code. The official defaults vary (famo.py 0.01, the
   * experiments' parser 0.01, QM9's run.sh 0.001, `methods/weight_methods.py` 1e-5). Default 0.001.
   */
  readonly gamma?: number;
  /**
   * Lᵢ*: a lower bound of each task's loss (official `min_losses`, default 0); one number for all
   * tasks or one per task. Every observed loss must be ≥ Lᵢ*. Default 0.
   */
  readonly minLoss?: number | readonly number[];
  /** ε > 0 added to Lᵢ − Lᵢ*, so that Dᵢ = Lᵢ − Lᵢ* + ε (official: 1e-8). Default 1e-8. */
  readonly epsilon?: number;
  /** Optimizer of the logits (official: Adam). Default `adam`. */
  readonly optimizer?: VectorOptimizerName;
  /**
   * What the weights sum to. 1 (default) gives Σ wᵢ∇Lᵢ equal to the gradient of the official
   * objective Σ (zᵢ/c)·log Dᵢ; T would put FAMO at the scale of equal weighting (Σ Lᵢ), as the
   * weights of GradNorm, DWA and `equal` are.
   */
  readonly weightSum?: number;
}

export interface FamoState extends BalancerState {
  /** ξ, the task logits; zᵢ = softmax(ξ)ᵢ. */
  readonly logits: readonly number[];
  /** The losses of the previous update (step t − 1), or null before the first update. */
  readonly previousLosses: readonly number[] | null;
  readonly opt: VectorOptimizerState;
}

/** softmax(ξ), computed with the maximum subtracted. The logits must be finite (a BalancerInputError names the first that is not). */
export function famoSoftmax(logits: readonly number[]): number[] {
  checkFiniteVector("famo", "logits", logits, logits.length);
  if (logits.length === 0) throw new BalancerInputError("famo", "softmax of an empty logit vector");
  const max = maxOf(logits);
  const e = logits.map((x) => Math.exp(x - max));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/**
 * The gradient of ξ ↦ Σᵢ softmax(ξ)ᵢ·δᵢ, i.e. J_softmax(ξ)ᵀδ = z ⊙ (δ − (zᵀδ)·1): what the official
 * code gets from `autograd.grad(softmax(w), w, grad_outputs=delta)`.
 */
export function famoLogitGrad(logits: readonly number[], delta: readonly number[]): number[] {
  const z = famoSoftmax(logits);
  checkFiniteVector("famo", "log-loss decreases δ", delta, logits.length);
  const zd = z.reduce((a, zi, i) => a + zi * delta[i]!, 0);
  return z.map((zi, i) => zi * (delta[i]! - zd));
}

/**
 * The weights FAMO puts on the raw losses: wᵢ = zᵢ/(c·Dᵢ) with Dᵢ = Lᵢ − Lᵢ* + ε and
 * c = Σⱼ zⱼ/Dⱼ, so that Σ wᵢ∇Lᵢ = ∇[Σ (zᵢ/c)·log Dᵢ] with c held constant; they sum to 1
 * (times `weightSum`).
 */
export function famoWeights(logits: readonly number[], D: readonly number[], weightSum = 1): number[] {
  const z = famoSoftmax(logits);
  checkFiniteVector("famo", "loss gaps D", D, logits.length).forEach((d, i) => {
    if (!(d > 0)) throw new BalancerInputError("famo", `loss gap D of task ${i} is ${d} (must be > 0)`);
  });
  checkOption("famo", "weightSum", weightSum, (v) => v > 0, "a finite number > 0");
  const r = z.map((zi, i) => zi / D[i]!);
  const c = r.reduce((a, b) => a + b, 0);
  return r.map((ri) => (weightSum * ri) / c);
}

/**
 * FAMO, Fast Adaptive Multitask Optimization — Liu, Feng, Stone, Liu, NeurIPS 2023 (arXiv 2306.03792),
 * Algorithm 1 and the official code (github.com/Cranial-XIX/FAMO, `famo.py`, class `FAMO`).
 *
 * Keeps task logits ξ (initially 0) and zᵢ = softmax(ξ)ᵢ. The network descends Σ (zᵢ/c)·log Dᵢ with
 * Dᵢ = Lᵢ − Lᵢ* + ε and c = Σⱼ zⱼ/Dⱼ held constant, whose gradient is Σ wᵢ∇Lᵢ with
 * wᵢ = zᵢ/(c·Dᵢ): these wᵢ are the weights returned, applied to the raw losses; they sum to 1
 * (`weightSum`). After a step θ → θ', the logits take one optimizer step along
 * J_softmax(ξ)ᵀδ + γξ with δᵢ = log Dᵢ(θ) − log Dᵢ(θ'), the decrease of each log-loss, so a task whose
 * log-loss fell more than the z-weighted average loses logit, and one that fell less gains it: FAMO
 * balances the rates of log-loss decrease. Only the T losses are used (no per-task gradients): O(1) in
 * the model size per step.
 *
 * Options (defaults): `lr` 0.025 (official `w_lr`), `gamma` 0.001 (QM9 run script; other official
 * defaults are 0.01 and 1e-5), `minLoss` 0 (official `min_losses`), `epsilon` 1e-8, `optimizer` `adam`
 * (official: torch Adam with coupled weight decay γ — here γξ is added to the gradient before Adam, the
 * same rule), `weightSum` 1.
 *
 * Deviation — one forward pass per step, so δ lags by one step. The official trainer, after the
 * parameter step θₜ → θₜ₊₁ on batch Bₜ, runs a second forward pass to get Lᵢ(θₜ₊₁; Bₜ) and updates ξ with
 * δₜ = log D(θₜ; Bₜ) − log D(θₜ₊₁; Bₜ) before step t + 1, whose weights then use ξₜ₊₁ and the fresh
 * losses of Bₜ₊₁. Here `update` (timing `next`) receives only Lᵢ(θₜ; Bₜ), the losses computed by step t
 * itself. It (1) takes as "loss after" of step t − 1 the losses of step t, on a different batch:
 * δ = log D(θₜ₋₁; Bₜ₋₁) − log D(θₜ; Bₜ), so batch-to-batch noise enters δ; (2) applies this δ to the
 * current logits — those produced by the previous update, one step newer than the logits that drove
 * step t − 1 (delayed gradient); (3) returns for step t + 1 the weights zᵢ/(c·Dᵢ) built from the new
 * logits and the losses of step t, not of step t + 1 (which are unknown yet). So the weights for step
 * t + 1 reflect the progress up to step t − 1 → t, where the official code's weights for step t + 1
 * reflect the progress of step t → t + 1 and use step t + 1's losses. The first update makes no logit
 * step (there is no previous loss); step 0 uses z = 1/T without the 1/D factor, i.e. the mean loss.
 *
 * Not implemented: the official `max_norm` gradient clipping of the shared parameters (a trainer
 * concern). Losses must be finite and ≥ Lᵢ*.
 */
export function famo(options: FamoOptions = {}): Balancer<FamoState> {
  checkOptionNames("famo", options, famo.optionNames);
  const name = "famo";
  const lr = checkOption(name, "lr", options.lr ?? 0.025, (v) => v > 0, "a finite number > 0");
  const gamma = checkOption(name, "gamma", options.gamma ?? 0.001, (v) => v >= 0, "a finite number ≥ 0");
  const epsilon = checkOption(name, "epsilon", options.epsilon ?? 1e-8, (v) => v > 0, "a finite number > 0");
  const weightSum = checkOption(name, "weightSum", options.weightSum ?? 1, (v) => v > 0, "a finite number > 0");
  const optName = options.optimizer ?? "adam";
  if (optName !== "adam" && optName !== "sgd") {
    throw new BalancerInputError(name, `unknown optimizer '${String(optName)}' (adam or sgd)`);
  }
  const minLossOption = options.minLoss ?? 0;
  if (typeof minLossOption === "number") {
    checkOption(name, "minLoss", minLossOption, () => true, "a finite number or an array of finite numbers");
  } else if (Array.isArray(minLossOption)) {
    minLossOption.forEach((v, i) => checkOption(name, `minLoss[${i}]`, v, () => true, "a finite number"));
  } else {
    throw new BalancerInputError(name, `option minLoss must be a number or an array of numbers`);
  }
  const optimizer = vectorOptimizer({ name: optName, lr });

  function minLosses(T: number): readonly number[] {
    if (typeof minLossOption === "number") return new Array<number>(T).fill(minLossOption);
    if (minLossOption.length !== T) {
      throw new BalancerInputError(name, `${minLossOption.length} minimum losses were given but there are ${T} tasks`);
    }
    return minLossOption;
  }

  /** Dᵢ = Lᵢ − Lᵢ* + ε, checked positive and finite. */
  function gaps(losses: readonly number[], mins: readonly number[]): number[] {
    return losses.map((l, i) => {
      const m = mins[i]!;
      if (l < m) {
        throw new BalancerInputError(
          name,
          `loss of task ${i} is ${l}, below its minimum loss ${m}; FAMO takes log(L − L* + ε), so losses must be ≥ minLoss`,
        );
      }
      const d = l - m + epsilon;
      if (!(d > 0) || !Number.isFinite(d)) {
        throw new BalancerInputError(name, `loss gap of task ${i} is ${d} (loss ${l}, minimum ${m}); it must be finite and > 0`);
      }
      return d;
    });
  }

  return {
    name,
    needs: {},
    timing: "next",
    init(numTasks) {
      checkNumTasks(name, numTasks, 1);
      minLosses(numTasks);
      return {
        weights: new Array<number>(numTasks).fill(weightSum / numTasks),
        step: 0,
        logits: new Array<number>(numTasks).fill(0),
        previousLosses: null,
        opt: optimizer.init(numTasks),
      };
    },
    update(obs: Observation, state: FamoState): UpdateResult<FamoState> {
      const T = state.logits.length;
      const losses = checkLosses(name, obs, T).slice();
      const mins = minLosses(T);
      const D = gaps(losses, mins);
      let logits: readonly number[] = state.logits;
      let opt = state.opt;
      let delta: number[] | undefined;
      if (state.previousLosses !== null) {
        const prevD = gaps(state.previousLosses, mins);
        const d = prevD.map((p, i) => Math.log(p) - Math.log(D[i]!));
        delta = d;
        const grad = famoLogitGrad(logits, d).map((g, i) => g + gamma * logits[i]!);
        const stepped = optimizer.step(logits, grad, opt);
        if (!stepped.x.every(Number.isFinite)) {
          throw new BalancerInputError(name, `task logits are not finite (${stepped.x.join(", ")}); lower lr or check the losses`);
        }
        logits = stepped.x;
        opt = stepped.state;
      }
      const weights = famoWeights(logits, D, weightSum);
      const z = famoSoftmax(logits);
      return {
        weights,
        state: { weights, step: state.step + 1, logits, previousLosses: losses, opt },
        info: delta ? { logits: logits.slice(), z, delta } : { logits: logits.slice(), z },
      };
    },
  };
}

/** The option names {@link famo} reads; any other name is rejected. */
famo.optionNames = ["lr", "gamma", "minLoss", "epsilon", "optimizer", "weightSum"] as const satisfies readonly (keyof FamoOptions)[];
