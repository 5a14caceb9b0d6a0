import type { Balancer, BalancerState, Gramian, GradStatistic } from "./types.js";
import { checkGradMode, checkOption, checkOptionNames, gramianInput } from "./validate.js";
import { gramianWeighting } from "./gramianWeighting.js";
import { choleskyInPlace, choleskySolveInPlace, quadFormFlat } from "../solvers/dense.js";
import { prepareGramian, type PreparedGramian } from "../solvers/gramian.js";

export interface NashMtlWeightsOptions {
  /** Cap on Newton iterations per solve. Default 100 (typically 5–15 are used). */
  readonly maxIters?: number;
  /**
   * Stop when maxᵢ |αᵢ(Gα)ᵢ − 1| ≤ tol + 1e-14·maxᵢβᵢ², βᵢ = αᵢ‖gᵢ‖ (the second term is what
   * rounding leaves when the gradients nearly cancel). Default 1e-12.
   */
  readonly tol?: number;
  /**
   * Relative ridge ε used only when Gα = 1/α has no solution (0 in the convex hull of the
   * gradients, e.g. a zero gradient) or Newton fails: G + ε·(trace G / T)·I. Default 1e-8.
   */
  readonly ridge?: number;
  /**
   * If > 0, α is scaled down so that ‖Σαᵢgᵢ‖ ≤ maxNorm (TorchJD's and the official code's
   * `max_norm`, default 1 there, a gradient-norm clip). Default 0: off (the paper's α).
   */
  readonly maxNorm?: number;
}

export interface NashMtlOptions extends NashMtlWeightsOptions {
  /** Where G is measured. Default `shared` (the paper: shared parameters). */
  readonly gradMode?: GradStatistic;
}

export interface NashMtlSolution {
  /** α > 0 with Gα = 1/α (before the `maxNorm` clip). */
  readonly weights: number[];
  /** maxᵢ |αᵢ(Gα)ᵢ − 1| of the system solved (the ridged one when `ridged`). */
  readonly residual: number;
  readonly iterations: number;
  /** Whether the ridge fallback was used. */
  readonly ridged: boolean;
  /** `zero`: G = 0, weights all 1. */
  readonly fallback: "none" | "zero";
}

const METHOD = "nashmtl";

/**
 * Largest βᵢ = αᵢ‖gᵢ‖ accepted from the unregularized solve. βᵢ(Cβ)ᵢ = 1 with C the cosine
 * matrix, so β this large means C is singular to within ~1/β² ≈ 1e-12 — near-cancelling gradients,
 * where the exact system is dominated by rounding; the ridge is used instead.
 */
const MAX_BETA = 1e6;

/** y = Cβ for a flat symmetric C. */
function matVecFlat(C: Float64Array, T: number, beta: ArrayLike<number>): Float64Array {
  const y = new Float64Array(T);
  for (let i = 0; i < T; i++) {
    let s = 0;
    const ri = i * T;
    for (let j = 0; j < T; j++) s += C[ri + j]! * beta[j]!;
    y[i] = s;
  }
  return y;
}

/** F(β) = ½βᵀCβ − Σ log βᵢ (+∞ outside β > 0). */
function objective(C: Float64Array, T: number, beta: Float64Array): number {
  let f = 0;
  for (let i = 0; i < T; i++) {
    const b = beta[i]!;
    if (!(b > 0)) return Infinity;
    let row = 0;
    for (let j = 0; j < T; j++) row += C[i * T + j]! * beta[j]!;
    f += 0.5 * b * row - Math.log(b);
  }
  return f;
}

/**
 * Newton's method on the strictly convex F(β) = ½βᵀCβ − Σ log βᵢ (∇F = Cβ − 1/β) with a backtracking
 * (Armijo) line search that keeps β > 0: globally convergent when a minimizer exists, quadratically
 * near it. Each step solves with the Hessian C + diag(1/β²) by a Cholesky factorization (T³/3).
 */
function newton(C: Float64Array, T: number, maxIters: number, tol: number): { beta: number[]; residual: number; iterations: number } | null {
  // Start on the ray β = c·1 at its best point, c = √(T / 1ᵀC1) (argmin of F(c·1) = ½c²·1ᵀC1 − T log c),
  // at most 10³: from β = 1 the first phase needs many steps when the gradients are strongly correlated
  // (1ᵀC1 ≫ T); a nearly cancelling set (1ᵀC1 ≈ 0) must not start out at β beyond the ridge cut.
  let sumC = 0;
  for (let k = 0; k < T * T; k++) sumC += C[k]!;
  let beta = new Float64Array(T).fill(sumC > 0 ? Math.min(Math.sqrt(T / sumC), 1e3) : 1);
  const H = new Float64Array(T * T);
  // Once the residual is within what rounding can leave, one more (quadratically convergent) step is
  // taken and the better of the two iterates kept.
  let settled: { beta: number[]; residual: number; iterations: number } | null = null;
  for (let it = 0; it <= maxIters; it++) {
    const Cb = matVecFlat(C, T, beta);
    let residual = 0;
    let maxBeta = 0;
    for (let i = 0; i < T; i++) {
      residual = Math.max(residual, Math.abs(beta[i]! * Cb[i]! - 1));
      maxBeta = Math.max(maxBeta, beta[i]!);
    }
    if (settled) return residual < settled.residual ? { beta: Array.from(beta), residual, iterations: it } : settled;
    if (residual <= tol) return { beta: Array.from(beta), residual, iterations: it };
    // βᵢ(Cβ)ᵢ sums terms as large as β², so rounding alone leaves ~1e-16·β² of residual.
    if (residual <= tol + 1e-14 * maxBeta ** 2) settled = { beta: Array.from(beta), residual, iterations: it };
    if (it === maxIters) return settled;
    const grad = new Float64Array(T);
    for (let i = 0; i < T; i++) grad[i] = Cb[i]! - 1 / beta[i]!;
    H.set(C);
    for (let i = 0; i < T; i++) H[i * T + i] = H[i * T + i]! + 1 / (beta[i]! * beta[i]!);
    if (!choleskyInPlace(H, T)) return settled;
    const step = grad.slice();
    choleskySolveInPlace(H, T, step);
    if (!step.every(Number.isFinite)) return settled;
    let dec2 = 0;
    for (let i = 0; i < T; i++) dec2 += grad[i]! * step[i]!;
    if (!(dec2 >= 0)) return settled;
    // Within λ ≤ 1/4 (λ² = dec2, the Newton decrement) the full step converges quadratically and stays
    // in β > 0 (self-concordance); before that, a backtracking line search on F (Armijo, factor ½) from
    // the largest step ≤ 1 that keeps β > 0 with a margin.
    let t = 1;
    const next = new Float64Array(T);
    if (dec2 > 1 / 16) {
      for (let i = 0; i < T; i++) if (step[i]! > 0) t = Math.min(t, (0.99 * beta[i]!) / step[i]!);
      const f0 = objective(C, T, beta);
      for (;;) {
        for (let i = 0; i < T; i++) next[i] = beta[i]! - t * step[i]!;
        if (objective(C, T, next) <= f0 - 0.25 * t * dec2 || t < 1e-12) break;
        t *= 0.5;
      }
    } else for (let i = 0; i < T; i++) next[i] = beta[i]! - step[i]!;
    for (let i = 0; i < T; i++) if (!(next[i]! > 0 && Number.isFinite(next[i]!)) || next[i]! > MAX_BETA) return settled;
    beta = next;
  }
  return settled;
}

function solve(G: Gramian, P: PreparedGramian, maxIters: number, tol: number, ridge: number, maxNorm: number): NashMtlSolution {
  const T = P.T;
  if (!(P.maxNorm > 0)) return { weights: new Array<number>(T).fill(1), residual: 0, iterations: 0, ridged: false, fallback: "zero" };
  let prepared = P;
  let result = P.norms.every((n) => n > 0) ? newton(P.cosineFlat, T, maxIters, tol) : null;
  let ridged = false;
  /** α is divided by this (1 unless the ridge was applied to G/maxᵢGᵢᵢ). */
  let unscale = 1;
  if (result === null) {
    ridged = true;
    const trace = P.norms.reduce((s, n) => s + n * n, 0);
    const eps = (ridge * trace) / T;
    let Gr = G.map((row, i) => row.map((v, j) => (i === j ? v + eps : 0.5 * (v + G[j]![i]!))));
    if (!Gr.every((row) => row.every(Number.isFinite))) {
      // The trace or the ridged diagonal overflowed (entries near the double range's end): ridge
      // G/maxᵢGᵢᵢ instead (the same ε relative to trace/T) and scale α back below (G → kG: α → α/√k).
      const Q = P.normalizedFlat;
      const epsQ = (ridge * P.norms.reduce((s, n) => s + (n / P.maxNorm) ** 2, 0)) / T;
      Gr = Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, j) => Q[i * T + j]! + (i === j ? epsQ : 0)));
      unscale = P.maxNorm;
    }
    prepared = prepareGramian(Gr);
    result = prepared.norms.every((n) => n > 0) ? newton(prepared.cosineFlat, T, 4 * maxIters, tol) : null;
    if (result === null) {
      // Not reached for a PSD G (the ridged F is strongly convex); keep the output finite.
      return { weights: new Array<number>(T).fill(1), residual: Infinity, iterations: 4 * maxIters, ridged, fallback: "none" };
    }
  }
  const alpha = result.beta.map((b, i) => b / prepared.norms[i]! / unscale);
  let weights = alpha;
  if (maxNorm > 0) {
    // ‖Σαᵢgᵢ‖² = αᵀGα (= T at the solution), computed on the unit gradients: Σ βᵢβⱼCᵢⱼ.
    const norm = Math.sqrt(Math.max(0, quadFormFlat(prepared.cosineFlat, T, result.beta)));
    if (norm > maxNorm) weights = alpha.map((a) => (a * maxNorm) / norm);
  }
  // newton's residual is maxᵢ |βᵢ(Cβ)ᵢ − 1| at the β it returns, on this C.
  return { weights, residual: result.residual, iterations: result.iterations, ridged, fallback: "none" };
}

interface Settings {
  readonly maxIters: number;
  readonly tol: number;
  readonly ridge: number;
  readonly maxNorm: number;
}

function settings(o: NashMtlWeightsOptions): Settings {
  return {
    maxIters: checkOption(METHOD, "maxIters", o.maxIters ?? 100, (v) => Number.isInteger(v) && v >= 1, "an integer ≥ 1"),
    tol: checkOption(METHOD, "tol", o.tol ?? 1e-12, (v) => v > 0, "a finite number > 0"),
    ridge: checkOption(METHOD, "ridge", o.ridge ?? 1e-8, (v) => v > 0, "a finite number > 0"),
    maxNorm: checkOption(METHOD, "maxNorm", o.maxNorm ?? 0, (v) => v >= 0, "a finite number ≥ 0"),
  };
}

/**
 * Nash-MTL weights from a Gramian alone (see {@link nashMtl}): α > 0 solving Gα = 1/α.
 * Validates G and the options (BalancerInputError). G → kG gives α → α/√k. G = 0: all 1.
 */
export function nashMtlWeights(G: Gramian, options: NashMtlWeightsOptions = {}): number[] {
  return nashMtlSolve(G, options).weights;
}

/** {@link nashMtlWeights} with the residual, the Newton iterations and whether the ridge was used. */
export function nashMtlSolve(G: Gramian, options: NashMtlWeightsOptions = {}): NashMtlSolution {
  const s = settings(options);
  const P = gramianInput(METHOD, G);
  return solve(G, P, s.maxIters, s.tol, s.ridge, s.maxNorm);
}

/**
 * Nash-MTL — Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik, Fetaya, "Multi-Task Learning as a
 * Bargaining Game", ICML 2022 (arXiv 2202.01017), §3 (the claim characterizing the solution;
 * its number not checked here): the Nash bargaining solution Δθ = Σαᵢgᵢ over the unit ball has α > 0
 * solving
 *
 *   Gα = 1/α  (elementwise: αᵢ(Gα)ᵢ = 1, i.e. ⟨gᵢ, Δθ⟩ = 1/αᵢ),
 *
 * and the weights are applied to the losses (Σαᵢ Lᵢ). Then ‖Σαᵢgᵢ‖² = αᵀGα = T, and G → kG gives
 * α → α/√k.
 *
 * Options (defaults): `gradMode` `shared`, `maxIters` 100, `tol` 1e-12, `ridge` 1e-8, `maxNorm` 0.
 *
 * Solver (no cvxpy): Gα = 1/α is the stationarity condition of the strictly convex
 * F(α) = ½αᵀGα − Σ log αᵢ, minimized by damped Newton (self-concordant step 1/(1+λ)) on the
 * unit-gradient Gramian C = D⁻¹GD⁻¹, D = diag‖gᵢ‖ (β = Dα solves Cβ = 1/β), until
 * maxᵢ|αᵢ(Gα)ᵢ − 1| ≤ tol. The official code instead runs up to 20 iterations of a sequence of
 * convex approximations (cvxpy/ECOS) on G/‖G‖_F, warm-started from the previous step's α, and
 * stops early when α moves by < 1e-6; we solve the system to tolerance from α = c/‖gᵢ‖ each step
 * (c = √(T/1ᵀC1) at most 10³, the best start on that ray)
 * (no state besides the last weights), which gives the same fixed point.
 *
 * Fallbacks: a solution exists iff 0 is not in the convex hull of the gᵢ (F is unbounded along a
 * non-negative null vector of G otherwise: a zero gradient, or gradients that cancel, i.e. a
 * Pareto-stationary point). Then — and when the solution would have some αᵢ‖gᵢ‖ > 1e6, i.e. the
 * gradients cancel to within rounding — we solve with G + ε·(trace G/T)·I, ε = `ridge`, and
 * report `ridged`: tasks in the cancelling set get large weights (a zero-gradient
 * task gets 1/√(ε·trace G/T)). G = 0: weights all 1 (the official initial α). `maxNorm` (off by
 * default) reproduces the official/TorchJD clip of ‖Σαᵢgᵢ‖ (their default 1; the official trainer
 * clips the shared gradient with `clip_grad_norm_`, which also leaves the heads unclipped).
 */
export function nashMtl(options: NashMtlOptions = {}): Balancer<BalancerState> {
  checkOptionNames("nashmtl", options, nashMtl.optionNames);
  const name = METHOD;
  const s = settings(options);
  const gradMode = checkGradMode(name, options.gradMode);
  return gramianWeighting(
    name,
    gradMode,
    (P, obs) => {
      const r = solve(obs.gramian!, P, s.maxIters, s.tol, s.ridge, s.maxNorm);
      return { weights: r.weights, info: { residual: r.residual, iterations: r.iterations, ridged: r.ridged ? 1 : 0 } };
    },
    { validate: gramianInput },
  );
}

/** The option names {@link nashMtl} reads; any other name is rejected. */
nashMtl.optionNames = ["maxIters", "tol", "ridge", "maxNorm", "gradMode"] as const satisfies readonly (keyof NashMtlOptions)[];
