/**
 * Small dense linear algebra on plain arrays, for the T×T problems the balancers solve
 * (T is the number of tasks: tens, not thousands). Row-major `number[][]`.
 */
import { eigenvaluesFlat, symmetricEigen } from "./eigen.js";
import { choleskyInPlace } from "./dense.js";

export { symmetricEigen };
export type Matrix = readonly (readonly number[])[];
export type Vector = readonly number[];

export function dot(a: Vector, b: Vector): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export function matVec(A: Matrix, x: Vector): number[] {
  return A.map((row) => dot(row, x));
}

/** xᵀAx. */
export function quadForm(A: Matrix, x: Vector): number {
  return dot(x, matVec(A, x));
}

export function matMul(A: Matrix, B: Matrix): number[][] {
  const n = B[0]?.length ?? 0;
  return A.map((row) => Array.from({ length: n }, (_, j) => row.reduce((s, a, k) => s + a * B[k]![j]!, 0)));
}

export function transpose(A: Matrix): number[][] {
  const n = A[0]?.length ?? 0;
  return Array.from({ length: n }, (_, j) => A.map((row) => row[j]!));
}

export function identity(n: number): number[][] {
  return Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
}

export function scale(x: Vector, s: number): number[] {
  return x.map((v) => v * s);
}

export function add(a: Vector, b: Vector): number[] {
  return a.map((v, i) => v + b[i]!);
}

/** The largest entry (−Infinity for an empty vector); a loop, so any length works (Math.max(...x) overflows the stack past ~10⁵ entries). */
export function maxOf(x: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) if (x[i]! > m) m = x[i]!;
  return m;
}

/** The smallest entry (Infinity for an empty vector). */
export function minOf(x: ArrayLike<number>): number {
  let m = Infinity;
  for (let i = 0; i < x.length; i++) if (x[i]! < m) m = x[i]!;
  return m;
}

export function sum(x: Vector): number {
  return x.reduce((a, b) => a + b, 0);
}

/** Permutes rows and columns of a square matrix: out[i][j] = A[p[i]][p[j]]. */
export function permuteSym(A: Matrix, p: readonly number[]): number[][] {
  return p.map((pi) => p.map((pj) => A[pi]![pj]!));
}

/** Symmetrizes (A + Aᵀ)/2: Gramians computed in floating point are symmetric only up to rounding. */
export function symmetrize(A: Matrix): number[][] {
  return A.map((row, i) => row.map((v, j) => (v + A[j]![i]!) / 2));
}

/** Moore–Penrose pseudo-inverse of a symmetric matrix; eigenvalues below `rcond`·max are dropped. */
export function pinvSym(A: Matrix, rcond = 1e-10): number[][] {
  const { values, vectors } = symmetricEigen(A);
  const cut = rcond * Math.max(maxOf(values.map(Math.abs)), 0);
  const n = A.length;
  return Array.from({ length: n }, (_, i) =>
    Array.from({ length: n }, (_, j) => values.reduce((s, lam, k) => (Math.abs(lam) > cut && lam !== 0 ? s + (vectors[i]![k]! * vectors[j]![k]!) / lam : s), 0)),
  );
}

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
  const s = G.map((row, i) => Math.sqrt(Math.max(row[i]!, SCALE_FLOOR * maxDiag)));
  const tau = gramianEigenTolerance(n);
  const C = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      const a = G[i]![j]! / s[i]! / s[j]!;
      const b = G[j]![i]! / s[i]! / s[j]!;
      if (Math.abs(a - b) > eps) return `Gramian is not symmetric at (${i}, ${j}): ${G[i]![j]} vs ${G[j]![i]}`;
      const root = Math.sqrt(G[i]![i]! * G[j]![j]!);
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
