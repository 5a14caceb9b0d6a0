import { gradModes, type Gramian, type GradStatistic, type Observation } from "./types.js";
import { checkGramian, prepareGramian, type PreparedGramian } from "../solvers/gramian.js";

/** Error raised for bad balancer input: names the method, the problem and the task. */
export class BalancerInputError extends Error {
  constructor(method: string, message: string) {
    super(`${method}: ${message}`);
    this.name = "BalancerInputError";
  }
}

/** Checks that `values` has `numTasks` finite entries, naming the first bad one. */
export function checkFiniteVector(method: string, what: string, values: readonly number[] | undefined, numTasks: number): readonly number[] {
  if (values === undefined) throw new BalancerInputError(method, `${what} are required but were not given`);
  if (values.length !== numTasks) {
    throw new BalancerInputError(method, `expected ${numTasks} ${what}, got ${values.length}`);
  }
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new BalancerInputError(method, `${what} of task ${i} is ${String(v)} (must be a finite number)`);
    }
  }
  return values;
}

/** Validates an observation's losses (finite, one per task). */
export function checkLosses(method: string, obs: Observation, numTasks: number): readonly number[] {
  return checkFiniteVector(method, "losses", obs.losses, numTasks);
}

/**
 * Checks that `values` has `numTasks` finite entries ≥ 0, naming the first bad one (`what`: the values,
 * `one`: one of them, as the messages call them).
 */
export function checkNonNegativeVector(method: string, what: string, one: string, values: readonly number[] | undefined, numTasks: number): readonly number[] {
  const v = checkFiniteVector(method, what, values, numTasks);
  for (let i = 0; i < v.length; i++) {
    if (v[i]! < 0) throw new BalancerInputError(method, `${one} of task ${i} is negative (${v[i]})`);
  }
  return v;
}

/** Validates gradient norms: one per task, finite and non-negative. */
export function checkGradNorms(method: string, obs: Observation, numTasks: number): readonly number[] {
  return checkNonNegativeVector(method, "gradient norms", "gradient norm", obs.gradNorms, numTasks);
}

/** Largest number of tasks a balancer whose state and work per step are O(T) accepts. */
export const MAX_TASKS = 1_000_000;

/**
 * Largest number of tasks a balancer that takes or keeps a T×T matrix accepts (the Gramian methods,
 * GradVac's targets): 4096² numbers are 128 MiB, and one O(T³) solve at that size takes minutes.
 */
export const MAX_GRAMIAN_TASKS = 4096;

/** Checks that the number of tasks is an integer in [min, max] (an absurd T gets an error, not a crash). */
export function checkNumTasks(method: string, numTasks: number, min = 1, max = MAX_TASKS): void {
  if (typeof numTasks !== "number" || !Number.isInteger(numTasks) || numTasks < min) {
    throw new BalancerInputError(method, `needs an integer number of tasks ≥ ${min}, got ${String(numTasks)}`);
  }
  if (numTasks > max) {
    throw new BalancerInputError(method, `supports at most ${max} tasks, got ${numTasks}${max === MAX_GRAMIAN_TASKS ? " (it works on a T×T matrix every step)" : ""}`);
  }
}

/**
 * Rejects option names a factory does not read (a typo such as `alpah` would otherwise be ignored
 * silently), naming them and the known ones. Options set to undefined count as unset; `options` itself
 * may be undefined, and must otherwise be a plain object.
 */
export function checkOptionNames(method: string, options: unknown, known: readonly string[]): void {
  if (options === undefined) return;
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new BalancerInputError(method, `options must be an object, got ${Array.isArray(options) ? "an array" : String(options)}`);
  }
  const o = options as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => o[k] !== undefined && !known.includes(k));
  if (unknown.length > 0) {
    throw new BalancerInputError(method, `unknown option${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `'${k}'`).join(", ")} (${known.length ? `known: ${known.join(", ")}` : "it takes none"})`);
  }
}

/** Validates a seed option shared by the randomized methods: a 32-bit signed integer (the generator uses 32 bits). */
export function checkSeed(method: string, seed: number): number {
  return checkOption(method, "seed", seed, (v) => Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31, "an integer in [−2³¹, 2³¹)");
}

/** Option checks used by factories. */
export function checkOption(method: string, name: string, value: number, ok: (v: number) => boolean, rule: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || !ok(value)) {
    throw new BalancerInputError(method, `option ${name} must be ${rule}, got ${String(value)}`);
  }
  return value;
}


/** Validates the gradMode option shared by every method on per-task gradient statistics. */
export function checkGradMode(method: string, mode: GradStatistic | undefined, fallback: GradStatistic = "shared"): GradStatistic {
  const m = mode ?? fallback;
  if (!gradModes.includes(m)) {
    throw new BalancerInputError(method, `unknown gradMode '${String(m)}' (lastShared, representation or shared)`);
  }
  return m;
}

/** Validates a Gramian (present, an array of T rows of T finite numbers, symmetric, diagonal ≥ 0). */
export function requireGramian(method: string, G: Gramian | undefined, T?: number): Gramian {
  if (G === undefined || G === null) {
    throw new BalancerInputError(method, `the Gramian is required but was not given (G = J Jᵀ of the per-task gradients)`);
  }
  if (!Array.isArray(G) || G.some((row) => !Array.isArray(row))) {
    throw new BalancerInputError(method, `the Gramian must be an array of rows (T×T numbers)`);
  }
  if (G.length === 0) throw new BalancerInputError(method, `the Gramian is empty (no tasks)`);
  const problem = checkGramian(G, T);
  if (problem !== null) throw new BalancerInputError(method, problem);
  return G;
}

/**
 * Validates a Gramian given to a Gramian method ({@link requireGramian}: the shared rule, positive
 * semidefinite up to rounding included) and prepares it for the solvers (cosine matrix, eigenvalues
 * made negative by rounding clipped to 0). Throws a {@link BalancerInputError} naming the method and
 * the problem.
 */
export function gramianInput(method: string, G: Gramian | undefined, T?: number): PreparedGramian {
  return prepareGramian(requireGramian(method, G, T));
}
