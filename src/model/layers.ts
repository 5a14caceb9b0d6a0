import { numpy as np, tree } from "@jax-js/jax";
import { statKernels, type KernelStatKind } from "../stats/gradNorms.js";
import type { Rng } from "../util/rng.js";
import type { Tree } from "./contract.js";

/** A per-example shape (the batch axis excluded). */
export type Shape = readonly number[];

/**
 * A layer of the fast tier: plain functions with hand-written backward rules, one for a single
 * cotangent and one for T stacked per-task cotangents that also accumulates the layer's share of a
 * per-task statistic (squared gradient norms [T] or the Gramian [T, T] of its parameters). Composed by
 * {@link sequential}; models built from layers train through these rules instead of `vjp`.
 */
export interface Layer<P extends Tree = Tree> {
  readonly name: string;
  /** Whether the layer has parameters (and so a share of the per-task statistics). */
  readonly hasParams: boolean;
  outShape(inShape: Shape): number[];
  init(inShape: Shape, rng: Rng): P;
  /** x [B, …in] → y [B, …out] and what the backward rules need (owned). Borrows p; consumes x. */
  forward(p: P, x: np.Array, keep: boolean): { y: np.Array; res: Tree };
  /**
   * One cotangent dy [B, …out] → the parameter gradients and dx [B, …inShape] (null when `needDx` is
   * false: the first layer of a trunk skips its input's cotangent). Borrows p; consumes res and dy.
   * `inShape` is the per-example input shape (static).
   */
  backward(p: P, res: Tree, dy: np.Array, inShape: Shape, needDx: boolean): { dp: P; dx: np.Array | null };
  /**
   * T stacked cotangents dyT [T, B, …out] → dxT [T, B, …in], adding this layer's share of the per-task
   * statistic of the unweighted gradients to `acc` (null: none yet), kernel only when `kernelOnly`
   * (GradNorm's W); dxT is null when `needDx` is false. Borrows p and res; consumes dyT and acc.
   */
  backwardT(
    p: P,
    res: Tree,
    dyT: np.Array,
    kind: KernelStatKind,
    acc: np.Array | null,
    kernelOnly: boolean,
    inShape: Shape,
    needDx: boolean,
  ): { dxT: np.Array | null; acc: np.Array | null };
}

/** `s` joined to the statistic accumulated so far (null: none yet) by the kind's merge. Consumes both. */
const add = (kind: KernelStatKind, acc: np.Array | null, s: np.Array) => (acc === null ? s : statKernels[kind].merge(acc, s));

/** For layers without parameters: applies `f` to the cotangent, or drops it when no input cotangent is needed. */
const passOn = (d: np.Array, needDx: boolean, f: (d: np.Array) => np.Array): np.Array | null => {
  if (needDx) return f(d);
  d.dispose();
  return null;
};

/** A fully connected layer y = x·W + b on the last axis (x [B, I]); PyTorch's Linear init (uniform ±1/√I). */
export function dense(units: number): Layer<{ W: np.Array; b: np.Array }> {
  return {
    name: `dense(${units})`,
    hasParams: true,
    outShape: (s) => [...s.slice(0, -1), units],
    init(s, rng) {
      const I = s[s.length - 1]!;
      const bound = 1 / Math.sqrt(I);
      return { W: np.array(rng.uniforms(I * units, -bound, bound)).reshape([I, units]), b: np.array(rng.uniforms(units, -bound, bound)) };
    },
    forward(p, x, keep) {
      const y = np.matmul(keep ? x.ref : x, p.W.ref).add(p.b.ref);
      return { y, res: keep ? { x } : ({} as Tree) };
    },
    backward(p, res, dy, _inShape, needDx) {
      const { x } = res as { x: np.Array };
      const dW = np.matmul(x.transpose(), dy.ref);
      const db = dy.ref.sum(0);
      return { dp: { W: dW, b: db }, dx: passOn(dy, needDx, (d) => np.matmul(d, p.W.ref.transpose())) };
    },
    backwardT(p, res, dyT, kind, acc, kernelOnly, _inShape, needDx) {
      const { x } = res as { x: np.Array };
      const k = statKernels[kind];
      const a = add(kind, acc, kernelOnly ? k.linear(x.ref, dyT.ref) : k.affine(x.ref, dyT.ref));
      return { dxT: passOn(dyT, needDx, (d) => np.einsum("tbk,jk->tbj", d, p.W.ref)), acc: a };
    },
  };
}

/** An elementwise activation with its derivative from the kept mask or output. */
function activation(name: string, f: (z: np.Array) => np.Array, grad: (z: np.Array, y: np.Array) => np.Array): Layer<Record<string, never>> {
  return {
    name,
    hasParams: false,
    outShape: (s) => [...s],
    init: () => ({}),
    forward(_p, z, keep) {
      if (!keep) return { y: f(z), res: {} as Tree };
      const y = f(z.ref);
      return { y, res: { d: grad(z, y.ref) } };
    },
    backward(_p, res, dy, _inShape, needDx) {
      const { d } = res as { d: np.Array };
      if (!needDx) d.dispose();
      return { dp: {}, dx: passOn(dy, needDx, (g) => g.mul(d)) };
    },
    backwardT(_p, res, dyT, _kind, acc, _kernelOnly, _inShape, needDx) {
      return { dxT: passOn(dyT, needDx, (g) => g.mul((res as { d: np.Array }).d.ref)), acc };
    },
  };
}

/** ReLU; its derivative is kept as the 0/1 mask z > 0. */
export function relu(): Layer<Record<string, never>> {
  return activation(
    "relu",
    (z) => np.maximum(z, 0),
    (z, y) => {
      y.dispose();
      return z.greater(0).astype(np.float32);
    },
  );
}

/** tanh; its derivative is kept as 1 − y². */
export function tanh(): Layer<Record<string, never>> {
  return activation(
    "tanh",
    (z) => np.tanh(z),
    (z, y) => {
      z.dispose();
      return np.square(y).mul(-1).add(1);
    },
  );
}

/** Layer norm's input cotangent (dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂))/√(σ² + ε) for dx̂ of any leading shape. Consumes all three. */
function normInputCotangent(dxhat: np.Array, xhat: np.Array, inv: np.Array): np.Array {
  const m1 = dxhat.ref.mean(-1, { keepdims: true });
  const m2 = dxhat.ref.mul(xhat.ref).mean(-1, { keepdims: true });
  return dxhat.sub(m1).sub(xhat.mul(m2)).mul(inv);
}

/**
 * Layer normalization over the last axis with a learned scale γ and shift β (Ba et al. 2016):
 * y = γ·x̂ + β, x̂ = (x − μ)/√(σ² + ε). The backward rules use dx̂ = dy·γ and
 * dx = (dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂))/√(σ² + ε), for one cotangent or T stacked ones.
 */
export function layerNorm(eps = 1e-5): Layer<{ gamma: np.Array; beta: np.Array }> {
  return {
    name: "layerNorm",
    hasParams: true,
    outShape: (s) => [...s],
    init(s) {
      const H = s[s.length - 1]!;
      return { gamma: np.ones([H]), beta: np.zeros([H]) };
    },
    forward(p, x, keep) {
      const mu = x.ref.mean(-1, { keepdims: true });
      const centered = x.sub(mu);
      const variance = np.square(centered.ref).mean(-1, { keepdims: true });
      const inv = np.reciprocal(np.sqrt(variance.add(eps)));
      const xhat = centered.mul(inv.ref);
      const y = xhat.ref.mul(p.gamma.ref).add(p.beta.ref);
      if (!keep) {
        xhat.dispose();
        inv.dispose();
        return { y, res: {} as Tree };
      }
      return { y, res: { xhat, inv } };
    },
    backward(p, res, dy, _inShape, needDx) {
      const { xhat, inv } = res as { xhat: np.Array; inv: np.Array };
      const axes = dy.shape.slice(0, -1).map((_, i) => i);
      const dgamma = dy.ref.mul(xhat.ref).sum(axes);
      const dbeta = dy.ref.sum(axes);
      if (!needDx) {
        tree.dispose([dy, xhat, inv]);
        return { dp: { gamma: dgamma, beta: dbeta }, dx: null };
      }
      const dx = normInputCotangent(dy.mul(p.gamma.ref), xhat, inv);
      return { dp: { gamma: dgamma, beta: dbeta }, dx };
    },
    backwardT(p, res, dyT, kind, acc, kernelOnly, _inShape, needDx) {
      const { xhat, inv } = res as { xhat: np.Array; inv: np.Array };
      const T = dyT.shape[0]!;
      const axes = dyT.shape.slice(1, -1).map((_, i) => i + 1);
      const gT = dyT.ref.mul(xhat.ref).sum(axes).reshape([T, -1]);
      const k = statKernels[kind];
      let a = add(kind, acc, k.stacked(gT));
      if (!kernelOnly) a = k.merge(a, k.stacked(dyT.ref.sum(axes).reshape([T, -1])));
      if (!needDx) {
        dyT.dispose();
        return { dxT: null, acc: a };
      }
      return { dxT: normInputCotangent(dyT.mul(p.gamma.ref), xhat.ref, inv.ref), acc: a };
    },
  };
}

/** The backward rules of a layer that only reshapes each example: the cotangents take the input's shape back. */
const reshapeRules: Pick<Layer<Record<string, never>>, "backward" | "backwardT"> = {
  backward(_p, _res, dy, inShape, needDx) {
    return { dp: {}, dx: passOn(dy, needDx, (d) => d.reshape([d.shape[0]!, ...inShape])) };
  },
  backwardT(_p, _res, dyT, _kind, acc, _kernelOnly, inShape, needDx) {
    return { dxT: passOn(dyT, needDx, (d) => d.reshape([d.shape[0]!, d.shape[1]!, ...inShape])), acc };
  },
};

/** Flattens every per-example axis into one: [B, …] → [B, ∏…]. */
export function flatten(): Layer<Record<string, never>> {
  return {
    name: "flatten",
    hasParams: false,
    outShape: (s) => [s.reduce((a, b) => a * b, 1)],
    init: () => ({}),
    forward(_p, x) {
      const [B, ...rest] = x.shape;
      return { y: x.reshape([B!, rest.reduce((a, b) => a * b, 1)]), res: {} };
    },
    ...reshapeRules,
  };
}

/** Reshapes every example: [B, …in] → [B, …shape] (e.g. flat pixels [B, H·W·C] to images [B, H, W, C]). */
export function reshape(shape: Shape): Layer<Record<string, never>> {
  const size = (s: Shape) => s.reduce((a, b) => a * b, 1);
  if (shape.length === 0 || !shape.every((n) => Number.isInteger(n) && n > 0)) {
    throw new Error(`reshape: the shape must be positive integers, got ${JSON.stringify(shape)}`);
  }
  return {
    name: `reshape(${shape.join("×")})`,
    hasParams: false,
    outShape(s) {
      if (size(s) !== size(shape)) throw new Error(`reshape: cannot reshape [${s.join(", ")}] (${size(s)} values) to [${shape.join(", ")}] (${size(shape)})`);
      return [...shape];
    },
    init: () => ({}),
    forward: (_p, x) => ({ y: x.reshape([x.shape[0]!, ...shape]), res: {} }),
    ...reshapeRules,
  };
}

/** The parameters of a sequential container: one entry per layer (empty objects for layers without any). */
export type SequentialParams = Tree[];

/** The per-example input shape of each layer of a stack, from the stack's input shape. */
export function layerInShapes(layers: readonly Layer[], inShape: Shape): number[][] {
  const shapes: number[][] = [];
  let shape = [...inShape];
  for (const l of layers) {
    shapes.push(shape);
    shape = l.outShape(shape);
  }
  return shapes;
}

/**
 * Layers applied in order, as one layer: forward keeps each layer's residuals, the backward rules run
 * through the layers in reverse, the T-batched rule accumulating every layer's share of the statistic.
 */
export function sequential(layers: readonly Layer[]): Layer<SequentialParams> & { readonly layers: readonly Layer[] } {
  if (layers.length === 0) throw new Error("sequential: it needs at least one layer");
  return {
    name: `sequential(${layers.map((l) => l.name).join(", ")})`,
    layers,
    hasParams: layers.some((l) => l.hasParams),
    outShape: (s) => layers.reduce<number[]>((shape, l) => l.outShape(shape), [...s]),
    init(s, rng) {
      let shape: Shape = s;
      return layers.map((l) => {
        const p = l.init(shape, rng);
        shape = l.outShape(shape);
        return p;
      });
    },
    forward(p, x, keep) {
      const res: Tree[] = [];
      let h = x;
      layers.forEach((l, i) => {
        const o = l.forward(p[i] as never, h, keep);
        res.push(o.res);
        h = o.y;
      });
      return { y: h, res: keep ? res : [] };
    },
    backward(p, res, dy, inShape, needDx) {
      const r = res as Tree[];
      const shapes = layerInShapes(layers, inShape);
      const dp: Tree[] = new Array(layers.length);
      let d: np.Array | null = dy;
      for (let i = layers.length - 1; i >= 0; i--) {
        const o = layers[i]!.backward(p[i] as never, r[i]!, d!, shapes[i]!, needDx || i > 0);
        dp[i] = o.dp;
        d = o.dx;
      }
      return { dp, dx: d };
    },
    backwardT(p, res, dyT, kind, acc, kernelOnly, inShape, needDx) {
      const r = res as Tree[];
      const shapes = layerInShapes(layers, inShape);
      let d: np.Array | null = dyT;
      let a = acc;
      for (let i = layers.length - 1; i >= 0; i--) {
        const o = layers[i]!.backwardT(p[i] as never, r[i]!, d!, kind, a, kernelOnly, shapes[i]!, needDx || i > 0);
        d = o.dxT;
        a = o.acc;
      }
      return { dxT: d, acc: a };
    },
  };
}
