import { numpy as np, tree } from "@jax-js/jax";
import type { FastTier, ModelParams, MultitaskModel } from "../model/contract.js";
import type { ModelPassOptions, ModelPassResult, ModelStatRequest } from "../model/generic.js";
import { checkConfig, headsForward, trunkInput, type MultiHeadMlpConfig, type Params } from "./mlp.js";
import { combinedGrads, forwardWithStats, type Residuals } from "../train/step.js";
import type { TaskLoss } from "../train/losses.js";

/** A batch of the built-in MLP: inputs x [B, inputDim] and targets y [T, B, outputDim]. */
export interface MlpBatch {
  readonly x: np.Array;
  readonly y: np.Array;
  [key: string]: np.Array;
}

/**
 * The built-in MLP's parameters in the model contract's layout: the trunk split at its last shared
 * layer with only that layer's kernel in `last` (GradNorm's W, as the paper and the fast rules
 * measure it; its bias sits with the others in `body`), the stacked heads as the task part.
 */
export type MlpModelParams = ModelParams<
  { body: { W: np.Array[]; b: np.Array[]; stem?: Params["stem"] }; last: { W: np.Array } },
  { W: np.Array; b: np.Array }
>;

/** The contract layout of built-in parameters (the same arrays, no copies; consumes nothing). */
export function toModelParams(p: Params): MlpModelParams {
  const L = p.trunk.W.length;
  const body = { W: p.trunk.W.slice(0, L - 1), b: p.trunk.b.slice(), ...(p.stem ? { stem: p.stem } : {}) };
  return { shared: { body, last: { W: p.trunk.W[L - 1]! } }, task: { W: p.heads.W, b: p.heads.b } };
}

/** The built-in layout of contract parameters (the same arrays, no copies). */
export function fromModelParams(mp: ModelParams): Params {
  const m = mp as MlpModelParams;
  const p: Params = { trunk: { W: [...m.shared.body.W, m.shared.last.W], b: m.shared.body.b }, heads: { W: m.task.W, b: m.task.b } };
  if (m.shared.body.stem) p.stem = m.shared.body.stem;
  return p;
}

/**
 * The built-in multitask MLP (shared ReLU trunk, optionally behind the LeNet stem, and T stacked
 * affine heads with a per-task loss) as a model in the contract: generic functions (split at the last
 * shared layer) for the contract's checks and for anyone who wants autodiff through it, and the
 * hand-written fast tier (`fast`: explicit batched backward products, the per-task norm and Gramian
 * kernels of src/stats, residuals kept between the two halves of a `current`-timing step) that the
 * steps use. The fast tier is the same computation as `buildTrainStep` / `createTrainer`'s, so
 * runs give the same numbers through either trainer.
 *
 * With a convolutional stem the generic functions cannot be differentiated by jax-js (its gather-based
 * im2col has no vjp inside jit), so such a model trains through the fast tier only, and the `shared`
 * gradient mode is refused (see stemModeProblem).
 */
export function mlpModel(config: MultiHeadMlpConfig, loss: TaskLoss): MultitaskModel<MlpBatch> {
  checkConfig(config);
  const { numTasks: T, stem } = config;
  const legacy = (params: ModelParams) => fromModelParams(params);
  const fast: FastTier<MlpBatch> = {
    pass(params: ModelParams, batch: MlpBatch, options: ModelPassOptions): ModelPassResult {
      const p = legacy(params);
      const { stat, weights, combine, seed } = options;
      const f = forwardWithStats(p, batch.x.ref, batch.y.ref, loss, stat, combine !== undefined, stem);
      if (!weights) {
        seed?.dispose();
        tree.dispose(f.residuals as never);
        return f.stat ? { losses: f.losses, stat: f.stat } : { losses: f.losses };
      }
      const grads = toModelParams(combinedGrads(p, weights, f.residuals, combine, seed));
      return f.stat ? { losses: f.losses, stat: f.stat, grads } : { losses: f.losses, grads };
    },
    observe(params: ModelParams, batch: MlpBatch, stat: ModelStatRequest | undefined) {
      const f = forwardWithStats(legacy(params), batch.x.ref, batch.y.ref, loss, stat, false, stem);
      const residuals = f.residuals as never;
      return f.stat ? { losses: f.losses, stat: f.stat, residuals } : { losses: f.losses, residuals };
    },
    apply(params: ModelParams, residuals, weights: np.Array) {
      return toModelParams(combinedGrads(legacy(params), weights, residuals as unknown as Residuals));
    },
  };
  const L = config.hidden.length;
  return {
    numTasks: T,
    split: {
      body(params, batch) {
        const p = legacy(params);
        let h = trunkInput(p, batch.x.ref, stem);
        for (let l = 0; l < L - 1; l++) h = np.maximum(np.matmul(h, p.trunk.W[l]!.ref).add(p.trunk.b[l]!.ref), 0);
        return h;
      },
      last(params, z) {
        const p = legacy(params);
        return np.maximum(np.matmul(z.ref, p.trunk.W[L - 1]!.ref).add(p.trunk.b[L - 1]!.ref), 0);
      },
    },
    tasks(params, repT, batch) {
      const p = legacy(params);
      const [, , O] = p.heads.W.shape as [number, number, number];
      const out = np.einsum("tbk,tko->tbo", repT.ref, p.heads.W.ref).add(p.heads.b.ref.reshape([T, 1, O]));
      return loss.value(out, batch.y.ref);
    },
    fast,
  };
}

/** The built-in model's outputs [T, B, O] for inputs x (borrows params, consumes x). */
export function mlpOutputs(params: ModelParams, x: np.Array, stem?: MultiHeadMlpConfig["stem"]): np.Array {
  const p = fromModelParams(params);
  let h = trunkInput(p, x, stem);
  for (let l = 0; l < p.trunk.W.length; l++) h = np.maximum(np.matmul(h, p.trunk.W[l]!.ref).add(p.trunk.b[l]!.ref), 0);
  return headsForward(p.heads, h);
}
