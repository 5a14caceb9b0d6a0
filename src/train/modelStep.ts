import { numpy as np, jit, tree, type JsTree } from "@jax-js/jax";
import type { ModelParams, MultitaskModel, Tree } from "../model/contract.js";
import { modelPass, type ModelStatRequest, type RepresentationCombiner } from "../model/generic.js";
import type { TreeOptimizer } from "../optim/types.js";

/** An optimizer over parameter trees, optax-style (src/optim: adam, adamw, sgd, or your own): pure init/update that run inside jit. */
export type StepOptimizer = TreeOptimizer;

/**
 * The losses and the statistic flattened into one array, so the host reads back once:
 * [T] losses, then norms [T] (square roots taken here) or the Gramian [T·T].
 */
export function observedOf(losses: np.Array, stat: np.Array | undefined, request: ModelStatRequest | undefined): np.Array {
  if (!stat || !request) return losses;
  return np.concatenate([losses, request.kind === "norms" ? np.sqrt(stat) : stat.reshape([-1])]);
}

export interface ModelStepConfig<B extends Tree> {
  readonly model: MultitaskModel<B>;
  readonly optimizer: StepOptimizer;
  readonly stat?: ModelStatRequest | undefined;
  readonly combine?: RepresentationCombiner | undefined;
}

export interface ModelStepOutput {
  readonly params: ModelParams;
  readonly optState: Tree;
  /** See {@link observedOf}. */
  readonly observed: np.Array;
}

/**
 * The jit-compiled training step of a model in the contract, for weights known before the step
 * (timing `next`): forward, losses, the requested statistic, the gradients of Σ wᵢLᵢ and the optimizer
 * update in one compiled function. `step(params, optState, weights [T], batch, seed)` consumes every
 * argument (the seed, a uint32 scalar, is used only with a combiner).
 */
export function buildModelStep<B extends Tree>(config: ModelStepConfig<B>) {
  const { model, optimizer, stat, combine } = config;
  const step = jit((params: ModelParams, optState: Tree, weights: np.Array, batch: B, seed: np.Array) => {
    const pass = modelPass(model, params, batch, { stat, weights, combine, seed: combine ? seed : undefined });
    if (!combine) seed.dispose();
    tree.dispose(batch);
    const { params: next, state } = optimizer.update(params as unknown as Tree, pass.grads as unknown as Tree, optState);
    return { params: next, optState: state, observed: observedOf(pass.losses, pass.stat, stat) } as unknown as JsTree<np.Array>;
  });
  return {
    step: step as unknown as (p: ModelParams, s: Tree, w: np.Array, batch: B, seed: np.Array) => ModelStepOutput,
    dispose: () => step.dispose(),
  };
}

/**
 * The two jit-compiled halves of a step whose weights depend on this step's statistics (timing
 * `current`, e.g. MGDA): `observe(params, batch)` → observed (losses and statistic), then, once the host
 * has the weights, `apply(params, optState, weights, batch)` → { params, optState }. The generic tier
 * runs the forward pass again in `apply` (it keeps no residuals between two compiled functions).
 * Both consume their arguments.
 */
export function buildModelTwoPhase<B extends Tree>(config: ModelStepConfig<B>) {
  const { model, optimizer, stat } = config;
  if (config.combine) throw new Error("a representation combiner needs timing 'next'");
  const observe = jit((params: ModelParams, batch: B) => {
    const pass = modelPass(model, params, batch, { stat });
    tree.dispose(params);
    tree.dispose(batch);
    return observedOf(pass.losses, pass.stat, stat);
  });
  const apply = jit((params: ModelParams, optState: Tree, weights: np.Array, batch: B) => {
    const pass = modelPass(model, params, batch, { weights });
    pass.losses.dispose();
    tree.dispose(batch);
    const { params: next, state } = optimizer.update(params as unknown as Tree, pass.grads as unknown as Tree, optState);
    return { params: next, optState: state } as unknown as JsTree<np.Array>;
  });
  return {
    observe: observe as unknown as (p: ModelParams, batch: B) => np.Array,
    apply: apply as unknown as (p: ModelParams, s: Tree, w: np.Array, batch: B) => { params: ModelParams; optState: Tree },
    dispose: () => {
      observe.dispose();
      apply.dispose();
    },
  };
}
