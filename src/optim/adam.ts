import { numpy as np, tree, type JsTree } from "@jax-js/jax";

type Tree = JsTree<np.Array>;

/**
 * Adam (Kingma & Ba 2015) over a parameter tree, as pure init/update functions that run
 * inside a jit-compiled step. Matches PyTorch's Adam: bias-corrected moments, eps added
 * after the square root, no weight decay.
 */
export interface AdamOptions {
  readonly lr: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
}

export type AdamState<P extends Tree> = { m: P; v: P; count: np.Array };

export function adam(options: AdamOptions) {
  const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8 } = options;
  if (!(lr > 0) || !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(eps > 0)) {
    throw new Error(`adam: invalid options ${JSON.stringify(options)} (need lr > 0, 0 ≤ beta < 1, eps > 0)`);
  }
  return {
    /** Zero moments shaped like `params` (borrowed). */
    init<P extends Tree>(params: P): AdamState<P> {
      const zeros = () => tree.map((p: np.Array) => np.zeros(p.shape), params) as P;
      return { m: zeros(), v: zeros(), count: np.array(0) };
    },
    /** Consumes params, grads and state; returns the stepped params and the next state. */
    update<P extends Tree>(params: P, grads: P, state: AdamState<P>): { params: P; state: AdamState<P> } {
      const count = state.count.add(1);
      const c1 = np.power(beta1, count.ref).mul(-1).add(1);
      const c2 = np.power(beta2, count.ref).mul(-1).add(1);
      const m = tree.map((mi: np.Array, g: np.Array) => mi.mul(beta1).add(g.mul(1 - beta1)), state.m, tree.ref(grads)) as P;
      const v = tree.map((vi: np.Array, g: np.Array) => vi.mul(beta2).add(np.square(g).mul(1 - beta2)), state.v, grads) as P;
      const stepSize = np.reciprocal(c1).mul(lr);
      const denomScale = np.reciprocal(np.sqrt(c2));
      const next = tree.map(
        (p: np.Array, mi: np.Array, vi: np.Array) =>
          p.sub(mi.mul(stepSize.ref).div(np.sqrt(vi).mul(denomScale.ref).add(eps))),
        params,
        tree.ref(m),
        tree.ref(v),
      ) as P;
      stepSize.dispose();
      denomScale.dispose();
      return { params: next, state: { m, v, count } };
    },
  };
}
