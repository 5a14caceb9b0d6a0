import type { Balancer, BalancerState, Gramian, GradStatistic } from "./types.js";
import { BalancerInputError, checkGradMode, checkOptionNames, checkSeed, requireGramian } from "./validate.js";
import { statefulGramianWeighting } from "./gramianWeighting.js";
import { uniformAt } from "../util/rng.js";

export interface PcgradOptions {
  /** Seed of the random task orders, a 32-bit signed integer. Default 0. */
  readonly seed?: number;
  /** Where the Gramian is measured. Default `shared` (all shared parameters, as the paper). */
  readonly gradMode?: GradStatistic;
}

export interface PcgradState extends BalancerState {
  /** Index of the next uniform draw of the order generator (see {@link pcgradOrders}). */
  readonly counter: number;
}

/** Result of {@link pcgradProject}. */
export interface PcgradProjection {
  /** αₖ = Σᵢ Cᵢₖ: the combined direction Σᵢ gᵢ^PC = Σₖ αₖ gₖ. */
  readonly weights: number[];
  /** Row i holds gᵢ^PC as coefficients over the task gradients: gᵢ^PC = Σₖ Cᵢₖ gₖ. */
  readonly coefficients: number[][];
  /** How many projections (conflicting pairs met along the orders) were applied. */
  readonly conflicts: number;
}

/** Number of uniform draws {@link pcgradOrders} uses for T tasks: T Fisher–Yates shuffles of T−1 items. */
export function pcgradDrawsPerStep(T: number): number {
  return T * Math.max(T - 2, 0);
}

/**
 * The random visiting orders of one step: `orders[i]` is a permutation of {0 … T−1} \ {i}, drawn by
 * an independent Fisher–Yates shuffle per task i (Algorithm 1's "in random order", one order per i,
 * as LibMTL). Draw k of the step is `uniformAt(seed, counter + k)`, so the orders are a pure function of
 * (seed, counter); `counter` advances by {@link pcgradDrawsPerStep}(T).
 */
export function pcgradOrders(seed: number, counter: number, T: number): { orders: number[][]; counter: number } {
  let c = counter;
  const orders: number[][] = [];
  for (let i = 0; i < T; i++) {
    const order: number[] = [];
    for (let j = 0; j < T; j++) if (j !== i) order.push(j);
    for (let k = order.length - 1; k > 0; k--) {
      const r = Math.min(Math.floor(uniformAt(seed, c++) * (k + 1)), k);
      const t = order[k]!;
      order[k] = order[r]!;
      order[r] = t;
    }
    orders.push(order);
  }
  return { orders, counter: c };
}

/** The ascending orders {0 … T−1} \ {i}, used when no orders are given. */
export function ascendingOrders(T: number): number[][] {
  return Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, j) => j).filter((j) => j !== i));
}


/** Validates per-task visiting orders: T lists of task indices, none equal to its own task. */
export function requireOrders(method: string, orders: readonly (readonly number[])[], T: number): void {
  if (orders.length !== T) throw new BalancerInputError(method, `expected ${T} task orders, got ${orders.length}`);
  orders.forEach((order, i) => {
    for (const j of order) {
      if (!Number.isInteger(j) || j < 0 || j >= T || j === i) {
        throw new BalancerInputError(method, `order of task ${i} contains ${j} (must be a task index in [0, ${T}) other than ${i})`);
      }
    }
  });
}



/**
 * PCGrad's projections (Yu et al., Algorithm 1) in Gramian coordinates. Each gᵢ^PC is kept as a
 * coefficient row Cᵢ over the task gradients (start Cᵢ = eᵢ); inner products are entries of G:
 * gᵢ^PC·gⱼ = Σₖ Cᵢₖ Gₖⱼ. For each j in `orders[i]`, if gᵢ^PC·gⱼ < 0 then
 * gᵢ^PC ← gᵢ^PC − (gᵢ^PC·gⱼ / ‖gⱼ‖²) gⱼ, i.e. Cᵢⱼ −= (gᵢ^PC·gⱼ)/Gⱼⱼ. The projections use the
 * original gⱼ, not gⱼ^PC (paper and official code).
 *
 * Fallbacks: a zero gradient (Gⱼⱼ = 0) never conflicts, so nothing is projected onto it. The inner
 * product is clamped to Cauchy–Schwarz, |gᵢ^PC·gⱼ| ≤ ‖gᵢ^PC‖‖gⱼ‖, so that a Gramian that is only
 * PSD up to rounding cannot blow the coefficient up.
 */
export function pcgradProject(G: Gramian, orders?: readonly (readonly number[])[]): PcgradProjection {
  const method = "pcgrad";
  requireGramian(method, G);
  const T = G.length;
  const ord = orders ?? ascendingOrders(T);
  requireOrders(method, ord, T);
  return project(G, ord);
}

/** {@link pcgradProject} on a Gramian and orders already validated. */
function project(G: Gramian, ord: readonly (readonly number[])[]): PcgradProjection {
  const T = G.length;
  const C: number[][] = Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, k) => (k === i ? 1 : 0)));
  let conflicts = 0;
  for (let i = 0; i < T; i++) {
    const c = C[i]!;
    // Kept up to date as c changes (O(T) per projection, O(T³) in all): v = Gc, i.e. vⱼ = gᵢ^PC·gⱼ,
    // and normSq = cᵀGc = ‖gᵢ^PC‖².
    const v = G[i]!.slice();
    let normSq = G[i]![i]!;
    for (const j of ord[i]!) {
      const gjj = G[j]![j]!;
      if (!(gjj > 0)) continue;
      const raw = v[j]!;
      if (!(raw < 0)) continue;
      const ip = Math.max(raw, -Math.sqrt(Math.max(normSq, 0)) * Math.sqrt(gjj));
      if (!(ip < 0)) continue;
      const delta = -ip / gjj;
      c[j] = c[j]! + delta;
      const gj = G[j]!;
      for (let k = 0; k < T; k++) v[k] = v[k]! + delta * gj[k]!;
      normSq += 2 * delta * raw + delta * delta * gjj;
      conflicts++;
    }
  }
  const weights = Array.from({ length: T }, (_, k) => C.reduce((s, row) => s + row[k]!, 0));
  return { weights, coefficients: C, conflicts };
}

/** PCGrad's α: the combined direction Σᵢ gᵢ^PC = Σₖ αₖ gₖ (see {@link pcgradProject}). */
export function pcgradWeights(G: Gramian, orders?: readonly (readonly number[])[]): number[] {
  return pcgradProject(G, orders).weights;
}


/**
 * PCGrad, projecting conflicting gradients — Yu, Kumar, Gupta, Levine, Hausman, Finn, NeurIPS 2020
 * (arXiv 2001.06782), Algorithm 1: gᵢ^PC ← gᵢ; for each task i and each j ≠ i in random order, if
 * gᵢ^PC·gⱼ < 0 then gᵢ^PC ← gᵢ^PC − (gᵢ^PC·gⱼ/‖gⱼ‖²) gⱼ; the update is Σᵢ gᵢ^PC.
 *
 * Expressed as a weighting of the Gramian: α = Σᵢ Cᵢ with gᵢ^PC = Σₖ Cᵢₖ gₖ, so the trainer's backward
 * pass of Σ αₖ Lₖ gives exactly the PCGrad direction at the Gramian's parameters (`timing: 'current'`).
 * Non-conflicting gradients give α = 1 (plain sum).
 *
 * Order: an independent seeded shuffle of {j ≠ i} for every task i at every step (Algorithm 1 and
 * LibMTL's per-i `random.shuffle`), a pure function of (seed, counter) with the counter in the state.
 * The official TensorFlow code calls `tf.random.shuffle(loss)` without using its result, so it in
 * fact visits every k (including i itself) in the fixed order 0 … T−1 for all i; LibMTL also visits
 * j = i, which we skip as Algorithm 1 does (it can only matter after earlier projections).
 * Reduction: the sum, as the paper, the official code and LibMTL (Pytorch-PCGrad defaults to the mean,
 * i.e. α/T).
 *
 * Options (defaults): `seed` 0, `gradMode` `shared`. Info: `conflicts`, the number of projections applied.
 */
export function pcgrad(options: PcgradOptions = {}): Balancer<PcgradState> {
  checkOptionNames("pcgrad", options, pcgrad.optionNames);
  const name = "pcgrad";
  const seed = checkSeed(name, options.seed ?? 0);
  return statefulGramianWeighting(name, checkGradMode(name, options.gradMode), {
    init: () => ({ counter: 0 }),
    step(G, _obs, T, _losses, state) {
      const { orders, counter } = pcgradOrders(seed, state.counter, T);
      const { weights, conflicts } = project(G, orders);
      return { weights, state: { counter }, info: { conflicts } };
    },
  });
}

/** The option names {@link pcgrad} reads; any other name is rejected. */
pcgrad.optionNames = ["seed", "gradMode"] as const satisfies readonly (keyof PcgradOptions)[];
