import { numpy as np, tree } from "@jax-js/jax";
import { statKernels } from "../stats/gradNorms.js";
import type { Tree } from "./contract.js";
import { ceil4, col2im, im2col, im2colSlices, padCols } from "./im2col.js";
import type { Layer, Shape } from "./layers.js";

/*
 * Convolution and pooling layers of the fast tier, on NHWC images [B, H, W, C], with the convolution
 * lowered to matrix products on im2col patches (src/model/im2col.ts). Their T-batched rules carry T
 * stacked cotangents [T, B, …] through the same products with T·B rows, and a convolution's share of
 * the per-task statistic comes from its T kernel gradients, formed per image and summed over the batch.
 */

const checkPositiveInt = (what: string, n: unknown) => {
  if (!Number.isInteger(n) || (n as number) <= 0) throw new Error(`${what} must be a positive integer, got ${JSON.stringify(n)}`);
};

/** [H, W, C] of an image layer's per-example input, with a clear error for anything else. */
function imageShape(layer: string, s: Shape): [number, number, number] {
  if (s.length !== 3) throw new Error(`${layer}: expects images [H, W, C] per example, got [${s.join(", ")}] (put a reshape([H, W, C]) layer first)`);
  return s as [number, number, number];
}

/**
 * A 2-D convolution, valid padding, stride 1: x [B, H, W, Cin] → [B, H−k+1, W−k+1, channels], kernel
 * K [k, k, Cin, channels] and bias b [channels]; PyTorch's Conv2d init (uniform ±1/√(Cin·k²)).
 * Forward is one gather (im2col) and one matmul; the kernel gradient is patchesᵀ·dz reduced per image
 * first, the input's cotangent dz·Kᵀ folded back by col2im. Without residuals (the model's generic
 * functions) the patches come from slices instead, which jax-js can differentiate inside jit.
 */
export function conv2d(channels: number, kernel: number): Layer<{ K: np.Array; b: np.Array }> {
  checkPositiveInt("conv2d: channels", channels);
  checkPositiveInt("conv2d: kernel", kernel);
  const k = kernel;
  const cp = ceil4(channels);
  const outShape = (s: Shape): number[] => {
    const [H, W] = imageShape("conv2d", s);
    if (k > H || k > W) throw new Error(`conv2d: kernel ${k}×${k} is larger than its ${H}×${W} input (valid convolution)`);
    return [H - k + 1, W - k + 1, channels];
  };
  /** dz [N, channels] rows → cotangent of the layer input [rows/(Ho·Wo), H, W, Cin] (consumes dz). */
  const inputCotangent = (K: np.Array, dz: np.Array, lead: number, Ho: number, Wo: number, cin: number) => {
    const r = k * k * cin;
    const r4 = ceil4(r);
    const dpatches = np.matmul(dz, padCols(K.ref.reshape([r, channels]).transpose(), r4));
    return col2im(dpatches.reshape([lead, Ho, Wo, r4]), k, cin);
  };
  return {
    name: `conv2d(${channels}, ${k}×${k})`,
    hasParams: true,
    outShape,
    init(s, rng) {
      const [, , cin] = imageShape("conv2d", s);
      const bound = 1 / Math.sqrt(cin * k * k);
      return {
        K: np.array(rng.uniforms(k * k * cin * channels, -bound, bound)).reshape([k, k, cin, channels]),
        b: np.array(rng.uniforms(channels, -bound, bound)),
      };
    },
    forward(p, x, keep) {
      const [B, , , cin] = x.shape as [number, number, number, number];
      const r = k * k * cin;
      // Without residuals this is a model's generic function, which jax-js must be able to differentiate.
      const patches = keep ? im2col(x, k) : im2colSlices(x, k);
      const [, Ho, Wo] = patches.shape as [number, number, number, number];
      // Output channels padded to a multiple of 4 inside the product (zero kernel columns), then dropped.
      let z = np.matmul(patches.ref.reshape([B * Ho * Wo, r]), padCols(p.K.ref.reshape([r, channels]), cp));
      if (cp > channels) z = z.slice([], [0, channels]);
      const y = z.add(p.b.ref).reshape([B, Ho, Wo, channels]);
      if (keep) return { y, res: { patches } };
      patches.dispose();
      return { y, res: {} as Tree };
    },
    backward(p, res, dy, inShape, needDx) {
      const { patches } = res as { patches: np.Array };
      const [B, Ho, Wo, r] = patches.shape as [number, number, number, number];
      const N = B * Ho * Wo;
      const dz = dy.reshape([N, channels]);
      // Reduced per image first, then over the batch (one reduction over all rows runs nearly serially).
      const db = dz.ref.reshape([B, Ho * Wo, channels]).sum(1).sum(0);
      let dK = np.matmul(patches.reshape([B, Ho * Wo, r]).transpose([0, 2, 1]), padCols(dz.ref, cp).reshape([B, Ho * Wo, cp])).sum(0);
      if (cp > channels) dK = dK.slice([], [0, channels]);
      const dp = { K: dK.reshape(p.K.shape), b: db };
      if (!needDx) {
        dz.dispose();
        return { dp, dx: null };
      }
      return { dp, dx: inputCotangent(p.K, dz, B, Ho, Wo, inShape[2]!) };
    },
    backwardT(p, res, dyT, kind, acc, kernelOnly, inShape, needDx) {
      const { patches } = res as { patches: np.Array };
      const [B, Ho, Wo, r] = patches.shape as [number, number, number, number];
      const T = dyT.shape[0]!;
      const M = Ho * Wo;
      const dz = dyT.reshape([T * B * M, channels]);
      const stats = statKernels[kind];
      // The T kernel gradients [T, r, cp] (zero padded columns add nothing to norms or inner products).
      const dKT = np.matmul(patches.ref.reshape([1, B, M, r]).transpose([0, 1, 3, 2]), padCols(dz.ref, cp).reshape([T, B, M, cp])).sum(1);
      let a = stats.stacked(dKT.reshape([T, r * cp]));
      if (!kernelOnly) a = a.add(stats.bias(dz.ref.reshape([T, B * M, channels])));
      a = acc === null ? a : acc.add(a);
      if (!needDx) {
        dz.dispose();
        return { dxT: null, acc: a };
      }
      const dx = inputCotangent(p.K, dz, T * B, Ho, Wo, inShape[2]!);
      return { dxT: dx.reshape([T, B, ...inShape]), acc: a };
    },
  };
}

/**
 * 2×2 max pooling, stride 2: [B, H, W, C] → [B, ⌊H/2⌋, ⌊W/2⌋, C] (an odd last row or column is dropped,
 * as in PyTorch). The cotangent goes to each window's maximum; tied maxima share it equally, as in
 * jax-js autodiff.
 */
export function maxPool2(): Layer<Record<string, never>> {
  return {
    name: "maxPool2",
    hasParams: false,
    outShape(s) {
      const [H, W, C] = imageShape("maxPool2", s);
      if (H < 2 || W < 2) throw new Error(`maxPool2: needs an input of at least 2×2, got ${H}×${W}`);
      return [Math.floor(H / 2), Math.floor(W / 2), C];
    },
    init: () => ({}),
    forward(_p, x, keep) {
      const [B, H, W, C] = x.shape as [number, number, number, number];
      const Hp = Math.floor(H / 2);
      const Wp = Math.floor(W / 2);
      const z = H !== 2 * Hp || W !== 2 * Wp ? x.slice([], [0, 2 * Hp], [0, 2 * Wp], []) : x;
      const z6 = z.reshape([B, Hp, 2, Wp, 2, C]);
      const m = z6.ref.max([2, 4], { keepdims: true });
      if (!keep) {
        z6.dispose();
        return { y: m.reshape([B, Hp, Wp, C]), res: {} as Tree };
      }
      const hit = np.equal(z6, m.ref).astype(np.float32);
      const mask = hit.ref.div(hit.sum([2, 4], { keepdims: true }));
      return { y: m.reshape([B, Hp, Wp, C]), res: { mask } };
    },
    backward(_p, res, dy, inShape, needDx) {
      const { mask } = res as { mask: np.Array };
      if (!needDx) {
        tree.dispose([mask, dy]);
        return { dp: {}, dx: null };
      }
      return { dp: {}, dx: unpool(dy, mask, inShape) };
    },
    backwardT(_p, res, dyT, _kind, acc, _kernelOnly, inShape, needDx) {
      const { mask } = res as { mask: np.Array };
      if (!needDx) {
        dyT.dispose();
        return { dxT: null, acc };
      }
      return { dxT: unpool(dyT, mask.ref, inShape), acc };
    },
  };
}

/**
 * dy […lead, B, Hp, Wp, C] through the pooling mask [B, Hp, 2, Wp, 2, C] (broadcast over any leading
 * task axis) → […lead, B, H, W, C]. Consumes both.
 */
function unpool(dy: np.Array, mask: np.Array, inShape: Shape): np.Array {
  const lead = dy.shape.slice(0, -3);
  const [Hp, Wp, C] = dy.shape.slice(-3) as [number, number, number];
  const [H, W] = inShape as [number, number, number];
  const dz = dy.reshape([...lead, Hp, 1, Wp, 1, C]).mul(mask).reshape([...lead, 2 * Hp, 2 * Wp, C]);
  if (H === 2 * Hp && W === 2 * Wp) return dz;
  return np.pad(dz, [...lead.map(() => [0, 0] as [number, number]), [0, H - 2 * Hp], [0, W - 2 * Wp], [0, 0]]);
}
