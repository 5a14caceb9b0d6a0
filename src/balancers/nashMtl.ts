import type { Balancer, BalancerState, Gramian, GradStatistic } from "./types.js";
import { checkGradMode, checkOption, checkOptionNames } from "./validate.js";
import { gramianWeighting } from "./gramianWeighting.js";
import { dot, matVec } from "../solvers/linalg.js";
import { prepareGramian, type PreparedGramian } from "../solvers/qp.js";
import { gramianInput } from "./mgda.js";

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

/** Cholesky solve of the SPD system H x = r; null if H is not numerically positive definite. */
function choleskySolve(H: readonly (readonly number[])[], r: readonly number[]): number[] | null {
  const n = H.length;
  const L = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = H[i]![j]!;
      for (let k = 0; k < j; k++) s -= L[i]![k]! * L[j]![k]!;
      if (i === j) {
        if (!(s > 0)) return null;
        L[i]![i] = Math.sqrt(s);
      } else L[i]![j] = s / L[j]![j]!;
    }
  }
  const y = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    let s = r[i]!;
    for (let k = 0; k < i; k++) s -= L[i]![k]! * y[k]!;
    y[i] = s / L[i]![i]!;
  }
  const x = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < n; k++) s -= L[k]![i]! * x[k]!;
    x[i] = s / L[i]![i]!;
  }
  return x.every(Number.isFinite) ? x : null;
}

/** maxᵢ |βᵢ(Cβ)ᵢ − 1|. */
function residualOf(C: readonly (readonly number[])[], beta: readonly number[]): number {
  const Cb = matVec(C, beta);
  return Math.max(...beta.map((b, i) => Math.abs(b * Cb[i]! - 1)));
}

/**
 * Damped Newton on the strictly convex F(β) = ½βᵀCβ − Σ log βᵢ (∇F = Cβ − 1/β), self-concordant,
 * so the step 1/(1 + λ) (λ the Newton decrement) while λ > 1/4 keeps β > 0 and converges globally
 * when a minimizer exists; quadratically once λ ≤ 1/4.
 */
function newton(C: readonly (readonly number[])[], maxIters: number, tol: number): { beta: number[]; residual: number; iterations: number } | null {
  const T = C.length;
  let beta = new Array<number>(T).fill(1);
  for (let it = 0; it <= maxIters; it++) {
    const Cb = matVec(C, beta);
    const residual = Math.max(...beta.map((b, i) => Math.abs(b * Cb[i]! - 1)));
    // βᵢ(Cβ)ᵢ sums terms as large as β², so rounding alone leaves ~1e-16·β² of residual.
    if (residual <= tol + 1e-14 * Math.max(...beta) ** 2) return { beta, residual, iterations: it };
    if (it === maxIters) break;
    const grad = beta.map((b, i) => Cb[i]! - 1 / b);
    const H = C.map((row, i) => row.map((v, j) => (i === j ? v + 1 / (beta[i]! * beta[i]!) : v)));
    const step = choleskySolve(H, grad);
    if (step === null) return null;
    const decrement = Math.sqrt(Math.max(0, dot(grad, step)));
    const t = decrement > 0.25 ? 1 / (1 + decrement) : 1;
    const next = beta.map((b, i) => b - t * step[i]!);
    if (!next.every((b) => b > 0 && Number.isFinite(b)) || Math.max(...next) > MAX_BETA) return null;
    beta = next;
  }
  return null;
}

function solve(G: Gramian, P: PreparedGramian, maxIters: number, tol: number, ridge: number, maxNorm: number): NashMtlSolution {
  const T = P.T;
  if (!(P.maxNorm > 0)) return { weights: new Array<number>(T).fill(1), residual: 0, iterations: 0, ridged: false, fallback: "zero" };
  let prepared = P;
  let result = P.norms.every((n) => n > 0) ? newton(P.cosine, maxIters, tol) : null;
  let ridged = false;
  if (result === null) {
    ridged = true;
    const trace = P.norms.reduce((s, n) => s + n * n, 0);
    const eps = (ridge * trace) / T;
    const Gr = G.map((row, i) => row.map((v, j) => (i === j ? v + eps : 0.5 * (v + G[j]![i]!))));
    prepared = prepareGramian(Gr);
    result = prepared.norms.every((n) => n > 0) ? newton(prepared.cosine, 4 * maxIters, tol) : null;
    if (result === null) {
      // Not reached for a PSD G (the ridged F is strongly convex); keep the output finite.
      return { weights: new Array<number>(T).fill(1), residual: Infinity, iterations: 4 * maxIters, ridged, fallback: "none" };
    }
  }
  const alpha = result.beta.map((b, i) => b / prepared.norms[i]!);
  let weights = alpha;
  if (maxNorm > 0) {
    // ‖Σαᵢgᵢ‖² = αᵀGα (= T at the solution), computed on the unit gradients: Σ βᵢβⱼCᵢⱼ.
    const norm = Math.sqrt(Math.max(0, dot(result.beta, matVec(prepared.cosine, result.beta))));
    if (norm > maxNorm) weights = alpha.map((a) => (a * maxNorm) / norm);
  }
  return { weights, residual: residualOf(prepared.cosine, result.beta), iterations: result.iterations, ridged, fallback: "none" };
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
 * stops early when α moves by < 1e-6; we solve the system to tolerance from α = 1/‖gᵢ‖ each step
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
