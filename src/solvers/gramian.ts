/**
 * Gramians G = J Jᵀ of per-task gradients: the one rule for what counts as one ({@link checkGramian},
 * applied by every Gramian method and plain function), and their preparation for the solvers
 * ({@link prepareGramian}: norms and the cosine matrix).
 */
import type { Matrix } from "./linalg.js";
import { maxAbs, minOf } from "./linalg.js";
import { eighFlat, eigenvaluesFlat } from "./eigen.js";
import { choleskyInPlace, fromFlat } from "./dense.js";

/**
 * The Gramian rule's tolerance per entry, on the scale of each pair of tasks (the cosine scale):
 * Gramians computed in float32 are accurate to about 1e-7 of √(GᵢᵢGⱼⱼ) per entry; 1e-5 leaves room
 * for long sums and for Gramians assembled from several parts.
 */
export const GRAMIAN_ENTRY_TOLERANCE = 1e-5;

/**
 * How far below 0 the smallest eigenvalue of a T×T Gramian's cosine matrix may be: T times the entry
 * tolerance (an error of ε in every entry moves an eigenvalue by at most ‖E‖₂ ≤ Tε), and at least 1e-4.
 */
export function gramianEigenTolerance(T: number): number {
  return GRAMIAN_ENTRY_TOLERANCE * Math.max(T, 10);
}

/** Task scales below this share of the largest gradient norm² are raised to it in the Gramian rule. */
const SCALE_FLOOR = 1e-24;

/**
 * The one rule for what counts as a Gramian G = J Jᵀ, applied by every Gramian method (through
 * `requireGramian`) and by the plain functions (`mgdaWeights(G)`, `pcgradWeights(G)`, …) alike.
 * Returns null when G passes, else what is wrong, in a few words naming the entry. G must be:
 * - an array of T rows of T finite numbers (T as given), with a non-negative diagonal;
 * - symmetric and positive semidefinite up to rounding, both judged relative to the matrix's scale,
 *   task by task: with sᵢ = √max(Gᵢᵢ, 10⁻²⁴·maxⱼGⱼⱼ) and C̃ = S⁻¹GS⁻¹ (the cosine matrix, 0 where a
 *   gradient is 0), |C̃ᵢⱼ − C̃ⱼᵢ| ≤ ε, every pair within Cauchy–Schwarz, |Gᵢⱼ| ≤ (1 + τ)√(GᵢᵢGⱼⱼ) + ε·sᵢsⱼ
 *   (which the floored scale alone would not catch for tiny gradients), and λ_min(C̃) ≥ −τ, with
 *   ε = {@link GRAMIAN_ENTRY_TOLERANCE} and τ = {@link gramianEigenTolerance}(T) (a pair with cosine 1 + δ
 *   alone makes an eigenvalue −δ). So G, kG and DGD (D positive
 *   diagonal) pass or fail together — up to the floor, below which a gradient counts as zero and its
 *   entries must be 0 up to ε·sᵢsⱼ.
 * Cost: O(T²) for the entries, one Cholesky factorization of C̃ + τI (T³/3) for positive
 * semidefiniteness; the eigenvalues are computed only to word a rejection.
 */
export function checkGramian(G: Matrix, T?: number): string | null {
  const n = G.length;
  if (T !== undefined && n !== T) return `expected a ${T}×${T} Gramian, got ${n} rows`;
  let maxDiag = 0;
  for (let i = 0; i < n; i++) {
    const row = G[i]!;
    if (!Array.isArray(row)) return `Gramian row ${i} is not an array of numbers`;
    if (row.length !== n) return `Gramian row ${i} has ${row.length} entries, expected ${n}`;
    for (let j = 0; j < n; j++) {
      const v = row[j]!;
      if (typeof v !== "number" || !Number.isFinite(v)) return `Gramian entry (${i}, ${j}) is ${String(v)}`;
    }
    if (row[i]! < 0) return `Gramian diagonal entry ${i} is negative (${row[i]})`;
    maxDiag = Math.max(maxDiag, row[i]!);
  }
  if (n === 0) return null;
  if (maxDiag === 0) {
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) if (G[i]![j] !== 0) return `Gramian entry (${i}, ${j}) is ${G[i]![j]} but every diagonal entry is 0 (a Gramian has |Gᵢⱼ| ≤ √(GᵢᵢGⱼⱼ))`;
    return null;
  }
  const eps = GRAMIAN_ENTRY_TOLERANCE;
  // Number.MIN_VALUE: for max Gᵢᵢ below ~5e-300 the floor underflows to 0, and a zero gradient's sᵢ = 0 made 0/0 = NaN.
  const s = G.map((row, i) => Math.sqrt(Math.max(row[i]!, SCALE_FLOOR * maxDiag, Number.MIN_VALUE)));
  const tau = gramianEigenTolerance(n);
  const C = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      const a = G[i]![j]! / s[i]! / s[j]!;
      const b = G[j]![i]! / s[i]! / s[j]!;
      if (Math.abs(a - b) > eps) return `Gramian is not symmetric at (${i}, ${j}): ${G[i]![j]} vs ${G[j]![i]}`;
      // √Gᵢᵢ·√Gⱼⱼ, not √(GᵢᵢGⱼⱼ): the product under/overflows for Gramians beyond 1e±154 (G×1e-300 was rejected).
      const root = Math.sqrt(G[i]![i]!) * Math.sqrt(G[j]![j]!);
      if (Math.abs(G[i]![j]!) > (1 + tau) * root + eps * s[i]! * s[j]!) {
        return `the Gramian is not positive semidefinite: entry (${i}, ${j}) is ${G[i]![j]}, beyond √(G${i}${i}·G${j}${j}) = ${root.toPrecision(3)} (G = J Jᵀ has |Gᵢⱼ| ≤ √(GᵢᵢGⱼⱼ); rounding allows ${(1 + tau).toPrecision(6)} times that)`;
      }
      C[i * n + j] = C[j * n + i] = (a + b) / 2;
    }
    C[i * n + i] = G[i]![i]! / s[i]! / s[i]!;
  }
  const shifted = C.slice();
  for (let i = 0; i < n; i++) shifted[i * n + i] = shifted[i * n + i]! + tau;
  if (choleskyInPlace(shifted, n)) return null;
  const lmin = minOf(eigenvaluesFlat(C, n));
  if (lmin >= -tau) return null; // the factorization failed by rounding at the edge of the tolerance
  return `the Gramian is not positive semidefinite: its cosine matrix has eigenvalue ${lmin.toPrecision(3)} (G = J Jᵀ has none below 0; rounding allows down to −${tau.toPrecision(2)})`;
}

/** A Gramian prepared for the solvers: gradient norms and the PSD cosine matrix. */
export interface PreparedGramian {
  readonly T: number;
  /** ‖gᵢ‖ = √Gᵢᵢ. */
  readonly norms: readonly number[];
  /** maxᵢ ‖gᵢ‖ (0 for the zero Gramian). */
  readonly maxNorm: number;
  /**
   * Cᵢⱼ = Gᵢⱼ / (‖gᵢ‖‖gⱼ‖), the Gramian of the unit gradients (rows and columns of zero
   * gradients are 0), projected onto the PSD cone when it is not numerically positive definite
   * (negative eigenvalues from rounding set to 0). Scale-free: the same for G and kG, and for G and
   * DGD with D positive diagonal. Rows of {@link cosineFlat}, built on first read (the solvers read
   * the flat buffer).
   */
  readonly cosine: readonly (readonly number[])[];
  /** The cosine matrix C as a row-major T×T buffer. */
  readonly cosineFlat: Float64Array;
  /**
   * The smallest eigenvalue of C before the projection, when it was computed: only when C (over the
   * tasks with a non-zero gradient) has no Cholesky factor, i.e. is singular or slightly indefinite.
   * Undefined when C is positive definite (nothing to project).
   */
  readonly minCosineEigen?: number;
  /**
   * G / maxᵢ Gᵢᵢ, rebuilt from the projected C, as a row-major T×T buffer:
   * Qᵢⱼ = (‖gᵢ‖/m)(‖gⱼ‖/m)Cᵢⱼ, m = maxNorm.
   */
  readonly normalizedFlat: Float64Array;
}

/**
 * Prepares a Gramian (checked by the caller: square, finite, symmetric, non-negative diagonal).
 * Working with the cosine matrix makes every method here exactly invariant to the scale of G and
 * keeps gradients of very different norms (1e-8..1e8 in G) equally accurate. Cost: one Cholesky
 * attempt on C (T³/3); an eigendecomposition only when C is singular or indefinite by rounding.
 */
export function prepareGramian(G: Matrix): PreparedGramian {
  const T = G.length;
  const norms = G.map((row, i) => Math.sqrt(Math.max(row[i]!, 0)));
  const maxNorm = maxAbs(norms);
  const C = new Float64Array(T * T);
  const active: number[] = [];
  for (let i = 0; i < T; i++) if (norms[i]! > 0) active.push(i);
  for (const i of active) {
    C[i * T + i] = 1;
    for (const j of active) if (j < i) C[i * T + j] = C[j * T + i] = (0.5 * (G[i]![j]! + G[j]![i]!)) / norms[i]! / norms[j]!;
  }
  // Positive definite on the active tasks: nothing to project.
  const m = active.length;
  /** C over the active tasks (C itself when every task is active; a new buffer otherwise). */
  const activeBlock = (): Float64Array => {
    if (m === T) return C;
    const sub = new Float64Array(m * m);
    for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) sub[a * m + b] = C[active[a]! * T + active[b]!]!;
    return sub;
  };
  let minCosineEigen: number | undefined;
  if (m > 0 && !choleskyInPlace(m === T ? C.slice() : activeBlock(), m)) {
    // C is not modified until the eigendecomposition (which copies its input) is done.
    const { values, vectors } = eighFlat(activeBlock(), m);
    minCosineEigen = values[m - 1]!;
    if (minCosineEigen < 0) {
      // C ← V max(Λ, 0) Vᵀ over the active tasks.
      const clipped = new Float64Array(m);
      for (let k = 0; k < m; k++) clipped[k] = Math.max(values[k]!, 0);
      const W = new Float64Array(m * m); // W = V·diag(√λ⁺): C = W Wᵀ
      for (let a = 0; a < m; a++) for (let k = 0; k < m; k++) W[a * m + k] = vectors[a * m + k]! * Math.sqrt(clipped[k]!);
      for (let a = 0; a < m; a++) {
        for (let b = 0; b <= a; b++) {
          let s = 0;
          const ra = a * m;
          const rb = b * m;
          for (let k = 0; k < m; k++) s += W[ra + k]! * W[rb + k]!;
          C[active[a]! * T + active[b]!] = C[active[b]! * T + active[a]!] = s;
        }
      }
    }
  }
  const normalizedFlat = new Float64Array(T * T);
  for (let i = 0; i < T; i++) {
    const ui = maxNorm > 0 ? norms[i]! / maxNorm : 0;
    for (let j = 0; j < T; j++) normalizedFlat[i * T + j] = ui * (maxNorm > 0 ? norms[j]! / maxNorm : 0) * C[i * T + j]!;
  }
  let cosine: number[][] | undefined;
  return {
    T,
    norms,
    maxNorm,
    get cosine() {
      return (cosine ??= fromFlat(C, T));
    },
    cosineFlat: C,
    ...(minCosineEigen === undefined ? {} : { minCosineEigen }),
    normalizedFlat,
  };
}
