import type { Balancer, BalancerState, Gramian, GradStatistic } from "./types.js";
import { BalancerInputError, checkGradMode, checkOption, checkOptionNames, gramianInput } from "./validate.js";
import { gramianWeighting } from "./gramianWeighting.js";
import { simplexQpFlat } from "../solvers/qp.js";
import { quadFormFlat } from "../solvers/dense.js";
import type { PreparedGramian } from "../solvers/gramian.js";

/**
 * Final rescaling of the direction in the official code (`rescale` argument of `cagrad`):
 * 0 none, 1 divide by 1 + c² (the official default), 2 divide by 1 + c.
 */
export type CagradRescale = 0 | 1 | 2;

export interface CagradWeightsOptions {
  /** c ≥ 0, the radius of the ball around g₀ relative to ‖g₀‖. Default 0.5 (the paper's NYUv2/Cityscapes setting). */
  readonly c?: number;
  /** Default 1 (official code). */
  readonly rescale?: CagradRescale;
}

export interface CagradOptions extends CagradWeightsOptions {
  /** Where G is measured. Default `shared`. */
  readonly gradMode?: GradStatistic;
}

export interface CagradSolution {
  /** α with Σαᵢgᵢ = d / rescale. */
  readonly weights: number[];
  /** The inner problem's solution w on the simplex (empty for the closed-form cases). */
  readonly w: readonly number[];
  /** ‖g_w‖/maxᵢ‖gᵢ‖ at the solution (0 for the closed-form cases). */
  readonly gwNorm: number;
  /** |‖g_w‖ − √φ·s|, the residual of the fixed point solved for (relative to maxᵢ‖gᵢ‖). */
  readonly residual: number;
  /**
   * `none`: the general case; `mean`: c = 0 or g₀ = 0, so d = g₀; `stationary`: the minimizer has
   * g_w ≈ 0 (Pareto-stationary point, CAGrad's formula is 0/0), mean weights returned.
   */
  readonly fallback: "none" | "mean" | "stationary";
}

const METHOD = "cagrad";
/**
 * ‖g_w‖ below this (relative to maxᵢ‖gᵢ‖) counts as 0. Norms computed from a Gramian carry an
 * absolute error of about √ε·maxᵢ‖gᵢ‖ ≈ 1e-8 (cancellation in wᵀGw), so the cut sits well above it.
 */
const STATIONARY = 1e-6;

function checkRescale(r: unknown): CagradRescale {
  const v = r ?? 1;
  if (v !== 0 && v !== 1 && v !== 2) throw new BalancerInputError(METHOD, `option rescale must be 0, 1 or 2, got ${String(v)}`);
  return v;
}

interface Point {
  readonly s: number;
  readonly x: number[];
  readonly norm: number;
  readonly psi: number;
}

function solve(P: PreparedGramian, c: number, rescale: CagradRescale): CagradSolution {
  const T = P.T;
  const factor = rescale === 0 ? 1 : rescale === 1 ? 1 / (1 + c * c) : 1 / (1 + c);
  const mean = (fallback: "mean" | "stationary", residual = 0): CagradSolution => ({
    weights: new Array<number>(T).fill(factor / T),
    w: [],
    gwNorm: 0,
    residual,
    fallback,
  });
  if (!(P.maxNorm > 0)) return mean("mean");
  const Q = P.normalizedFlat;
  // a = J g₀ (normalized units): the row means of Q.
  const a = new Float64Array(T);
  for (let i = 0; i < T; i++) {
    let s = 0;
    for (let j = 0; j < T; j++) s += Q[i * T + j]!;
    a[i] = s / T;
  }
  const kappa = c * Math.sqrt(Math.max(0, a.reduce((s, v) => s + v, 0) / T)); // √φ = c‖g₀‖
  if (!(kappa > 0)) return mean("mean");

  // w(s) = argmin_{simplex} ½wᵀQw + s·aᵀw; the CAGrad minimizer is w(s*) with ‖g_w(s*)‖ = κ s*.
  // Successive solves start from the last solution (their active sets are close).
  let last: number[] | undefined;
  const at = (s: number): Point => {
    const r = simplexQpFlat(Q, T, a.map((v) => s * v), last ? { start: last } : {});
    last = r.x;
    const norm = Math.sqrt(Math.max(0, quadFormFlat(Q, T, r.x)));
    return { s, x: r.x, norm, psi: norm - kappa * s };
  };
  // ‖g_w‖ ≤ maxᵢ‖gᵢ‖ = 1, so ψ(2/κ) ≤ −1 < 0.
  let hi = at(2 / kappa);
  let lo = at(0);
  if (!(lo.psi > STATIONARY)) {
    // 0 is (nearly) in the convex hull: look for s > 0 with ψ(s) > 0 (then a root lies above it).
    let found = false;
    for (let k = 0; k < 200 && kappa * hi.s > STATIONARY; k++) {
      const mid = at(hi.s / 2);
      if (mid.psi > 0) {
        lo = mid;
        found = true;
        break;
      }
      hi = mid;
    }
    if (!found) return mean("stationary");
  }
  // Illinois (modified regula falsi) on ψ over [lo, hi], ψ(lo) > 0 > ψ(hi).
  let flo = lo.psi;
  let fhi = hi.psi;
  let side = 0;
  let best = Math.abs(lo.psi) < Math.abs(hi.psi) ? lo : hi;
  for (let k = 0; k < 100; k++) {
    let s = (lo.s * fhi - hi.s * flo) / (fhi - flo);
    if (!(s > lo.s && s < hi.s)) s = 0.5 * (lo.s + hi.s);
    const p = at(s);
    if (Math.abs(p.psi) < Math.abs(best.psi)) best = p;
    if (Math.abs(p.psi) <= 1e-15 || hi.s - lo.s <= 1e-15 * hi.s) break;
    if (p.psi > 0) {
      lo = p;
      flo = p.psi;
      if (side === 1) fhi /= 2;
      side = 1;
    } else {
      hi = p;
      fhi = p.psi;
      if (side === -1) flo /= 2;
      side = -1;
    }
  }
  if (!(best.norm > STATIONARY)) return mean("stationary", Math.abs(best.psi));
  const lambda = kappa / best.norm;
  const weights = best.x.map((wi) => (1 / T + lambda * wi) * factor);
  return { weights, w: best.x, gwNorm: best.norm, residual: Math.abs(best.psi), fallback: "none" };
}

function checkC(c: number | undefined): number {
  return checkOption(METHOD, "c", c ?? 0.5, (v) => v >= 0, "a finite number ≥ 0");
}

/**
 * CAGrad weights from a Gramian alone (see {@link cagrad}): α with Σαᵢgᵢ = d/(1 + c²) (rescale 1).
 * Validates G and the options (BalancerInputError). c = 0 or g₀ = 0 (e.g. G = 0): α = 1/T·factor.
 */
export function cagradWeights(G: Gramian, options: CagradWeightsOptions = {}): number[] {
  return cagradSolve(G, options).weights;
}

/** {@link cagradWeights} with the inner solution and the fixed-point residual. */
export function cagradSolve(G: Gramian, options: CagradWeightsOptions = {}): CagradSolution {
  const c = checkC(options.c);
  const rescale = checkRescale(options.rescale);
  return solve(gramianInput(METHOD, G), c, rescale);
}

/**
 * CAGrad — Liu, Liu, Jin, Stone, Liu, "Conflict-Averse Gradient Descent for Multi-task Learning",
 * NeurIPS 2021 (arXiv 2110.14048), Algorithm 1 and the official `cagrad(grads, alpha, rescale)`:
 *
 *   g₀ = (1/T)Σᵢgᵢ,  φ = c²‖g₀‖²,  w* = argmin_{w ∈ simplex} g_wᵀg₀ + √φ‖g_w‖  (g_w = Σwᵢgᵢ),
 *   d = g₀ + (√φ/‖g_w*‖) g_w*,
 *
 * the direction in the ball ‖d − g₀‖ ≤ c‖g₀‖ maximizing the worst task improvement minᵢ⟨gᵢ, d⟩.
 * d is a combination of the gᵢ: αᵢ = 1/T + (√φ/‖g_w*‖) w*ᵢ, then divided by 1 + c² — the official
 * code's default `rescale=1` (`g / (1 + alpha**2)`), kept here (`rescale` 0: none, 2: 1 + c).
 *
 * Options (defaults): `c` 0.5, `rescale` 1, `gradMode` `shared`.
 *
 * Solver (no scipy): for s ≥ 0 let w(s) = argmin_{simplex} ½‖g_w‖² + s·g₀ᵀg_w (an exact simplex
 * QP); the KKT conditions of the CAGrad problem are those of this QP at s* = ‖g_w‖/√φ, so s* is
 * the root of ψ(s) = ‖g_w(s)‖ − √φ·s (ψ(0) ≥ 0 > ψ(2/√φ) on G / maxᵢGᵢᵢ), found by Illinois
 * regula falsi to |ψ| ≤ 1e-15. The official code runs scipy SLSQP on the objective with +1e-8
 * inside the square root and adds 1e-8 to ‖g₀‖ and ‖g_w‖; we solve the exact problem. α is
 * invariant to G → kG.
 *
 * Fallbacks: c = 0 or g₀ = 0 (e.g. G = 0): d = g₀, α = 1/T each (× the rescale factor). If the
 * minimizer has ‖g_w*‖ ≤ 1e-6·maxᵢ‖gᵢ‖ (a Pareto-stationary point with c large enough: 0 is in
 * the convex hull and the formula is 0/0), we also return the mean weights, as the official code
 * does when g_w is exactly 0 (TorchJD returns zeros instead).
 */
export function cagrad(options: CagradOptions = {}): Balancer<BalancerState> {
  checkOptionNames("cagrad", options, cagrad.optionNames);
  const name = METHOD;
  const c = checkC(options.c);
  const rescale = checkRescale(options.rescale);
  const gradMode = checkGradMode(name, options.gradMode);
  return gramianWeighting(
    name,
    gradMode,
    (P) => {
      const r = solve(P, c, rescale);
      return { weights: r.weights, info: { gwNorm: r.gwNorm, residual: r.residual, stationary: r.fallback === "stationary" ? 1 : 0 } };
    },
    { validate: gramianInput },
  );
}

/** The option names {@link cagrad} reads; any other name is rejected. */
cagrad.optionNames = ["c", "rescale", "gradMode"] as const satisfies readonly (keyof CagradOptions)[];
