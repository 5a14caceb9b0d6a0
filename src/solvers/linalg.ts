/**
 * Small dense linear algebra on plain arrays, for the T×T problems the balancers solve
 * (T is the number of tasks: tens, not thousands). Row-major `number[][]`.
 */
import { symmetricEigen } from "./eigen.js";

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

/** The largest absolute entry (0 for an empty vector; NaN if an entry is NaN). */
export function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]!));
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
