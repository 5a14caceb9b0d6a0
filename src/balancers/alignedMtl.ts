import type { Balancer, BalancerState, Gramian, GradStatistic } from "./types.js";
import { BalancerInputError, checkGradMode, checkOption, checkOptionNames, requireGramian } from "./validate.js";
import { gramianWeighting } from "./gramianWeighting.js";
import { maxOf } from "../solvers/linalg.js";
import { eighFlat } from "../solvers/eigen.js";
import { toFlat } from "../solvers/dense.js";

/** The target singular value σ of the aligned components, from the kept eigenvalues λ of G. */
export type AlignedMtlScale = "min" | "median" | "rmse";

export interface AlignedMtlOptions {
  /** `min`: σ² = λ_min (paper and LibMTL); `median`: the lower median of λ; `rmse`: mean of λ (official code's modes). Default `min`. */
  readonly scale?: AlignedMtlScale;
  /**
   * Rank tolerance: eigenvalues λ ≤ λ_max·T·eps are dropped. Default 2⁻²³ (float32 machine epsilon,
   * the official `torch.finfo().eps`), matching Gramians computed in float32.
   */
  readonly eps?: number;
  /** Where the Gramian is measured. Default `shared`. */
  readonly gradMode?: GradStatistic;
}

export type AlignedMtlState = BalancerState;

/** Result of {@link alignedMtlMatrix}. */
export interface AlignedMtlResult {
  /** B = σ·V Λ^{−½} Vᵀ over the kept eigenpairs (symmetric T×T). */
  readonly B: number[][];
  /** α = B·1: Σⱼ of the aligned components ĝⱼ = Σᵢ Bᵢⱼ gᵢ. */
  readonly weights: number[];
  /** Number of kept eigenvalues. */
  readonly rank: number;
  /** σ, the common singular value of the aligned components (0 when rank is 0). */
  readonly sigma: number;
}

export const FLOAT32_EPS = 2 ** -23;
const SCALES: readonly AlignedMtlScale[] = ["min", "median", "rmse"];

/**
 * Aligned-MTL's stabilizing matrix from the Gramian. G = VΛVᵀ; eigenpairs with λ ≤ λ_max·T·eps are
 * dropped (the rank-deficient case: their directions carry no gradient); over the r kept ones
 * B = σ V_r Λ_r^{−½} V_rᵀ, so the aligned components ĝⱼ = Σᵢ Bᵢⱼ gᵢ (the columns of J ᵀB) have Gramian
 * BᵀGB = σ² V_rV_rᵀ: r equal eigenvalues σ² (all singular values equal to σ on the span) and zeros.
 * The update is Σⱼ ĝⱼ, so α = B·1 (LibMTL `alpha = B.sum(0)`, the official `weights.sum(-1)`; B is
 * symmetric). σ² = λ_r for `min`, the lower median of the kept λ for `median` (torch.median), their
 * mean for `rmse`.
 *
 * Fallback: a zero Gramian (no eigenvalue above 0) gives B = 0 and α = 0 (the official code fails on
 * an empty eigenvalue list).
 */
export function alignedMtlMatrix(G: Gramian, scale: AlignedMtlScale = "min", eps: number = FLOAT32_EPS): AlignedMtlResult {
  const sp = alignedSpectrum(checkAlignedInput(G, scale, eps), scale, eps);
  const { T, vectors, kept } = sp;
  const B = Array.from({ length: T }, () => new Array<number>(T).fill(0));
  for (let i = 0; i < T; i++)
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let a = 0; a < kept.length; a++) s += vectors[i * T + kept[a]!]! * vectors[j * T + kept[a]!]! * sp.factors[a]!;
      B[i]![j] = B[j]![i] = s;
    }
  return { B, weights: alignedWeights(sp), rank: kept.length, sigma: sp.sigma };
}

/** Aligned-MTL's α = B·1 (see {@link alignedMtlMatrix}), without forming B. */
export function alignedMtlWeights(G: Gramian, scale: AlignedMtlScale = "min", eps: number = FLOAT32_EPS): number[] {
  return alignedWeights(alignedSpectrum(checkAlignedInput(G, scale, eps), scale, eps));
}

function checkAlignedInput(G: Gramian, scale: AlignedMtlScale, eps: number): Gramian {
  const method = "alignedmtl";
  requireGramian(method, G);
  checkScale(method, scale);
  checkOption(method, "eps", eps, (v) => v >= 0 && v < 1, "a number in [0, 1)");
  return G;
}

/** The eigenpairs Aligned-MTL keeps and its scale: B = Σₐ factorₐ vₐvₐᵀ over the kept eigenvectors vₐ. */
interface AlignedSpectrum {
  readonly T: number;
  /** Eigenvectors of G in the columns of a row-major T×T buffer. */
  readonly vectors: Float64Array;
  /** Indices (columns) of the kept eigenpairs, eigenvalues descending. */
  readonly kept: number[];
  /** σ/√λ for each kept eigenpair. */
  readonly factors: number[];
  readonly sigma: number;
}

/** The spectrum of a validated Gramian with the rank cut and σ of {@link alignedMtlMatrix}. */
function alignedSpectrum(G: Gramian, scale: AlignedMtlScale, eps: number): AlignedSpectrum {
  const T = G.length;
  const { values, vectors } = eighFlat(toFlat(G), T);
  const lmax = Math.max(maxOf(values), 0);
  const tol = lmax * T * eps;
  const kept: number[] = [];
  for (let k = 0; k < T; k++) if (values[k]! > tol && values[k]! > 0) kept.push(k);
  const r = kept.length;
  if (r === 0) return { T, vectors, kept, factors: [], sigma: 0 };
  const lams = kept.map((k) => values[k]!); // descending
  let sigmaSq: number;
  if (scale === "min") sigmaSq = lams[r - 1]!;
  else if (scale === "median") sigmaSq = [...lams].reverse()[Math.floor((r - 1) / 2)]!;
  else sigmaSq = lams.reduce((s, v) => s + v, 0) / r;
  const sigma = Math.sqrt(sigmaSq);
  return { T, vectors, kept, factors: lams.map((l) => sigma / Math.sqrt(l)), sigma };
}

/** α = B·1 = Σₐ factorₐ vₐ (vₐᵀ1): O(T·r). */
function alignedWeights(sp: AlignedSpectrum): number[] {
  const { T, vectors, kept, factors } = sp;
  const weights = new Array<number>(T).fill(0);
  kept.forEach((k, a) => {
    let v1 = 0;
    for (let i = 0; i < T; i++) v1 += vectors[i * T + k]!;
    const f = factors[a]! * v1;
    for (let i = 0; i < T; i++) weights[i] = weights[i]! + f * vectors[i * T + k]!;
  });
  return weights;
}

function checkScale(method: string, scale: unknown): asserts scale is AlignedMtlScale {
  if (!SCALES.includes(scale as AlignedMtlScale)) {
    throw new BalancerInputError(method, `unknown scale '${String(scale)}' (min, median or rmse)`);
  }
}

/**
 * Aligned-MTL — Senushkin, Patakin, Kuznetsov, Konushin, CVPR 2023 (arXiv 2305.19000),
 * "Independent Component Alignment for Multi-Task Learning", Algorithm 1: align the task gradients by
 * the whitening-like transform of the Gramian so that the gradient matrix's condition number is 1
 * (all singular values equal σ = √λ_min), then sum them: d = Jᵀ B 1 with
 * B = √λ_min · VΛ^{−½}Vᵀ (see {@link alignedMtlMatrix}).
 *
 * As a weighting of the Gramian; `timing: 'current'`. Pre-set task weights (the paper's ω) are all 1.
 * The rank cut is the official one (λ_max·T·float32 eps) by default; note that with tasks of very
 * different gradient scales (λ ratio below ~T·10⁻⁷) it drops the small direction, and those tasks then
 * get weight ≈ 0 (set `eps` smaller for float64 Gramians).
 *
 * Options (defaults): `scale` `min`, `eps` 2⁻²³, `gradMode` `shared`. Info: `rank`, `sigma`.
 */
export function alignedMtl(options: AlignedMtlOptions = {}): Balancer<AlignedMtlState> {
  checkOptionNames("alignedmtl", options, alignedMtl.optionNames);
  const name = "alignedmtl";
  const scale = options.scale ?? "min";
  checkScale(name, scale);
  const eps = checkOption(name, "eps", options.eps ?? FLOAT32_EPS, (v) => v >= 0 && v < 1, "a number in [0, 1)");
  const gradMode = checkGradMode(name, options.gradMode);
  return gramianWeighting(name, gradMode, (G) => {
    const sp = alignedSpectrum(G, scale, eps);
    return { weights: alignedWeights(sp), info: { rank: sp.kept.length, sigma: sp.sigma } };
  });
}

/** The option names {@link alignedMtl} reads; any other name is rejected. */
alignedMtl.optionNames = ["scale", "eps", "gradMode"] as const satisfies readonly (keyof AlignedMtlOptions)[];
