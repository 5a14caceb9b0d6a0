import { numpy as np } from "@jax-js/jax";
import type { GradStatistic } from "../balancers/types.js";

/**
 * Per-task Frobenius norms of the weight gradients of one linear layer,
 * ‖hᵀ·dzₜ‖_F for t = 1..T, given the layer input h [B, I] and the stacked per-task
 * cotangents of its output dz [T, B, O]. Consumes both.
 *
 * Two exact ways, chosen by cost at trace time:
 * - direct: form the T gradients, T·B·I·O multiply-adds;
 * - kernel: ‖hᵀdzₜ‖² = ⟨h hᵀ, dzₜ dzₜᵀ⟩ = Σ (K dzₜ) ⊙ dzₜ with K = h hᵀ, B²·I + T·B²·O —
 *   cheaper whenever the batch is smaller than the layer (B < I, roughly).
 */
export function linearGradSquaredNorms(h: np.Array, dz: np.Array): np.Array {
  const [B, I] = h.shape as [number, number];
  const [T, , O] = dz.shape as [number, number, number];
  const direct = T * B * I * O;
  const kernel = B * B * I + T * B * B * O;
  if (kernel < direct) {
    const K = np.matmul(h.ref, h.transpose());
    return np.einsum("bc,tck->tbk", K, dz.ref).mul(dz).sum([1, 2]);
  }
  return np.square(np.einsum("bj,tbk->tjk", h, dz)).sum([1, 2]);
}

/** Per-task squared norms of the bias gradients Σ_b dzₜ, [T]. Consumes dz. */
export function biasGradSquaredNorms(dz: np.Array): np.Array {
  return np.square(dz.sum(1)).sum(1);
}

/** Per-task squared Frobenius norms over all but the leading axis. Consumes x. */
export function stackedSquaredNorms(x: np.Array): np.Array {
  const axes = x.shape.slice(1).map((_, i) => i + 1);
  return np.square(x).sum(axes);
}

/**
 * Per-task Gramian of the weight gradients of one linear layer: Gₜₛ = ⟨hᵀdzₜ, hᵀdzₛ⟩, [T, T],
 * from the layer input h [B, I] and the stacked cotangents dz [T, B, O]. Consumes both.
 * Like {@link linearGradSquaredNorms}, either forms the T gradients (T·B·I·O + T²·I·O) or works
 * in batch space with K = h hᵀ: Gₜₛ = Σ (K dzₜ) ⊙ dzₛ (B²·I + T·B²·O + T²·B·O), whichever is cheaper.
 */
export function linearGradGramian(h: np.Array, dz: np.Array): np.Array {
  const [B, I] = h.shape as [number, number];
  const [T, , O] = dz.shape as [number, number, number];
  const direct = T * B * I * O + T * T * I * O;
  const kernel = B * B * I + T * B * B * O + T * T * B * O;
  if (kernel < direct) {
    const K = np.matmul(h.ref, h.transpose());
    return np.einsum("tbk,sbk->ts", np.einsum("bc,tck->tbk", K, dz.ref), dz);
  }
  const g = np.einsum("bj,tbk->tjk", h, dz);
  return np.einsum("tjk,sjk->ts", g.ref, g);
}

/** Per-task Gramian of the bias gradients Σ_b dzₜ, [T, T]. Consumes dz. */
export function biasGradGramian(dz: np.Array): np.Array {
  const s = dz.sum(1);
  return np.einsum("to,so->ts", s.ref, s);
}

/** Per-task Gramian over all but the leading axis, [T, T]. Consumes x. */
export function stackedGramian(x: np.Array): np.Array {
  const T = x.shape[0]!;
  const flat = x.reshape([T, -1]);
  return np.matmul(flat.ref, flat.transpose());
}

/** Which per-task statistic to compute: squared norms [T] or the Gramian [T, T]. */
export type StatKind = "norms" | "gramian";

/** A per-task statistic request: where (the gradient mode), and squared norms [T] or the Gramian [T, T]. */
export interface StatRequest {
  readonly mode: GradStatistic;
  readonly kind: StatKind;
}

export const statKernels = {
  norms: { linear: linearGradSquaredNorms, bias: biasGradSquaredNorms, stacked: stackedSquaredNorms },
  gramian: { linear: linearGradGramian, bias: biasGradGramian, stacked: stackedGramian },
} as const;
