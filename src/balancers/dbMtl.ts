import type { Balancer, BalancerState, Gramian, GradStatistic } from "./types.js";
import { BalancerInputError, checkFiniteVector, checkGradMode, checkOption, checkOptionNames, requireGramian } from "./validate.js";
import { statefulGramianWeighting } from "./gramianWeighting.js";
import { maxOf } from "../solvers/linalg.js";

export interface DbMtlOptions {
  /** EMA coefficient β ∈ [0, 1) (paper and LibMTL: 0.9). Default 0.9. */
  readonly beta?: number;
  /** Decay exponent σ ≥ 0 of the schedule β_t = β / t^σ (LibMTL's `DB_beta_sigma`, default there 0). Default 0.5. */
  readonly betaSigma?: number;
  /** ε in log(Lᵢ + ε) (LibMTL: 1e-8). Default 1e-8. */
  readonly eps?: number;
  /** Where the Gramian is measured. Default `shared`. */
  readonly gradMode?: GradStatistic;
}

export interface DbMtlState extends BalancerState {
  /** n̂ᵢ, the EMA of ‖∇log(Lᵢ + ε)‖ = ‖gᵢ‖/(Lᵢ + ε); zeros before the first step. */
  readonly emaNorms: readonly number[];
}

export interface DbMtlResult {
  /** αᵢ = max_k n̂ₖ / ‖gᵢ‖ (0 for a zero gradient). */
  readonly weights: number[];
  /** The EMA after this step. */
  readonly emaNorms: number[];
  /** This step's ‖∇log(Lᵢ + ε)‖ = ‖gᵢ‖/(Lᵢ + ε). */
  readonly logGradNorms: number[];
  /** β_t = β / t^σ used at this step. */
  readonly betaT: number;
}

/**
 * One DB-MTL step as a weighting of the Gramian, at step t ≥ 1 (1-based, as LibMTL's counter).
 * Loss-scale balancing: the log-loss gradient is g̃ᵢ = ∇log(Lᵢ + ε) = gᵢ/(Lᵢ + ε), so its Gramian is
 * Gᵢⱼ/((Lᵢ+ε)(Lⱼ+ε)) and ‖g̃ᵢ‖ = √Gᵢᵢ/(Lᵢ + ε). Gradient-magnitude balancing: the EMA
 * n̂ᵢ ← β_t n̂ᵢ + (1 − β_t)‖g̃ᵢ‖ with β_t = β/t^σ, and each task's normalized log-gradient is scaled to the
 * largest EMA norm: d = Σᵢ (max_k n̂ₖ) g̃ᵢ/‖g̃ᵢ‖ = Σᵢ (max_k n̂ₖ/‖gᵢ‖) gᵢ, so αᵢ = max_k n̂ₖ / ‖gᵢ‖
 * (the 1/(Lᵢ+ε) cancels in the direction and acts only through n̂). Every task contributes a vector of
 * length max_k n̂ₖ.
 *
 * Fallbacks: a zero gradient (or one so small that max n̂/‖gᵢ‖ overflows) has no direction and gets
 * αᵢ = 0; its norm 0 still enters the EMA (as LibMTL's zero vector would).
 */
export function dbMtlStep(
  G: Gramian,
  losses: readonly number[],
  emaNorms: readonly number[],
  t: number,
  options: { readonly beta?: number; readonly betaSigma?: number; readonly eps?: number } = {},
): DbMtlResult {
  const method = "dbmtl";
  requireGramian(method, G);
  const T = G.length;
  const { beta, betaSigma, eps } = checkDbOptions(method, options);
  checkFiniteVector(method, "losses", losses, T);
  checkLogLosses(method, losses, eps);
  checkFiniteVector(method, "EMA norms", emaNorms, T);
  checkOption(method, "step t", t, (v) => Number.isInteger(v) && v >= 1, "an integer ≥ 1");
  return stepDbMtl(G, losses, emaNorms, t, { beta, betaSigma, eps });
}

/** {@link dbMtlStep} on inputs already validated, options resolved. */
function stepDbMtl(G: Gramian, losses: readonly number[], emaNorms: readonly number[], t: number, o: { beta: number; betaSigma: number; eps: number }): DbMtlResult {
  const { beta, betaSigma, eps } = o;
  const T = G.length;
  const betaT = beta / t ** betaSigma;
  const norms = Array.from({ length: T }, (_, i) => Math.sqrt(Math.max(G[i]![i]!, 0)));
  const logGradNorms = norms.map((n, i) => n / (losses[i]! + eps));
  const next = logGradNorms.map((n, i) => betaT * emaNorms[i]! + (1 - betaT) * n);
  const top = maxOf(next);
  const weights = norms.map((n) => {
    if (!(n > 0)) return 0;
    const a = top / n;
    return Number.isFinite(a) ? a : 0;
  });
  return { weights, emaNorms: next, logGradNorms, betaT };
}

/** DB-MTL's α (see {@link dbMtlStep}). */
export function dbMtlWeights(
  G: Gramian,
  losses: readonly number[],
  emaNorms: readonly number[],
  t: number,
  options: { readonly beta?: number; readonly betaSigma?: number; readonly eps?: number } = {},
): number[] {
  return dbMtlStep(G, losses, emaNorms, t, options).weights;
}

function checkDbOptions(method: string, o: { readonly beta?: number; readonly betaSigma?: number; readonly eps?: number }) {
  return {
    beta: checkOption(method, "beta", o.beta ?? 0.9, (v) => v >= 0 && v < 1, "a number in [0, 1)"),
    betaSigma: checkOption(method, "betaSigma", o.betaSigma ?? 0.5, (v) => v >= 0, "a finite number ≥ 0"),
    eps: checkOption(method, "eps", o.eps ?? 1e-8, (v) => v > 0, "a finite number > 0"),
  };
}

function checkLogLosses(method: string, losses: readonly number[], eps: number): void {
  losses.forEach((l, i) => {
    if (l < 0) throw new BalancerInputError(method, `loss of task ${i} is negative (${l}); DB-MTL takes log(Lᵢ + ε), so losses must be ≥ 0`);
    if (!Number.isFinite(1 / (l + eps))) throw new BalancerInputError(method, `loss of task ${i} (${l}) + ε is too small for log(Lᵢ + ε)`);
  });
}

/**
 * DB-MTL, Dual-Balancing Multi-Task Learning — Lin, Jiang, Ye, Zhang, Chen, Chen, Liu, Tsang, Kwok,
 * 2023 (arXiv 2308.12029): loss-scale balancing by training on log Lᵢ, gradient-magnitude balancing by
 * rescaling every task's (EMA) log-gradient to the largest EMA norm (see {@link dbMtlStep}).
 *
 * Deviation (forced by the Gramian contract, where only this step's gradients can be weighted): the
 * paper and LibMTL keep an EMA of the log-gradient *vectors*, ĝᵢ ← β_t ĝᵢ + (1−β_t)∇log Lᵢ, and step
 * along Σᵢ (max_k‖ĝₖ‖/‖ĝᵢ‖) ĝᵢ — a per-task momentum. We keep an EMA of the *norms* only and use this
 * step's directions: d = Σᵢ max_k n̂ₖ · g̃ᵢ/‖g̃ᵢ‖. With β = 0 both agree exactly. The EMA starts at 0
 * as LibMTL's buffer (so the first step's length is (1 − β)·max‖g̃ₖ‖), and β_t = β/t^σ with t the
 * 1-based step; LibMTL's default σ is 0, ours 0.5.
 *
 * `timing: 'current'`; the trainer backpropagates Σ αᵢLᵢ (not Σ log Lᵢ): αᵢ absorbs 1/(Lᵢ+ε).
 * Options (defaults): `beta` 0.9, `betaSigma` 0.5, `eps` 1e-8, `gradMode` `shared`.
 * Info: `emaNorms`, `logGradNorms`.
 */
export function dbMtl(options: DbMtlOptions = {}): Balancer<DbMtlState> {
  checkOptionNames("dbmtl", options, dbMtl.optionNames);
  const name = "dbmtl";
  const opts = checkDbOptions(name, options);
  return statefulGramianWeighting(name, checkGradMode(name, options.gradMode), {
    init: (T) => ({ emaNorms: new Array<number>(T).fill(0) }),
    step(G, _obs, _T, losses, state) {
      checkLogLosses(name, losses, opts.eps);
      const { weights, emaNorms, logGradNorms } = stepDbMtl(G, losses, state.emaNorms, state.step + 1, opts);
      return { weights, state: { emaNorms }, info: { emaNorms, logGradNorms } };
    },
  });
}

/** The option names {@link dbMtl} reads; any other name is rejected. */
dbMtl.optionNames = ["beta", "betaSigma", "eps", "gradMode"] as const satisfies readonly (keyof DbMtlOptions)[];
