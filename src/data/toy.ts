import { numpy as np } from "@jax-js/jax";
import { Rng, deriveSeed } from "../util/rng.js";
import { DataError, checkRowIndices, checkSize } from "./errors.js";

/**
 * The synthetic regression tasks of GradNorm §4 (Chen et al. 2018, eq. 3):
 * fᵢ(x) = σᵢ·tanh((B + εᵢ)x), element-wise tanh, B and εᵢ constant matrices with
 * IID entries N(0, bStd²) and N(0, epsStd²) (the paper writes N(0, 10) and N(0, 3.5); we read
 * them as standard deviations, as common reimplementations do).
 *
 * Not in the paper, chosen here: x ~ N(0, inputScale²·I), the data sizes and the σ draw for T > 2.
 */
export interface ToyConfig {
  readonly numTasks: number;
  /** Task scales σᵢ. Default: (1, 100) for T = 2, else |N(0, 50²)| draws from the seed. */
  readonly sigmas?: readonly number[];
  readonly inputDim?: number;
  readonly outputDim?: number;
  readonly bStd?: number;
  readonly epsStd?: number;
  /** Standard deviation of the inputs. */
  readonly inputScale?: number;
  readonly trainSize?: number;
  readonly testSize?: number;
  /** Seed of B, εᵢ, σᵢ and the inputs. */
  readonly seed?: number;
}

export interface Split {
  /** Inputs, row-major [N, D]. */
  readonly x: Float32Array<ArrayBuffer>;
  /** Targets, [T, N, O]. */
  readonly y: Float32Array<ArrayBuffer>;
  readonly size: number;
}

export interface ToyData {
  readonly config: Required<Omit<ToyConfig, "sigmas">> & { sigmas: number[] };
  readonly sigmas: number[];
  readonly train: Split;
  readonly test: Split;
  /** Fraction of targets with |tanh(·)| > 0.99: how saturated the regime is. */
  readonly saturation: number;
}

export const toyDefaults = {
  inputDim: 250,
  outputDim: 100,
  bStd: 10,
  epsStd: 3.5,
  inputScale: 0.01,
  trainSize: 2000,
  testSize: 2000,
  seed: 0,
} as const;

/** σᵢ for T tasks: the paper's (1, 100) for T = 2, otherwise |N(0, 50²)| draws (the paper: "a wide normal distribution"). */
export function toySigmas(numTasks: number, seed: number): number[] {
  if (numTasks === 2) return [1, 100];
  const rng = new Rng(deriveSeed(seed, "sigma"));
  return Array.from({ length: numTasks }, () => Math.abs(50 * rng.normal()));
}

export function makeToy(config: ToyConfig): ToyData {
  const T = config.numTasks;
  if (!Number.isInteger(T) || T < 1) throw new DataError(`toy: numTasks must be a positive integer, got ${T}`);
  const c = { ...toyDefaults, ...Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)) } as typeof toyDefaults & ToyConfig;
  // Sizes: an empty split has no loss (its mean is NaN); a zero width gives empty arrays.
  for (const k of ["inputDim", "outputDim", "trainSize", "testSize"] as const) checkSize(`toy: ${k}`, c[k]);
  for (const k of ["bStd", "epsStd", "inputScale"] as const) {
    if (!(Number.isFinite(c[k]) && c[k] >= 0)) throw new DataError(`toy: ${k} must be a finite number ≥ 0, got ${c[k]}`);
  }
  const sigmas = config.sigmas ? [...config.sigmas] : toySigmas(T, c.seed);
  if (sigmas.length !== T || !sigmas.every((s) => Number.isFinite(s))) {
    throw new DataError(`toy: need ${T} finite sigmas, got ${JSON.stringify(sigmas)}`);
  }
  const { inputDim: D, outputDim: O } = c;
  const rng = new Rng(deriveSeed(c.seed, "matrices"));
  const base = rng.normals(O * D, c.bStd);
  // Stacked task matrices (B + εᵢ)ᵀ as [T, D, O].
  const mats = new Float32Array(T * D * O);
  for (let t = 0; t < T; t++) {
    const eps = rng.normals(O * D, c.epsStd);
    for (let o = 0; o < O; o++) {
      for (let d = 0; d < D; d++) mats[t * D * O + d * O + o] = base[o * D + d]! + eps[o * D + d]!;
    }
  }
  const A = np.array(mats).reshape([T, D, O]);
  const sig = np.array(new Float32Array(sigmas)).reshape([T, 1, 1]);
  let saturated = 0;
  let total = 0;
  const split = (n: number, label: string): Split => {
    const x = new Rng(deriveSeed(c.seed, label)).normals(n * D, c.inputScale);
    const pre = np.einsum("nd,tdo->tno", np.array(x).reshape([n, D]), A.ref);
    const th = np.tanh(pre);
    const sat = np.abs(th.ref).greater(0.99).astype(np.float32).sum();
    saturated += (sat.dataSync() as Float32Array)[0]!;
    total += T * n * O;
    const y = th.mul(sig.ref).dataSync() as Float32Array;
    return { x, y: new Float32Array(y), size: n };
  };
  const train = split(c.trainSize, "train");
  const test = split(c.testSize, "test");
  A.dispose();
  sig.dispose();
  return { config: { ...c, sigmas }, sigmas, train, test, saturation: saturated / total };
}

/**
 * Checks a split against the sizes it is read with: x holds size × inputDim values and y numTasks ×
 * size × outputDim, size ≥ 1 ({@link DataError} naming the mismatch).
 */
export function checkSplit(split: Split, numTasks: number, inputDim: number, outputDim: number, what = "toy split"): void {
  checkSize(`${what}: size (rows)`, split.size);
  if (split.x.length !== split.size * inputDim) {
    throw new DataError(`${what}: x holds ${split.x.length} values, expected ${split.size} rows × ${inputDim} inputs = ${split.size * inputDim}`);
  }
  if (split.y.length !== numTasks * split.size * outputDim) {
    throw new DataError(`${what}: y holds ${split.y.length} values, expected ${numTasks} tasks × ${split.size} rows × ${outputDim} outputs = ${numTasks * split.size * outputDim}`);
  }
}

/**
 * Copies rows `idx` of a split into a batch: x [B, D] and y [T, B, O]. The split's sizes and the
 * indices are checked first (an index past the split would silently copy zeros or a wrong row).
 */
export function gatherBatch(split: Split, idx: ArrayLike<number>, numTasks: number, inputDim: number, outputDim: number) {
  checkSplit(split, numTasks, inputDim, outputDim);
  checkRowIndices("toy batch", idx, split.size);
  const B = idx.length;
  const x = new Float32Array(B * inputDim);
  const y = new Float32Array(numTasks * B * outputDim);
  for (let b = 0; b < B; b++) {
    const n = idx[b]!;
    x.set(split.x.subarray(n * inputDim, (n + 1) * inputDim), b * inputDim);
    for (let t = 0; t < numTasks; t++) {
      const src = (t * split.size + n) * outputDim;
      y.set(split.y.subarray(src, src + outputDim), (t * B + b) * outputDim);
    }
  }
  return { x, y };
}

/** The sizes a toy batch is shaped by (a ToyData config or a MultiHeadMlpConfig has them). */
export interface ToyDims {
  readonly numTasks: number;
  readonly inputDim: number;
  readonly outputDim: number;
}

/** A host batch (from {@link gatherBatch}) as device arrays: x [B, D] and y [T, B, O]. */
export function toyArrays(b: { readonly x: Float32Array<ArrayBuffer>; readonly y: Float32Array<ArrayBuffer> }, dims: ToyDims): { x: np.Array; y: np.Array } {
  const B = b.x.length / dims.inputDim;
  if (!(Number.isInteger(B) && B >= 1)) {
    throw new DataError(`toy batch: x holds ${b.x.length} values, not a whole number ≥ 1 of rows of ${dims.inputDim} inputs${b.x.length === 0 ? " (an empty batch)" : ""}`);
  }
  if (b.y.length !== dims.numTasks * B * dims.outputDim) {
    throw new DataError(`toy batch: y holds ${b.y.length} values, expected ${dims.numTasks} tasks × ${B} rows (x's) × ${dims.outputDim} outputs = ${dims.numTasks * B * dims.outputDim}`);
  }
  return { x: np.array(b.x).reshape([B, dims.inputDim]), y: np.array(b.y).reshape([dims.numTasks, B, dims.outputDim]) };
}
