import { numpy as np, tree } from "@jax-js/jax";
import { statKernels } from "../stats/gradNorms.js";
import type { Tree } from "./contract.js";
import { ceil4, convApply, convInputCotangent, convKernelGrad, im2col, im2colSlices, maxPool2x2, padCols, unpool2x2 } from "./convOps.js";
import type { Layer, Shape } from "./layers.js";

/*
 * Convolution and pooling layers of the fast tier, on NHWC images [B, H, W, C], with the convolution
 * lowered to matrix products on im2col patches (src/model/convOps.ts). Their T-batched rules carry T
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
      // Without residuals this is a model's generic function, which jax-js must be able to differentiate.
      const patches = keep ? im2col(x, k) : im2colSlices(x, k);
      const y = convApply(patches, p.K, p.b);
      if (keep) return { y, res: { patches } };
      patches.dispose();
      return { y, res: {} as Tree };
    },
    backward(p, res, dy, _inShape, needDx) {
      const { patches } = res as { patches: np.Array };
      const [B, Ho, Wo] = patches.shape as [number, number, number, number];
      const dz = dy.reshape([B * Ho * Wo, channels]);
      // Reduced per image first, then over the batch (one reduction over all rows runs nearly serially).
      const db = dz.ref.reshape([B, Ho * Wo, channels]).sum(1).sum(0);
      const dp = { K: convKernelGrad(patches, dz, p.K.shape), b: db };
      if (!needDx) {
        dz.dispose();
        return { dp, dx: null };
      }
      return { dp, dx: convInputCotangent(p.K, dz, B, Ho, Wo) };
    },
    backwardT(p, res, dyT, kind, acc, kernelOnly, inShape, needDx) {
      const { patches } = res as { patches: np.Array };
      const [B, Ho, Wo, r] = patches.shape as [number, number, number, number];
      const T = dyT.shape[0]!;
      const M = Ho * Wo;
      const dz = dyT.reshape([T * B * M, channels]);
      const stats = statKernels[kind];
      // The T kernel gradients [T, r, cp] (zero padded columns add nothing to norms or inner products;
      // the magnitudes' entry count is over the real columns only).
      let dKT = np.matmul(patches.ref.reshape([1, B, M, r]).transpose([0, 1, 3, 2]), padCols(dz.ref, cp).reshape([T, B, M, cp])).sum(1);
      if (kind === "abs" && cp > channels) dKT = dKT.slice([], [], [0, channels]);
      let a = stats.stacked(dKT.reshape([T, -1]));
      if (!kernelOnly) a = stats.merge(a, stats.bias(dz.ref.reshape([T, B * M, channels])));
      a = acc === null ? a : stats.merge(acc, a);
      if (!needDx) {
        dz.dispose();
        return { dxT: null, acc: a };
      }
      const dx = convInputCotangent(p.K, dz, T * B, Ho, Wo);
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
      const { y, mask } = maxPool2x2(x, keep);
      return { y, res: mask ? { mask } : ({} as Tree) };
    },
    backward(_p, res, dy, inShape, needDx) {
      const { mask } = res as { mask: np.Array };
      if (!needDx) {
        tree.dispose([mask, dy]);
        return { dp: {}, dx: null };
      }
      return { dp: {}, dx: unpool2x2(dy, mask, inShape[0]!, inShape[1]!) };
    },
    backwardT(_p, res, dyT, _kind, acc, _kernelOnly, inShape, needDx) {
      const { mask } = res as { mask: np.Array };
      if (!needDx) {
        dyT.dispose();
        return { dxT: null, acc };
      }
      return { dxT: unpool2x2(dyT, mask.ref, inShape[0]!, inShape[1]!), acc };
    },
  };
}
