import { numpy as np } from "@jax-js/jax";
import type { ModelParams, MultitaskModel } from "../../src/model/contract.js";
import { Rng } from "../../src/util/rng.js";

/**
 * A multitask MLP written by hand with plain jax-js operations, in the library's model contract:
 * a shared trunk of tanh layers with biases and layer norm (or plain ReLU layers), split at its last
 * shared layer (so that GradNorm's W is known), and T linear regression heads read from the
 * replicated representation.
 *
 * body: x → LayerNorm(tanh(x·W₀ + b₀)) → … (all hidden layers but the last);
 * last: z → tanh(z·W + b) (GradNorm's W is this layer's weights and bias);
 * tasks: repT [T, B, H] → outₜ = repTₜ·Vₜ + cₜ, Lₜ = mean((outₜ − yₜ)²).
 */
export interface TanhMlpConfig {
  readonly inputDim: number;
  readonly hidden: readonly number[];
  readonly outputDim: number;
  readonly numTasks: number;
  /** Hidden activation (default tanh); relu with `layerNorm: false` is the toy network of GradNorm's §4. */
  readonly activation?: "tanh" | "relu";
  /** LayerNorm after every hidden layer but the last (default true). */
  readonly layerNorm?: boolean;
}

export interface RegressionBatch {
  /** Inputs [B, inputDim]. */
  readonly x: np.Array;
  /** Targets [T, B, outputDim]. */
  readonly y: np.Array;
  [key: string]: np.Array;
}

type Dense = { W: np.Array; b: np.Array };
type Norm = { gamma: np.Array; beta: np.Array };
export type TanhMlpParams = ModelParams<{ body: { dense: Dense[]; norm: Norm[] }; last: Dense }, { W: np.Array; b: np.Array }>;

/** LayerNorm over the last axis (borrows h, gamma, beta). */
function layerNorm(h: np.Array, n: Norm, eps = 1e-5): np.Array {
  const mu = h.ref.mean(-1, { keepdims: true });
  const centered = h.ref.sub(mu);
  const variance = np.square(centered.ref).mean(-1, { keepdims: true });
  return centered.div(np.sqrt(variance.add(eps))).mul(n.gamma.ref).add(n.beta.ref);
}

export function tanhMlp(config: TanhMlpConfig): MultitaskModel<RegressionBatch> {
  const { numTasks: T, outputDim: O } = config;
  const act = config.activation === "relu" ? (a: np.Array) => np.maximum(a, 0) : (a: np.Array) => np.tanh(a);
  const norm = config.layerNorm ?? true;
  return {
    numTasks: T,
    split: {
      body(params, batch) {
        const body = (params.shared as TanhMlpParams["shared"]).body;
        let h = batch.x.ref;
        body.dense.forEach((d, l) => {
          const a = act(np.matmul(h, d.W.ref).add(d.b.ref));
          if (norm) {
            h = layerNorm(a, body.norm[l]!);
            a.dispose();
          } else h = a;
        });
        return h;
      },
      last(params, z) {
        const d = (params.shared as TanhMlpParams["shared"]).last;
        return act(np.matmul(z.ref, d.W.ref).add(d.b.ref));
      },
    },
    tasks(params, repT, batch) {
      const heads = params.task as TanhMlpParams["task"];
      const out = np.einsum("tbk,tko->tbo", repT.ref, heads.W.ref).add(heads.b.ref.reshape([T, 1, O]));
      return np.square(out.sub(batch.y.ref)).mean([1, 2]);
    },
  };
}

/** Seeded initial parameters (uniform ±1/√fan_in, like PyTorch's Linear; LayerNorm γ = 1, β = 0). */
export function initTanhMlp(config: TanhMlpConfig, seed: number): TanhMlpParams {
  const rng = new Rng(seed);
  const dense = (i: number, o: number): Dense => {
    const s = 1 / Math.sqrt(i);
    return { W: np.array(rng.uniforms(i * o, -s, s)).reshape([i, o]), b: np.array(rng.uniforms(o, -s, s)) };
  };
  const dims = [config.inputDim, ...config.hidden];
  const L = config.hidden.length;
  const body = { dense: [] as Dense[], norm: [] as Norm[] };
  for (let l = 0; l < L - 1; l++) {
    body.dense.push(dense(dims[l]!, dims[l + 1]!));
    body.norm.push({ gamma: np.ones([dims[l + 1]!]), beta: np.zeros([dims[l + 1]!]) });
  }
  const last = dense(dims[L - 1]!, dims[L]!);
  const H = dims[L]!;
  const { numTasks: T, outputDim: O } = config;
  const s = 1 / Math.sqrt(H);
  return {
    shared: { body, last },
    task: { W: np.array(rng.uniforms(T * H * O, -s, s)).reshape([T, H, O]), b: np.array(rng.uniforms(T * O, -s, s)).reshape([T, O]) },
  };
}
