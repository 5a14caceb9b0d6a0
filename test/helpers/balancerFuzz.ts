/**
 * Fuzzing every registered balancer (test/balancers/fuzz.test.ts, bounded; bench/fuzz.ts, long runs):
 * fast-check arbitraries over sequences of observations, and the checks each step's outcome must pass.
 *
 * - {@link validCaseArb}: T ∈ [2, 8], 2–6 steps, each with finite positive losses (10⁻⁶…10⁶) and a
 *   Gramian G = J Jᵀ from a random Jacobian of every kind of both helper families (rank-deficient,
 *   collinear, duplicate and zero rows, all zero, rows scaled 10⁻⁴…10⁴), gradNorms = √diag G. The
 *   update must return finite weights (never throw) that keep the method's documented constraints
 *   ({@link checkConstraints}).
 * - {@link badCaseArb}: the same, with one step corrupted by one of {@link CORRUPTIONS} (NaN/±Inf or
 *   zero/negative/10^±30 losses, NaN/Inf, asymmetric, indefinite, all-zero, 10^±300-scaled Gramians,
 *   a task with an exactly zero gradient, wrong lengths, missing statistics; T = 1 and T = 1000 apart).
 *   The outcome must be finite weights that keep the constraints, or a BalancerInputError — never NaN
 *   weights, never another exception; inputs marked `valid` must give weights. After an error the run
 *   continues from the previous state, which must still work; after an accepted degenerate input, later
 *   steps may be rejected (documented: DWA's zero epoch mean two epochs back).
 * - Every call is timed ({@link Outcome.ms}); the callers bound it.
 */
import fc from "fast-check";
import { createBalancer, methodNames } from "../../src/balancers/registry.js";
import type { Balancer, BalancerState, Gramian, Observation } from "../../src/balancers/types.js";
import { BalancerInputError } from "../../src/balancers/validate.js";
import { gramOf, jacobian, JACOBIAN_KINDS, rngJacobian, RNG_JACOBIAN_KINDS, type JacobianKind, type RngJacobianKind } from "./gramians.js";

// ---------------------------------------------------------------------------------------------
// Methods and option variants.

/** A method with one set of options (options may depend on the number of tasks, e.g. `static`'s weights). */
export interface Variant {
  readonly method: string;
  readonly label: string;
  readonly options: (T: number) => Record<string, unknown>;
}

const fixed = (o: Record<string, unknown>) => () => o;
/** A preference vector that is not uniform and has a zero entry when T ≥ 3. */
const somePref = (T: number) => Array.from({ length: T }, (_, i) => (T >= 3 && i === 1 ? 0 : 1 + i));

/** Option variants besides the defaults (`{}`), per method. */
const EXTRA: Readonly<Record<string, readonly [string, (T: number) => Record<string, unknown>][]>> = {
  gradnorm: [
    ["alpha=0,sgd", fixed({ alpha: 0, optimizer: "sgd" })],
    ["lr=1,minWeight=0.1", fixed({ lr: 1, minWeight: 0.1 })],
    ["initialLoss=given", (T) => ({ initialLoss: new Array<number>(T).fill(2) })],
  ],
  static: [],
  uncertainty: [
    ["sgd,lr=1", fixed({ optimizer: "sgd", lr: 1 })],
    ["classification,s0=5", (T) => ({ taskTypes: Array.from({ length: T }, (_, i) => (i % 2 ? "classification" : "regression")), initialLogVariance: 5 })],
  ],
  dwa: [["temperature=1e-3,epochLength=2", fixed({ temperature: 1e-3, epochLength: 2 })]],
  rlw: [["seed=123", fixed({ seed: 123 })]],
  softadapt: [
    ["variant=normalized,beta=5", fixed({ variant: "normalized", beta: 5 })],
    ["variant=lossWeighted", fixed({ variant: "lossWeighted" })],
    ["beta=-1e3", fixed({ beta: -1e3 })],
  ],
  lra: [
    ["every=1,alpha=1", fixed({ every: 1, alpha: 1 })],
    ["weighted=false,alpha=0.9,reference=T−1", (T) => ({ weighted: false, alpha: 0.9, reference: T - 1 })],
  ],
  ntk: [["every=1", fixed({ every: 1 })]],
  relobralo: [
    ["alpha=0.5,rho=0.5,seed=3", fixed({ alpha: 0.5, rho: 0.5, seed: 3 })],
    ["alpha=0,temperature=1e-3", fixed({ alpha: 0, temperature: 1e-3 })],
    ["rho=0,temperature=10", fixed({ rho: 0, temperature: 10 })],
  ],
  graddrop: [["leak=0.5", fixed({ leak: 0.5 })]],
  famo: [
    ["weightSum=T,gamma=0.01,sgd", (T) => ({ weightSum: T, gamma: 0.01, optimizer: "sgd" })],
    ["lr=1", fixed({ lr: 1 })],
  ],
  mgda: [
    ["normalization=l2", fixed({ normalization: "l2" })],
    ["normalization=loss", fixed({ normalization: "loss" })],
    ["normalization=loss+", fixed({ normalization: "loss+" })],
  ],
  upgrad: [["pref", (T) => ({ pref: somePref(T) })]],
  dualproj: [["pref", (T) => ({ pref: somePref(T) })]],
  cagrad: [
    ["c=0", fixed({ c: 0 })],
    ["c=10,rescale=0", fixed({ c: 10, rescale: 0 })],
    ["rescale=2", fixed({ rescale: 2 })],
  ],
  nashmtl: [
    ["maxNorm=1", fixed({ maxNorm: 1 })],
    ["maxIters=3", fixed({ maxIters: 3 })],
  ],
  pcgrad: [["seed=7", fixed({ seed: 7 })]],
  gradvac: [
    ["beta=1", fixed({ beta: 1 })],
    ["beta=0.5,seed=3", fixed({ beta: 0.5, seed: 3 })],
  ],
  alignedmtl: [
    ["scale=median", fixed({ scale: "median" })],
    ["scale=rmse,eps=0", fixed({ scale: "rmse", eps: 0 })],
  ],
  dbmtl: [
    ["beta=0,betaSigma=0", fixed({ beta: 0, betaSigma: 0 })],
    ["eps=1e-3", fixed({ eps: 1e-3 })],
  ],
};

/** Default options of a method (`static` has none: it needs its weights). */
function defaults(method: string): (T: number) => Record<string, unknown> {
  return method === "static" ? (T) => ({ weights: Array.from({ length: T }, (_, i) => (i % 3 === 2 ? 0 : 0.5 + i)) }) : fixed({});
}

/** The defaults and the variants of one registered method (a method added to the registry gets its defaults). */
export function variantsOf(method: string): Variant[] {
  return [{ method, label: "defaults", options: defaults(method) }, ...(EXTRA[method] ?? []).map(([label, options]) => ({ method, label, options }))];
}

/** Every registered method's variants. */
export function allVariants(): Variant[] {
  return methodNames().flatMap(variantsOf);
}

// ---------------------------------------------------------------------------------------------
// Cases.

export type AnyKind = JacobianKind | `rng:${RngJacobianKind}`;
export const ALL_KINDS: readonly AnyKind[] = [...JACOBIAN_KINDS, ...RNG_JACOBIAN_KINDS.map((k) => `rng:${k}` as const)];

export interface StepSpec {
  readonly kind: AnyKind;
  readonly seed: number;
  readonly d: number;
  /** log10 of the losses (the first T are used). */
  readonly lossExp: readonly number[];
}

export interface ValidCase {
  readonly T: number;
  readonly steps: readonly StepSpec[];
}

export interface BadCase extends ValidCase {
  readonly corruption: CorruptionName;
  /** The step that is corrupted (mod the number of steps). */
  readonly at: number;
}

const MAX_T = 8;
const stepArb = fc.record({
  kind: fc.constantFrom(...ALL_KINDS),
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  d: fc.integer({ min: 1, max: 10 }),
  lossExp: fc.array(fc.double({ min: -6, max: 6, noNaN: true }), { minLength: MAX_T, maxLength: MAX_T }),
});

export const validCaseArb: fc.Arbitrary<ValidCase> = fc.record({
  T: fc.integer({ min: 2, max: MAX_T }),
  steps: fc.array(stepArb, { minLength: 2, maxLength: 6 }),
});

/** Jacobian rows = task gradients. */
export function jacobianOf(T: number, s: StepSpec): number[][] {
  return s.kind.startsWith("rng:") ? rngJacobian(T, s.d, s.kind.slice(4) as RngJacobianKind, s.seed) : jacobian(s.seed, T, s.d, s.kind as JacobianKind);
}

/**
 * A valid observation: losses 10^lossExp, G = J Jᵀ, gradNorms = √diag G, and the largest and mean |Jᵢⱼ| per
 * row (every statistic given; methods ignore what they do not need).
 */
export function observationOf(T: number, s: StepSpec): Observation {
  const J = jacobianOf(T, s);
  const gramian = gramOf(J);
  const abs = J.map((r) => r.map(Math.abs));
  return {
    losses: s.lossExp.slice(0, T).map((e) => 10 ** e),
    gramian,
    gradNorms: gramian.map((r, i) => Math.sqrt(r[i]!)),
    gradAbsMax: abs.map((r) => Math.max(...r)),
    gradAbsMean: abs.map((r) => r.reduce((a, v) => a + v, 0) / r.length),
    kernelTraces: gramian.map((r, i) => r[i]!), // a stand-in with the right properties (≥ 0, 0 for a zero row)
  };
}

type Obs = { losses: number[]; gramian?: number[][]; gradNorms?: number[]; gradAbsMax?: number[]; gradAbsMean?: number[]; kernelTraces?: number[] };
const copy = (o: Observation): Obs => ({
  losses: [...o.losses],
  ...(o.gramian ? { gramian: o.gramian.map((r) => [...r]) } : {}),
  ...(o.gradNorms ? { gradNorms: [...o.gradNorms] } : {}),
  ...(o.gradAbsMax ? { gradAbsMax: [...o.gradAbsMax] } : {}),
  ...(o.gradAbsMean ? { gradAbsMean: [...o.gradAbsMean] } : {}),
  ...(o.kernelTraces ? { kernelTraces: [...o.kernelTraces] } : {}),
});
const withGramian = (o: Obs, G: number[][]): Obs => ({ ...o, gramian: G, gradNorms: G.map((r, i) => Math.sqrt(Math.max(r[i]!, 0))) });
/** G scaled so that its largest diagonal entry is `top` (G = 0 stays 0). */
const scaleG = (o: Obs, top: number) => {
  const m = Math.max(...o.gramian!.map((r, i) => r[i]!));
  return m > 0 ? withGramian(o, o.gramian!.map((r) => r.map((v) => (v / m) * top))) : o;
};

/**
 * The degenerate inputs, each a function of a valid observation (T ≥ 2 tasks). `valid` marks those that
 * are valid input with a documented result (finite weights required); the others may also be rejected.
 */
export const CORRUPTIONS = {
  "loss NaN": { valid: false, apply: (o: Obs) => ((o.losses[0] = Number.NaN), o) },
  "loss +Inf": { valid: false, apply: (o: Obs) => ((o.losses[o.losses.length - 1] = Infinity), o) },
  "loss -Inf": { valid: false, apply: (o: Obs) => ((o.losses[0] = -Infinity), o) },
  "loss 0": { valid: false, apply: (o: Obs) => ((o.losses[0] = 0), o) },
  "losses all 0": { valid: false, apply: (o: Obs) => ({ ...o, losses: o.losses.map(() => 0) }) },
  "loss negative": { valid: false, apply: (o: Obs) => ((o.losses[1] = -0.5), o) },
  "loss 1e30": { valid: false, apply: (o: Obs) => ((o.losses[0] = 1e30), o) },
  "loss 1e-30": { valid: false, apply: (o: Obs) => ((o.losses[0] = 1e-30), o) },
  "losses 1e±30": { valid: false, apply: (o: Obs) => ({ ...o, losses: o.losses.map((_, i) => (i % 2 ? 1e-30 : 1e30)) }) },
  "losses 1e±300": { valid: false, apply: (o: Obs) => ({ ...o, losses: o.losses.map((_, i) => (i % 2 ? 1e-300 : 1e300)) }) },
  "losses too short": { valid: false, apply: (o: Obs) => ({ ...o, losses: o.losses.slice(1) }) },
  "losses too long": { valid: false, apply: (o: Obs) => ({ ...o, losses: [...o.losses, 1] }) },
  "gramian NaN": { valid: false, apply: (o: Obs) => ((o.gramian![0]![1] = o.gramian![1]![0] = Number.NaN), o) },
  "gramian Inf": { valid: false, apply: (o: Obs) => ((o.gramian![1]![1] = Infinity), o) },
  "gramian asymmetric": {
    valid: false,
    apply: (o: Obs) => ((o.gramian![1]![0] = o.gramian![1]![0]! + 1 + o.gramian![0]![0]! + o.gramian![1]![1]!), o),
  },
  "gramian Cauchy–Schwarz": {
    valid: false,
    apply: (o: Obs) => {
      const G = o.gramian!;
      G[0]![0] = G[1]![1] = 1;
      G[0]![1] = G[1]![0] = 1.5;
      return withGramian(o, G);
    },
  },
  /** Pairwise valid cosines (−0.9 on three tasks) whose cosine matrix has eigenvalue −0.8 (T ≥ 3; T = 2: cosine 1.5). */
  "gramian indefinite": {
    valid: false,
    apply: (o: Obs) => {
      const T = o.losses.length;
      const n = o.losses.map((_, i) => 10 ** ((i % 3) - 1));
      const c = (i: number, j: number) => (i === j ? 1 : i < 3 && j < 3 ? (T >= 3 ? -0.9 : 1.5) : 0);
      return withGramian(o, n.map((a, i) => n.map((b, j) => a * b * c(i, j))));
    },
  },
  "gramian negative diagonal": { valid: false, apply: (o: Obs) => ((o.gramian![0]![0] = -1), o) },
  "gramian slightly indefinite": {
    valid: true,
    // Collinear gradients with cosines 1 + 1e-7: within the rounding the Gramian rule allows.
    apply: (o: Obs) => {
      const n = o.losses.map((_, i) => 1 + i);
      return withGramian(o, n.map((a, i) => n.map((b, j) => a * b * (i === j ? 1 : 1 + 1e-7))));
    },
  },
  "gramian all 0": { valid: true, apply: (o: Obs) => withGramian(o, o.gramian!.map((r) => r.map(() => 0))) },
  "task zero gradient": {
    valid: true,
    apply: (o: Obs) => withGramian(o, o.gramian!.map((r, i) => r.map((v, j) => (i === 0 || j === 0 ? 0 : v)))),
  },
  "gramian max 1e300": { valid: true, apply: (o: Obs) => scaleG(o, 1e300) },
  "gramian max 1e-300": { valid: true, apply: (o: Obs) => scaleG(o, 1e-300) },
  "gramian wrong size": { valid: false, apply: (o: Obs) => withGramian(o, [...o.gramian!.map((r) => [...r, 0]), new Array<number>(o.losses.length + 1).fill(0)]) },
  "gramian ragged": { valid: false, apply: (o: Obs) => ((o.gramian![1] = o.gramian![1]!.slice(1)), o) },
  "gramian missing": { valid: false, apply: (o: Obs) => ({ losses: o.losses, ...(o.gradNorms ? { gradNorms: o.gradNorms } : {}) }) },
  "gradNorms missing": { valid: false, apply: (o: Obs) => ({ losses: o.losses, ...(o.gramian ? { gramian: o.gramian } : {}) }) },
  "gradNorms NaN": { valid: false, apply: (o: Obs) => ((o.gradNorms![0] = Number.NaN), o) },
  "gradNorms negative": { valid: false, apply: (o: Obs) => ((o.gradNorms![0] = -1), o) },
  "gradNorms 0": { valid: true, apply: (o: Obs) => ({ ...o, gradNorms: o.gradNorms!.map(() => 0) }) },
  "gradNorms wrong length": { valid: false, apply: (o: Obs) => ({ ...o, gradNorms: o.gradNorms!.slice(1) }) },
  "gradAbs missing": { valid: false, apply: (o: Obs) => ({ ...o, gradAbsMax: undefined, gradAbsMean: undefined }) },
  "gradAbsMax NaN": { valid: false, apply: (o: Obs) => ((o.gradAbsMax![0] = Number.NaN), o) },
  "gradAbsMean negative": { valid: false, apply: (o: Obs) => ((o.gradAbsMean![1] = -1), o) },
  "gradAbs wrong length": { valid: false, apply: (o: Obs) => ({ ...o, gradAbsMean: o.gradAbsMean!.slice(1) }) },
  "gradAbs all 0": { valid: true, apply: (o: Obs) => ({ ...o, gradAbsMax: o.gradAbsMax!.map(() => 0), gradAbsMean: o.gradAbsMean!.map(() => 0) }) },
  "kernelTraces missing": { valid: false, apply: (o: Obs) => ({ ...o, kernelTraces: undefined }) },
  "kernelTraces NaN": { valid: false, apply: (o: Obs) => ((o.kernelTraces![1] = Number.NaN), o) },
  "kernelTraces negative": { valid: false, apply: (o: Obs) => ((o.kernelTraces![0] = -1), o) },
  "kernelTraces all 0": { valid: true, apply: (o: Obs) => ({ ...o, kernelTraces: o.kernelTraces!.map(() => 0) }) },
  "kernelTraces 1e±300": { valid: false, apply: (o: Obs) => ({ ...o, kernelTraces: o.kernelTraces!.map((_, i) => (i % 2 ? 1e-300 : 1e300)) }) },
  "gradAbs 1e±300": { valid: false, apply: (o: Obs) => ({ ...o, gradAbsMax: o.gradAbsMax!.map(() => 1e300), gradAbsMean: o.gradAbsMean!.map(() => 1e-300) }) },
} as const satisfies Record<string, { valid: boolean; apply: (o: Obs) => Obs }>;

export type CorruptionName = keyof typeof CORRUPTIONS;
export const CORRUPTION_NAMES = Object.keys(CORRUPTIONS) as CorruptionName[];

export const badCaseArb: fc.Arbitrary<BadCase> = fc.record({
  T: fc.integer({ min: 2, max: MAX_T }),
  steps: fc.array(stepArb, { minLength: 2, maxLength: 5 }),
  corruption: fc.constantFrom(...CORRUPTION_NAMES),
  at: fc.nat(),
});

// ---------------------------------------------------------------------------------------------
// Running a case.

/** One update's outcome. */
export type Outcome = { readonly kind: "weights"; readonly weights: readonly number[]; readonly ms: number } | { readonly kind: "error"; readonly error: unknown; readonly ms: number };

export function timedUpdate(b: Balancer<BalancerState>, obs: Observation, state: BalancerState): { outcome: Outcome; state?: BalancerState } {
  const t0 = performance.now();
  try {
    const r = b.update(obs, state);
    return { outcome: { kind: "weights", weights: r.weights, ms: performance.now() - t0 }, state: r.state };
  } catch (error) {
    return { outcome: { kind: "error", error, ms: performance.now() - t0 } };
  }
}

const describeError = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

/** A problem with a successful update's result (null when fine): length, finiteness, the state, the method's constraints. */
function checkResult(v: Variant, T: number, obs: Observation, prev: BalancerState, weights: readonly number[], next: BalancerState | undefined): string | null {
  if (weights.length !== T) return `returned ${weights.length} weights for ${T} tasks`;
  const bad = weights.findIndex((w) => typeof w !== "number" || !Number.isFinite(w));
  if (bad >= 0) return `weight ${bad} is ${weights[bad]} (weights ${weights.join(", ")})`;
  if (!next || next.weights.length !== T || next.weights.some((w, i) => w !== weights[i])) return `state.weights differ from the returned weights`;
  if (next.step !== prev.step + 1) return `state.step went from ${prev.step} to ${next.step}`;
  return checkConstraints(v, T, obs, weights);
}

export interface CaseReport {
  /** Null when every step passed. */
  readonly failure: string | null;
  /** Updates run. */
  readonly calls: number;
  readonly maxMs: number;
  /** Per step: `weights`, `error` (a BalancerInputError) or `init-error`. */
  readonly outcomes: readonly string[];
}

/**
 * Runs one case: `init(T)`, then the steps in order, feeding the returned state back. `corrupt` (if
 * given) replaces step `at`'s observation; a BalancerInputError is then allowed (the run continues
 * from the state before it). Any other exception, non-finite weights, a broken constraint, an error
 * on valid input, or a call slower than `slowMs` is a failure.
 */
export function runCase(v: Variant, c: ValidCase, opts: { corrupt?: { at: number; name: CorruptionName }; slowMs?: number } = {}): CaseReport {
  const slowMs = opts.slowMs ?? Infinity;
  const outcomes: string[] = [];
  let maxMs = 0;
  let calls = 0;
  const fail = (msg: string): CaseReport => ({ failure: `${v.method} [${v.label}] T=${c.T}: ${msg}`, calls, maxMs, outcomes });
  let b: Balancer<BalancerState>;
  let state: BalancerState;
  try {
    b = createBalancer(v.method, v.options(c.T));
    state = b.init(c.T);
  } catch (e) {
    if (e instanceof BalancerInputError && c.T === 1 && v.method === "gradnorm") return { failure: null, calls, maxMs, outcomes: ["init-error"] };
    return fail(`factory/init threw ${describeError(e)}`);
  }
  const initProblem = state.weights.length !== c.T || !state.weights.every(Number.isFinite) ? `init gave weights ${state.weights.join(", ")}` : null;
  if (initProblem) return fail(initProblem);
  const at = opts.corrupt ? opts.corrupt.at % c.steps.length : -1;
  /** Whether a degenerate input was accepted into the state: a later step may then be rejected (e.g. DWA's zero epoch mean). */
  let accepted = false;
  for (let k = 0; k < c.steps.length; k++) {
    let obs = observationOf(c.T, c.steps[k]!);
    let allowError = accepted;
    if (k === at && opts.corrupt) {
      const cor = CORRUPTIONS[opts.corrupt.name];
      obs = cor.apply(copy(obs));
      allowError = !cor.valid;
    }
    const { outcome, state: next } = timedUpdate(b, obs, state);
    calls++;
    maxMs = Math.max(maxMs, outcome.ms);
    const where = `step ${k}${k === at ? ` (${opts.corrupt!.name})` : ""}`;
    if (outcome.ms > slowMs) return fail(`${where}: update took ${outcome.ms.toFixed(0)} ms (limit ${slowMs} ms)`);
    if (outcome.kind === "error") {
      if (!(outcome.error instanceof BalancerInputError)) return fail(`${where}: threw ${describeError(outcome.error)} (not a BalancerInputError)`);
      if (!allowError) return fail(`${where}: valid input rejected: ${outcome.error.message}`);
      outcomes.push("error");
      continue;
    }
    const problem = checkResult(v, c.T, obs, state, outcome.weights, next);
    if (problem) return fail(`${where}: ${problem}`);
    outcomes.push("weights");
    if (k === at) accepted = true;
    state = next!;
  }
  return { failure: null, calls, maxMs, outcomes };
}

/** T = 1 (a single task): gradnorm rejects it at `init`; every other method gives finite weights for several steps. */
export function runSingleTask(v: Variant, seed: number, slowMs = Infinity): CaseReport {
  const steps: StepSpec[] = [0, 1, 2].map((k) => ({ kind: k === 1 ? "zero" : "random", seed: seed + k, d: 3, lossExp: [k - 1] }));
  return runCase(v, { T: 1, steps }, { slowMs });
}

/**
 * T tasks (e.g. 1000) for a few steps. `gramian`: `random` (J of T × 20: rank 20, conflicting) or
 * `zero` (the documented G = 0 fallback, cheap for every method: the bounded test uses it, since a
 * random T = 1000 Gramian costs seconds to minutes per update for the O(T³) methods).
 */
export function runManyTasks(v: Variant, T: number, gramian: "random" | "zero", seed: number, slowMs = Infinity, steps = 2): CaseReport {
  const specs: StepSpec[] = Array.from({ length: steps }, (_, k) => ({
    kind: gramian === "zero" ? "zero" : "random",
    seed: seed + k,
    d: 20,
    lossExp: Array.from({ length: T }, (_, i) => Math.sin(i + 7 * k) * 3),
  }));
  return runCase(v, { T, steps: specs }, { slowMs });
}

// ---------------------------------------------------------------------------------------------
// Documented output constraints.

const sum = (w: readonly number[]) => w.reduce((a, b) => a + b, 0);
const relClose = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

/**
 * (Gα)ᵢ ≥ −tol·‖gᵢ‖·maxⱼ‖gⱼ‖·‖α‖₁ for every task (no conflict), computed on G / maxᵢGᵢᵢ so that Gramians
 * scaled by 10^±300 do not overflow. Null when it holds.
 */
function conflict(G: Gramian, alpha: readonly number[], tol: number): string | null {
  const m = Math.max(0, ...G.map((r, i) => r[i]!));
  if (!(m > 0)) return null;
  const l1 = alpha.reduce((s, v) => s + Math.abs(v), 0);
  for (let i = 0; i < G.length; i++) {
    let gi = 0;
    for (let j = 0; j < G.length; j++) gi += (G[i]![j]! / m) * alpha[j]!;
    const scale = Math.sqrt(Math.max(G[i]![i]! / m, 0)) * l1;
    if (!(gi >= -tol * scale)) return `direction conflicts with task ${i}: (Gα)ᵢ/maxGᵢᵢ = ${gi} (scale ${scale})`;
  }
  return null;
}

/**
 * The output constraints each method documents (its JSDoc), checked on one step's weights. `obs` is
 * the observation the weights came from (its Gramian, where a constraint involves it). Null when they hold.
 */
export function checkConstraints(v: Variant, T: number, obs: Observation, w: readonly number[]): string | null {
  const o = v.options(T);
  const G = obs.gramian;
  const zeroGrad = (i: number) => G !== undefined && G[i]![i] === 0;
  const allZeroG = G !== undefined && G.every((r) => r.every((x) => x === 0));
  const every = (ok: (x: number, i: number) => boolean, what: string) => {
    const i = w.findIndex((x, k) => !ok(x, k));
    return i < 0 ? null : `weight ${i} = ${w[i]} breaks ${what} (weights ${w.join(", ")})`;
  };
  const sumIs = (target: number, what: string, tol = 1e-9) => (relClose(sum(w), target, tol) ? null : `Σw = ${sum(w)}, documented ${what}`);
  const pref = (o.pref as number[] | undefined) ?? new Array<number>(T).fill(1 / T);
  switch (v.method) {
    case "gradnorm": // Σw = T after renormalizing; weights clamped to minWeight > 0 before it.
      return sumIs(T, "Σw = T") ?? every((x) => x > 0, "w > 0");
    case "equal":
    case "graddrop": // weights stay 1
      return every((x) => x === 1, "w = 1");
    case "static":
      return every((x, i) => x === (o.weights as number[])[i], "the given weights");
    case "uncertainty": // wᵢ = cᵢ·exp(−sᵢ): unconstrained, non-negative
      return every((x) => x >= 0, "w = c·exp(−s) ≥ 0");
    case "dwa": // K·softmax: Σ = K
      return sumIs(T, "Σw = K") ?? every((x) => x >= 0, "w ≥ 0");
    case "softadapt": // T·softmax (loss-weighted: T·Lᵢe^(βsᵢ)/Σ): Σ = T
    case "relobralo": // convex combinations of T·softmax vectors: Σ = T
      return sumIs(T, "Σw = T") ?? every((x) => x >= 0, "w ≥ 0");
    case "lra": // the reference term at 1, the others ≥ 0 (convex combinations of estimates ≥ 0; 0 when α = 1 and the reference has no gradient)
      return every((x, i) => (i === ((o.reference as number | undefined) ?? 0) ? x === 1 : x >= 0), "w_ref = 1, w ≥ 0");
    case "ntk": // Σ τ / τᵢ ≥ 1 (kept weights were ≥ 1 too)
      return every((x) => x >= 1 - 1e-12, "w ≥ 1");
    case "rlw": // softmax: Σ = 1
      return sumIs(1, "Σw = 1") ?? every((x) => x >= 0, "w ≥ 0");
    case "famo": // Σ = weightSum
      return sumIs((o.weightSum as number | undefined) ?? 1, "Σw = weightSum") ?? every((x) => x >= 0, "w ≥ 0");
    case "mgda": // α on the simplex; G = 0: 1/T each
      return (
        sumIs(1, "Σα = 1 (simplex)") ??
        every((x) => x >= 0, "α ≥ 0 (simplex)") ??
        (allZeroG && (o.normalization ?? "none") === "none" ? every((x) => relClose(x, 1 / T, 1e-12), "G = 0 gives 1/T") : null)
      );
    case "upgrad": // α = Σ pᵢ wᵢ with wᵢ ≥ pᵢeᵢ (so α ≥ p), no conflict; G = 0: α = p
    case "dualproj": // w = argmin_{v ≥ p} vᵀGv (α ≥ p), no conflict
      return every((x, i) => x >= pref[i]! * (1 - 1e-9), "α ≥ pref") ?? (allZeroG ? every((x, i) => relClose(x, pref[i]!, 1e-12), "G = 0 gives α = pref") : null) ?? conflict(G!, w, 1e-6);
    case "cagrad": {
      // αᵢ = (1/T + λwᵢ)·factor with λ ≥ 0 and w on the simplex; c = 0 or G = 0: factor/T each.
      const c = (o.c as number | undefined) ?? 0.5;
      const r = (o.rescale as number | undefined) ?? 1;
      const factor = r === 0 ? 1 : r === 1 ? 1 / (1 + c * c) : 1 / (1 + c);
      return every((x) => x >= (factor / T) * (1 - 1e-9), "α ≥ factor/T") ?? (allZeroG || c === 0 ? every((x) => relClose(x, factor / T, 1e-12), "mean weights") : null);
    }
    case "nashmtl": {
      // α > 0 solving Gα = 1/α; G = 0: all 1; maxNorm > 0: ‖Σαᵢgᵢ‖ ≤ maxNorm.
      const max = (o.maxNorm as number | undefined) ?? 0;
      if (allZeroG) return every((x) => x === 1, "G = 0 gives 1");
      const pos = every((x) => x > 0, "α > 0");
      if (pos || !(max > 0) || !G) return pos;
      let q = 0;
      for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) q += w[i]! * G[i]![j]! * w[j]!;
      return Number.isFinite(q) && q > max * max * (1 + 1e-6) ? `‖Σαg‖² = ${q} > maxNorm² = ${max * max}` : null;
    }
    case "pcgrad": // α = Σᵢ Cᵢ, Cᵢᵢ = 1 and only non-negative multiples added: α ≥ 1
    case "gradvac":
      return every((x) => x >= 1 - 1e-9, "α ≥ 1 (only non-negative corrections)");
    case "config": // zero gradients weight 0; G = 0: all 0
      return every((x, i) => !zeroGrad(i) || x === 0, "zero gradient gets 0");
    case "imtlg": {
      // Σα = 1 unless degenerate (all 0); zero gradients weight 0.
      const z = every((x, i) => !zeroGrad(i) || x === 0, "zero gradient gets 0");
      if (z) return z;
      if (w.every((x) => x === 0)) return null;
      const l1 = w.reduce((s, x) => s + Math.abs(x), 0);
      return Math.abs(sum(w) - 1) <= 1e-8 * Math.max(1, l1) ? null : `Σα = ${sum(w)}, documented 1 (or all 0 when degenerate)`;
    }
    case "alignedmtl": // G = 0: α = 0
      return allZeroG ? every((x) => x === 0, "G = 0 gives 0") : null;
    case "dbmtl": // αᵢ = max n̂ / ‖gᵢ‖ ≥ 0; zero gradient: 0
      return every((x, i) => x >= 0 && (!zeroGrad(i) || x === 0), "α ≥ 0, zero gradient gets 0");
    default:
      return null;
  }
}
