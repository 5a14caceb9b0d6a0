import { numpy as np } from "@jax-js/jax";

/*
 * Convolution lowered to matrix products (NHWC, valid, stride 1) and 2×2 max pooling, the arithmetic
 * shared by the conv layers (src/model/convLayers.ts) and the built-in LeNet stem (src/models/conv.ts);
 * src/models/conv.ts's file comment gives the measurements behind each choice (one gather with a
 * host-computed index, matmul outputs padded to a multiple of 4 columns, col2im as one fused sum of
 * shifted slices, kernel gradients reduced per image first).
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


/** patches [B, Ho, Wo, k²·Cin] · K [k, k, Cin, Cout] + b → [B, Ho, Wo, Cout], output channels padded to a multiple of 4 inside the product. Borrows all. */
export function convApply(patches: np.Array, K: np.Array, b: np.Array): np.Array {
  const [B, Ho, Wo, r] = patches.shape as [number, number, number, number];
  const cout = K.shape[3]!;
  const cp = ceil4(cout);
  let z = np.matmul(patches.ref.reshape([B * Ho * Wo, r]), padCols(K.ref.reshape([r, cout]), cp));
  if (cp > cout) z = z.slice([], [0, cout]);
  return z.add(b.ref).reshape([B, Ho, Wo, cout]);
}

/** The kernel gradient patchesᵀ·dz [k, k, Cin, Cout], reduced per image first, then over the batch. Consumes patches; borrows dz [B·Ho·Wo, Cout]. */
export function convKernelGrad(patches: np.Array, dz: np.Array, kShape: readonly number[]): np.Array {
  const [B, Ho, Wo, r] = patches.shape as [number, number, number, number];
  const cout = kShape[3]!;
  const cp = ceil4(cout);
  let dK = np.matmul(patches.reshape([B, Ho * Wo, r]).transpose([0, 2, 1]), padCols(dz.ref, cp).reshape([B, Ho * Wo, cp])).sum(0);
  if (cp > cout) dK = dK.slice([], [0, cout]);
  return dK.reshape([...kShape]);
}

/** The input's cotangent from dz [n·Ho·Wo, Cout] (consumed): dz·Kᵀ folded back by col2im, [n, Ho+k−1, Wo+k−1, Cin]. Borrows K. */
export function convInputCotangent(K: np.Array, dz: np.Array, n: number, Ho: number, Wo: number): np.Array {
  const [k, , cin, cout] = K.shape as [number, number, number, number];
  const r = k * k * cin;
  const r4 = ceil4(r);
  const dpatches = np.matmul(dz, padCols(K.ref.reshape([r, cout]).transpose(), r4));
  return col2im(dpatches.reshape([n, Ho, Wo, r4]), k, cin);
}

/**
 * 2×2 max pooling, stride 2, of z [B, H, W, C] (consumed; an odd last row or column is dropped) →
 * y [B, ⌊H/2⌋, ⌊W/2⌋, C], and with `keep` the mask [B, Hp, 2, Wp, 2, C] that routes the cotangent:
 * tied maxima (e.g. blank image regions) share it, as in jax-js autodiff.
 */
export function maxPool2x2(z: np.Array, keep: boolean): { y: np.Array; mask?: np.Array } {
  const [B, H, W, C] = z.shape as [number, number, number, number];
  const Hp = Math.floor(H / 2);
  const Wp = Math.floor(W / 2);
  const z6 = (H !== 2 * Hp || W !== 2 * Wp ? z.slice([], [0, 2 * Hp], [0, 2 * Wp], []) : z).reshape([B, Hp, 2, Wp, 2, C]);
  const m = z6.ref.max([2, 4], { keepdims: true });
  if (!keep) {
    z6.dispose();
    return { y: m.reshape([B, Hp, Wp, C]) };
  }
  const hit = np.equal(z6, m.ref).astype(np.float32);
  return { y: m.reshape([B, Hp, Wp, C]), mask: hit.ref.div(hit.sum([2, 4], { keepdims: true })) };
}

/**
 * The cotangent dy […lead, B, Hp, Wp, C] through the pooling mask [B, Hp, 2, Wp, 2, C] (broadcast over
 * any leading task axis) → […lead, B, H, W, C] for an H×W pooled input. Consumes both.
 */
export function unpool2x2(dy: np.Array, mask: np.Array, H: number, W: number): np.Array {
  const lead = dy.shape.slice(0, -3);
  const [Hp, Wp, C] = dy.shape.slice(-3) as [number, number, number];
  const dz = dy.reshape([...lead, Hp, 1, Wp, 1, C]).mul(mask).reshape([...lead, 2 * Hp, 2 * Wp, C]);
  if (H === 2 * Hp && W === 2 * Wp) return dz;
  return np.pad(dz, [...lead.map(() => [0, 0] as [number, number]), [0, H - 2 * Hp], [0, W - 2 * Wp], [0, 0]]);
}
