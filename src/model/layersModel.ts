import { numpy as np, tree } from "@jax-js/jax";
import type { FastTier, ModelParams, MultitaskModel, Tree } from "./contract.js";
import { ModelContractError } from "./contract.js";
import type { ModelPassOptions, ModelPassResult, ModelStatRequest } from "./generic.js";
import { layerInShapes, sequential, type Layer, type Shape } from "./layers.js";
import { statKernels } from "../stats/gradNorms.js";
import type { TaskLoss } from "../train/losses.js";
import { Rng } from "../util/rng.js";

/** A batch of a layer model: inputs x [B, …inputShape] and targets y [T, B, outputDim]. */
export interface LayersBatch {
  readonly x: np.Array;
  readonly y: np.Array;
  [key: string]: np.Array;
}

export interface LayersModelConfig {
  /** The per-example input shape (e.g. [250], or [36, 36, 1] for images). */
  readonly inputShape: Shape;
  /** The shared trunk, in order; its output is the representation [B, H]. */
  readonly trunk: readonly Layer[];
  readonly numTasks: number;
  /** Outputs per task of the stacked linear heads. */
  readonly outputDim: number;
  /** The per-task loss on the heads' outputs [T, B, outputDim] against the targets y. */
  readonly loss: TaskLoss;
}

/**
 * Parameters of a layer model: the trunk split at its last layer with parameters (which must be a
 * dense layer): `shared.last = { W }`, its kernel — GradNorm's W, as the paper measures it — while its
 * bias stays with the other layers' parameters in `shared.body` (one entry per trunk layer); the task
 * part is the stacked heads { W [T, H, O], b [T, O] }.
 */
export type LayersModelParams = ModelParams<{ body: Tree[]; last: { W: np.Array } }, { W: np.Array; b: np.Array }>;

/**
 * A multitask model composed of the library's layers (src/model/layers.ts) with T stacked linear heads:
 * generic functions for the contract (and its checks), plus the fast tier, in which every layer's own
 * backward rules — one for the weighted cotangent, one for the T per-task cotangents with the layer's
 * share of the norms or the Gramian (the cheaper of the direct and the B² form, chosen by shape) —
 * replace `vjp`. `initLayersModel` gives seeded parameters; the built-in MLP and its LeNet stem are
 * instances ({@link mlpModel}).
 */
export function layersModel(config: LayersModelConfig): MultitaskModel<LayersBatch> & { readonly config: LayersModelConfig } {
  const { trunk, numTasks: T, loss, inputShape } = config;
  const lastIndex = lastParamLayer(trunk);
  if (lastIndex < 0) throw new ModelContractError("a layer model's trunk needs a layer with parameters");
  if (!trunk[lastIndex]!.name.startsWith("dense")) {
    throw new ModelContractError(`the trunk's last layer with parameters must be dense (GradNorm's W), got ${trunk[lastIndex]!.name}`);
  }
  const stack = sequential(trunk);
  const shapes = layerInShapes(trunk, inputShape);
  /** The parameters of every trunk layer, the last dense one's kernel put back in (borrowed arrays). */
  const layerParams = (shared: LayersModelParams["shared"]): Tree[] =>
    shared.body.map((p, i) => (i === lastIndex ? { W: shared.last.W, b: (p as { b: np.Array }).b } : p));
  const sharedOf = (params: ModelParams) => params.shared as LayersModelParams["shared"];
  const headsOf = (params: ModelParams) => params.task as LayersModelParams["task"];

  /** Trunk forward from layer `from` to `to` (exclusive) without residuals (borrows params, consumes x). */
  const run = (lp: Tree[], x: np.Array, from: number, to: number) => {
    let h = x;
    for (let i = from; i < to; i++) h = trunk[i]!.forward(lp[i] as never, h, false).y;
    return h;
  };
  /** Trunk forward keeping every layer's residuals (borrows params, consumes x). */
  const forwardKeep = (lp: Tree[], x: np.Array) => {
    const { y: rep, res } = stack.forward(lp, x, true);
    return { rep, res: res as Tree[] };
  };
  /** The statistic from the per-task cotangents at the representation (borrows dRepT and res). */
  const statistic = (lp: Tree[], res: Tree[], dRepT: np.Array, stat: ModelStatRequest): np.Array => {
    if (stat.kind === "ntk") throw new ModelContractError("the ntk statistic needs per-sample outputs (kernelTraces), which a model from layers does not define");
    const kind = stat.kind;
    const k = statKernels[kind];
    if (stat.mode === "representation") return k.stacked(dRepT.ref);
    const stop = stat.mode === "lastShared" ? lastIndex : 0;
    let d: np.Array | null = dRepT.ref;
    let acc: np.Array | null = null;
    for (let i = trunk.length - 1; i >= stop; i--) {
      const l = trunk[i]!;
      const collect = stat.mode === "shared" || i === lastIndex;
      const o = l.backwardT(lp[i] as never, res[i]!, d!, kind, collect ? acc : null, stat.mode === "lastShared", shapes[i]!, i > stop);
      if (collect) acc = o.acc;
      else o.acc?.dispose();
      d = o.dxT;
    }
    if (acc === null) throw new ModelContractError("the statistic's layers have no parameters");
    return acc;
  };
  /** Gradients of the trunk from the cotangent at the representation (consumes res and dRep). */
  const trunkGrads = (lp: Tree[], res: Tree[], dRep: np.Array): LayersModelParams["shared"] => {
    const dp = stack.backward(lp, res, dRep, inputShape, false).dp;
    const lastGrads = dp[lastIndex] as { W: np.Array; b: np.Array };
    dp[lastIndex] = { b: lastGrads.b };
    return { body: dp, last: { W: lastGrads.W } };
  };
  /** Heads forward and loss: outputs, per-task losses and dL/dout [T, B, O] (borrows rep). */
  const heads = (p: LayersModelParams["task"], rep: np.Array, y: np.Array) => {
    const [, , O] = p.W.shape as [number, number, number];
    const out = np.einsum("bk,tko->tbo", rep.ref, p.W.ref).add(p.b.ref.reshape([T, 1, O]));
    return loss.valueAndGrad(out, y);
  };
  /** The weighted gradients from the forward pass's results (consumes weights, dout, res, dRepT, seed). */
  const weighted = (
    params: ModelParams,
    lp: Tree[],
    rep: np.Array,
    res: Tree[],
    dout: np.Array,
    dRepT: np.Array | undefined,
    weights: np.Array,
    combine: ModelPassOptions["combine"],
    seed: np.Array | undefined,
  ): ModelParams => {
    const h = headsOf(params);
    const w3 = weights.ref.reshape([T, 1, 1]);
    const doutW = dout.mul(w3.ref);
    const gHeadW = np.einsum("bk,tbo->tko", rep.ref, doutW.ref);
    const gHeadB = doutW.ref.sum(1);
    let dRep: np.Array;
    if (combine) {
      if (!dRepT || !seed) throw new Error("layersModel: a combiner needs the per-task cotangents and a seed");
      doutW.dispose();
      w3.dispose();
      dRep = combine(dRepT, weights, seed, rep);
    } else if (dRepT) {
      weights.dispose();
      doutW.dispose();
      dRep = dRepT.mul(w3).sum(0);
    } else {
      weights.dispose();
      w3.dispose();
      dRep = np.einsum("tbo,tko->tbk", doutW, h.W.ref).sum(0);
    }
    rep.dispose();
    return { shared: trunkGrads(lp, res, dRep), task: { W: gHeadW, b: gHeadB } };
  };

  /**
   * The forward half shared by the fast tier's calls: trunk forward with residuals, heads and loss, and —
   * when a statistic or a combiner needs them — the per-task cotangents at the representation and the
   * statistic (borrows params and batch).
   */
  const front = (params: ModelParams, batch: LayersBatch, stat: ModelStatRequest | undefined, needDRepT: boolean) => {
    const lp = layerParams(sharedOf(params));
    const { rep, res } = forwardKeep(lp, batch.x.ref);
    const { losses, grads: dout } = heads(headsOf(params), rep, batch.y.ref);
    const dRepT = stat || needDRepT ? np.einsum("tbo,tko->tbk", dout.ref, headsOf(params).W.ref) : undefined;
    const statValue = stat ? statistic(lp, res, dRepT!, stat) : undefined;
    return { lp, rep, res, losses, dout, dRepT, statValue };
  };

  const fast: FastTier<LayersBatch> = {
    pass(params: ModelParams, batch: LayersBatch, options: ModelPassOptions): ModelPassResult {
      const { stat, weights, combine, seed } = options;
      const { lp, rep, res, losses, dout, dRepT, statValue } = front(params, batch, stat, combine !== undefined);
      if (!weights) {
        seed?.dispose();
        dRepT?.dispose();
        dout.dispose();
        rep.dispose();
        tree.dispose(res);
        return statValue ? { losses, stat: statValue } : { losses };
      }
      const grads = weighted(params, lp, rep, res, dout, dRepT, weights, combine, seed);
      return statValue ? { losses, stat: statValue, grads } : { losses, grads };
    },
    observe(params: ModelParams, batch: LayersBatch, stat: ModelStatRequest | undefined) {
      const { rep, res, losses, dout, dRepT, statValue } = front(params, batch, stat, false);
      const residuals = (dRepT ? { rep, res, dout, dRepT } : { rep, res, dout }) as unknown as Tree;
      return statValue ? { losses, stat: statValue, residuals } : { losses, residuals };
    },
    apply(params: ModelParams, residuals: Tree, weights: np.Array) {
      const r = residuals as unknown as { rep: np.Array; res: Tree[]; dout: np.Array; dRepT?: np.Array };
      return weighted(params, layerParams(sharedOf(params)), r.rep, r.res, r.dout, r.dRepT, weights, undefined, undefined);
    },
  };

  return {
    numTasks: T,
    config,
    split: {
      body: (params, batch) => run(layerParams(sharedOf(params)), batch.x.ref, 0, lastIndex),
      last: (params, z) => run(layerParams(sharedOf(params)), z.ref, lastIndex, trunk.length),
    },
    tasks(params, repT, batch) {
      const h = headsOf(params);
      const [, , O] = h.W.shape as [number, number, number];
      const out = np.einsum("tbk,tko->tbo", repT.ref, h.W.ref).add(h.b.ref.reshape([T, 1, O]));
      return loss.value(out, batch.y.ref);
    },
    fast,
  };
}

/** The index of a layer model's last layer with parameters (its dense layer holding GradNorm's W). */
function lastParamLayer(trunk: readonly Layer[]): number {
  return trunk.map((l) => l.hasParams).lastIndexOf(true);
}

/**
 * Seeded initial parameters of a layer model: each trunk layer's own init in order, then the heads
 * uniform in ±1/√H (PyTorch's Linear), all from one generator.
 */
export function initLayersModel(config: LayersModelConfig, seed: number | Rng): LayersModelParams {
  const rng = typeof seed === "number" ? new Rng(seed) : seed;
  const stack = sequential(config.trunk);
  const body = stack.init(config.inputShape, rng);
  const j = lastParamLayer(config.trunk);
  const lastW = (body[j] as { W: np.Array }).W;
  body[j] = { b: (body[j] as { b: np.Array }).b };
  const H = stack.outShape(config.inputShape).at(-1)!;
  const { numTasks: T, outputDim: O } = config;
  const bound = 1 / Math.sqrt(H);
  return {
    shared: { body, last: { W: lastW } },
    task: { W: np.array(rng.uniforms(T * H * O, -bound, bound)).reshape([T, H, O]), b: np.array(rng.uniforms(T * O, -bound, bound)).reshape([T, O]) },
  };
}
