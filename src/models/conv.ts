import { numpy as np, tree } from "@jax-js/jax";
import { Rng } from "../util/rng.js";
import type { Layer } from "../model/layers.js";
import type { Tree } from "../model/contract.js";
import { convApply, convInputCotangent, convKernelGrad, im2col, im2colSlices, maxPool2x2, unpool2x2 } from "../model/convOps.js";

/*
 * A small convolutional stem (LeNet-like) in front of the MLP trunk, NHWC, with convolution lowered
 * to matrix products: `lax.conv` is very slow on the wasm backend (its second LeNet layer alone took
 * ~2 s forward at batch 256), while one matmul per layer on the im2col patches is fast.
 *
 * Backward pass: explicit products (dK = patchesᵀ·dz, dx by padding and adding the k² shifted slices
 * of dz·Kᵀ, max pooling through its argmax mask, ties split), not jax-js `vjp` inside the jit. Measured on the
 * LeNet stem, batch 256, 36×36×1, T = 2, whole jit train step, wasm, 2 cores shared with a background
 * job: with the same (concatenate) im2col, explicit ≈ 1.0 s/step and vjp ≈ 4.8 s/step; and vjp cannot
 * use the gather im2col below at all inside a jit (jax-js 0.1.25: "routine primitive scatter input is
 * not imm"). What made the explicit version fast (≈ 0.4 s/step, from ≈ 1.7 s for the straightforward
 * lowering), all measured the same way:
 * - im2col as one gather with a host-computed index: jax-js lowers concatenate to a sum of k² padded
 *   views, i.e. k² predicated loads per patch element (≈ 2× slower step);
 * - every matmul's output has a last dimension that is a multiple of 4 (zero-padded kernel columns):
 *   jax-js's wasm matmul is up to 10× slower otherwise (e.g. [N,25]·[25,10] vs [N,25]·[25,12]);
 *   zero padding goes through concatenate, because a pad fused into a matmul operand defeats its tuning;
 * - dK reduced per image first, then over the batch: one reduction over all B·Ho·Wo rows with only
 *   k²·Cin·Cout outputs runs nearly serially (the first layer's dK kernel: ≈ 60 ms → ≈ 15 ms);
 * - the bias gradient taken from the pooled cotangent (a pooling window's mask sums to 1), which also
 *   makes jax-js materialize that cotangent instead of recomputing it for each window position.
 */

/** One convolution layer: valid convolution, stride 1, `channels` output channels, k×k kernel, then optional 2×2 max pool, then ReLU. */
export interface ConvLayerConfig {
  readonly channels: number;
  readonly kernel: number;
  readonly pool: boolean;
}

/** A convolutional stem: input images [H, W, C] (NHWC, arriving flattened as [B, H·W·C]) and its layers in order. */
export interface ConvStemConfig {
  readonly inputShape: readonly [number, number, number];
  readonly layers: readonly ConvLayerConfig[];
}

/** Stem parameters: kernels [k, k, Cin, Cout] and biases [Cout], one per layer. */
export type StemParams = { kernels: np.Array[]; biases: np.Array[] };

/**
 * What one layer's backward pass needs (all owned). The shapes carry the static information:
 * patches [B, Ho, Wo, k²·Cin] give the conv output size (the input is Ho+k−1 × Wo+k−1), and a
 * pooled layer has `poolMask` [B, Hp, 2, Wp, 2, C] (ties share the gradient equally, like jax-js autodiff).
 */
export type StemLayerResiduals = { patches: np.Array; reluMask: np.Array; poolMask?: np.Array };

/**
 * Why a gradient mode cannot be used with a convolutional stem, or null if it can: per-task gradients
 * are not propagated through the convolutions, so `shared` (all shared parameters) is not available;
 * `representation` and `lastShared` stay on the fully connected trunk. The one place this rule lives.
 */
export function stemModeProblem(mode: string | undefined): string | null {
  return mode === "shared" ? "gradient mode 'shared' does not support a convolutional stem (per-task gradients are not propagated through the convolutions); use 'representation' or 'lastShared'" : null;
}

/** Sener & Koltun's LeNet stem: conv(→10, 5) pool relu, conv(→20, 5) pool relu, flatten. */
export function lenetStem(inputShape: readonly [number, number, number]): ConvStemConfig {
  return {
    inputShape,
    layers: [
      { channels: 10, kernel: 5, pool: true },
      { channels: 20, kernel: 5, pool: true },
    ],
  };
}

/** Spatial shapes [H, W, C] of the stem's input and of every layer's output (checks the config). */
export function stemShapes(config: ConvStemConfig): [number, number, number][] {
  checkStemConfig(config);
  const shapes: [number, number, number][] = [[...config.inputShape]];
  let [H, W] = config.inputShape;
  for (const layer of config.layers) {
    H = H - layer.kernel + 1;
    W = W - layer.kernel + 1;
    if (layer.pool) {
      H = Math.floor(H / 2);
      W = Math.floor(W / 2);
    }
    shapes.push([H, W, layer.channels]);
  }
  return shapes;
}

/** Number of features the stem hands to the trunk (H·W·C of its last layer's output). */
export function stemOutputDim(config: ConvStemConfig): number {
  const [H, W, C] = stemShapes(config).at(-1)!;
  return H * W * C;
}

/** Throws a clear Error if the stem config is malformed or a kernel/pool does not fit its input. */
export function checkStemConfig(config: ConvStemConfig): void {
  const ok = (n: unknown) => Number.isInteger(n) && (n as number) > 0;
  const shape = config?.inputShape;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every(ok)) {
    throw new Error(`invalid conv stem: inputShape must be [H, W, C] of positive integers, got ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(config.layers) || config.layers.length === 0) throw new Error("invalid conv stem: it needs at least one layer");
  let [H, W] = shape as [number, number, number];
  config.layers.forEach((layer, i) => {
    const where = `conv stem layer ${i + 1}`;
    if (!ok(layer?.channels)) throw new Error(`${where}: channels must be a positive integer, got ${JSON.stringify(layer?.channels)}`);
    if (!ok(layer.kernel)) throw new Error(`${where}: kernel must be a positive integer, got ${JSON.stringify(layer.kernel)}`);
    if (typeof layer.pool !== "boolean") throw new Error(`${where}: pool must be a boolean, got ${JSON.stringify(layer.pool)}`);
    if (layer.kernel > H || layer.kernel > W) {
      throw new Error(`${where}: kernel ${layer.kernel}×${layer.kernel} is larger than its ${H}×${W} input (valid convolution)`);
    }
    H = H - layer.kernel + 1;
    W = W - layer.kernel + 1;
    if (layer.pool) {
      if (H < 2 || W < 2) throw new Error(`${where}: 2×2 max pooling needs a conv output of at least 2×2, got ${H}×${W}`);
      H = Math.floor(H / 2);
      W = Math.floor(W / 2);
    }
  });
}

/** Initial stem parameters, seeded; PyTorch's Conv2d default: kernel and bias uniform in ±1/√(Cin·k²). */
export function initStem(config: ConvStemConfig, seed: number | Rng): StemParams {
  checkStemConfig(config);
  const rng = typeof seed === "number" ? new Rng(seed) : seed;
  const kernels: np.Array[] = [];
  const biases: np.Array[] = [];
  let cin = config.inputShape[2];
  for (const { channels: cout, kernel: k } of config.layers) {
    const bound = 1 / Math.sqrt(cin * k * k);
    kernels.push(np.array(rng.uniforms(k * k * cin * cout, -bound, bound)).reshape([k, k, cin, cout]));
    biases.push(np.array(rng.uniforms(cout, -bound, bound)));
    cin = cout;
  }
  return { kernels, biases };
}

/**
 * Stem forward: x [B, H·W·C] → features [B, F] (NHWC flatten of the last layer's output), with the
 * residuals of every layer when `keep` (for {@link stemBackward}). `differentiable` forms the patches by
 * slices instead of the gather (same values), so that jax-js can differentiate the stem inside jit.
 * Borrows stem; consumes x.
 */
export function stemForward(
  stem: StemParams,
  config: ConvStemConfig,
  x: np.Array,
  keep = true,
  differentiable = false,
): { features: np.Array; residuals: StemLayerResiduals[] } {
  const B = x.shape[0]!;
  const [H0, W0, C0] = config.inputShape;
  if (stem.kernels.length !== config.layers.length) {
    x.dispose();
    throw new Error(`conv stem: params have ${stem.kernels.length} layers, the config ${config.layers.length}`);
  }
  let h = x.reshape([B, H0, W0, C0]);
  const residuals: StemLayerResiduals[] = [];
  config.layers.forEach((layer, l) => {
    const [k, , cin, cout] = stem.kernels[l]!.shape as [number, number, number, number];
    if (k !== layer.kernel || cout !== layer.channels || cin !== h.shape[3]) {
      const msg = `conv stem layer ${l + 1}: kernel shape [${stem.kernels[l]!.shape}] does not match the config (k ${layer.kernel}, ${h.shape[3]} → ${layer.channels} channels)`;
      h.dispose();
      throw new Error(msg);
    }
    const patches = differentiable ? im2colSlices(h, k) : im2col(h, k);
    let z = convApply(patches, stem.kernels[l]!, stem.biases[l]!);
    let poolMask: np.Array | undefined;
    if (layer.pool) ({ y: z, mask: poolMask } = maxPool2x2(z, keep));
    if (keep) {
      const reluMask = z.ref.greater(0).astype(np.float32);
      residuals.push(poolMask ? { patches, reluMask, poolMask } : { patches, reluMask });
    } else patches.dispose();
    h = np.maximum(z, 0);
  });
  const [, Hf, Wf, Cf] = h.shape as [number, number, number, number];
  return { features: h.reshape([B, Hf * Wf * Cf]), residuals };
}

/**
 * Stem backward: the gradients of the kernels and biases from the cotangent at the features
 * dfeat [B, F]. Explicit products (see the file comment for why not `vjp`); every matmul operand is
 * materialized with a last dimension that is a multiple of 4, which jax-js's wasm matmul needs to be fast.
 * Borrows stem; consumes dfeat and residuals.
 */
export function stemBackward(stem: StemParams, residuals: StemLayerResiduals[], dfeat: np.Array): StemParams {
  const L = residuals.length;
  const B = dfeat.shape[0]!;
  const kernels: np.Array[] = new Array(L);
  const biases: np.Array[] = new Array(L);
  let d = dfeat; // cotangent at layer l's output (after ReLU)
  for (let l = L - 1; l >= 0; l--) {
    const { patches, reluMask, poolMask } = residuals[l]!;
    const K = stem.kernels[l]!;
    const [, Ho, Wo] = patches.shape as [number, number, number, number];
    const dp = d.reshape(reluMask.shape).mul(reluMask);
    // A pooling window's mask sums to 1, so the bias gradient is the sum of dp (a second use of dp,
    // which also makes jax-js materialize it instead of recomputing it for each of the 4 window positions).
    biases[l] = dp.ref.sum([0, 1, 2]);
    const dz = (poolMask ? unpool2x2(dp, poolMask, Ho, Wo) : dp).reshape([B * Ho * Wo, K.shape[3]!]);
    kernels[l] = convKernelGrad(patches, dz, K.shape);
    if (l > 0) d = convInputCotangent(K, dz, B, Ho, Wo);
    else dz.dispose();
  }
  return { kernels, biases };
}

/**
 * The stem as a layer of the fast tier (src/model/layers.ts): x [B, H·W·C] → features [B, F], with its
 * explicit backward rule; it must be a trunk's first layer. It has no T-batched rule — per-task gradients
 * are not propagated through it — so the fast tier refuses the `shared` gradient mode with
 * {@link stemModeProblem}'s reason; the same network from conv2d / maxPool2 / relu layers
 * (src/model/convLayers.ts) has one. Its generic function (no residuals) is differentiable by jax-js.
 */
export function convStemLayer(config: ConvStemConfig): Layer<StemParams> {
  checkStemConfig(config);
  return {
    name: "convStem",
    hasParams: true,
    outShape: () => [stemOutputDim(config)],
    init: (_s, rng) => initStem(config, rng),
    forward(p, x, keep) {
      // Without residuals this is the model's generic function, which jax-js must be able to differentiate.
      const { features, residuals } = stemForward(p, config, x, keep, !keep);
      return { y: features, res: residuals as unknown as Tree };
    },
    backward(p, res, dy, _inShape, needDx) {
      if (needDx) {
        tree.dispose([res, dy]);
        throw new Error("the conv stem must be the trunk's first layer (it gives no cotangent for its input)");
      }
      return { dp: stemBackward(p, res as unknown as StemLayerResiduals[], dy), dx: null };
    },
    backwardT(_p, _res, dyT, _kind, acc) {
      dyT.dispose();
      acc?.dispose();
      throw new Error(stemModeProblem("shared")!);
    },
  };
}
