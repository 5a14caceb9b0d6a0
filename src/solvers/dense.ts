/**
 * Dense symmetric kernels on flat row-major `Float64Array` buffers, for the T×T problems of the
 * Gramian methods when T reaches the hundreds or thousands (`number[][]` and closures cost 10–50×
 * more there): conversions, Cholesky factorization and solves, and a Cholesky factor that grows and
 * shrinks with an active set.
 */
import type { Matrix } from "./linalg.js";

/** Row-major n×n copy of a square matrix given as rows. */
export function toFlat(A: Matrix): Float64Array {
  const n = A.length;
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const row = A[i]!;
    for (let j = 0; j < n; j++) a[i * n + j] = row[j]!;
  }
  return a;
}

/** Rows of a row-major n×n buffer. */
export function fromFlat(a: Float64Array, n: number): number[][] {
  const out: number[][] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = Array.from(a.subarray(i * n, (i + 1) * n));
  return out;
}

/**
 * xᵀQx for a flat symmetric n×n Q (row-major), summed row by row: Σᵢ xᵢ(Σⱼ Qᵢⱼxⱼ), rows with xᵢ = 0
 * skipped.
 */
export function quadFormFlat(Q: Float64Array, n: number, x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[i]!;
    if (xi === 0) continue;
    let r = 0;
    for (let j = 0; j < n; j++) r += Q[i * n + j]! * x[j]!;
    s += xi * r;
  }
  return s;
}

/**
 * In-place Cholesky factorization A = L Lᵀ of a symmetric matrix (row-major; the lower triangle is read
 * and overwritten with L, the upper triangle is not touched). Returns false as soon as a pivot is not
 * positive, i.e. A is not (numerically) positive definite: then the buffer holds a partial factor.
 * n³/3 multiply–adds.
 */
export function choleskyInPlace(a: Float64Array, n: number): boolean {
  for (let j = 0; j < n; j++) {
    const rj = j * n;
    let d = a[rj + j]!;
    for (let k = 0; k < j; k++) d -= a[rj + k]! * a[rj + k]!;
    if (!(d > 0)) return false;
    const ljj = Math.sqrt(d);
    a[rj + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      let s = a[ri + j]!;
      for (let k = 0; k < j; k++) s -= a[ri + k]! * a[rj + k]!;
      a[ri + j] = s / ljj;
    }
  }
  return true;
}

/** Solves L Lᵀ x = b in place (b becomes x) with L from {@link choleskyInPlace}. */
export function choleskySolveInPlace(L: Float64Array, n: number, b: Float64Array): void {
  factorSolve(L, n, n, b);
}

/** L Lᵀ x = b in place for the leading k×k lower triangle L of a buffer with rows of length `stride`. */
function factorSolve(L: Float64Array, stride: number, k: number, b: Float64Array): void {
  for (let i = 0; i < k; i++) {
    const ri = i * stride;
    let s = b[i]!;
    for (let j = 0; j < i; j++) s -= L[ri + j]! * b[j]!;
    b[i] = s / L[ri + i]!;
  }
  for (let i = k - 1; i >= 0; i--) {
    let s = b[i]!;
    for (let j = i + 1; j < k; j++) s -= L[j * stride + i]! * b[j]!;
    b[i] = s / L[i * stride + i]!;
  }
}

/**
 * The Cholesky factor of M_SS for an active set S of indices that changes one index at a time, as
 * active-set solvers need: appending an index costs O(k²) (a forward substitution), removing one O(k²)
 * (a rank-one update of the trailing block), a solve O(k²), instead of O(k³) to refactor.
 */
export interface GrowingCholesky {
  /** Number of members. */
  readonly size: number;
  /**
   * Appends a member whose entries against the current members are `col` (in member order) and whose
   * diagonal entry is `diag`. Refused (returns false, nothing changes) when the new pivot² is at most
   * `tol`·diag: the new member is (numerically) dependent on the others.
   */
  push(col: ArrayLike<number>, diag: number, tol: number): boolean;
  /** Removes the member at position p (members after it move up by one). */
  remove(p: number): void;
  /** Solves M_SS x = b (length `size`) in place. */
  solve(b: Float64Array): void;
}

export function growingCholesky(capacity: number): GrowingCholesky {
  const cap = Math.max(1, capacity);
  const L = new Float64Array(cap * cap);
  const work = new Float64Array(cap);
  let k = 0;
  return {
    get size() {
      return k;
    },
    push(col, diag, tol) {
      if (k >= cap) throw new Error("growingCholesky: capacity exceeded");
      let r2 = diag;
      const rk = k * cap;
      for (let i = 0; i < k; i++) {
        const ri = i * cap;
        let s = col[i]!;
        for (let j = 0; j < i; j++) s -= L[ri + j]! * work[j]!;
        const v = s / L[ri + i]!;
        work[i] = v;
        r2 -= v * v;
      }
      if (!(r2 > tol * diag) || !Number.isFinite(r2)) return false;
      for (let i = 0; i < k; i++) L[rk + i] = work[i]!;
      L[rk + k] = Math.sqrt(r2);
      k++;
      return true;
    },
    remove(p) {
      if (p < 0 || p >= k) throw new Error(`growingCholesky: no member at position ${p}`);
      // Rows below p lose column p: the trailing block L₂₂ becomes the factor of L₂₂L₂₂ᵀ + v vᵀ,
      // v = L[p+1.., p] (a rank-one update by Givens-like rotations, kept in place).
      for (let i = p + 1; i < k; i++) work[i] = L[i * cap + p]!;
      for (let i = p + 1; i < k; i++) {
        const ri = i * cap;
        const lii = L[ri + i]!;
        const vi = work[i]!;
        const r = Math.hypot(lii, vi);
        const c = r / lii;
        const s = vi / lii;
        L[ri + i] = r;
        for (let j = i + 1; j < k; j++) {
          const rj = j * cap;
          const lji = (L[rj + i]! + s * work[j]!) / c;
          L[rj + i] = lji;
          work[j] = c * work[j]! - s * lji;
        }
      }
      // Close the gap: drop row p and column p.
      for (let i = p; i < k - 1; i++) {
        const dst = i * cap;
        const src = (i + 1) * cap;
        for (let j = 0; j < p; j++) L[dst + j] = L[src + j]!;
        for (let j = p; j <= i; j++) L[dst + j] = L[src + j + 1]!;
      }
      k--;
    },
    solve(b) {
      factorSolve(L, cap, k, b);
    },
  };
}
