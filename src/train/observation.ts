/*
 * Numbers-only checks of what a training step observed and what a balancer returned, shared by the
 * jax-js trainers and the TF.js one (no engine imported here).
 */
import type { Balancer, BalancerState, Needs, Observation } from "../balancers/types.js";
import type { StatRequest } from "../stats/gradNorms.js";
import type { StepRecord } from "./loop.js";

/** Error raised by the trainers: names the step, the task and the value. */
export class TrainingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TrainingError";
  }
}

/**
 * A step's loss, statistic or weight that is NaN or ±Infinity (what a run's non-finite policy may skip).
 * The message is `${what} at step ${step}${why}`; {@link atStep} gives it for another step number.
 */
export class NonFiniteError extends TrainingError {
  constructor(
    readonly what: string,
    readonly step: number,
    readonly why = "",
  ) {
    super(`${what} at step ${step}${why}`);
    this.name = "NonFiniteError";
  }

  /** The same message for step `t` (a run counts its steps apart from a trainer that skipped some). */
  atStep(t: number): string {
    return `${this.what} at step ${t}${this.why}`;
  }
}

/** The first entry of `values` that is not a finite number, as [index, value], or null. */
export function firstNonFinite(values: ArrayLike<number>): [number, number] | null {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return [i, values[i]!];
  return null;
}

/** Checks that an option is an integer ≥ `min`, naming it otherwise. */
export function checkCount(name: string, value: unknown, min: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new TrainingError(`${name} must be an integer ≥ ${min}, got ${String(value)}`);
  }
  return value;
}

/**
 * What a step observed, checked before anything is kept: every loss, gradient norm and Gramian entry
 * finite, else a {@link NonFiniteError} naming the task (or entry) and step `t`.
 */
export function checkObservation<O extends Omit<StepRecord, "weights">>(obs: O, t: number): O {
  const bad = firstNonFinite(obs.losses);
  if (bad) throw new NonFiniteError(`loss of task ${bad[0]} is ${bad[1]}`, t, " (training diverged or the data holds NaN/Inf)");
  const norm = firstNonFinite(obs.gradNorms ?? []);
  if (norm) throw new NonFiniteError(`gradient norm of task ${norm[0]} is ${norm[1]}`, t, " (training diverged)");
  for (const [key, name] of [["gradAbsMax", "largest gradient entry"], ["gradAbsMean", "mean gradient magnitude"], ["kernelTraces", "kernel trace"]] as const) {
    const b = firstNonFinite(obs[key] ?? []);
    if (b) throw new NonFiniteError(`${name} of task ${b[0]} is ${b[1]}`, t, " (training diverged)");
  }
  obs.gramian?.forEach((row, i) => {
    const b = firstNonFinite(row);
    if (b) throw new NonFiniteError(`Gramian entry (${i}, ${b[0]}) is ${b[1]}`, t, " (training diverged)");
  });
  return obs;
}

/** The balancer's weights, checked before they are used: T finite numbers. */
export function checkWeights(balancer: string, weights: readonly number[], T: number, t: number): readonly number[] {
  if (!Array.isArray(weights) || weights.length !== T) {
    throw new TrainingError(`${balancer} returned ${Array.isArray(weights) ? weights.length : String(weights)} weights at step ${t}, expected ${T}`);
  }
  const bad = firstNonFinite(weights);
  if (bad) throw new NonFiniteError(`${balancer} returned weight ${bad[1]} for task ${bad[0]}`, t);
  return weights;
}

/** What an `evaluate` callback returned at step t: T finite per-task losses, or a TrainingError naming the problem. */
export function checkEvaluation(losses: unknown, T: number, t: number): number[] {
  if (!Array.isArray(losses) || losses.length !== T) {
    throw new TrainingError(`evaluate returned ${Array.isArray(losses) ? `${losses.length} values` : String(losses)} at step ${t}, expected ${T} per-task losses`);
  }
  const bad = firstNonFinite(losses);
  if (bad) throw new TrainingError(`evaluate returned ${bad[1]} for task ${bad[0]} at step ${t}`);
  return losses;
}

/** The balancer's next state for a checked observation, its weights checked before anything uses them. */
export function nextState<S extends BalancerState>(balancer: Balancer<S>, obs: Observation, state: S, T: number, t: number): S {
  const next = balancer.update(obs, state).state;
  checkWeights(balancer.name, next.weights, T, t);
  return next;
}

/**
 * The statistic a balancer's needs call for: kernel traces, gradient magnitudes, or the Gramian if it asks
 * for one (its diagonal gives the norms), else norms; at most one of the first three.
 */
export function statRequest(needs: Needs): StatRequest | undefined {
  const asked = [needs.gradAbs && "gradient magnitudes (gradAbs)", needs.kernelTraces && "kernel traces", (needs.gradNorms || needs.gramian) && "gradient norms or a Gramian"].filter(Boolean);
  if (asked.length > 1) throw new TrainingError(`a balancer cannot ask for ${asked.join(" and ")} together`);
  if (needs.kernelTraces) return { mode: "shared", kind: "ntk" };
  if (needs.gradAbs) return { mode: needs.gradAbs, kind: "abs" };
  if (needs.gramian) {
    if (needs.gradNorms && needs.gradNorms !== needs.gramian) {
      throw new TrainingError(`a balancer cannot ask for gradient norms (${needs.gradNorms}) and a Gramian (${needs.gramian}) in different modes`);
    }
    return { mode: needs.gramian, kind: "gramian" };
  }
  return needs.gradNorms ? { mode: needs.gradNorms, kind: "norms" } : undefined;
}

/** Splits a read-back `observed` array into the balancer's observation. */
export function parseObserved(
  observed: Float32Array,
  T: number,
  request: StatRequest | undefined,
  wantNorms: boolean,
): { losses: number[]; gradNorms?: number[]; gramian?: number[][]; gradAbsMax?: number[]; gradAbsMean?: number[]; kernelTraces?: number[] } {
  const losses = Array.from(observed.subarray(0, T));
  if (!request) return { losses };
  if (request.kind === "ntk") return { losses, kernelTraces: Array.from(observed.subarray(T, 2 * T)) };
  if (request.kind === "abs") return { losses, gradAbsMax: Array.from(observed.subarray(T, 2 * T)), gradAbsMean: Array.from(observed.subarray(2 * T, 3 * T)) };
  if (request.kind === "norms") return { losses, gradNorms: Array.from(observed.subarray(T, 2 * T)) };
  // Symmetric by definition; float32 products in different orders leave rounding-level asymmetry.
  const at = (i: number, j: number) => observed[T + i * T + j]!;
  const gramian = Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, j) => (at(i, j) + at(j, i)) / 2));
  return wantNorms ? { losses, gramian, gradNorms: gramian.map((row, i) => Math.sqrt(Math.max(0, row[i]!))) } : { losses, gramian };
}
