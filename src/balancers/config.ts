import type { Balancer, BalancerState, Gramian, GradStatistic } from "./types.js";
import { checkGradMode, checkOptionNames, requireGramian } from "./validate.js";
import { gramianWeighting } from "./gramianWeighting.js";
import { symmetricEigen } from "../solvers/linalg.js";

export interface ConfigOptions {
  /** Where the Gramian is measured. Default `shared`. */
  readonly gradMode?: GradStatistic;
}

export type ConfigState = BalancerState;

/**
 * The Gramian of the unit task gradients, Ĝ = D⁻¹GD⁻¹ with D = diag(‖gᵢ‖), restricted to the tasks
 * whose gradient is not zero, with its eigendecomposition split at a relative cut.
 */
export interface UnitGramian {
  /** ‖gᵢ‖ = √Gᵢᵢ for every task (0 for a zero gradient). */
  readonly norms: number[];
  /** Indices of the tasks with a non-zero gradient; Ĝ and the eigenvectors are over these. */
  readonly active: number[];
  /** Ĝₐᵦ = G[active a][active b] / (‖g‖ₐ‖g‖ᵦ), clamped to [−1, 1], unit diagonal. */
  readonly unit: number[][];
  /** Eigenvalues of Ĝ, descending. */
  readonly values: number[];
  /** Eigenvectors of Ĝ in the columns. */
  readonly vectors: number[][];
  /** Eigenvalues ≤ cut = rcond·λ_max are treated as 0 (null space of Ĝ). */
  readonly cut: number;
}

/** Relative eigenvalue cut for Ĝ (λ_max ∈ [1, T], so this is an absolute scale too). */
export const UNIT_GRAMIAN_RCOND = 1e-10;

/**
 * Ĝ = D⁻¹GD⁻¹ over the tasks with a non-zero gradient (Gᵢᵢ > 0 and 1/√Gᵢᵢ finite). Normalizing
 * first makes the small solves below independent of how differently the tasks are scaled (Gramian
 * entries spanning 10⁻⁸ … 10⁸ give a Ĝ with unit diagonal).
 */
export function unitGramian(G: Gramian): UnitGramian {
  const T = G.length;
  const norms = Array.from({ length: T }, (_, i) => {
    const d = G[i]![i]!;
    return d > 0 && Number.isFinite(1 / Math.sqrt(d)) ? Math.sqrt(d) : 0;
  });
  const active = norms.flatMap((n, i) => (n > 0 ? [i] : []));
  const unit = active.map((i, a) =>
    active.map((j, b) => (a === b ? 1 : Math.min(1, Math.max(-1, (G[i]![j]! + G[j]![i]!) / 2 / norms[i]! / norms[j]!)))),
  );
  const { values, vectors } = active.length > 0 ? symmetricEigen(unit) : { values: [], vectors: [] };
  const cut = UNIT_GRAMIAN_RCOND * Math.max(...values, 0);
  return { norms, active, unit, values, vectors, cut };
}

/**
 * For the unit Gramian: x = Ĝ⁺1 (eigenvalues ≤ cut dropped), p = ĜĜ⁺1 (the projection of 1 onto the
 * range of Ĝ) and q = 1ᵀĜ⁺1 = xᵀĜx.
 */
export function unitSolve(u: UnitGramian): { x: number[]; p: number[]; q: number } {
  const n = u.active.length;
  const x = new Array<number>(n).fill(0);
  const p = new Array<number>(n).fill(0);
  let q = 0;
  u.values.forEach((lam, k) => {
    if (!(lam > u.cut)) return;
    let v1 = 0;
    for (let a = 0; a < n; a++) v1 += u.vectors[a]![k]!;
    for (let a = 0; a < n; a++) {
      x[a] = x[a]! + (u.vectors[a]![k]! * v1) / lam;
      p[a] = p[a]! + u.vectors[a]![k]! * v1;
    }
    q += (v1 * v1) / lam;
  });
  return { x, p, q };
}

/** Result of {@link configSolve}. */
export interface ConfigResult {
  readonly weights: number[];
  /** cos(d, gᵢ) for each task (0 for a zero gradient or a zero direction); equal where 1 lies in the range of Ĝ. */
  readonly cosines: number[];
  /** True when no conflict-free direction exists (1 ⟂ range Ĝ, e.g. gradients summing to 0 after normalization): weights are 0. */
  readonly degenerate: boolean;
}

/** Relative size of ‖ĜĜ⁺1‖² below which ConFIG's direction is taken as undefined. */
const DEGENERATE_RATIO = 1e-20;

/**
 * ConFIG's direction as a weighting of the Gramian. Let Û be the matrix of unit gradients (rows
 * ĝᵢ = gᵢ/‖gᵢ‖) and Ĝ = ÛÛᵀ = D⁻¹GD⁻¹. The minimum-norm least-squares solution of Û g_v = 1 (the
 * official code's `pinv(units) @ weights` with unit weights) lies in the row space of Û:
 * g_v = Ûᵀ Ĝ⁺ 1 = Jᵀ D⁻¹ x with x = Ĝ⁺1, so its coefficients over the gᵢ are βᵢ = xᵢ/‖gᵢ‖ and
 * ‖g_v‖² = xᵀĜx = 1ᵀĜ⁺1 = q. With g_u = g_v/‖g_v‖ (eq. 2), the ConFIG update is
 * g_c = (Σᵢ gᵢᵀg_u) g_u; since gᵢᵀg_v = ‖gᵢ‖(Ĝx)ᵢ = ‖gᵢ‖pᵢ,
 *   α = β · (Σᵢ ‖gᵢ‖ pᵢ) / q.
 * When 1 lies in the range of Ĝ (always when the gradients are linearly independent), p = 1: the
 * direction has the same cosine 1/√q with every task gradient, and length Σᵢ‖gᵢ‖/√q.
 *
 * Fallbacks: zero gradients have no unit vector; they are left out of Û (weight 0; the official code
 * divides by their zero norm, torchjd maps the NaNs to 0 rows, which is the same). When ‖p‖² ≤ 10⁻²⁰·n
 * (no direction has a positive cosine with all of them, e.g. three unit gradients summing to zero)
 * the weights are all 0 instead of normalizing a rounding-error vector. With no non-zero gradient the
 * weights are 0.
 */
export function configSolve(G: Gramian): ConfigResult {
  return solveConfig(requireGramian("config", G));
}

/** {@link configSolve} on a Gramian already validated. */
function solveConfig(G: Gramian): ConfigResult {
  const T = G.length;
  const weights = new Array<number>(T).fill(0);
  const cosines = new Array<number>(T).fill(0);
  const u = unitGramian(G);
  const n = u.active.length;
  if (n === 0) return { weights, cosines, degenerate: true };
  const { x, p, q } = unitSolve(u);
  const pp = p.reduce((s, v) => s + v * v, 0);
  if (!(pp > DEGENERATE_RATIO * n) || !(q > 0)) return { weights, cosines, degenerate: true };
  let length = 0;
  u.active.forEach((i, a) => (length += u.norms[i]! * p[a]!));
  const factor = length / q;
  const sign = Math.sign(factor);
  u.active.forEach((i, a) => {
    weights[i] = (x[a]! / u.norms[i]!) * factor;
    cosines[i] = (sign * p[a]!) / Math.sqrt(q);
  });
  return { weights, cosines, degenerate: false };
}

/** ConFIG's α (see {@link configSolve}). */
export function configWeights(G: Gramian): number[] {
  return configSolve(G).weights;
}

/**
 * ConFIG, conflict-free gradient update — Liu, Chu, Thuerey, ICLR 2025 (arXiv 2408.11104), eq. 2:
 * g_u = U[[U(g₁), …, U(g_m)]^{−ᵀ} 1_m], g_ConFIG = (Σᵢ gᵢᵀ g_u) g_u, with U(v) = v/‖v‖ and the inverse
 * a pseudo-inverse (minimum-norm least squares, as the official `conflictfree` package). The direction
 * has an equal, positive cosine with every task gradient; its length is the sum of the projections.
 *
 * As a weighting of the Gramian (see {@link configSolve}); `timing: 'current'`. Equal preference
 * weights (the official default `EqualWeight`) and the default `ProjectionLength`; the official
 * momentum variant (M-ConFIG) and the other length/weight models are not implemented.
 *
 * Options (defaults): `gradMode` `shared`. Info: `cosines` (cos(d, gᵢ)), `degenerate` (1 when no
 * direction exists and the weights are 0).
 */
export function config(options: ConfigOptions = {}): Balancer<ConfigState> {
  checkOptionNames("config", options, config.optionNames);
  const name = "config";
  const gradMode = checkGradMode(name, options.gradMode);
  return gramianWeighting(name, gradMode, (G) => {
    const { weights, cosines, degenerate } = solveConfig(G);
    return { weights, info: { cosines, degenerate: degenerate ? 1 : 0 } };
  });
}

/** The option names {@link config} reads; any other name is rejected. */
config.optionNames = ["gradMode"] as const satisfies readonly (keyof ConfigOptions)[];
