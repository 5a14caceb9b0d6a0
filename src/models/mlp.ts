import { numpy as np } from "@jax-js/jax";
import { Rng, deriveSeed } from "../util/rng.js";
import { checkStemConfig, initStem, stemForward, stemOutputDim, type ConvStemConfig, type StemParams } from "./conv.js";

/**
 * Hard parameter sharing: a shared ReLU trunk (fully connected) and T affine task heads
 * stored stacked, so every head is computed by one batched product.
 */
export interface MultiHeadMlpConfig {
  readonly inputDim: number;
  /** Widths of the shared ReLU layers; the last one is the shared representation. */
  readonly hidden: readonly number[];
  readonly outputDim: number;
  readonly numTasks: number;
  /** Optional convolutional stem in front of the trunk; then inputDim = H·W·C and the trunk takes its features. */
  readonly stem?: ConvStemConfig | undefined;
}

export type Params = {
  trunk: { W: np.Array[]; b: np.Array[] };
  /** W: [T, H, O], b: [T, O]. */
  heads: { W: np.Array; b: np.Array };
  /** Present exactly when the config has a stem: kernels [k, k, Cin, Cout], biases [Cout]. */
  stem?: StemParams;
};

export function checkConfig(c: MultiHeadMlpConfig): void {
  const ok = (n: number) => Number.isInteger(n) && n > 0;
  if (!ok(c.inputDim) || !ok(c.outputDim) || !ok(c.numTasks) || c.hidden.length === 0 || !c.hidden.every(ok)) {
    throw new Error(`invalid MLP config ${JSON.stringify(c)}: dimensions must be positive integers, at least one hidden layer`);
  }
  if (c.stem) {
    checkStemConfig(c.stem);
    const [H, W, C] = c.stem.inputShape;
    if (c.inputDim !== H * W * C) {
      throw new Error(`invalid MLP config: inputDim ${c.inputDim} must equal the conv stem's input H·W·C = ${H}·${W}·${C} = ${H * W * C}`);
    }
  }
}

/**
 * Initial parameters, seeded. Same rule as PyTorch's nn.Linear default:
 * W and b uniform in ±1/√fan_in (the stem, if any: see {@link initStem}, from a seed derived from `seed`).
 */
export function initParams(config: MultiHeadMlpConfig, seed: number): Params {
  checkConfig(config);
  const rng = new Rng(seed);
  const dims = [config.stem ? stemOutputDim(config.stem) : config.inputDim, ...config.hidden];
  const W: np.Array[] = [];
  const b: np.Array[] = [];
  for (let l = 0; l < config.hidden.length; l++) {
    const fanIn = dims[l]!;
    const bound = 1 / Math.sqrt(fanIn);
    W.push(np.array(rng.uniforms(fanIn * dims[l + 1]!, -bound, bound)).reshape([fanIn, dims[l + 1]!]));
    b.push(np.array(rng.uniforms(dims[l + 1]!, -bound, bound)));
  }
  const H = dims[dims.length - 1]!;
  const { numTasks: T, outputDim: O } = config;
  const bound = 1 / Math.sqrt(H);
  const params: Params = {
    trunk: { W, b },
    heads: {
      W: np.array(rng.uniforms(T * H * O, -bound, bound)).reshape([T, H, O]),
      b: np.array(rng.uniforms(T * O, -bound, bound)).reshape([T, O]),
    },
  };
  if (config.stem) params.stem = initStem(config.stem, deriveSeed(seed, "stem"));
  return params;
}

/** The trunk's input: x itself, or the stem's features when params have a stem (then `stem` is required). Borrows params; consumes x. */
export function trunkInput(params: Params, x: np.Array, stem: ConvStemConfig | undefined): np.Array {
  if (!params.stem && !stem) return x;
  if (!params.stem || !stem) {
    x.dispose();
    throw new Error(params.stem ? "params have a convolutional stem: pass its ConvStemConfig (model.stem)" : "a ConvStemConfig was given but params have no stem");
  }
  return stemForward(params.stem, stem, x, false).features;
}

/** Trunk forward: returns every layer input (x, h₁, …, h_L) and the ReLU masks of each layer. */
export function trunkForward(trunk: Params["trunk"], x: np.Array): { hs: np.Array[]; masks: np.Array[] } {
  const hs: np.Array[] = [x];
  const masks: np.Array[] = [];
  let h = x.ref;
  for (let l = 0; l < trunk.W.length; l++) {
    const z = np.matmul(h, trunk.W[l]!.ref).add(trunk.b[l]!.ref);
    masks.push(z.ref.greater(0).astype(np.float32));
    h = np.maximum(z, 0);
    hs.push(h.ref);
  }
  h.dispose();
  return { hs, masks };
}

/** Stacked heads: representation [B, H] → outputs [T, B, O]. Consumes `rep`. */
export function headsForward(heads: Params["heads"], rep: np.Array): np.Array {
  const [T, , O] = heads.W.shape as [number, number, number];
  return np.einsum("bk,tko->tbo", rep, heads.W.ref).add(heads.b.ref.reshape([T, 1, O]));
}

/**
 * Forward pass without keeping activations: x [B, D] → outputs [T, B, O]. Params with a stem need
 * its config (the static layer shapes and pooling are not in the parameter tree). Borrows params, consumes x.
 */
export function forward(params: Params, x: np.Array, stem?: ConvStemConfig): np.Array {
  let h = trunkInput(params, x, stem);
  for (let l = 0; l < params.trunk.W.length; l++) {
    h = np.maximum(np.matmul(h, params.trunk.W[l]!.ref).add(params.trunk.b[l]!.ref), 0);
  }
  return headsForward(params.heads, h);
}
