import { numpy as np } from "@jax-js/jax";
import type { ModelParams, MultitaskModel, Tree } from "../model/contract.js";
import { dense, relu, type Layer } from "../model/layers.js";
import { layersModel, type LayersBatch, type LayersModelParams } from "../model/layersModel.js";
import { checkConfig, headsForward, trunkInput, type MultiHeadMlpConfig, type Params } from "./mlp.js";
import { convStemLayer } from "./conv.js";
import type { TaskLoss } from "../train/losses.js";

/** A batch of the built-in MLP: inputs x [B, inputDim] and targets y [T, B, outputDim]. */
export type MlpBatch = LayersBatch;

/**
 * The built-in MLP's parameters in the layer model's layout (see {@link LayersModelParams}): one entry
 * per trunk layer — the stem if any, then dense and ReLU alternately — with the last dense layer's
 * kernel as `shared.last.W` (GradNorm's W) and the stacked heads as the task part.
 */
export type MlpModelParams = LayersModelParams;

/** The layer layout of built-in parameters (the same arrays, no copies; consumes nothing). */
export function toModelParams(p: Params): MlpModelParams {
  const L = p.trunk.W.length;
  const body: Tree[] = p.stem ? [p.stem as unknown as Tree] : [];
  for (let l = 0; l < L; l++) body.push(l < L - 1 ? { W: p.trunk.W[l]!, b: p.trunk.b[l]! } : { b: p.trunk.b[l]! }, {});
  return { shared: { body, last: { W: p.trunk.W[L - 1]! } }, task: { W: p.heads.W, b: p.heads.b } };
}

/** The built-in layout of layer-layout parameters (the same arrays, no copies). */
export function fromModelParams(mp: ModelParams): Params {
  const m = mp as MlpModelParams;
  const body = m.shared.body;
  const hasStem = body.length % 2 === 1;
  const dense = (hasStem ? body.slice(1) : body).filter((_, i) => i % 2 === 0) as { W?: np.Array; b: np.Array }[];
  const p: Params = {
    trunk: { W: dense.map((d, i) => (i === dense.length - 1 ? m.shared.last.W : d.W!)), b: dense.map((d) => d.b) },
    heads: { W: m.task.W, b: m.task.b },
  };
  if (hasStem) p.stem = body[0] as unknown as Params["stem"];
  return p;
}

/**
 * The built-in multitask MLP (shared ReLU trunk, optionally behind the LeNet stem, and T stacked
 * affine heads with a per-task loss) as a model composed of the library's layers: `convStemLayer`,
 * `dense` and `relu`, with the layer model's fast tier. Its arithmetic is the one of `buildTrainStep` /
 * `createTrainer`, so runs give the same numbers through either trainer. With the stem, the fast tier
 * refuses the `shared` gradient mode (stemModeProblem).
 */
export function mlpModel(config: MultiHeadMlpConfig, loss: TaskLoss): MultitaskModel<MlpBatch> {
  checkConfig(config);
  const trunk: Layer[] = config.stem ? [convStemLayer(config.stem) as unknown as Layer] : [];
  for (const h of config.hidden) trunk.push(dense(h) as unknown as Layer, relu() as unknown as Layer);
  return layersModel({ inputShape: [config.inputDim], trunk, numTasks: config.numTasks, outputDim: config.outputDim, loss });
}

