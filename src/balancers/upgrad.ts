import type { Balancer, BalancerState, Gramian, GradStatistic } from "./types.js";
import { BalancerInputError, checkGradMode, checkOptionNames, gramianInput } from "./validate.js";
import { gramianWeighting } from "./gramianWeighting.js";
import { dualConeWeights } from "../solvers/qp.js";
import type { PreparedGramian } from "../solvers/gramian.js";

export interface UpgradWeightsOptions {
  /**
   * Preference vector p: the projections are combined as Σᵢ pᵢ wᵢ. Default 1/T each (TorchJD's
   * default, the mean of the projected gradients). Finite numbers ≥ 0, one per task, not all 0.
   */
  readonly pref?: readonly number[];
}

export interface UpgradOptions extends UpgradWeightsOptions {
  /** Where G is measured. Default `shared` (Jacobian descent on all shared parameters). */
  readonly gradMode?: GradStatistic;
}

export interface UpgradSolution {
  readonly weights: number[];
  /** Largest KKT residual of the T projections (relative to unit gradients). */
  readonly kktResidual: number;
}

/** Checks a preference vector (one finite number ≥ 0 per task, not all 0), or returns 1/T each. */
export function checkPref(method: string, pref: readonly number[] | undefined, T: number): readonly number[] {
  if (pref === undefined) return new Array<number>(T).fill(1 / T);
  if (!Array.isArray(pref)) throw new BalancerInputError(method, `option pref must be an array of numbers`);
  if (pref.length !== T) throw new BalancerInputError(method, `option pref has ${pref.length} entries for ${T} tasks`);
  pref.forEach((v, i) => {
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new BalancerInputError(method, `option pref entry ${i} is ${String(v)} (must be a finite number ≥ 0)`);
  });
  if (pref.every((v) => v === 0)) throw new BalancerInputError(method, `option pref is all zeros: the weights would be 0 and the network would not train`);
  return pref;
}

/** Checks a `pref` option before the number of tasks is known (a non-empty array of finite numbers ≥ 0, not all 0), if given. */
export function checkPrefShape(method: string, pref: readonly number[] | undefined): void {
  if (pref === undefined) return;
  if (!Array.isArray(pref) || pref.length === 0) throw new BalancerInputError(method, `option pref must be a non-empty array of numbers`);
  checkPref(method, pref, pref.length);
}

function solve(P: PreparedGramian, pref: readonly number[]): UpgradSolution {
  const T = P.T;
  const weights = new Array<number>(T).fill(0);
  let kktResidual = 0;
  for (let i = 0; i < T; i++) {
    if (pref[i] === 0) continue;
    const u = new Array<number>(T).fill(0);
    u[i] = pref[i]!;
    const r = dualConeWeights(P, u);
    r.weights.forEach((w, j) => (weights[j] = weights[j]! + w));
    kktResidual = Math.max(kktResidual, r.kktResidual);
  }
  return { weights, kktResidual };
}

/**
 * UPGrad weights from a Gramian alone (see {@link upgrad}): α = Σᵢ pᵢ wᵢ, where Jᵀwᵢ is the
 * projection of gᵢ onto the dual cone {d : Jd ≥ 0}. Validates G (BalancerInputError).
 * (Gα)ᵢ ≥ 0 for every task. G = 0: α = p.
 */
export function upgradWeights(G: Gramian, options: UpgradWeightsOptions = {}): number[] {
  return upgradSolve(G, options).weights;
}

/** {@link upgradWeights} with the KKT residual of the projections. */
export function upgradSolve(G: Gramian, options: UpgradWeightsOptions = {}): UpgradSolution {
  const method = "upgrad";
  const P = gramianInput(method, G);
  return solve(P, checkPref(method, options.pref, P.T));
}

/**
 * UPGrad — Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization" (arXiv 2406.16232),
 * §3 (the unconflicting projection of gradients) and Proposition 1:
 *
 *   A_UPGrad(J) = (1/T) Σᵢ π_J(gᵢ),   π_J(x) = argmin_{d : Jd ≥ 0} ‖d − x‖,
 *
 * and π_J(Jᵀu) = Jᵀw with w ∈ argmin_{v ≥ u} vᵀGv, so the weights are α = (1/T) Σᵢ w(eᵢ), a
 * function of G alone. Every projection conflicts with no task, hence neither does the
 * average: (Gα)ᵢ = ⟨gᵢ, Σⱼαⱼgⱼ⟩ ≥ 0 for every i. Without conflict (G ≥ 0 entrywise) α = 1/T each
 * (the mean gradient).
 *
 * Options (defaults): `gradMode` `shared`, `pref` 1/T each (TorchJD's `pref_vector`: α = Σᵢ pᵢ w(eᵢ)).
 *
 * Solver: each projection is the non-negative QP min_{λ≥0} ½(u+λ)ᵀG(u+λ) solved exactly by a
 * Lawson–Hanson active set on the unit-gradient (cosine) Gramian plus a coordinate-descent polish
 * (KKT residual ≤ 1e-13). Deviations: TorchJD normalizes G by its trace and adds 1e-4·I before
 * calling quadprog (so its weights differ from the exact ones by ~1e-4); we solve the exact
 * problem on the cosine matrix, which is scale-free, and clip eigenvalues made negative by
 * rounding. Tasks with a zero gradient keep αᵢ = pᵢ; G = 0 gives α = p.
 */
export function upgrad(options: UpgradOptions = {}): Balancer<BalancerState> {
  checkOptionNames("upgrad", options, upgrad.optionNames);
  const name = "upgrad";
  const gradMode = checkGradMode(name, options.gradMode);
  checkPrefShape(name, options.pref);
  return prefWeighting(name, gradMode, options.pref, solve);
}

/** The option names {@link upgrad} reads; any other name is rejected. */
upgrad.optionNames = ["pref", "gradMode"] as const satisfies readonly (keyof UpgradOptions)[];

/**
 * The Balancer of a Gramian weighting driven by a preference vector (UPGrad, DualProj): the Gramian
 * validated by {@link gramianInput}, `pref` checked against T at `init` and at every update (1/T each
 * when not given), info `kktResidual`.
 */
export function prefWeighting(
  name: string,
  gradMode: GradStatistic,
  pref: readonly number[] | undefined,
  solvePref: (P: PreparedGramian, pref: readonly number[]) => { readonly weights: number[]; readonly kktResidual: number },
): Balancer<BalancerState> {
  return gramianWeighting(
    name,
    gradMode,
    (P, _obs, T) => {
      const r = solvePref(P, checkPref(name, pref, T));
      return { weights: r.weights, info: { kktResidual: r.kktResidual } };
    },
    { validate: gramianInput, checkInit: (T) => checkPref(name, pref, T) },
  );
}
