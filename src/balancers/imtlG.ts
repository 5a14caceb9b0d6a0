import type { Balancer, BalancerState, Gramian, GradStatistic } from "./types.js";
import { checkGradMode, checkOptionNames, requireGramian } from "./validate.js";
import { gramianWeighting } from "./gramianWeighting.js";
import { unitGramian, unitSolve } from "./config.js";

export interface ImtlGOptions {
  /** Where the Gramian is measured. Default `shared`. */
  readonly gradMode?: GradStatistic;
}

export type ImtlGState = BalancerState;

/** Result of {@link imtlGSolve}. */
export interface ImtlGResult {
  /** α, Σα = 1 unless `degenerate`. */
  readonly weights: number[];
  /** The common projection c = uᵢᵀd of d = Σ αᵢgᵢ onto every unit task gradient (0 when degenerate). */
  readonly projection: number;
  /** True when no α with Σα = 1 has equal projections; the weights are then all 0. */
  readonly degenerate: boolean;
}

/** Relative consistency tolerance: 1 counts as in the range of Ĝ when ‖1 − ĜĜ⁺1‖² ≤ this·n. */
const CONSISTENT_RATIO = 1e-16;
/** Relative size of ‖Π_S m‖² below which no solution with Σα = 1 exists. */
const SOLVABLE_RATIO = 1e-24;

/**
 * IMTL-G's weights as a function of the Gramian. The paper's closed form (Liu et al., ICLR 2021,
 * §3.2) takes D = [g₁−g₂, …, g₁−g_T]ᵀ, U = [u₁−u₂, …, u₁−u_T]ᵀ (uᵢ = gᵢ/‖gᵢ‖) and
 * α₂..T = g₁Uᵀ(DUᵀ)⁻¹, α₁ = 1 − Σα₂..T: the unique α with Σα = 1 whose d = Σ αᵢgᵢ has equal
 * projections uᵢᵀd for all i. In Gramian terms uᵢᵀd = (D⁻¹Gα)ᵢ; writing α = D⁻¹γ (D = diag ‖gᵢ‖ here)
 * the conditions are Ĝγ = c·1 and mᵀγ = 1 with Ĝ = D⁻¹GD⁻¹ and mᵢ = 1/‖gᵢ‖. When Ĝ is invertible
 * γ = Ĝ⁻¹1 / (mᵀĜ⁻¹1), i.e. α ∝ G⁻¹(‖g₁‖, …, ‖g_T‖)ᵀ normalized to Σα = 1 — the paper's α (and the
 * direction is ConFIG's).
 *
 * Generalization where DUᵀ is singular (collinear or linearly dependent gradients): the γ with
 * Ĝγ ∈ span(1) form the subspace S = span(Ĝ⁺1) ⊕ null(Ĝ) (the first part only when 1 lies in the
 * range of Ĝ); among them we take the one with mᵀγ = 1 of least ‖γ‖ = (Σ‖αᵢgᵢ‖²)^½:
 * γ = Π_S m / ‖Π_S m‖². This equals the closed form whenever that is defined, and also covers e.g.
 * g₁ = 2g₂ (α = (0.2, 0.8): αᵢ ∝ 1/‖gᵢ‖²) or three equal-norm gradients at 120° (α = 1/3 each, d = 0, the paper's
 * answer too). Working with Ĝ (unit diagonal) keeps the solve independent of task scales.
 *
 * Fallbacks: zero gradients have no uᵢ and get weight 0 (the others are solved for; LibMTL's
 * formula gives NaN). If Π_S m ≈ 0 (Σα = 1 is incompatible with equal projections — then the closed
 * form's DUᵀ is singular and the α near this case grow without bound), or all gradients are 0,
 * the weights are all 0.
 *
 * Note (a property of the closed form, not a fallback): Σα = 1 fixes the sign of c, which can be
 * negative for some conflicting gradient sets (mᵀĜ⁻¹1 < 0): then d has the same negative projection on
 * every uᵢ and a step along −d increases every loss to first order. We return the paper's α as is and
 * report c as `projection`.
 */
export function imtlGSolve(G: Gramian): ImtlGResult {
  return solveImtlG(requireGramian("imtlg", G));
}

/** {@link imtlGSolve} on a Gramian already validated. */
function solveImtlG(G: Gramian): ImtlGResult {
  const T = G.length;
  const weights = new Array<number>(T).fill(0);
  const u = unitGramian(G);
  const n = u.active.length;
  if (n === 0) return { weights, projection: 0, degenerate: true };
  const { x, p } = unitSolve(u);
  const m = u.active.map((i) => 1 / u.norms[i]!);
  // Orthonormal basis of S: x/‖x‖ (if 1 ∈ range Ĝ) and the null eigenvectors (orthogonal to x).
  const basis: number[][] = [];
  const residual = p.reduce((s, v) => s + (1 - v) ** 2, 0);
  const xx = x.reduce((s, v) => s + v * v, 0);
  if (residual <= CONSISTENT_RATIO * n && xx > 0) basis.push(x.map((v) => v / Math.sqrt(xx)));
  u.values.forEach((lam, k) => {
    if (!(lam > u.cut)) basis.push(u.vectors.map((row) => row[k]!));
  });
  const gamma = new Array<number>(n).fill(0);
  for (const b of basis) {
    const bm = b.reduce((s, v, a) => s + v * m[a]!, 0);
    for (let a = 0; a < n; a++) gamma[a] = gamma[a]! + b[a]! * bm;
  }
  const pm = gamma.reduce((s, v) => s + v * v, 0);
  const mm = m.reduce((s, v) => s + v * v, 0);
  if (!(pm > SOLVABLE_RATIO * mm)) return { weights, projection: 0, degenerate: true };
  let c = 0;
  u.active.forEach((i, a) => {
    const g = gamma[a]! / pm;
    weights[i] = g / u.norms[i]!;
    let row = 0;
    for (let b = 0; b < n; b++) row += (u.unit[a]![b]! * gamma[b]!) / pm;
    c += row / n;
  });
  if (!weights.every(Number.isFinite)) return { weights: weights.fill(0), projection: 0, degenerate: true };
  return { weights, projection: c, degenerate: false };
}

/** IMTL-G's α (see {@link imtlGSolve}). */
export function imtlGWeights(G: Gramian): number[] {
  return imtlGSolve(G).weights;
}

/**
 * IMTL-G, the gradient part of Impartial Multi-Task Learning — Liu, Li, Kuang, Xue, Chen, Yang, Liao,
 * Zhang, ICLR 2021 ("Towards Impartial Multi-task Learning"), §3.2 closed form: the combined gradient
 * d = Σ αᵢgᵢ with Σα = 1 has equal projections onto all unit task gradients, uᵢᵀd = c for every i.
 *
 * As a weighting of the Gramian (see {@link imtlGSolve}); `timing: 'current'`. Only IMTL-G: the
 * loss-scale part IMTL-L (learned e^{sᵢ}Lᵢ − sᵢ, which LibMTL's `IMTL` combines with it) is not
 * included. The weights sum to 1, not to T (multiply the learning rate by T for the loss scale of
 * equal weighting).
 *
 * Options (defaults): `gradMode` `shared`. Info: `projection` (c), `degenerate` (1 when the
 * weights are the all-zero fallback).
 */
export function imtlG(options: ImtlGOptions = {}): Balancer<ImtlGState> {
  checkOptionNames("imtlg", options, imtlG.optionNames);
  const name = "imtlg";
  const gradMode = checkGradMode(name, options.gradMode);
  return gramianWeighting(name, gradMode, (G) => {
    const { weights, projection, degenerate } = solveImtlG(G);
    return { weights, info: { projection, degenerate: degenerate ? 1 : 0 } };
  });
}

/** The option names {@link imtlG} reads; any other name is rejected. */
imtlG.optionNames = ["gradMode"] as const satisfies readonly (keyof ImtlGOptions)[];
