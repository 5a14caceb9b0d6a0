import type { Balancer, BalancerState, Gramian, GradStatistic } from "./types.js";
import { checkGradMode, checkOptionNames, gramianInput } from "./validate.js";
import { dualConeWeights } from "../solvers/qp.js";
import { checkPref, checkPrefShape, prefWeighting } from "./upgrad.js";

export interface DualProjWeightsOptions {
  /** The weights u of the vector to project, Jᵀu: finite numbers ≥ 0, not all 0. Default 1/T each (the mean gradient). */
  readonly pref?: readonly number[];
}

export interface DualProjOptions extends DualProjWeightsOptions {
  /** Where G is measured. Default `shared`. */
  readonly gradMode?: GradStatistic;
}

export interface DualProjSolution {
  readonly weights: number[];
  /** KKT residual of the projection (relative to unit gradients). */
  readonly kktResidual: number;
}

/**
 * DualProj weights from a Gramian alone (see {@link dualProj}): Jᵀα is the projection of the mean
 * gradient Jᵀ(1/T) onto the dual cone {d : Jd ≥ 0}. Validates G (BalancerInputError).
 * (Gα)ᵢ ≥ 0 for every task. G = 0: 1/T each.
 */
export function dualProjWeights(G: Gramian, options: DualProjWeightsOptions = {}): number[] {
  return dualProjSolve(G, options).weights;
}

/** {@link dualProjWeights} with the KKT residual. */
export function dualProjSolve(G: Gramian, options: DualProjWeightsOptions = {}): DualProjSolution {
  const method = "dualproj";
  const P = gramianInput(method, G);
  const r = dualConeWeights(P, checkPref(method, options.pref, P.T));
  return { weights: r.weights, kktResidual: r.kktResidual };
}

/**
 * DualProj — Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization" (arXiv 2406.16232),
 * TorchJD's `DualProj`: the mean gradient projected onto the dual cone of the task gradients (the
 * solution of eq. 11 of Lopez-Paz & Ranzato, "Gradient Episodic Memory", NeurIPS 2017):
 *
 *   A_DualProj(J) = π_J((1/T) Σᵢ gᵢ),   π_J(x) = argmin_{d : Jd ≥ 0} ‖d − x‖,
 *
 * with weights w = argmin_{v ≥ u} vᵀGv for u = 1/T (Proposition 1), so that (Gα)ᵢ ≥ 0 for every
 * task. Without conflict ((G·1)ᵢ ≥ 0 for all i) α = 1/T each.
 *
 * Options (defaults): `gradMode` `shared`, `pref` 1/T each (TorchJD's `pref_vector`: the vector
 * projected is Jᵀpref).
 *
 * Solver and deviations: as {@link upgrad} — exact non-negative QP on the cosine Gramian instead of
 * TorchJD's quadprog on G/trace(G) + 1e-4·I. Tasks with a zero gradient keep αᵢ = prefᵢ.
 */
export function dualProj(options: DualProjOptions = {}): Balancer<BalancerState> {
  checkOptionNames("dualproj", options, dualProj.optionNames);
  const name = "dualproj";
  const gradMode = checkGradMode(name, options.gradMode);
  checkPrefShape(name, options.pref);
  return prefWeighting(name, gradMode, options.pref, dualConeWeights);
}

/** The option names {@link dualProj} reads; any other name is rejected. */
dualProj.optionNames = ["pref", "gradMode"] as const satisfies readonly (keyof DualProjOptions)[];
