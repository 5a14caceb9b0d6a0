/**
 * Small pure optimizers over plain `number[]` vectors: used for the few scalars a
 * balancer learns (GradNorm's weights, uncertainty weighting's log-variances).
 * Same update rules as PyTorch's Adam (bias-corrected, eps outside the sqrt) and plain SGD.
 */
export type VectorOptimizerName = "adam" | "sgd";

export interface VectorOptimizerOptions {
  readonly name?: VectorOptimizerName;
  readonly lr: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
}

export interface VectorOptimizerState {
  readonly t: number;
  readonly m: readonly number[];
  readonly v: readonly number[];
}

export interface VectorOptimizer {
  init(size: number): VectorOptimizerState;
  /** Returns the new parameters x − step(g) and the next state. */
  step(x: readonly number[], g: readonly number[], state: VectorOptimizerState): { x: number[]; state: VectorOptimizerState };
}

export function vectorOptimizer(opts: VectorOptimizerOptions): VectorOptimizer {
  const { name = "adam", lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8 } = opts;
  const zeros = (n: number) => new Array<number>(n).fill(0);
  if (name === "sgd") {
    return {
      init: (size) => ({ t: 0, m: zeros(size), v: zeros(size) }),
      step: (x, g, s) => ({ x: x.map((xi, i) => xi - lr * g[i]!), state: { ...s, t: s.t + 1 } }),
    };
  }
  return {
    init: (size) => ({ t: 0, m: zeros(size), v: zeros(size) }),
    step(x, g, s) {
      const t = s.t + 1;
      const m = s.m.map((mi, i) => beta1 * mi + (1 - beta1) * g[i]!);
      const v = s.v.map((vi, i) => beta2 * vi + (1 - beta2) * g[i]! * g[i]!);
      const c1 = 1 - beta1 ** t;
      const c2 = 1 - beta2 ** t;
      const out = x.map((xi, i) => xi - (lr * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + eps));
      return { x: out, state: { t, m, v } };
    },
  };
}
