import { numpy as np } from "@jax-js/jax";
import type { GradStatistic } from "../balancers/types.js";

/*
 * Layouts. jax-js's wasm backend vectorizes a product over the output's last axis (when the operand
 * that varies along it is read contiguously and the axis length is a multiple of 4) or over a
 * reduction axis both operands read contiguously (length a multiple of 4). A product that can do
 * neither runs scalar, 10–50× slower, and so does one that reads a transposed view through a reshape
 * (per-task gradients stored [I, T, O] and flattened per task, say). Of the vectorized orders the
 * fastest keeps the operand all tasks share (h, K = h hᵀ: small) in the lanes and streams the per-task
 * one (dz) batch-major — about 2× the reverse on the toy network's shapes. The kernels below pick
 * such orders, and write a transposed operand out ({@link materialize}) where no order vectorizes.
 */

/** Whether an axis of this length can be a SIMD axis of a wasm kernel. */
const simd = (n: number) => n % 4 === 0;

/**
 * x written out as its own array in its own (row-major) layout: −(−x), exact, and two operations the
 * jit does not fold away, so a transposed view that feeds a product becomes one contiguous copy
 * instead of strided reads inside the product's kernel. Consumes x.
 */
function materialize(x: np.Array): np.Array {
  return np.negative(np.negative(x));
}

/** The batch kernel K = h hᵀ [B, B] of a layer input h [B, I]. Consumes h. */
function batchKernel(h: np.Array): np.Array {
  const I = h.shape[1]!;
  // Reduce along I in SIMD lanes when I allows; else write hᵀ out so the lanes run along the batch.
  return np.matmul(h.ref, simd(I) ? h.transpose() : materialize(h.transpose()));
}

/**
 * The per-task gradients gₜ = hᵀdzₜ of a linear layer from h [B, I] and dz [T, B, O], both operands
 * read batch-major, as stored: [T, O, I] (lanes along I; `transposed` true) or, when only O is a
 * multiple of 4, [T, I, O]. Consumes both.
 */
function taskGradients(h: np.Array, dz: np.Array): { g: np.Array; transposed: boolean } {
  const [B, I] = h.shape as [number, number];
  const [T, , O] = dz.shape as [number, number, number];
  if (simd(I) || !simd(O)) return { g: np.einsum("tbk,bj->tkj", dz, h), transposed: true };
  return { g: np.einsum("tbj,tbk->tjk", np.broadcastTo(h, [T, B, I]), dz), transposed: false };
}

/**
 * (K dzₜ)ᵀ for every task, [T, O, B], with K = h hᵀ (+ 1 in every entry with `bias`: the bias's
 * input is a column of ones, so its gradients join the kernel's), lanes along the batch. Consumes h.
 */
function batchProducts(h: np.Array, dz: np.Array, bias: boolean): np.Array {
  const K = bias ? batchKernel(h).add(1) : batchKernel(h);
  return np.einsum("tco,cb->tob", dz, K);
}

/** The batch form's squared norms Σ (K dzₜ) ⊙ dzₜ, [T]. Consumes h and dz. */
function batchNorms(h: np.Array, dz: np.Array, bias: boolean): np.Array {
  return batchProducts(h, dz.ref, bias).transpose([0, 2, 1]).mul(dz).sum([1, 2]);
}

/**
 * The batch form's Gramian ⟨K dzₜ, dzₛ⟩ [T, T]: (K dzₜ)ᵀ against dzₛᵀ written out in the same
 * [T, O, B] layout, so the product reads both contiguously. Consumes h and dz.
 */
function batchGramian(h: np.Array, dz: np.Array, bias: boolean): np.Array {
  return rowGram(batchProducts(h, dz.ref, bias), materialize(dz.transpose([0, 2, 1])));
}

/** The rows' inner products a·bᵀ [T, T] of a [T, …] and b [T, …] (each flattened per task). Consumes both. */
function rowGram(a: np.Array, b: np.Array): np.Array {
  const T = a.shape[0]!;
  return np.matmul(a.reshape([T, -1]), b.reshape([T, -1]).transpose());
}

/** Which form a linear layer's statistic takes: `direct` (the T gradients) or `batch` (K = h hᵀ). */
export type LinearForm = "direct" | "batch";

/**
 * Multiply-adds of the two forms of a linear layer's statistic for input [B, I], output O and T tasks:
 * norms — direct T·B·I·O, batch B²·I + T·B²·O; Gramian — direct T·B·I·O + T²·I·O, batch
 * B²·I + T·B²·O + T²·B·O.
 */
export function linearStatCosts(kind: "norms" | "gramian", B: number, I: number, O: number, T: number): Record<LinearForm, number> {
  if (kind === "norms") return { direct: T * B * I * O, batch: B * B * I + T * B * B * O };
  return { direct: T * B * I * O + T * T * I * O, batch: B * B * I + T * B * B * O + T * T * B * O };
}

/** The form with fewer multiply-adds ({@link linearStatCosts}); ties go to `direct`. */
export function linearStatForm(kind: "norms" | "gramian", B: number, I: number, O: number, T: number): LinearForm {
  const c = linearStatCosts(kind, B, I, O, T);
  return c.batch < c.direct ? "batch" : "direct";
}

/**
 * Per-task squared Frobenius norms of the weight gradients of one linear layer,
 * ‖hᵀ·dzₜ‖_F for t = 1..T, given the layer input h [B, I] and the stacked per-task
 * cotangents of its output dz [T, B, O]. Consumes both.
 *
 * Two exact ways, the cheaper chosen at trace time ({@link linearStatForm}; `form` forces one):
 * - direct: form the T gradients, T·B·I·O multiply-adds;
 * - batch: ‖hᵀdzₜ‖² = ⟨h hᵀ, dzₜ dzₜᵀ⟩ = Σ (K dzₜ) ⊙ dzₜ with K = h hᵀ, B²·I + T·B²·O —
 *   cheaper whenever the batch is smaller than the layer (B < I, roughly).
 * The final sum runs in [I, O] order (batch form: [B, O]) whatever the layout, the order of the plain
 * einsums these kernels replace; keep it: with it GradNorm's recorded runs (`lastShared`, widths that
 * are multiples of 4) reproduce to the bit.
 */
export function linearGradSquaredNorms(h: np.Array, dz: np.Array, form?: LinearForm): np.Array {
  const [B, I] = h.shape as [number, number];
  const [T, , O] = dz.shape as [number, number, number];
  if ((form ?? linearStatForm("norms", B, I, O, T)) === "batch") return batchNorms(h, dz, false);
  const { g, transposed } = taskGradients(h, dz);
  return np.square(transposed ? g.transpose([0, 2, 1]) : g).sum([1, 2]);
}

/** Per-task squared norms of the bias gradients Σ_b dzₜ, [T]. Consumes dz. */
export function biasGradSquaredNorms(dz: np.Array): np.Array {
  return np.square(dz.sum(1)).sum(1);
}

/** Per-task squared Frobenius norms over all but the leading axis. Consumes x. */
export function stackedSquaredNorms(x: np.Array): np.Array {
  const axes = x.shape.slice(1).map((_, i) => i + 1);
  return np.square(x).sum(axes);
}

/**
 * Per-task Gramian of the weight gradients of one linear layer: Gₜₛ = ⟨hᵀdzₜ, hᵀdzₛ⟩, [T, T],
 * from the layer input h [B, I] and the stacked cotangents dz [T, B, O]. Consumes both.
 * Like {@link linearGradSquaredNorms}, either forms the T gradients (T·B·I·O + T²·I·O) or works
 * in batch space with K = h hᵀ: Gₜₛ = ⟨K dzₜ, dzₛ⟩ (B²·I + T·B²·O + T²·B·O), whichever is cheaper
 * (`form` forces one).
 */
export function linearGradGramian(h: np.Array, dz: np.Array, form?: LinearForm): np.Array {
  const [B, I] = h.shape as [number, number];
  const [T, , O] = dz.shape as [number, number, number];
  if ((form ?? linearStatForm("gramian", B, I, O, T)) === "batch") return batchGramian(h, dz, false);
  const { g } = taskGradients(h, dz);
  return rowGram(g.ref, g);
}

/** Per-task Gramian of the bias gradients Σ_b dzₜ, [T, T]. Consumes dz. */
export function biasGradGramian(dz: np.Array): np.Array {
  const s = dz.sum(1);
  return np.einsum("to,so->ts", s.ref, s);
}

/** Per-task Gramian over all but the leading axis, [T, T]. Consumes x. */
export function stackedGramian(x: np.Array): np.Array {
  const T = x.shape[0]!;
  const flat = x.reshape([T, -1]);
  return np.matmul(flat.ref, flat.transpose());
}

/**
 * Per-task squared norms of the gradients of an affine layer y = h·W + b, weights and bias together:
 * {@link linearGradSquaredNorms} + {@link biasGradSquaredNorms}, except that the batch form folds the
 * bias in for free (K = h hᵀ + 1: the bias's input is a column of ones). Consumes both.
 */
export function affineGradSquaredNorms(h: np.Array, dz: np.Array, form?: LinearForm): np.Array {
  const [B, I] = h.shape as [number, number];
  const [T, , O] = dz.shape as [number, number, number];
  if ((form ?? linearStatForm("norms", B, I, O, T)) === "batch") return batchNorms(h, dz, true);
  return linearGradSquaredNorms(h, dz.ref, "direct").add(biasGradSquaredNorms(dz));
}

/**
 * Per-task Gramian of the gradients of an affine layer y = h·W + b, weights and bias together:
 * {@link linearGradGramian} + {@link biasGradGramian}, the batch form with the bias folded into
 * K = h hᵀ + 1. Consumes both.
 */
export function affineGradGramian(h: np.Array, dz: np.Array, form?: LinearForm): np.Array {
  const [B, I] = h.shape as [number, number];
  const [T, , O] = dz.shape as [number, number, number];
  if ((form ?? linearStatForm("gramian", B, I, O, T)) === "batch") return batchGramian(h, dz, true);
  return linearGradGramian(h, dz.ref, "direct").add(biasGradGramian(dz));
}

/**
 * Per-task magnitudes of the gradient entries over all but the leading axis, as [3, T]: row 0 the
 * largest |gₜ| entry, row 1 the sum of |gₜ|, row 2 the number of entries (the same for every task), so
 * that parts of a parameter set merge exactly ({@link mergeAbsStats}) and the mean is row 1 / row 2 at
 * the end ({@link absMaxMean}). Consumes x.
 */
export function stackedAbsStats(x: np.Array): np.Array {
  const T = x.shape[0]!;
  const a = np.abs(x.reshape([T, -1]));
  const n = a.shape[1]!;
  return np.stack([a.ref.max(1), a.sum(1), np.full([T], n)]);
}

/** {@link stackedAbsStats} of a linear layer's weight gradients hᵀdzₜ (formed directly). Consumes both. */
export function linearGradAbsStats(h: np.Array, dz: np.Array): np.Array {
  return stackedAbsStats(taskGradients(h, dz).g);
}

/** {@link stackedAbsStats} of the bias gradients Σ_b dzₜ. Consumes dz. */
export function biasGradAbsStats(dz: np.Array): np.Array {
  return stackedAbsStats(dz.sum(1));
}

/** {@link stackedAbsStats} of an affine layer's gradients, weights and bias together. Consumes both. */
export function affineGradAbsStats(h: np.Array, dz: np.Array): np.Array {
  return mergeAbsStats(linearGradAbsStats(h, dz.ref), biasGradAbsStats(dz));
}

/** Two [3, T] magnitude statistics of disjoint parameter sets as one: max of maxima, sums of sums and counts. Consumes both. */
export function mergeAbsStats(a: np.Array, b: np.Array): np.Array {
  const max = np.maximum(a.ref.slice(0), b.ref.slice(0));
  const rest = a.slice([1, 3]).add(b.slice([1, 3]));
  return np.concatenate([max.reshape([1, -1]), rest]);
}

/** [2T]: the largest |∂Lₜ/∂θ| of each task, then the mean |∂Lₜ/∂θ|, from a [3, T] magnitude statistic. Consumes s. */
export function absMaxMean(s: np.Array): np.Array {
  const mean = s.ref.slice(1).div(s.ref.slice(2));
  return np.concatenate([s.slice(0), mean]);
}

const add = (a: np.Array, b: np.Array) => a.add(b);

/**
 * The statistics computed from per-task gradients: squared norms [T], the Gramian [T, T], or the
 * magnitudes of the gradient entries `abs` ([3, T]: max |g|, Σ |g|, count — learning-rate annealing's).
 */
export type KernelStatKind = "norms" | "gramian" | "abs";

/**
 * Which per-task statistic to compute: one of {@link KernelStatKind}, or `ntk`, the traces of the
 * tasks' neural-tangent-kernel blocks per output entry [T], which need per-sample outputs a model gives
 * through `kernelTraces` (not per-task gradients).
 */
export type StatKind = KernelStatKind | "ntk";

/** A per-task statistic request: where (the gradient mode), and which statistic ({@link StatKind}). */
export interface StatRequest {
  readonly mode: GradStatistic;
  readonly kind: StatKind;
}

/**
 * Each statistic's kernels for a linear layer's weights, an affine layer, a bias, stacked per-task
 * gradients, and `merge`, which joins the statistics of two disjoint parameter sets (a sum for norms and
 * Gramians). Every kernel consumes its arguments.
 */
export const statKernels = {
  norms: { linear: linearGradSquaredNorms, affine: affineGradSquaredNorms, bias: biasGradSquaredNorms, stacked: stackedSquaredNorms, merge: add },
  gramian: { linear: linearGradGramian, affine: affineGradGramian, bias: biasGradGramian, stacked: stackedGramian, merge: add },
  abs: { linear: linearGradAbsStats, affine: affineGradAbsStats, bias: biasGradAbsStats, stacked: stackedAbsStats, merge: mergeAbsStats },
} as const;
