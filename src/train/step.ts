import { numpy as np, jit, tree, type JsTree } from "@jax-js/jax";
import type { GradStatistic } from "../balancers/types.js";
import { adam, type AdamOptions, type AdamState } from "../optim/adam.js";
import { checkConfig, forward, headsForward, trunkForward, type MultiHeadMlpConfig, type Params } from "../models/mlp.js";
import { stemBackward, stemForward, stemModeProblem, type ConvStemConfig, type StemLayerResiduals } from "../models/conv.js";
import { absMaxMean, statKernels, type KernelStatKind, type StatRequest } from "../stats/gradNorms.js";
import type { TaskLoss } from "./losses.js";
export { parseObserved } from "./observation.js";


export type OptState = AdamState<Params>;

export type StepOutput = {
  params: Params;
  optState: OptState;
  /** What the balancer observes, in one array so that the host reads it back once (see {@link parseObserved}). */
  observed: np.Array;
};

/** A combiner run inside the step on the pre-activation cotangents of the last shared layer (see combiners.ts): (dzT [T,B,H], weights [T], seed) → [B,H]. */
export type Combine = (dzT: np.Array, weights: np.Array, seed: np.Array) => np.Array;

export type { StatRequest };

/** What the weighted backward pass needs from the forward pass (all owned). */
export type Residuals = {
  /** Layer inputs x (or the stem's features), h₁, …, h_L (h_L is the shared representation). */
  hs: np.Array[];
  /** The convolutional stem's per-layer residuals, when the model has one. */
  stem?: StemLayerResiduals[];
  /** ReLU masks of the trunk layers. */
  masks: np.Array[];
  /** Unweighted ∂Lₜ/∂outputₜ, [T, B, O]. */
  dout: np.Array;
  /** Unweighted per-task cotangents at the last layer's pre-activation, [T, B, H], when statistics were computed. */
  dzT?: np.Array;
};

const noKernelTraces = "the built-in MLP step has no per-sample outputs for the ntk statistic (NTK weights): train a model with kernelTraces (e.g. pinnModel) with createModelTrainer";

/**
 * Forward pass, per-task losses and, if requested, a per-task gradient statistic: squared norms
 * [T] or the Gramian [T, T] of the unweighted task gradients (not yet square-rooted). The per-task
 * cotangents at the representation, [T, B, H], are what the stacked heads' backward pass computes
 * anyway, so statistics reuse them instead of running T backward passes. With a convolutional stem
 * (params.stem, and its config `stem`), x goes through it first; statistics then stay on the trunk
 * ('representation', 'lastShared'; 'shared' is refused). Borrows params; consumes x, y.
 */
export function forwardWithStats(
  params: Params,
  x: np.Array,
  y: np.Array,
  loss: TaskLoss,
  stat: StatRequest | undefined,
  perTask = false,
  stem?: ConvStemConfig,
): { losses: np.Array; stat?: np.Array; residuals: Residuals } {
  if (stat?.kind === "ntk") {
    x.dispose();
    y.dispose();
    throw new Error(noKernelTraces);
  }
  const L = params.trunk.W.length;
  let stemRes: StemLayerResiduals[] | undefined;
  if (params.stem || stem) {
    if (!params.stem || !stem) {
      x.dispose();
      y.dispose();
      throw new Error(params.stem ? "forwardWithStats: params have a convolutional stem: pass its ConvStemConfig" : "forwardWithStats: a ConvStemConfig was given but params have no stem");
    }
    const problem = stemModeProblem(stat?.mode);
    if (problem) {
      x.dispose();
      y.dispose();
      throw new Error(problem);
    }
    const s = stemForward(params.stem, stem, x);
    x = s.features;
    stemRes = s.residuals;
  }
  const { hs, masks } = trunkForward(params.trunk, x);
  const out = headsForward(params.heads, hs[L]!.ref);
  const { losses, grads: dout } = loss.valueAndGrad(out, y);
  const base: Residuals = stemRes ? { hs, masks, dout, stem: stemRes } : { hs, masks, dout };
  if (!stat && !perTask) return { losses, residuals: base };
  const dRepT = np.einsum("tbo,tko->tbk", dout.ref, params.heads.W.ref);
  const dzT = dRepT.ref.mul(masks[L - 1]!.ref);
  if (!stat) {
    dRepT.dispose();
    return { losses, residuals: { ...base, dzT } };
  }
  const k = statKernels[stat.kind as KernelStatKind]; // ntk: refused above
  let value: np.Array;
  if (stat.mode === "representation") {
    value = k.stacked(dRepT);
  } else if (stat.mode === "lastShared") {
    dRepT.dispose();
    value = k.linear(hs[L - 1]!.ref, dzT.ref);
  } else {
    // All shared parameters, biases included: propagate the T cotangents through the trunk.
    dRepT.dispose();
    let d = dzT.ref;
    value = k.affine(hs[L - 1]!.ref, d.ref);
    for (let l = L - 1; l > 0; l--) {
      d = np.einsum("tbk,jk->tbj", d, params.trunk.W[l]!.ref).mul(masks[l - 1]!.ref);
      value = k.merge(value, k.affine(hs[l - 1]!.ref, d.ref));
    }
    d.dispose();
  }
  return { losses, stat: value, residuals: { ...base, dzT } };
}


/**
 * The gradients of Σ wᵢLᵢ from the residuals of {@link forwardWithStats}, written as explicit
 * batched products (checked against autodiff in the tests). With a stem, the first layer's cotangent
 * goes on to the stem's features (dz·W₀ᵀ) and through the stem's backward pass; the result has the
 * same tree shape as params. Borrows params; consumes weights and residuals.
 */
export function combinedGrads(params: Params, weights: np.Array, res: Residuals, combine?: Combine, seed?: np.Array): Params {
  const L = params.trunk.W.length;
  const T = params.heads.W.shape[0]!;
  const { hs, masks, dout } = res;
  if (!params.stem !== !res.stem) throw new Error("combinedGrads: params and residuals disagree on the convolutional stem");
  const w3 = weights.ref.reshape([T, 1, 1]);
  const doutW = dout.mul(w3.ref);
  const gHeadW = np.einsum("bk,tbo->tko", hs[L]!.ref, doutW.ref);
  const gHeadB = doutW.ref.sum(1);
  let dz: np.Array;
  if (combine) {
    if (!res.dzT || !seed) throw new Error("combinedGrads: a combiner needs per-task cotangents and a seed");
    doutW.dispose();
    w3.dispose();
    dz = combine(res.dzT, weights, seed);
  } else if (res.dzT) {
    weights.dispose();
    doutW.dispose();
    dz = res.dzT.mul(w3).sum(0);
  } else {
    weights.dispose();
    w3.dispose();
    dz = np.einsum("tbo,tko->tbk", doutW, params.heads.W.ref).sum(0).mul(masks[L - 1]!.ref);
  }
  const gW: np.Array[] = new Array(L);
  const gb: np.Array[] = new Array(L);
  for (let l = L - 1; l >= 0; l--) {
    gW[l] = np.matmul(hs[l]!.ref.transpose(), dz.ref);
    gb[l] = dz.ref.sum(0);
    if (l > 0) dz = np.matmul(dz, params.trunk.W[l]!.ref.transpose()).mul(masks[l - 1]!.ref);
  }
  hs.forEach((h) => h.dispose());
  masks.forEach((m) => m.dispose());
  const grads: Params = { trunk: { W: gW, b: gb }, heads: { W: gHeadW, b: gHeadB } };
  if (params.stem && res.stem) {
    grads.stem = stemBackward(params.stem, res.stem, np.matmul(dz, params.trunk.W[0]!.ref.transpose()));
  } else dz.dispose();
  return grads;
}

/**
 * Losses, Σ wᵢLᵢ gradients and per-task gradient norms ‖∇Lᵢ‖ in one pass (GradNorm's step).
 * Borrows params; consumes weights, x and y.
 */
export function lossesAndGrads(
  params: Params,
  weights: np.Array,
  x: np.Array,
  y: np.Array,
  loss: TaskLoss,
  stat: GradStatistic | undefined,
  stem?: ConvStemConfig,
): { losses: np.Array; grads: Params; gradNorms?: np.Array } {
  const f = forwardWithStats(params, x, y, loss, stat ? { mode: stat, kind: "norms" } : undefined, false, stem);
  const grads = combinedGrads(params, weights, f.residuals);
  return f.stat ? { losses: f.losses, grads, gradNorms: np.sqrt(f.stat) } : { losses: f.losses, grads };
}

/**
 * The statistic's value as the balancer sees it, flattened after the losses into one array so
 * the host reads back once: [T] losses, then norms [T] (square roots taken here), the Gramian [T·T], or
 * the largest and the mean gradient magnitudes [2T], or the kernel traces [T].
 */
export function observedArray(losses: np.Array, stat: np.Array | undefined, request: StatRequest | undefined): np.Array {
  if (!stat || !request) return losses;
  const flat = request.kind === "norms" ? np.sqrt(stat) : request.kind === "abs" ? absMaxMean(stat) : stat.reshape([-1]); // gramian [T·T], ntk [T]
  return np.concatenate([losses, flat]);
}


export interface StepConfig {
  readonly model: MultiHeadMlpConfig;
  readonly loss: TaskLoss;
  readonly optimizer: AdamOptions;
  readonly stat?: StatRequest | undefined;
  /** Replaces Σₜ wₜ·dzTₜ as the trunk's cotangent (GradDrop); the step then takes a seed argument. */
  readonly combine?: Combine | undefined;
}

/** Build-time checks of a step config: the model (and its stem), 'shared' statistics with a stem, no ntk statistic. */
function checkStepConfig(config: StepConfig): void {
  checkConfig(config.model);
  if (config.stat?.kind === "ntk") throw new Error(noKernelTraces);
  const problem = config.model.stem ? stemModeProblem(config.stat?.mode) : null;
  if (problem) throw new Error(problem);
}

/**
 * Builds the jit-compiled training step for weights known before the step (timing `next`):
 * forward, per-task losses, the requested statistic, the weighted backward pass and the Adam
 * update, in one compiled function. Call as step(params, optState, weights[T], x[B,D], y[T,B,O], seed);
 * it consumes all arguments.
 */
export function buildTrainStep(config: StepConfig) {
  checkStepConfig(config);
  const opt = adam(config.optimizer);
  const step = jit((params: Params, optState: OptState, weights: np.Array, x: np.Array, y: np.Array, seed: np.Array) => {
    const f = forwardWithStats(params, x, y, config.loss, config.stat, config.combine !== undefined, config.model.stem);
    let grads: Params;
    if (config.combine) grads = combinedGrads(params, weights, f.residuals, config.combine, seed);
    else {
      seed.dispose();
      grads = combinedGrads(params, weights, f.residuals);
    }
    const { params: next, state } = opt.update(params, grads, optState);
    const out: StepOutput = { params: next, optState: state, observed: observedArray(f.losses, f.stat, config.stat) };
    return out as unknown as JsTree<np.Array>;
  });
  return {
    /** The seed is a uint32 scalar array, used only with a combiner. */
    step: step as unknown as (p: Params, s: OptState, w: np.Array, x: np.Array, y: np.Array, seed: np.Array) => StepOutput,
    initOptState: (params: Params) => opt.init(params),
    dispose: () => step.dispose(),
  };
}

/**
 * Builds the two jit-compiled halves of a step whose weights depend on this step's statistics
 * (timing `current`, e.g. MGDA): `observe(params, x, y)` → { observed, residuals } (the forward
 * pass and the statistic, keeping what the backward pass needs), then, after the host has
 * computed the weights, `apply(params, optState, weights, residuals)` → { params, optState }.
 * The forward pass runs once. `observe` consumes x and y and borrows nothing: pass tree.ref(params).
 */
export function buildTwoPhaseStep(config: StepConfig) {
  checkStepConfig(config);
  const opt = adam(config.optimizer);
  const observe = jit((params: Params, x: np.Array, y: np.Array) => {
    const f = forwardWithStats(params, x, y, config.loss, config.stat, false, config.model.stem);
    tree.dispose(params);
    return { observed: observedArray(f.losses, f.stat, config.stat), residuals: f.residuals } as unknown as JsTree<np.Array>;
  });
  const apply = jit((params: Params, optState: OptState, weights: np.Array, residuals: Residuals) => {
    const grads = combinedGrads(params, weights, residuals);
    const { params: next, state } = opt.update(params, grads, optState);
    return { params: next, optState: state } as unknown as JsTree<np.Array>;
  });
  return {
    observe: observe as unknown as (p: Params, x: np.Array, y: np.Array) => { observed: np.Array; residuals: Residuals },
    apply: apply as unknown as (p: Params, s: OptState, w: np.Array, r: Residuals) => { params: Params; optState: OptState },
    initOptState: (params: Params) => opt.init(params),
    dispose: () => {
      observe.dispose();
      apply.dispose();
    },
  };
}

/** jit-compiled per-task losses on a batch: (params, x, y) → [T]; pass the stem's config if the model has one. Consumes its arguments. */
export function buildEvalLosses(loss: TaskLoss, stem?: ConvStemConfig) {
  const f = jit((params: Params, x: np.Array, y: np.Array) => {
    const out = forward(params, x, stem);
    tree.dispose(params);
    return loss.value(out, y);
  });
  return f as unknown as ((p: Params, x: np.Array, y: np.Array) => np.Array) & { dispose(): void };
}
