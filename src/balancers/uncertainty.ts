import type { Balancer, BalancerState, Observation, UpdateResult } from "./types.js";
import { BalancerInputError, checkFiniteVector, checkLosses, checkNumTasks, checkOption, checkOptionNames } from "./validate.js";
import { vectorOptimizer, type VectorOptimizerName, type VectorOptimizerState } from "../optim/vector.js";

export type UncertaintyTaskType = "regression" | "classification";

export interface UncertaintyOptions {
  /** Learning rate of the log-variances sᵢ. Default 0.025 (GradNorm's weight learning rate). */
  readonly lr?: number;
  /** Optimizer of the log-variances. Default `adam`. */
  readonly optimizer?: VectorOptimizerName;
  /**
   * Kind of each task, which sets the factor cᵢ: ½ for regression (eq. 7, Gaussian
   * likelihood), 1 for classification (eq. 10, softmax likelihood with temperature σ²).
   * Default: every task is regression.
   */
  readonly taskTypes?: readonly UncertaintyTaskType[];
  /** sᵢ at the start. Default 0 (σᵢ = 1). */
  readonly initialLogVariance?: number;
}

export interface UncertaintyState extends BalancerState {
  /** sᵢ = log σᵢ², the learned log-variances. */
  readonly logVariances: readonly number[];
  readonly opt: VectorOptimizerState;
}

/** cᵢ of each task: ½ for regression, 1 for classification. */
export function uncertaintyFactors(taskTypes: readonly UncertaintyTaskType[]): number[] {
  return taskTypes.map((t) => (t === "classification" ? 1 : 0.5));
}

/**
 * ∂/∂sᵢ of the uncertainty objective cᵢ·exp(−sᵢ)·Lᵢ + ½sᵢ, i.e. −cᵢ·exp(−sᵢ)·Lᵢ + ½.
 * Its zero is sᵢ* = log(2cᵢLᵢ), where the weight cᵢ·exp(−sᵢ) equals 1/(2Lᵢ).
 * When exp(−sᵢ) alone overflows it is computed as −exp(log cᵢLᵢ − sᵢ) + ½ (a zero loss gives ½ whatever
 * sᵢ), so it fails only when the gradient itself exceeds the double range; then, and for non-finite or
 * negative inputs, a BalancerInputError names the task.
 */
export function uncertaintyGrad(logVariances: readonly number[], losses: readonly number[], factors: readonly number[]): number[] {
  const T = logVariances.length;
  checkFiniteVector("uncertainty", "log-variances", logVariances, T);
  checkFiniteVector("uncertainty", "losses", losses, T);
  checkFiniteVector("uncertainty", "factors", factors, T);
  return logVariances.map((s, i) => {
    const cl = factors[i]! * losses[i]!;
    if (cl < 0) throw new BalancerInputError("uncertainty", `loss of task ${i} times its factor is negative (${cl}); the objective is unbounded below`);
    if (cl === 0) return 0.5;
    let g = -factors[i]! * Math.exp(-s) * losses[i]! + 0.5;
    if (!Number.isFinite(g)) g = -Math.exp(Math.log(cl) - s) + 0.5; // exp(−s) alone overflowed
    if (!Number.isFinite(g)) {
      throw new BalancerInputError("uncertainty", `gradient of task ${i}'s log-variance overflows (s = ${s}, loss ${losses[i]}); lower lr or check the losses`);
    }
    return g;
  });
}

/**
 * Uncertainty weighting — Kendall, Gal, Cipolla, CVPR 2018 (arXiv 1705.07115), eq. 7 and 10.
 *
 * Learns sᵢ = log σᵢ² (the homoscedastic task variance) jointly with the network by minimizing
 * Σᵢ cᵢ·exp(−sᵢ)·Lᵢ + ½sᵢ, with cᵢ = ½ for regression (eq. 7: 1/(2σ²)·L + log σ) and cᵢ = 1 for
 * classification (eq. 10: 1/σ²·L + log σ); ½sᵢ = log σᵢ. The network step at t uses the weights
 * wᵢ = cᵢ·exp(−sᵢ); then sᵢ takes one optimizer step along −cᵢ·exp(−sᵢ)·Lᵢ + ½ (the loss, unweighted,
 * at step t) and the new weights are returned for step t+1. For a constant loss the fixed point is
 * sᵢ* = log(2cᵢLᵢ), i.e. wᵢ = 1/(2Lᵢ).
 *
 * Options (defaults): `lr` 0.025 (GradNorm's weight learning rate, kept for a like-for-like
 * comparison; Kendall et al. learn s with the network's own optimizer), `optimizer` `adam`,
 * `taskTypes` all `regression`, `initialLogVariance` 0.
 *
 * Notes and deviations: the weights are unconstrained — they do not sum to T, unlike GradNorm's
 * (and the initial weights with s = 0 are ½ for regression, 1 for classification). The ½sᵢ
 * regularizer is not part of the weighted loss the network sees (it does not depend on the network).
 * LibMTL uses ½ for every task regardless of type and initialises s at −0.5. The losses must be ≥ 0:
 * with Lᵢ < 0 the objective is unbounded below in sᵢ.
 */
export function uncertainty(options: UncertaintyOptions = {}): Balancer<UncertaintyState> {
  checkOptionNames("uncertainty", options, uncertainty.optionNames);
  const name = "uncertainty";
  const lr = checkOption(name, "lr", options.lr ?? 0.025, (v) => v > 0, "a finite number > 0");
  const s0 = checkOption(name, "initialLogVariance", options.initialLogVariance ?? 0, () => true, "a finite number");
  const optName = options.optimizer ?? "adam";
  if (optName !== "adam" && optName !== "sgd") {
    throw new BalancerInputError(name, `unknown optimizer '${String(optName)}' (adam or sgd)`);
  }
  const taskTypes = options.taskTypes;
  if (taskTypes !== undefined) {
    if (!Array.isArray(taskTypes)) throw new BalancerInputError(name, `option taskTypes must be an array`);
    taskTypes.forEach((t, i) => {
      if (t !== "regression" && t !== "classification") {
        throw new BalancerInputError(name, `task type of task ${i} is '${String(t)}' (regression or classification)`);
      }
    });
  }
  const optimizer = vectorOptimizer({ name: optName, lr });

  function weightsOf(s: readonly number[], c: readonly number[]): number[] {
    return s.map((si, i) => {
      const w = c[i]! * Math.exp(-si);
      if (!Number.isFinite(w) || !Number.isFinite(si)) {
        throw new BalancerInputError(name, `weight of task ${i} is not finite (log-variance ${si}); lower lr or check the losses`);
      }
      return w;
    });
  }

  function factorsFor(T: number): number[] {
    if (taskTypes === undefined) return new Array<number>(T).fill(0.5);
    if (taskTypes.length !== T) {
      throw new BalancerInputError(name, `${taskTypes.length} task types were given but there are ${T} tasks`);
    }
    return uncertaintyFactors(taskTypes);
  }

  return {
    name,
    needs: {},
    init(numTasks) {
      checkNumTasks(name, numTasks, 1);
      const c = factorsFor(numTasks);
      const logVariances = new Array<number>(numTasks).fill(s0);
      return { weights: weightsOf(logVariances, c), step: 0, logVariances, opt: optimizer.init(numTasks) };
    },
    update(obs: Observation, state: UncertaintyState): UpdateResult<UncertaintyState> {
      const T = state.logVariances.length;
      const losses = checkLosses(name, obs, T);
      losses.forEach((l, i) => {
        if (l < 0) {
          throw new BalancerInputError(name, `loss of task ${i} is negative (${l}); the objective is unbounded below for L < 0`);
        }
      });
      const c = factorsFor(T);
      const grad = uncertaintyGrad(state.logVariances, losses, c);
      const { x: logVariances, state: opt } = optimizer.step(state.logVariances, grad, state.opt);
      const weights = weightsOf(logVariances, c);
      return {
        weights,
        state: { weights, step: state.step + 1, logVariances, opt },
        info: { logVariance: logVariances },
      };
    },
  };
}

/** The option names {@link uncertainty} reads; any other name is rejected. */
uncertainty.optionNames = ["lr", "optimizer", "taskTypes", "initialLogVariance"] as const satisfies readonly (keyof UncertaintyOptions)[];
