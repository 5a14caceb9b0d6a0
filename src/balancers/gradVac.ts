import type { Balancer, BalancerState, Gramian, GradStatistic } from "./types.js";
import { BalancerInputError, checkGradMode, checkOption, checkOptionNames, checkSeed, requireGramian } from "./validate.js";
import { statefulGramianWeighting } from "./gramianWeighting.js";
import { ascendingOrders, pcgradOrders, requireOrders } from "./pcgrad.js";

export interface GradVacOptions {
  /** EMA rate β ∈ (0, 1] of the targets φ̂ᵢⱼ (paper: 1e-2; LibMTL's default is 0.5). Default 0.01. */
  readonly beta?: number;
  /** Seed of the random task orders, a 32-bit signed integer. Default 0. */
  readonly seed?: number;
  /** Where the Gramian is measured. Default `shared`. */
  readonly gradMode?: GradStatistic;
}

export interface GradVacState extends BalancerState {
  /** The EMA targets φ̂ᵢⱼ (row i: task i's targets towards each j; the diagonal is unused, 0). */
  readonly targets: readonly (readonly number[])[];
  /** Index of the next uniform draw of the order generator (as PCGrad's). */
  readonly counter: number;
}

/** Result of {@link gradVacStep}. */
export interface GradVacResult {
  /** αₖ with Σᵢ gᵢ' = Σₖ αₖ gₖ. */
  readonly weights: number[];
  /** Row i holds gᵢ' as coefficients over the task gradients. */
  readonly coefficients: number[][];
  /** The targets after this step's EMA updates. */
  readonly targets: number[][];
  /** φᵢⱼ measured this step (cosine of the partly modified gᵢ' with gⱼ); NaN where undefined (zero gradient) and on the diagonal. */
  readonly cosines: number[][];
  /** Number of corrections applied. */
  readonly corrections: number;
}

/** Largest target cosine used in the correction: caps 1/√(1 − φ̂²) at about 7.1·10³. */
export const GRADVAC_MAX_TARGET = 1 - 1e-8;

/**
 * One GradVac step (Wang et al., Algorithm 1) in Gramian coordinates, a pure function of the Gramian,
 * the targets φ̂ (T×T) and the visiting orders. For each task i, gᵢ' starts at gᵢ (coefficients eᵢ);
 * for each j in `orders[i]`: φᵢⱼ = gᵢ'·gⱼ/(‖gᵢ'‖‖gⱼ‖) with gᵢ'·gⱼ = (G cᵢ)ⱼ and ‖gᵢ'‖² = cᵢᵀGcᵢ; if
 * φᵢⱼ < φ̂ᵢⱼ then (paper eq. for the vaccine)
 *   gᵢ' ← gᵢ' + ‖gᵢ'‖ (φ̂ᵢⱼ√(1−φᵢⱼ²) − φᵢⱼ√(1−φ̂ᵢⱼ²)) / (‖gⱼ‖√(1−φ̂ᵢⱼ²)) · gⱼ,
 * which makes cos(gᵢ', gⱼ) = φ̂ᵢⱼ; then φ̂ᵢⱼ ← (1−β)φ̂ᵢⱼ + βφᵢⱼ (with the φᵢⱼ measured before the
 * correction, as Algorithm 1 and LibMTL). gⱼ is always the original gradient.
 *
 * Fallbacks: when ‖gᵢ'‖ or ‖gⱼ‖ is 0 the cosine is undefined (gᵢ' counts as 0 when it has cancelled to
 * ‖gᵢ'‖ ≤ 10⁻⁷·Σₖ|cₖ|‖gₖ‖, {@link GRADVAC_CANCELLED}, e.g. after a correction of an anti-parallel pair): no correction, and φ̂ᵢⱼ is left
 * unchanged (LibMTL's +1e-8 would feed φ = 0 to the EMA instead). φ is clamped to [−1, 1] against
 * rounding, and the target used in the correction is capped at {@link GRADVAC_MAX_TARGET} so that a
 * target that has converged to 1 cannot divide by √(1−φ̂²) = 0 (the correction then reaches cosine
 * 1 − 10⁻⁸ rather than 1).
 */
export function gradVacStep(
  G: Gramian,
  targets: readonly (readonly number[])[],
  beta: number,
  orders?: readonly (readonly number[])[],
): GradVacResult {
  const method = "gradvac";
  requireGramian(method, G);
  const T = G.length;
  checkTargets(method, targets, T);
  checkOption(method, "beta", beta, (v) => v > 0 && v <= 1, "a number in (0, 1]");
  const ord = orders ?? ascendingOrders(T);
  requireOrders(method, ord, T);
  return vaccinate(G, targets, beta, ord);
}

/** {@link gradVacStep} on inputs already validated. */
function vaccinate(G: Gramian, targets: readonly (readonly number[])[], beta: number, ord: readonly (readonly number[])[]): GradVacResult {
  const T = G.length;
  const next = targets.map((row) => [...row]);
  const cosines = Array.from({ length: T }, () => new Array<number>(T).fill(Number.NaN));
  const C: number[][] = Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, k) => (k === i ? 1 : 0)));
  let corrections = 0;
  const norms = Array.from({ length: T }, (_, k) => Math.sqrt(Math.max(G[k]![k]!, 0)));
  for (let i = 0; i < T; i++) {
    const c = C[i]!;
    // Kept up to date as c changes (O(T) per correction, O(T³) in all): v = Gc (vⱼ = gᵢ'·gⱼ),
    // normISq = cᵀGc = ‖gᵢ'‖² and parts = Σₖ|cₖ|‖gₖ‖ (the scale of the rounding error of cᵀGc).
    const v = G[i]!.slice();
    let normISq = G[i]![i]!;
    let parts = norms[i]!;
    for (const j of ord[i]!) {
      const gjj = G[j]![j]!;
      if (!(gjj > 0) || !(normISq > CANCELLED * parts * parts)) continue;
      const normI = Math.sqrt(normISq);
      const normJ = Math.sqrt(gjj);
      const ip = v[j]!;
      const phi = Math.min(1, Math.max(-1, ip / normI / normJ));
      cosines[i]![j] = phi;
      const target = targets[i]![j]!;
      const t = Math.min(target, GRADVAC_MAX_TARGET);
      if (phi < t) {
        const st = Math.sqrt(1 - t * t);
        const w = (normI * (t * Math.sqrt(1 - phi * phi) - phi * st)) / (normJ * st);
        if (Number.isFinite(w) && w > 0) {
          parts += (Math.abs(c[j]! + w) - Math.abs(c[j]!)) * normJ;
          c[j] = c[j]! + w;
          const gj = G[j]!;
          for (let k = 0; k < T; k++) v[k] = v[k]! + w * gj[k]!;
          normISq = Math.max(0, normISq + 2 * w * ip + w * w * gjj);
          corrections++;
        }
      }
      next[i]![j] = (1 - beta) * target + beta * phi;
    }
  }
  const weights = Array.from({ length: T }, (_, k) => C.reduce((s, row) => s + row[k]!, 0));
  return { weights, coefficients: C, targets: next, cosines, corrections };
}

/** GradVac's α for given targets and orders (see {@link gradVacStep}). */
export function gradVacWeights(
  G: Gramian,
  targets: readonly (readonly number[])[],
  beta = 0.01,
  orders?: readonly (readonly number[])[],
): number[] {
  return gradVacStep(G, targets, beta, orders).weights;
}

function checkTargets(method: string, targets: readonly (readonly number[])[], T: number): void {
  if (!Array.isArray(targets) || targets.length !== T) {
    throw new BalancerInputError(method, `expected a ${T}×${T} target matrix, got ${Array.isArray(targets) ? targets.length : String(targets)} rows`);
  }
  targets.forEach((row, i) => {
    if (!Array.isArray(row) || row.length !== T) throw new BalancerInputError(method, `target row ${i} must have ${T} entries`);
    row.forEach((v, j) => {
      if (typeof v !== "number" || !Number.isFinite(v) || v < -1 || v > 1) {
        throw new BalancerInputError(method, `target (${i}, ${j}) is ${String(v)} (must be a cosine in [−1, 1])`);
      }
    });
  });
}

/** gᵢ' counts as zero when ‖gᵢ'‖² ≤ this·(Σₖ|cₖ|‖gₖ‖)²: below, the Gramian cannot resolve it from rounding. */
export const GRADVAC_CANCELLED = 1e-14;
const CANCELLED = GRADVAC_CANCELLED;


/**
 * Gradient Vaccine — Wang, Tsvetkov, Firat, Cao, ICLR 2021 (arXiv 2010.05874), Algorithm 1 with the
 * whole shared model as one component (LibMTL's `group_type` 0): for each task i and each j ≠ i in
 * random order, if the cosine φᵢⱼ of the (partly corrected) gᵢ' with gⱼ is below the EMA target φ̂ᵢⱼ,
 * add the multiple of gⱼ that brings it to φ̂ᵢⱼ; update φ̂ᵢⱼ ← (1−β)φ̂ᵢⱼ + βφᵢⱼ; the update is Σᵢ gᵢ'.
 * Targets start at 0 (Algorithm 1), so in the first steps GradVac acts on negative cosines only, like
 * PCGrad but aligning to the target rather than projecting to orthogonality.
 *
 * Expressed as a weighting of the Gramian (see {@link gradVacStep}); `timing: 'current'`.
 * Order: as {@link pcgradOrders}, an independent seeded shuffle of {j ≠ i} per task and step, from the
 * counter in the state (LibMTL: per-i `random.shuffle` of the other tasks). EMA: updated for every
 * visited pair, as Algorithm 1 and torchjd; one LibMTL revision updates it only when a correction is
 * applied. Reduction: the sum (paper and LibMTL).
 *
 * Options (defaults): `beta` 0.01 (paper), `seed` 0, `gradMode` `shared`. Info: `corrections`.
 */
export function gradVac(options: GradVacOptions = {}): Balancer<GradVacState> {
  checkOptionNames("gradvac", options, gradVac.optionNames);
  const name = "gradvac";
  const beta = checkOption(name, "beta", options.beta ?? 0.01, (v) => v > 0 && v <= 1, "a number in (0, 1]");
  const seed = checkSeed(name, options.seed ?? 0);
  return statefulGramianWeighting(name, checkGradMode(name, options.gradMode), {
    init: (T) => ({ targets: Array.from({ length: T }, () => new Array<number>(T).fill(0)), counter: 0 }),
    step(G, _obs, T, _losses, state) {
      const { orders, counter } = pcgradOrders(seed, state.counter, T);
      const { weights, targets, corrections } = vaccinate(G, state.targets, beta, orders);
      return { weights, state: { targets, counter }, info: { corrections } };
    },
  });
}

/** The option names {@link gradVac} reads; any other name is rejected. */
gradVac.optionNames = ["beta", "seed", "gradMode"] as const satisfies readonly (keyof GradVacOptions)[];
