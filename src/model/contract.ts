import type { numpy as np, JsTree } from "@jax-js/jax";
import type { ModelPassOptions, ModelPassResult, ModelStatRequest } from "./generic.js";

/** A tree of jax-js arrays (objects, arrays and arrays of them). */
export type Tree = JsTree<np.Array>;

/**
 * The parameters of a multitask model: the shared part's and the task part's, any trees of arrays.
 * With a split trunk ({@link MultitaskModel.split}) `shared` is `{ body, last }`: `last` holds the
 * parameters of the last shared layer (GradNorm's W).
 */
export type ModelParams<S extends Tree = Tree, K extends Tree = Tree> = {
  readonly shared: S;
  readonly task: K;
};

/**
 * A multitask model as plain jax-js functions over parameter trees — no base class. The batch is
 * any tree of arrays (inputs and targets, e.g. `{ x, y }`).
 *
 * - the shared trunk, `trunk(params, batch)` → the representation (an array of any shape), reading
 *   `params.shared` only; or `split`, the same trunk cut at its last shared layer;
 * - the task part, `tasks(params, repT, batch)` → the T losses as one [T] array, reading
 *   `params.task` and the batch (an MMoE gate may read the input). It receives the representation
 *   **replicated T times**, repT [T, …rep], and task t must read copy t only: then one backward pass
 *   gives every task's own cotangent at the representation (the library's per-task statistics rest on
 *   this). Stacked heads read it naturally (e.g. `einsum("tbk,tko->tbo", repT, W)`); T separate heads
 *   read `repT` row t each.
 *
 * Ownership: model functions **borrow** their arguments (params, batch and repT stay owned by the
 * caller, which frees them): pass `.ref` of an array to any jax-js operation, as with any array you
 * keep using. They return arrays they own.
 */
export interface MultitaskModel<B extends Tree = Tree> {
  readonly numTasks: number;
  /** The shared trunk; give either this or {@link split}. */
  readonly trunk?: (params: ModelParams, batch: B) => np.Array;
  /**
   * The trunk cut at its last shared layer: `body(params, batch)` → z, the last layer's input;
   * `last(params, z)` → the representation; with `params.shared = { body, last }`. Needed for the
   * `lastShared` gradient mode (GradNorm's default): its statistics are over the leaves of
   * `params.shared.last` — GradNorm's W. Both functions may read any shared parameter (gradients are
   * taken through both): keep the last layer's bias in `body` to measure its kernel alone (the paper's
   * W, as the built-in MLP does), or in `last` to include it.
   */
  readonly split?: {
    readonly body: (params: ModelParams, batch: B) => np.Array;
    readonly last: (params: ModelParams, z: np.Array) => np.Array;
  };
  readonly tasks: (params: ModelParams, repT: np.Array, batch: B) => np.Array;
  /**
   * Hand-written rules for this model (the fast tier), used by the steps instead of the generic
   * {@link modelPass} when present; they must give the same results (the tests check them against
   * autodiff). Models built from the library's own layers have them.
   */
  readonly fast?: FastTier<B>;
  /**
   * Optional, for the `ntk` statistic (NTK weights): the trace of each task's neural-tangent-kernel
   * block per output entry, τₜ = (1/Mₜ)·Σⱼ‖∂rₜⱼ/∂θ‖² over the Mₜ pointwise outputs rₜⱼ whose mean square
   * is task t's loss (a PINN term's residuals) and all parameters θ, as one [T] array. Borrows params and
   * batch. `pinnModel` has it.
   */
  readonly kernelTraces?: (params: ModelParams, batch: B) => np.Array;
  /**
   * Where each batch array's rows are, as a tree shaped like the batch (e.g. `{ x: 0, y: 1 }`; null:
   * an array without rows). Optional; with it, a batch whose arrays disagree on the row count is
   * refused (a DataError) from the first step, and every later batch is checked against it.
   */
  readonly batchAxes?: JsTree<number | null>;
}

/**
 * A model's own implementation of {@link modelPass} (same arguments and results; borrows params and
 * batch), optionally split in two halves that keep the forward pass's residuals between two compiled
 * calls, for methods of timing `current` (then the forward pass runs once per step).
 */
export interface FastTier<B extends Tree> {
  pass(params: ModelParams, batch: B, options: ModelPassOptions): ModelPassResult;
  /** Losses, the statistic and what `apply` needs (owned trees of arrays). */
  observe?(params: ModelParams, batch: B, stat: ModelStatRequest | undefined): { losses: np.Array; stat?: np.Array; residuals: Tree };
  /** The gradients of Σ wᵢLᵢ from `observe`'s residuals (consumed) and the weights (consumed). */
  apply?(params: ModelParams, residuals: Tree, weights: np.Array): ModelParams;
}

/** Error raised for a model that breaks the contract: names the problem. */
export class ModelContractError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelContractError";
  }
}

/** The static part of the contract: T, trunk xor split, and the parameter tree's top level. */
export function checkModelShape(model: MultitaskModel<never>, params?: ModelParams): void {
  const T = model.numTasks;
  if (!Number.isInteger(T) || T < 1) throw new ModelContractError(`numTasks must be an integer ≥ 1, got ${String(T)}`);
  if (typeof model.tasks !== "function") throw new ModelContractError("the model needs a task part: tasks(params, repT, batch) → losses [T]");
  const hasTrunk = typeof model.trunk === "function";
  const hasSplit = model.split !== undefined;
  if (hasTrunk === hasSplit) throw new ModelContractError("give the model either a trunk(params, batch) or a split { body, last }, not both and not neither");
  if (hasSplit && (typeof model.split!.body !== "function" || typeof model.split!.last !== "function")) {
    throw new ModelContractError("a split needs two functions: body(params, batch) → z and last(params, z) → representation");
  }
  if (params === undefined) return;
  if (params === null || typeof params !== "object" || !("shared" in params) || !("task" in params)) {
    throw new ModelContractError("the parameters must be { shared, task } (trees of arrays)");
  }
  if (hasSplit) {
    const s = params.shared as Record<string, unknown>;
    if (s === null || typeof s !== "object" || !("body" in s) || !("last" in s)) {
      throw new ModelContractError("with a split trunk the shared parameters must be { body, last } (last: the last shared layer's parameters)");
    }
  }
}
