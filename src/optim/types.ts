import type { numpy as np, JsTree } from "@jax-js/jax";

/** A parameter tree (or any tree of jax-js arrays). */
export type Tree = JsTree<np.Array>;

/**
 * The shape of an optimizer's state as a function of the parameter tree's type P: TypeScript has
 * no higher-kinded types, so each optimizer declares an interface extending this one whose `state`
 * reads `this["P"]`, and {@link StateOf} applies it to a concrete P (e.g. `AdamState<P>`).
 */
export interface OptimizerStateKind {
  readonly P: Tree;
  readonly state: Tree;
}

/** The state of an optimizer of state kind K over parameters of type P. */
export type StateOf<K extends OptimizerStateKind, P extends Tree> = (K & { readonly P: P })["state"];

/**
 * An optax-style optimizer over any parameter tree: a pair of pure functions that run eagerly or
 * inside a jit-compiled step. The state is a plain tree of jax-js arrays (no numbers, no null), so
 * it can be passed into and returned from `jit`.
 */
export interface TreeOptimizer<K extends OptimizerStateKind = OptimizerStateKind> {
  readonly name: string;
  /** The initial state for `params` (borrowed). */
  init<P extends Tree>(params: P): StateOf<K, P>;
  /** One step. Consumes params, grads and state; returns the stepped params and the next state. */
  update<P extends Tree>(params: P, grads: P, state: StateOf<K, P>): { params: P; state: StateOf<K, P> };
}

/** The state type of optimizer O over parameters P, e.g. `OptimizerState<ReturnType<typeof sgd>, Params>`. */
export type OptimizerState<O extends TreeOptimizer<OptimizerStateKind>, P extends Tree> =
  O extends TreeOptimizer<infer K> ? StateOf<K, P> : never;
