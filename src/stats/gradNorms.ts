import { numpy as np } from "@jax-js/jax";

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
