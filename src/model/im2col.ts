import { numpy as np } from "@jax-js/jax";

/*
 * Convolution lowered to matrix products (NHWC, valid, stride 1), shared by the conv layers
 * (src/model/convLayers.ts) and the built-in LeNet stem (src/models/conv.ts); src/models/conv.ts's
 * file comment gives the measurements behind each choice (one gather with a host-computed index,
 * matmul outputs padded to a multiple of 4 columns, col2im as one fused sum of shifted slices).
 */

/** Rounds up to a multiple of 4: jax-js's wasm matmul is up to 10× slower when the output's last dimension is not one. */
export const ceil4 = (n: number) => Math.ceil(n / 4) * 4;

const indexCache = new Map<string, Int32Array<ArrayBuffer>>();
/** Host-side im2col gather indices into a flattened [H, W, C] image, ordered (ho, wo, i, j, c). */
function im2colIndex(H: number, W: number, C: number, k: number): Int32Array<ArrayBuffer> {
  const key = `${H},${W},${C},${k}`;
  let idx = indexCache.get(key);
  if (!idx) {
    const Ho = H - k + 1;
    const Wo = W - k + 1;
    idx = new Int32Array(Ho * Wo * k * k * C);
    let m = 0;
    for (let h = 0; h < Ho; h++)
      for (let w = 0; w < Wo; w++)
        for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) for (let c = 0; c < C; c++) idx[m++] = ((h + i) * W + w + j) * C + c;
    indexCache.set(key, idx);
  }
  return idx;
}

/** im2col: x [B, H, W, C] → patches [B, Ho, Wo, k²·C], ordered (i, j, c) like the kernel's reshape, by one gather. Consumes x. */
export function im2col(x: np.Array, k: number): np.Array {
  const [B, H, W, C] = x.shape as [number, number, number, number];
  if (k === 1) return x;
  const index = np.array(im2colIndex(H, W, C, k), { dtype: np.int32 });
  return np.take(x.reshape([B, H * W * C]), index, 1).reshape([B, H - k + 1, W - k + 1, k * k * C]);
}

/**
 * im2col by k² shifted slices joined on the channel axis — the same patches as {@link im2col}, in the
 * same order, but differentiable by jax-js inside jit (its gather's transpose is not), for the generic
 * functions of a model built from layers. Slower than the gather (≈ 2× for a LeNet step), so the fast
 * tier uses the gather. Consumes x.
 */
export function im2colSlices(x: np.Array, k: number): np.Array {
  const [, H, W] = x.shape as [number, number, number, number];
  if (k === 1) return x;
  const Ho = H - k + 1;
  const Wo = W - k + 1;
  const parts: np.Array[] = [];
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) parts.push(x.ref.slice([], [i, i + Ho], [j, j + Wo], []));
  x.dispose();
  return np.concatenate(parts, 3);
}

/**
 * Transpose of {@link im2col}: dpatches [B, Ho, Wo, ≥k²·C] (extra trailing columns ignored) →
 * dx [B, Ho+k−1, Wo+k−1, C], by padding and adding the k² shifted slices (one fused kernel). Consumes dpatches.
 */
export function col2im(dpatches: np.Array, k: number, C: number): np.Array {
  let dx: np.Array | undefined;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      const c0 = (i * k + j) * C;
      const s = np.pad(dpatches.ref.slice([], [], [], [c0, c0 + C]), [[0, 0], [i, k - 1 - i], [j, k - 1 - j], [0, 0]]);
      dx = dx ? dx.add(s) : s;
    }
  }
  dpatches.dispose();
  return dx!;
}

/** [M, n] → [M, to] with zero columns appended; a concatenate (not a pad view), so a matmul reads it materialized. Consumes a. */
export function padCols(a: np.Array, to: number): np.Array {
  const [M, n] = a.shape as [number, number];
  return n === to ? a : np.concatenate([a, np.zeros([M, to - n])], 1);
}

