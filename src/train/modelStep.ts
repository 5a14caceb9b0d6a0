import { numpy as np, jit, tree, type JsTree } from "@jax-js/jax";
import type { ModelParams, MultitaskModel, Tree } from "../model/contract.js";
import { modelPass, type Combiner, type ModelPassOptions, type ModelPassResult, type ModelStatRequest } from "../model/generic.js";
import type { TreeOptimizer } from "../optim/types.js";
import { observedArray } from "./step.js";
import { checkBatch, describeBatch, disposeLive, type BatchSignature } from "../model/check.js";
import { ModelContractError } from "../model/contract.js";
import { DataError } from "../data/errors.js";
import { TrainingError } from "./observation.js";

/**
 * The batch checks of a compiled step: every batch is checked against the first one the step ran
 * ({@link checkBatch}: shapes only, nothing read from the device) before it is traced or run, and an
 * error the model throws while being traced for a batch is rethrown naming the batch's shapes. A step
 * consumes its arguments, also when it throws here (the arrays it was handed are freed, except those
 * already freed).
 */
function batchGuard<B extends Tree>(model: MultitaskModel<B>) {
  let first: BatchSignature | undefined;
  /** Set while tracing when the model throws (then the compiled call consumed none of its arguments). */
  let traceFailed = false;
  return {
    /** Wraps the body of a jit-compiled function: notes a failure while it is traced. */
    traced<A extends unknown[], R>(f: (...args: A) => R): (...args: A) => R {
      return (...args: A) => {
        try {
          return f(...args);
        } catch (e) {
          traceFailed = true;
          throw e;
        }
      };
    },
    /** Checks `batch`, then runs `call` (the compiled function on `args`, which hold the batch); frees `args` when either fails before anything ran. */
    run<R>(batch: B, args: unknown[], call: () => R): R {
      let sig: BatchSignature;
      try {
        sig = checkBatch(model, batch, first);
      } catch (e) {
        disposeLive(args);
        throw e;
      }
      traceFailed = false;
      let out: R;
      try {
        out = call();
      } catch (e) {
        if (!traceFailed) throw e;
        traceFailed = false;
        disposeLive(args);
        if (e instanceof TrainingError || e instanceof ModelContractError) throw e;
        const msg = e instanceof Error ? e.message : String(e);
        const changed = first !== undefined && describeBatch(first) !== describeBatch(sig);
        throw changed
          ? new DataError(`the model failed on this batch (${describeBatch(sig)}), shaped unlike the first batch, which it trained on (${describeBatch(first!)}): ${msg}`, { cause: e })
          : Object.assign(new ModelContractError(`the model failed on the batch (${describeBatch(sig)}; do its arrays have the shapes the model reads?): ${msg}`), { cause: e });
      }
      first ??= sig;
      return out;
    },
  };
}

/** An optimizer over parameter trees, optax-style (src/optim: adam, adamw, sgd, or your own): pure init/update that run inside jit. */
export type StepOptimizer = TreeOptimizer;

/**
 * The model's pass: its fast tier's when it has one, else the generic one ({@link modelPass}); the
 * generic one for the ntk statistic, which comes from the model's kernelTraces, not from a tier.
 */
function passOf<B extends Tree>(model: MultitaskModel<B>, stat?: ModelStatRequest): (p: ModelParams, b: B, o: ModelPassOptions) => ModelPassResult {
  return model.fast && stat?.kind !== "ntk" ? model.fast.pass.bind(model.fast) : (p, b, o) => modelPass(model, p, b, o);
}

export interface ModelStepConfig<B extends Tree> {
  readonly model: MultitaskModel<B>;
  readonly optimizer: StepOptimizer;
  readonly stat?: ModelStatRequest | undefined;
  readonly combine?: Combiner | undefined;
}

export interface ModelStepOutput {
  readonly params: ModelParams;
  readonly optState: Tree;
  /** See {@link observedArray}. */
  readonly observed: np.Array;
}

/**
 * The jit-compiled training step of a model in the contract, for weights known before the step
 * (timing `next`): forward, losses, the requested statistic, the gradients of Σ wᵢLᵢ and the optimizer
 * update in one compiled function. `step(params, optState, weights [T], batch, seed)` consumes every
 * argument (the seed, a uint32 scalar, is used only with a combiner), also when it throws. Each batch is
 * checked on the host first (shapes against the model's layout when known and against the first batch,
 * see `checkBatch`; a DataError names the array), and a failure of the model while traced names the
 * batch's shapes.
 */
export function buildModelStep<B extends Tree>(config: ModelStepConfig<B>) {
  const { model, optimizer, stat, combine } = config;
  const run = passOf(model, stat);
  const guard = batchGuard(model);
  const step = jit(
    guard.traced((params: ModelParams, optState: Tree, weights: np.Array, batch: B, seed: np.Array) => {
      const pass = run(params, batch, { stat, weights, combine, seed: combine ? seed : undefined });
      if (!combine) seed.dispose();
      tree.dispose(batch);
      const { params: next, state } = optimizer.update(params as unknown as Tree, pass.grads as unknown as Tree, optState);
      return { params: next, optState: state, observed: observedArray(pass.losses, pass.stat, stat) } as unknown as JsTree<np.Array>;
    }),
  ) as unknown as ((p: ModelParams, s: Tree, w: np.Array, batch: B, seed: np.Array) => ModelStepOutput) & { dispose(): void };
  return {
    step: (p: ModelParams, s: Tree, w: np.Array, batch: B, seed: np.Array): ModelStepOutput => guard.run(batch, [p, s, w, batch, seed], () => step(p, s, w, batch, seed)),
    dispose: () => step.dispose(),
  };
}

/**
 * The two jit-compiled halves of a step whose weights depend on this step's statistics (timing
 * `current`, e.g. MGDA): `observe(params, batch)` → { observed (losses and statistic), residuals }, then,
 * once the host has the weights, `apply(params, optState, weights, batch, residuals)` → { params,
 * optState }. A model with fast-tier halves keeps its forward pass's residuals between the two calls;
 * the generic tier keeps none (residuals are empty) and runs the forward pass again in `apply`.
 * Both consume their arguments; `observe` checks the batch as {@link buildModelStep}'s step does (and
 * consumes its arguments also when it throws).
 */
export function buildModelTwoPhase<B extends Tree>(config: ModelStepConfig<B>) {
  const { model, optimizer, stat } = config;
  if (config.combine) throw new Error("a gradient combination needs timing 'next'");
  const fast = model.fast?.observe && model.fast.apply && stat?.kind !== "ntk" ? model.fast : null;
  const run = passOf(model, stat);
  const guard = batchGuard(model);
  const observeJit = jit(
    guard.traced((params: ModelParams, batch: B) => {
      const o = fast ? fast.observe!(params, batch, stat) : { ...run(params, batch, { stat }), residuals: [] as Tree };
      tree.dispose(params);
      tree.dispose(batch);
      return { observed: observedArray(o.losses, o.stat, stat), residuals: o.residuals } as unknown as JsTree<np.Array>;
    }),
  ) as unknown as ((p: ModelParams, batch: B) => { observed: np.Array; residuals: Tree }) & { dispose(): void };
  const observe = Object.assign((p: ModelParams, batch: B) => guard.run(batch, [p, batch], () => observeJit(p, batch)), { dispose: () => observeJit.dispose() });
  const apply = jit((params: ModelParams, optState: Tree, weights: np.Array, batch: B, residuals: Tree) => {
    let grads: ModelParams;
    if (fast) {
      grads = fast.apply!(params, residuals, weights);
    } else {
      tree.dispose(residuals);
      const pass = run(params, batch, { weights });
      pass.losses.dispose();
      grads = pass.grads!;
    }
    tree.dispose(batch);
    const { params: next, state } = optimizer.update(params as unknown as Tree, grads as unknown as Tree, optState);
    return { params: next, optState: state } as unknown as JsTree<np.Array>;
  });
  return {
    observe: observe as unknown as (p: ModelParams, batch: B) => { observed: np.Array; residuals: Tree },
    apply: apply as unknown as (p: ModelParams, s: Tree, w: np.Array, batch: B, residuals: Tree) => { params: ModelParams; optState: Tree },
    dispose: () => {
      observe.dispose();
      apply.dispose();
    },
  };
}
