import type { Balancer, BalancerState, Gramian, GradStatistic } from "./types.js";
import { BalancerInputError, checkFiniteVector, checkGradMode, checkOptionNames, gramianInput } from "./validate.js";
import { gramianWeighting } from "./gramianWeighting.js";
import { minNormSimplex } from "../solvers/qp.js";
import { prepareGramian, type PreparedGramian } from "../solvers/gramian.js";



/**
 * Gradient normalization before the min-norm solve, as in Sener & Koltun's official code
 * (`gradient_normalizers`, "optional and not included in the paper"): each gᵢ is divided by
 * 1 (`none`), ‖gᵢ‖ (`l2`), Lᵢ (`loss`) or Lᵢ‖gᵢ‖ (`loss+`).
 */
export type MgdaNormalization = "none" | "l2" | "loss" | "loss+";
const NORMALIZATIONS: readonly MgdaNormalization[] = ["none", "l2", "loss", "loss+"];

export interface MgdaWeightsOptions {
  /** Default `none` (the paper). */
  readonly normalization?: MgdaNormalization;
  /** Task losses, required (finite, > 0) by the `loss` and `loss+` normalizations. */
  readonly losses?: readonly number[];
}

export interface MgdaOptions {
  /**
   * Where G is measured. Default `shared` (MGDA). `representation` is MGDA-UB, the paper's
   * upper-bound variant: the Gramian of the gradients with respect to the shared representation.
   */
  readonly gradMode?: GradStatistic;
  /** Default `none`; see {@link MgdaNormalization}. */
  readonly normalization?: MgdaNormalization;
}

export interface MgdaSolution {
  /** α on the simplex (Σαᵢ = 1). */
  readonly weights: number[];
  /** ‖Σαᵢĝᵢ‖² of the (normalized) gradients ĝᵢ; 0 at a Pareto-stationary point. */
  readonly minNorm: number;
  /** KKT residual of the min-norm problem, relative to maxᵢ‖ĝᵢ‖². */
  readonly kktResidual: number;
}

function checkNormalization(method: string, n: MgdaNormalization | undefined): MgdaNormalization {
  const v = n ?? "none";
  if (!NORMALIZATIONS.includes(v)) {
    throw new BalancerInputError(method, `unknown normalization '${String(v)}' (none, l2, loss or loss+)`);
  }
  return v;
}

function solve(method: string, P: PreparedGramian, normalization: MgdaNormalization, losses: readonly number[] | undefined): MgdaSolution {
  const T = P.T;
  let Q: PreparedGramian = P;
  if (normalization !== "none") {
    let inv = new Array<number>(T).fill(1);
    let L: readonly number[] | undefined;
    if (normalization === "loss" || normalization === "loss+") {
      L = checkFiniteVector(method, "losses", losses, T);
      L.forEach((l, i) => {
        if (!(l > 0)) throw new BalancerInputError(method, `normalization '${normalization}' divides by the losses; loss of task ${i} is ${l} (must be > 0)`);
      });
      inv = L.map((l) => 1 / l);
    }
    // In the cosine (unit-gradient) coordinates: gᵢ/sᵢ has norm ‖gᵢ‖/sᵢ.
    const unitNorms = normalization === "l2" || normalization === "loss+";
    let norms = P.norms.map((n, i) => (unitNorms ? (n > 0 ? 1 : 0) : n) * inv[i]!);
    const top = Math.max(...norms);
    if (!Number.isFinite(top) || top > 1e150 || (top > 0 && top < 1e-150)) {
      // normᵢ·normⱼ would over/underflow (losses or gradients near the ends of the double range): α does
      // not depend on a common factor of the norms, so divide them by the largest, in logs.
      const logs = P.norms.map((n, i) => (n > 0 ? (unitNorms ? 0 : Math.log(n)) - (L ? Math.log(L[i]!) : 0) : -Infinity));
      const maxLog = Math.max(...logs);
      norms = logs.map((l) => Math.exp(l - maxLog));
    }
    const C = P.cosineFlat;
    const scaled = Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, j) => norms[i]! * norms[j]! * C[i * T + j]!));
    Q = prepareGramian(scaled);
  }
  const r = minNormSimplex(Q);
  return { weights: r.weights, minNorm: r.value, kktResidual: r.kktResidual };
}

/**
 * MGDA weights from a Gramian alone: α = argmin over the simplex of αᵀGα = ‖Σαᵢgᵢ‖², the
 * min-norm point of the convex hull of the task gradients (see {@link mgda}). Σαᵢ = 1.
 * Validates G (BalancerInputError). G = 0: 1/T each.
 */
export function mgdaWeights(G: Gramian, options: MgdaWeightsOptions = {}): number[] {
  return mgdaSolve(G, options).weights;
}

/** {@link mgdaWeights} with the min-norm value and the KKT residual. */
export function mgdaSolve(G: Gramian, options: MgdaWeightsOptions = {}): MgdaSolution {
  const method = "mgda";
  const normalization = checkNormalization(method, options.normalization);
  return solve(method, gramianInput(method, G), normalization, options.losses);
}

/**
 * MGDA — Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018
 * (arXiv 1810.04650), eq. 3 / Algorithm 2, after Désidéri's multiple-gradient descent algorithm:
 *
 *   α = argmin_{α ≥ 0, Σαᵢ = 1} ‖Σᵢ αᵢ ∇Lᵢ‖² = argmin αᵀGα,
 *
 * and the shared parameters move along −Σαᵢ∇Lᵢ, the min-norm element of the convex hull of the
 * task gradients: a direction that decreases every task loss, or 0 at a Pareto-stationary point.
 * The weights are applied to the losses (Σαᵢ Lᵢ), with Σαᵢ = 1 (not T).
 *
 * Options (defaults): `gradMode` `shared` (MGDA; `representation` gives MGDA-UB, the paper's
 * eq. 4 upper bound using gradients with respect to the shared representation Z), `normalization`
 * `none`.
 *
 * Solver: exact active-set (Wolfe's min-norm-point method) on G / maxᵢGᵢᵢ, then pairwise-exchange
 * polish to a KKT gap below 1e-13; the paper uses Frank–Wolfe with the exact 2-task line search
 * (Algorithm 2). KKT: (Gα)ᵢ ≥ αᵀGα for all i, with equality where αᵢ > 0. α is invariant to
 * G → kG.
 *
 * Deviations and choices: G = 0 gives 1/T each (every α is optimal). With linearly dependent
 * gradients the direction Σαᵢgᵢ is unique but α may not be; we return the active-set solution.
 * `normalization` follows the official code (gradients divided by the normalizer for the solve,
 * the weights then applied to the unnormalized losses); LibMTL instead applies α to the
 * normalized gradients (αᵢ/normᵢ in our terms). Non-positive losses with `loss`/`loss+` are
 * rejected; a zero gradient with `l2` stays zero (the official code divides by 0).
 */
export function mgda(options: MgdaOptions = {}): Balancer<BalancerState> {
  checkOptionNames("mgda", options, mgda.optionNames);
  const name = "mgda";
  const gradMode = checkGradMode(name, options.gradMode);
  const normalization = checkNormalization(name, options.normalization);
  return gramianWeighting(
    name,
    gradMode,
    (P, _obs, _T, losses) => {
      const r = solve(name, P, normalization, losses);
      return { weights: r.weights, info: { minNorm: r.minNorm, kktResidual: r.kktResidual } };
    },
    { validate: gramianInput },
  );
}

/** The option names {@link mgda} reads; any other name is rejected. */
mgda.optionNames = ["gradMode", "normalization"] as const satisfies readonly (keyof MgdaOptions)[];
