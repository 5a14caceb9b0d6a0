/**
 * Small dense linear algebra on plain arrays, for the T×T problems the balancers solve
 * (T is the number of tasks: tens, not thousands). Row-major `number[][]`.
 */
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

/**
 * Eigendecomposition of a symmetric matrix by cyclic Jacobi rotations: A = V·diag(values)·Vᵀ,
 * eigenvalues in descending order, eigenvectors in the columns of V. Accurate to rounding for
 * the small matrices here; `sweeps` bounds the work.
 */
export function symmetricEigen(A: Matrix, sweeps = 100): { values: number[]; vectors: number[][] } {
  const n = A.length;
  const a = symmetrize(A);
  const v = identity(n);
  for (let sweep = 0; sweep < sweeps; sweep++) {
    let off = 0;
    let total = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        total += a[i]![j]! ** 2;
        if (i !== j) off += a[i]![j]! ** 2;
      }
    if (off <= 1e-30 * Math.max(total, 1e-300)) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p]![q]!;
        if (apq === 0) continue;
        const theta = (a[q]![q]! - a[p]![p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k]![p]!;
          const akq = a[k]![q]!;
          a[k]![p] = c * akp - s * akq;
          a[k]![q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p]![k]!;
          const aqk = a[q]![k]!;
          a[p]![k] = c * apk - s * aqk;
          a[q]![k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k]![p]!;
          const vkq = v[k]![q]!;
          v[k]![p] = c * vkp - s * vkq;
          v[k]![q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[j]![j]! - a[i]![i]!);
  return { values: order.map((i) => a[i]![i]!), vectors: v.map((row) => order.map((i) => row[i]!)) };
}

/** Moore–Penrose pseudo-inverse of a symmetric matrix; eigenvalues below `rcond`·max are dropped. */
export function pinvSym(A: Matrix, rcond = 1e-10): number[][] {
  const { values, vectors } = symmetricEigen(A);
  const cut = rcond * Math.max(...values.map(Math.abs), 0);
  const n = A.length;
  return Array.from({ length: n }, (_, i) =>
    Array.from({ length: n }, (_, j) => values.reduce((s, lam, k) => (Math.abs(lam) > cut && lam !== 0 ? s + (vectors[i]![k]! * vectors[j]![k]!) / lam : s), 0)),
  );
}

/** Checks that G is a square, finite, symmetric (to rounding) matrix of size T. */
export function checkGramian(G: Matrix, T?: number): string | null {
  const n = G.length;
  if (T !== undefined && n !== T) return `expected a ${T}×${T} Gramian, got ${n} rows`;
  for (let i = 0; i < n; i++) {
    const row = G[i]!;
    if (row.length !== n) return `Gramian row ${i} has ${row.length} entries, expected ${n}`;
    for (let j = 0; j < n; j++) {
      const v = row[j]!;
      if (!Number.isFinite(v)) return `Gramian entry (${i}, ${j}) is ${v}`;
    }
    if (row[i]! < 0) return `Gramian diagonal entry ${i} is negative (${row[i]})`;
  }
  for (let i = 0; i < n; i++)
    for (let j = 0; j < i; j++) {
      const a = G[i]![j]!;
      const b = G[j]![i]!;
      if (Math.abs(a - b) > 1e-6 * Math.max(Math.abs(a), Math.abs(b), Math.sqrt(G[i]![i]! * G[j]![j]!), 1e-300)) {
        return `Gramian is not symmetric at (${i}, ${j}): ${a} vs ${b}`;
      }
    }
  return null;
}
