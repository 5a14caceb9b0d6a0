import { numpy as np, jit, tree, type JsTree } from "@jax-js/jax";
import type { GradStatistic } from "../balancers/types.js";
import { adam, type AdamOptions, type AdamState } from "../optim/adam.js";
import { forward, headsForward, trunkForward, type MultiHeadMlpConfig, type Params } from "../models/mlp.js";
import { biasGradSquaredNorms, linearGradSquaredNorms, stackedSquaredNorms } from "../stats/gradNorms.js";
import type { TaskLoss } from "./losses.js";

export interface StepConfig {
  readonly model: MultiHeadMlpConfig;
  readonly loss: TaskLoss;
  readonly optimizer: AdamOptions;
  /** Per-task gradient norms to compute, if the balancer needs them. */
  readonly gradNorms?: GradStatistic | undefined;
}

export type OptState = AdamState<Params>;

export type StepOutput = {
  params: Params;
  optState: OptState;
  /**
   * What the balancer observes, in one array so that the host reads it back once:
   * the unweighted task losses [T], or, with a statistic configured, [2, T] with the
   * losses in row 0 and the per-task gradient norms ‖∇ Lᵢ‖ in row 1.
   */
  observed: np.Array;
};

/**
 * The gradients of Σ wᵢLᵢ for the MLP trunk and stacked heads, written as explicit batched
 * products (checked against autodiff in the tests). The per-task cotangents at the
 * representation, [T, B, H], are what the combined backward pass already computes for the
 * stacked heads, so per-task statistics reuse them instead of running T backward passes.
 * Borrows params; consumes weights, x and y.
 */
export function lossesAndGrads(
  params: Params,
  weights: np.Array,
  x: np.Array,
  y: np.Array,
  loss: TaskLoss,
  stat: GradStatistic | undefined,
): { losses: np.Array; grads: Params; gradNorms?: np.Array } {
  const L = params.trunk.W.length;
  const T = params.heads.W.shape[0]!;
  const { hs, masks } = trunkForward(params.trunk, x);
  const rep = hs[L]!;
  const out = headsForward(params.heads, rep.ref);
  const { losses, grads: dout } = loss.valueAndGrad(out, y);
  const w3 = weights.reshape([T, 1, 1]);
  const doutW = dout.ref.mul(w3.ref);
  const gHeadW = np.einsum("bk,tbo->tko", rep.ref, doutW.ref);
  const gHeadB = doutW.ref.sum(1);

  let gradNorms: np.Array | undefined;
  let dz: np.Array;
  if (stat === undefined) {
    dout.dispose();
    w3.dispose();
    dz = np.einsum("tbo,tko->tbk", doutW, params.heads.W.ref).sum(0).mul(masks[L - 1]!.ref);
  } else {
    doutW.dispose();
    // Unweighted per-task cotangents at the representation and at the last layer's pre-activation.
    const dRepT = np.einsum("tbo,tko->tbk", dout, params.heads.W.ref);
    let dzT = dRepT.ref.mul(masks[L - 1]!.ref);
    if (stat === "representation") {
      gradNorms = np.sqrt(stackedSquaredNorms(dRepT.ref));
    } else if (stat === "lastShared") {
      gradNorms = np.sqrt(linearGradSquaredNorms(hs[L - 1]!.ref, dzT.ref));
    }
    dz = dzT.ref.mul(w3).sum(0);
    dRepT.dispose();
    if (stat === "shared") {
      // Propagate the T cotangents through the whole trunk: all shared parameters, biases included.
      let sq = linearGradSquaredNorms(hs[L - 1]!.ref, dzT.ref).add(biasGradSquaredNorms(dzT.ref));
      for (let l = L - 1; l > 0; l--) {
        dzT = np.einsum("tbk,jk->tbj", dzT, params.trunk.W[l]!.ref).mul(masks[l - 1]!.ref);
        sq = sq.add(linearGradSquaredNorms(hs[l - 1]!.ref, dzT.ref)).add(biasGradSquaredNorms(dzT.ref));
      }
      gradNorms = np.sqrt(sq);
    }
    dzT.dispose();
  }

  // Combined backward pass through the trunk.
  const gW: np.Array[] = new Array(L);
  const gb: np.Array[] = new Array(L);
  for (let l = L - 1; l >= 0; l--) {
    gW[l] = np.matmul(hs[l]!.ref.transpose(), dz.ref);
    gb[l] = dz.ref.sum(0);
    if (l > 0) dz = np.matmul(dz, params.trunk.W[l]!.ref.transpose()).mul(masks[l - 1]!.ref);
  }
  dz.dispose();
  hs.forEach((h) => h.dispose());
  masks.forEach((m) => m.dispose());
  const grads: Params = { trunk: { W: gW, b: gb }, heads: { W: gHeadW, b: gHeadB } };
  return gradNorms === undefined ? { losses, grads } : { losses, grads, gradNorms };
}

/**
 * Builds the jit-compiled training step: forward, per-task losses, the balancer's statistics,
 * the weighted backward pass and the Adam update, in one compiled function.
 * Call as step(params, optState, weights[T], x[B,D], y[T,B,O]); it consumes all arguments.
 */
export function buildTrainStep(config: StepConfig) {
  const opt = adam(config.optimizer);
  const step = jit((params: Params, optState: OptState, weights: np.Array, x: np.Array, y: np.Array) => {
    const r = lossesAndGrads(params, weights, x, y, config.loss, config.gradNorms);
    const { params: next, state } = opt.update(params, r.grads, optState);
    const observed = r.gradNorms ? np.stack([r.losses, r.gradNorms]) : r.losses;
    const out: StepOutput = { params: next, optState: state, observed };
    return out as unknown as JsTree<np.Array>;
  });
  return {
    step: step as unknown as (p: Params, s: OptState, w: np.Array, x: np.Array, y: np.Array) => StepOutput,
    initOptState: (params: Params) => opt.init(params),
    dispose: () => step.dispose(),
  };
}

/** jit-compiled per-task losses on a batch: (params, x, y) → [T]. Consumes its arguments. */
export function buildEvalLosses(loss: TaskLoss) {
  const f = jit((params: Params, x: np.Array, y: np.Array) => {
    const out = forward(params, x);
    tree.dispose(params);
    return loss.value(out, y);
  });
  return f as unknown as ((p: Params, x: np.Array, y: np.Array) => np.Array) & { dispose(): void };
}
