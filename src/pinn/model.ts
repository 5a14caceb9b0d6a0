import { grad, jvp, numpy as np, tree, vmap } from "@jax-js/jax";
import type { ModelParams, MultitaskModel } from "../model/contract.js";
import { ModelContractError } from "../model/contract.js";
import { Rng } from "../util/rng.js";

/**
 * Physics-informed networks on the model contract. A PINN is one network u_θ: ℝᵈ → ℝ trained on a
 * sum of loss terms — the PDE residual on collocation points, boundary and initial conditions, data —
 * that all share every parameter (no heads). Here each term is a task: `pinnModel` is a
 * {@link MultitaskModel} whose trunk evaluates the network and the input derivatives every term
 * needs at that term's points, and whose task part turns them into the terms' mean squared residuals.
 * So every balancer, gradient mode, trainer, checkpoint and recorder of the library applies unchanged:
 * `shared` statistics are over all parameters, `lastShared` over the output layer's weights.
 */

/**
 * A derivative of the network's output with respect to its inputs: the input axes to differentiate
 * along, in order — [] is u, [0] ∂u/∂x₀, [0, 0] ∂²u/∂x₀², [0, 1] ∂²u/∂x₀∂x₁.
 */
export type Derivative = readonly number[];

/** One loss term: its residual at its points from the derivatives of u there. */
export interface PinnTerm {
  readonly name: string;
  /** The derivatives of u the residual reads, in the order `residual` receives them. */
  readonly derivatives: readonly Derivative[];
  /**
   * The residual [N] from the derivative values (each [N], borrowed), the points [N, d] and the term's
   * data [N] (a source term, a boundary value, a measurement; borrowed). Returns an array it owns.
   */
  readonly residual: (derivatives: readonly np.Array[], points: np.Array, data: np.Array) => np.Array;
}

/** A batch of a PINN: per term, its points [Nₜ, d] and data [Nₜ]. */
export interface PinnBatch {
  readonly points: np.Array[];
  readonly data: np.Array[];
  [key: string]: np.Array[];
}

export interface PinnNetworkConfig {
  /** Input dimension d (space and time axes). */
  readonly inputDim: number;
  /** Hidden widths (default four layers of 50, as in Wang, Teng & Perdikaris 2021). */
  readonly hidden?: readonly number[];
  /**
   * How input derivatives are computed: `taylor` (default), the tanh network's first and second
   * derivatives propagated layer by layer with all rows in one matrix product per layer; or `jvp`,
   * nested jax-js forward-mode jvps (any order, any network; the reference the tests check `taylor`
   * against, about 10× slower here).
   */
  readonly derivatives?: "taylor" | "jvp";
}

type Dense = { W: np.Array; b: np.Array };
/**
 * The network's parameters: the hidden layers in `body`; the output layer in `last`, its weights and
 * bias as one [H + 1, 1] matrix (GradNorm's W; see {@link featureDerivative}).
 */
export type PinnParams = ModelParams<{ body: { layers: Dense[] }; last: { W: np.Array } }, Record<string, never>>;

export const pinnNetworkDefaults = { hidden: [50, 50, 50, 50] } as const;

function checkNetwork(c: PinnNetworkConfig): readonly number[] {
  const hidden = c.hidden ?? pinnNetworkDefaults.hidden;
  if (!Number.isInteger(c.inputDim) || c.inputDim < 1) throw new ModelContractError(`pinn: inputDim must be an integer ≥ 1, got ${c.inputDim}`);
  if (hidden.length < 1 || hidden.some((h) => !Number.isInteger(h) || h < 1)) throw new ModelContractError(`pinn: hidden must be a non-empty list of integers ≥ 1, got [${hidden.join(", ")}]`);
  return hidden;
}

/** Glorot-normal weights and zero biases (the PINN papers' initialization), from `seed`. */
export function initPinnParams(c: PinnNetworkConfig, seed: number): PinnParams {
  const hidden = checkNetwork(c);
  const rng = new Rng(seed);
  const sizes = [c.inputDim, ...hidden, 1];
  const dense = (i: number, o: number) => np.array(rng.normals(i * o, Math.sqrt(2 / (i + o)))).reshape([i, o]);
  const layers = hidden.map((h, l) => ({ W: dense(sizes[l]!, h), b: np.zeros([h]) }));
  const H = hidden[hidden.length - 1]!;
  const W = np.concatenate([dense(H, 1), np.zeros([1, 1])], 0); // the output bias starts at 0
  return { shared: { body: { layers }, last: { W } }, task: {} };
}

/**
 * The features the output layer reads at points x [N, d]: the last hidden layer's activations and a
 * constant 1, [N, H + 1] (borrows everything). The constant carries the output bias: its derivatives
 * are 0, so the bias shifts u and none of its derivatives.
 */
function hiddenFeatures(layers: readonly Dense[], x: np.Array): np.Array {
  let h = x.ref;
  for (const { W, b } of layers) h = np.tanh(np.matmul(h, W.ref).add(b.ref));
  return np.concatenate([h, np.ones([x.shape[0]!, 1])], 1);
}

/** The tangent e_k at every point: [N, d] with ones in column k. */
function unitTangent(N: number, d: number, k: number): np.Array {
  const t = new Float32Array(N * d);
  for (let i = 0; i < N; i++) t[i * d + k] = 1;
  return np.array(t).reshape([N, d]);
}

/**
 * A derivative of the hidden features at every point: nested forward-mode jvps along the derivative's
 * axes, with the same unit tangent at every point — the network acts on each point alone, so one jvp
 * over the batch gives each point's own directional derivative (no per-point loop). Borrows x.
 */
export function featureDerivative(layers: readonly Dense[], x: np.Array, axes: Derivative): np.Array {
  if (axes.length === 0) return hiddenFeatures(layers, x);
  const [N, d] = x.shape as [number, number];
  const inner = axes.slice(0, -1);
  const [out, tangent] = jvp(
    (xx: np.Array) => {
      const f = featureDerivative(layers, xx, inner);
      xx.dispose();
      return f;
    },
    [x.ref],
    [unitTangent(N, d, axes[axes.length - 1]!)],
  );
  out.dispose();
  return tangent;
}

/**
 * The features [h, 1] and their input derivatives at points x [N, d] for a list of derivatives of
 * order ≤ 2, by forward propagation through the tanh layers (borrows everything): with z = hW + b,
 * t = tanh(z), s = 1 − t², a layer maps ∂ₐh → s·∂ₐz and ∂ₐ∂ᵦh → s·∂ₐ∂ᵦz − 2t·s·∂ₐz·∂ᵦz, where the
 * derivatives of z are those of h times W. Value, first- and second-derivative rows are stacked so
 * each layer is one matrix product. Returns one [N, H + 1] array per derivative asked for.
 */
export function taylorFeatures(layers: readonly Dense[], x: np.Array, wanted: readonly Derivative[]): np.Array[] {
  const [N, d] = x.shape as [number, number];
  if (wanted.some((w) => w.length > 2)) throw new ModelContractError(`pinn: the taylor derivatives go to order 2; use derivatives: "jvp" for [${wanted.find((w) => w.length > 2)!.join(", ")}]`);
  const key = (a: number, b: number) => `${Math.min(a, b)},${Math.max(a, b)}`;
  const firsts = [...new Set(wanted.flat())].sort((a, b) => a - b);
  const pairs = [...new Map(wanted.filter((w) => w.length === 2).map((w) => [key(w[0]!, w[1]!), [Math.min(w[0]!, w[1]!), Math.max(w[0]!, w[1]!)] as const])).values()];
  const F = firsts.length;
  const P = pairs.length;
  // The second-derivative rule needs ∂ₐz·∂ᵦz for each pair: as two gathers of the first-derivative
  // blocks (a contiguous slice when every pair is diagonal and follows the first axes' order).
  const left = pairs.map(([a]) => firsts.indexOf(a));
  const right = pairs.map(([, b]) => firsts.indexOf(b));
  const contiguous = left.every((l, i) => l === right[i] && l === i) && P === F;
  const gather = (Dz: np.Array, idx: number[]) => (contiguous ? Dz.ref : np.stack(idx.map((i) => Dz.ref.slice(i))));
  // Blocks [1 + F + P, N, width]: the value, the first derivatives, the second derivatives.
  const tangents = new Float32Array(F * N * d);
  firsts.forEach((a, f) => {
    for (let i = 0; i < N; i++) tangents[(f * N + i) * d + a] = 1;
  });
  const start = [x.ref.reshape([1, N, d])];
  if (F > 0) start.push(np.array(tangents).reshape([F, N, d]));
  if (P > 0) start.push(np.zeros([P, N, d]));
  let X = start.length === 1 ? start[0]! : np.concatenate(start, 0);
  for (const { W, b } of layers) {
    const Z = np.matmul(X, W.ref); // [K, N, H]
    const t = np.tanh(Z.ref.slice([0, 1]).add(b.ref)); // [1, N, H]
    const sech2 = t.ref.mul(t.ref).mul(-1).add(1);
    const parts = [t.ref];
    if (F > 0) {
      const Dz = Z.ref.slice([1, 1 + F]);
      parts.push(sech2.ref.mul(Dz.ref));
      if (P > 0) {
        const Sz = Z.ref.slice([1 + F, 1 + F + P]);
        parts.push(sech2.ref.mul(Sz).sub(t.ref.mul(sech2.ref).mul(gather(Dz, left)).mul(gather(Dz, right)).mul(2)));
      }
      Dz.dispose();
    }
    Z.dispose();
    t.dispose();
    sech2.dispose();
    X = parts.length === 1 ? parts[0]! : np.concatenate(parts, 0);
  }
  const ones = np.ones([N, 1]);
  const zeros = np.zeros([N, 1]);
  const out = wanted.map((w) => {
    if (w.length === 0) return np.concatenate([X.ref.slice(0), ones.ref], 1);
    const block = w.length === 1 ? 1 + firsts.indexOf(w[0]!) : 1 + F + pairs.findIndex(([a, c]) => key(a, c) === key(w[0]!, w[1]!));
    return np.concatenate([X.ref.slice(block), zeros.ref], 1);
  });
  [X, ones, zeros].forEach((a) => a.dispose());
  return out;
}

/** The layout of a PINN's representation: per term, its offset and rows (derivatives × points). */
function layout(terms: readonly PinnTerm[], batch: PinnBatch) {
  let offset = 0;
  return terms.map((term, t) => {
    const N = batch.points[t]!.shape[0]!;
    const at = { offset, N, D: term.derivatives.length };
    offset += N * at.D;
    return at;
  });
}

/**
 * A PINN as a multitask model: task t is term t's loss mean(rₜ²). The representation is every term's
 * derivative values at its points, concatenated; `split` cuts it at the output layer (u and its
 * derivatives are the features' derivatives times W, the output weights and bias), so `lastShared`
 * statistics are over the output layer.
 */
export function pinnModel(terms: readonly PinnTerm[], config: PinnNetworkConfig): MultitaskModel<PinnBatch> {
  checkNetwork(config);
  if (terms.length < 1) throw new ModelContractError("pinn: at least one loss term");
  for (const term of terms) {
    if (term.derivatives.length < 1) throw new ModelContractError(`pinn: term '${term.name}' reads no derivative of u`);
    for (const d of term.derivatives) {
      if (d.some((k) => !Number.isInteger(k) || k < 0 || k >= config.inputDim)) throw new ModelContractError(`pinn: term '${term.name}' differentiates along axis [${d.join(", ")}], outside the ${config.inputDim} inputs`);
    }
  }
  const T = terms.length;
  const taylor = (config.derivatives ?? "taylor") === "taylor";
  if (taylor) {
    for (const term of terms) {
      if (term.derivatives.some((d) => d.length > 2)) throw new ModelContractError(`pinn: term '${term.name}' needs a derivative of order ${Math.max(...term.derivatives.map((d) => d.length))}; the taylor derivatives go to order 2 (use derivatives: "jvp")`);
    }
  }
  /** Term t's residuals at one point x [d] with data y [] (borrows all): [K], the term's entries per point. */
  const pointResidual = (t: number, shared: PinnParams["shared"], x: np.Array, y: np.Array): np.Array => {
    const term = terms[t]!;
    const xs = x.ref.reshape([1, -1]);
    const ys = y.ref.reshape([1]);
    const feats = taylor ? taylorFeatures(shared.body.layers, xs, term.derivatives) : term.derivatives.map((d) => featureDerivative(shared.body.layers, xs, d));
    const ds = feats.map((f) => np.matmul(f, shared.last.W.ref).reshape([1]));
    const r = term.residual(ds, xs, ys);
    [...ds, xs, ys].forEach((a) => a.dispose());
    return r;
  };
  const checkBatch = (batch: PinnBatch) => {
    if (batch.points?.length !== T || batch.data?.length !== T) throw new ModelContractError(`pinn: a batch holds points and data for each of the ${T} terms`);
  };
  return {
    numTasks: T,
    /**
     * τₜ = (1/Mₜ)·Σⱼ‖∂rₜⱼ/∂θ‖² over term t's Mₜ = K·N residual entries (K per point) and all parameters:
     * each entry's gradient at every point at once, as a vmap over the points of the gradient of that
     * entry at one point (each point's residual depends on its own input only).
     */
    kernelTraces(params, batch) {
      checkBatch(batch);
      const shared = params.shared as PinnParams["shared"];
      const traces = terms.map((_, t) => {
        const x = batch.points[t]!;
        const y = batch.data[t]!;
        const [x0, y0] = [x.ref.slice(0), y.ref.slice(0)];
        const probe = pointResidual(t, shared, x0, y0);
        const K = probe.shape.length === 0 ? 1 : probe.shape[0]!;
        [probe, x0, y0].forEach((a) => a.dispose());
        let total: np.Array | null = null;
        for (let k = 0; k < K; k++) {
          const entry = (s: PinnParams["shared"], xj: np.Array, yj: np.Array) => {
            const r = pointResidual(t, s, xj, yj);
            tree.dispose([s, xj, yj] as never);
            return r.reshape([-1]).slice(k);
          };
          const g = vmap(grad(entry), [null, 0, 0])(tree.ref(shared), x.ref, y.ref) as PinnParams["shared"];
          for (const leaf of tree.leaves(g) as np.Array[]) {
            const s = np.square(leaf).sum();
            total = total === null ? s : total.add(s);
          }
        }
        return total!.div(K * x.shape[0]!);
      });
      return np.stack(traces);
    },
    split: {
      body(params, batch) {
        checkBatch(batch);
        const { layers } = (params.shared as PinnParams["shared"]).body;
        const rows: np.Array[] = [];
        terms.forEach((term, t) => {
          if (taylor) rows.push(...taylorFeatures(layers, batch.points[t]!, term.derivatives));
          else for (const d of term.derivatives) rows.push(featureDerivative(layers, batch.points[t]!, d));
        });
        return np.concatenate(rows, 0);
      },
      last(params, z) {
        return np.matmul(z.ref, (params.shared as PinnParams["shared"]).last.W.ref).reshape([-1]);
      },
    },
    tasks(_params, repT, batch) {
      checkBatch(batch);
      const losses = layout(terms, batch).map((at, t) => {
        const rowT = repT.ref.slice(t).slice([at.offset, at.offset + at.N * at.D]).reshape([at.D, at.N]);
        const ds = Array.from({ length: at.D }, (_, k) => rowT.ref.slice(k));
        rowT.dispose();
        const r = terms[t]!.residual(ds, batch.points[t]!, batch.data[t]!);
        ds.forEach((a) => a.dispose());
        return np.mean(np.square(r));
      });
      return np.stack(losses);
    },
  };
}

