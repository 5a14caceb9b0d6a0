/**
 * The balancer contract, in the spirit of optax's GradientTransformation: a factory
 * takes options and returns two pure functions. `init` gives the state before the
 * first step; `update` takes what one training step observed and the state, and
 * returns loss weights together with the next state. Which step the weights are for
 * is the balancer's `timing`. Nothing is kept on `this`, nothing touches the model.
 */

/** A T×T Gram matrix G = J Jᵀ of per-task gradients (row i of J is task i's gradient). */
export type Gramian = readonly (readonly number[])[];

/** What a training step observed, all per task and unweighted. */
export interface Observation {
  /** Task losses Lᵢ at this step (before weighting). */
  readonly losses: readonly number[];
  /**
   * ‖∇_W Lᵢ‖₂, the norm of each task's own (unweighted) loss gradient with respect to
   * the statistic's target W (see {@link GradStatistic}). Required by balancers whose
   * `needs.gradNorms` is set.
   */
  readonly gradNorms?: readonly number[];
  /**
   * G = J Jᵀ of the unweighted per-task gradients at `needs.gramian`; Gᵢⱼ = ⟨∇Lᵢ, ∇Lⱼ⟩.
   * Required by balancers whose `needs.gramian` is set.
   */
  readonly gramian?: Gramian;
  /**
   * maxⱼ |∂Lᵢ/∂θⱼ| over the parameters θ of `needs.gradAbs` (the largest gradient entry of each task's
   * own loss). Required, with {@link gradAbsMean}, by balancers whose `needs.gradAbs` is set.
   */
  readonly gradAbsMax?: readonly number[];
  /** meanⱼ |∂Lᵢ/∂θⱼ| over the same parameters. */
  readonly gradAbsMean?: readonly number[];
  /**
   * τᵢ = (1/Mᵢ)·Σⱼ‖∂rᵢⱼ/∂θ‖², the trace of task i's neural-tangent-kernel block per output entry (over
   * its Mᵢ pointwise outputs and all parameters). Required by balancers whose `needs.kernelTraces` is set;
   * only models that define `kernelTraces` (pinnModel) give it.
   */
  readonly kernelTraces?: readonly number[];
}

/**
 * Where per-task gradient norms are measured.
 * - `lastShared`: the weight matrix of the last shared layer (GradNorm's W, the paper's default).
 * - `representation`: the shared representation (output of the shared trunk).
 * - `shared`: all shared (trunk) parameters.
 */
export type GradStatistic = "lastShared" | "representation" | "shared";

/** Every gradient mode, in the order the CLI and the benchmarks list them. */
export const gradModes: readonly GradStatistic[] = ["representation", "lastShared", "shared"];

/** What a balancer asks the training step to compute besides the losses. */
export interface Needs {
  readonly gradNorms?: GradStatistic;
  readonly gramian?: GradStatistic;
  /** The largest and the mean gradient magnitude per task (learning-rate annealing); not with the other statistics. */
  readonly gradAbs?: GradStatistic;
  /** The tasks' kernel traces (NTK weights; over all parameters); not with the other statistics. */
  readonly kernelTraces?: boolean;
  /**
   * The statistic is read only by updates whose `state.step` is a multiple of this (default 1: every
   * update). A trainer may then leave it out of the other steps (the model trainer runs those without it);
   * `update` must accept an observation without it there.
   */
  readonly every?: number;
}

/** Where a balancer's gradient statistic is taken (its gradient mode), or undefined for a method without one (on losses only, or on kernel traces). */
export function statisticMode(needs: Needs): GradStatistic | undefined {
  return needs.gramian ?? needs.gradNorms ?? needs.gradAbs;
}

/**
 * - `next`: `update` with step t's observation returns the weights for step t + 1
 *   (GradNorm, uncertainty weighting, DWA, …): one pass per step.
 * - `current`: `update` with step t's observation returns the weights applied at step t
 *   itself (MGDA, PCGrad, … — functions of this step's Gramian): the trainer computes the
 *   statistics first, then the weighted backward pass.
 */
export type Timing = "next" | "current";

/** Every balancer state carries the latest weights (for `next` timing: those to use at the coming step). */
export interface BalancerState {
  readonly weights: readonly number[];
  readonly step: number;
}

export interface UpdateResult<S extends BalancerState> {
  /** Weights for the next training step (same as `state.weights`). */
  readonly weights: readonly number[];
  readonly state: S;
  /** Optional diagnostics for logs and reports (e.g. GradNorm's L_grad). */
  readonly info?: Readonly<Record<string, number | readonly number[]>>;
}

/**
 * How the task gradients combine in the shared trunk for a method that is not a weighting of them
 * (GradDrop), declared as data: the training side implements each kind (src/train/combiners.ts), so
 * the balancer stays numbers-only. `signDropout`: GradDrop's sign dropout at the shared
 * representation with leak ℓ.
 */
export interface GradientCombination {
  readonly kind: "signDropout";
  readonly leak: number;
}

/** A balancer's combination: what to apply, and the step's seed (a uint32) from its state. */
export interface CombinationRequest<S> {
  readonly spec: GradientCombination;
  seed(state: S): number;
}

export interface Balancer<S extends BalancerState = BalancerState> {
  /** Registry name, e.g. `gradnorm`. */
  readonly name: string;
  readonly needs: Needs;
  /** Default `next`. */
  readonly timing?: Timing;
  /** Only for methods that change how task gradients combine in the trunk (GradDrop). */
  readonly combine?: CombinationRequest<S>;
  init(numTasks: number): S;
  update(observation: Observation, state: S): UpdateResult<S>;
}
