import { numpy as np, lax, nn } from "@jax-js/jax";
import type { ModelParams, MultitaskModel } from "../../src/model/contract.js";
import { conv2d, maxPool2 } from "../../src/model/convLayers.js";
import { dense, flatten, relu, reshape, type Layer } from "../../src/model/layers.js";
import type { LayersModelParams } from "../../src/model/layersModel.js";
import { Rng } from "../../src/util/rng.js";

/**
 * Sener & Koltun's LeNet for MultiMNIST written with plain jax-js operations — the generic tier:
 * conv k×k → c₁ channels, 2×2 max pool, ReLU; conv k×k → c₂, pool, ReLU; flatten; dense `hidden` with
 * ReLU (the last shared layer, split off for GradNorm's W); a linear classifier per task. Convolutions
 * are `lax.conv` (NCHW); pooling crops an odd row/column, reshapes to 2×2 windows and takes their max.
 * {@link lenetLayers} gives the same network from the library's layers (the fast tier).
 */
export interface LenetConfig {
  /** Input images are size × size, one channel, arriving flattened [B, size²]. */
  readonly size: number;
  readonly kernel: number;
  readonly channels: readonly [number, number];
  readonly hidden: number;
  readonly classes: number;
  readonly numTasks: number;
}

/** The paper's network on MultiMNIST's 36×36 canvases, two tasks. */
export const multiMnistLenet: LenetConfig = { size: 36, kernel: 5, channels: [10, 20], hidden: 50, classes: 10, numTasks: 2 };

export interface LenetBatch {
  /** Images [B, size²] (one channel). */
  readonly x: np.Array;
  /** One-hot labels [T, B, classes]. */
  readonly y: np.Array;
  [key: string]: np.Array;
}

type Conv = { K: np.Array; b: np.Array };
export type PlainLenetParams = ModelParams<{ body: { c1: Conv; c2: Conv; b: np.Array }; last: { W: np.Array } }, { W: np.Array; b: np.Array }>;

/** Side of the feature map after one conv (valid) and 2×2 pool. */
const after = (n: number, k: number) => Math.floor((n - k + 1) / 2);

/** conv (valid) → 2×2 max pool → ReLU on NCHW (borrows the layer's params, consumes x). */
function convPoolRelu(x: np.Array, c: Conv): np.Array {
  let z = lax.conv(x, c.K.ref, [1, 1], "VALID").add(c.b.ref.reshape([1, -1, 1, 1]));
  const [B, C, H, W] = z.shape as [number, number, number, number];
  const Hp = Math.floor(H / 2);
  const Wp = Math.floor(W / 2);
  if (H !== 2 * Hp || W !== 2 * Wp) z = z.slice([], [], [0, 2 * Hp], [0, 2 * Wp]);
  return np.maximum(z.reshape([B, C, Hp, 2, Wp, 2]).max([3, 5]), 0);
}

export function plainLenet(config: LenetConfig): MultitaskModel<LenetBatch> {
  const { size, numTasks: T, classes } = config;
  return {
    numTasks: T,
    split: {
      body(params, batch) {
        const p = (params.shared as PlainLenetParams["shared"]).body;
        const B = batch.x.shape[0]!;
        const h = convPoolRelu(convPoolRelu(batch.x.ref.reshape([B, 1, size, size]), p.c1), p.c2); // [B, c₂, s, s]
        // Flattened channels-last, like the layers' version.
        return h.transpose([0, 2, 3, 1]).reshape([B, -1]);
      },
      last(params, z) {
        const s = params.shared as PlainLenetParams["shared"];
        return np.maximum(np.matmul(z.ref, s.last.W.ref).add(s.body.b.ref), 0);
      },
    },
    tasks(params, repT, batch) {
      const p = params.task as PlainLenetParams["task"];
      const B = batch.x.shape[0]!;
      const logits = np.einsum("tbk,tkc->tbc", repT.ref, p.W.ref).add(p.b.ref.reshape([T, 1, classes]));
      return nn.logSoftmax(logits, -1).mul(batch.y.ref).sum([1, 2]).mul(-1 / B);
    },
  };
}

/** Seeded parameters (PyTorch's Conv2d / Linear defaults: uniform ±1/√fan_in). */
export function initPlainLenet(config: LenetConfig, seed: number): PlainLenetParams {
  const { size, kernel: k, channels: [c1, c2], hidden: H, classes: C, numTasks: T } = config;
  const rng = new Rng(seed);
  const u = (n: number, fanIn: number) => np.array(rng.uniforms(n, -1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn)));
  const s = after(after(size, k), k);
  const F = s * s * c2;
  return {
    shared: {
      body: {
        c1: { K: u(c1 * k * k, k * k).reshape([c1, 1, k, k]), b: u(c1, k * k) },
        c2: { K: u(c2 * c1 * k * k, c1 * k * k).reshape([c2, c1, k, k]), b: u(c2, c1 * k * k) },
        b: u(H, F),
      },
      last: { W: u(F * H, F).reshape([F, H]) },
    },
    task: { W: u(T * H * C, H).reshape([T, H, C]), b: u(T * C, H).reshape([T, C]) },
  };
}

/**
 * The same network from the library's layers, for `layersModel` (the fast tier): reshape to
 * [size, size, 1], conv2d, maxPool2, relu, conv2d, maxPool2, relu, flatten, dense, relu (NHWC).
 */
export function lenetLayers(config: LenetConfig): Layer[] {
  const { size, kernel: k, channels: [c1, c2], hidden } = config;
  return [reshape([size, size, 1]), conv2d(c1, k), maxPool2(), relu(), conv2d(c2, k), maxPool2(), relu(), flatten(), dense(hidden), relu()];
}

/**
 * The plain network's parameters in {@link lenetLayers}' layout (kernels [Cout, Cin, k, k] →
 * [k, k, Cin, Cout]), so both versions start from the same point. Borrows plain.
 */
export function lenetLayersParams(plain: PlainLenetParams): LayersModelParams {
  const { c1, c2, b } = plain.shared.body;
  const conv = (c: Conv) => ({ K: c.K.ref.transpose([2, 3, 1, 0]), b: c.b.ref });
  return {
    shared: { body: [{}, conv(c1), {}, {}, conv(c2), {}, {}, {}, { b: b.ref }, {}], last: { W: plain.shared.last.W.ref } },
    task: { W: plain.task.W.ref, b: plain.task.b.ref },
  };
}
