import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { eighFlat, eigenvaluesFlat, symmetricEigen, type FlatEigen } from "../../src/solvers/eigen.js";
import { jacobiEigen } from "../helpers/jacobiEigen.js";
import { close } from "../helpers/assert.js";
import { mulberry32, gaussian, gaussianMatrix, gramOf, jacobian, JACOBIAN_KINDS } from "../helpers/gramians.js";

type Rows = number[][];

const toFlat = (A: readonly (readonly number[])[]) => Float64Array.from(A.flat());
const toRows = (a: Float64Array, n: number): Rows => Array.from({ length: n }, (_, i) => Array.from(a.subarray(i * n, (i + 1) * n)));
/** ‖x‖₂ of the entries, scaled so that 1e±300 entries neither overflow nor underflow. */
function frobenius(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  if (m === 0) return 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! / m) ** 2;
  return m * Math.sqrt(s);
}

/** A random symmetric matrix with standard normal entries. */
function randomSymmetric(seed: number, n: number): Rows {
  const rng = mulberry32(seed);
  const A = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) A[i]![j] = A[j]![i] = gaussian(rng);
  return A;
}

/** G = J Jᵀ with J n×d Gaussian, row i scaled by 10^(lo + (hi − lo)·u). */
function scaledGram(seed: number, n: number, d: number, lo: number, hi: number): Rows {
  const rng = mulberry32(seed);
  const J = gaussianMatrix(rng, n, d).map((row) => {
    const s = 10 ** (lo + (hi - lo) * rng());
    return row.map((v) => v * s);
  });
  return gramOf(J);
}

/**
 * The invariants of a decomposition of the n×n symmetric `a`, relative to ‖A‖_F: A·V = V·diag(λ) and
 * VᵀV = I entrywise to `tol`, λ descending, trace and Frobenius norm preserved. Returns the worst errors.
 */
function checkDecomposition(a: Float64Array, n: number, r: FlatEigen, what: string, tol = 1e-12): { res: number; orth: number } {
  const { values, vectors } = r;
  assert.equal(values.length, n, `${what}: ${values.length} eigenvalues`);
  assert.equal(vectors.length, n * n, `${what}: ${vectors.length} vector entries`);
  const norm = frobenius(a);
  for (let k = 0; k + 1 < n; k++) assert.ok(values[k]! >= values[k + 1]!, `${what}: not descending at ${k}: ${values[k]} < ${values[k + 1]}`);
  let res = 0;
  let orth = 0;
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += a[i * n + j]! * vectors[j * n + k]!;
      res = Math.max(res, Math.abs(s - values[k]! * vectors[i * n + k]!));
    }
    for (let l = k; l < n; l++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += vectors[j * n + k]! * vectors[j * n + l]!;
      orth = Math.max(orth, Math.abs(s - (k === l ? 1 : 0)));
    }
  }
  res = norm === 0 ? res : res / norm;
  assert.ok(res <= tol, `${what}: max |AV − VΛ| / ‖A‖ = ${res}`);
  assert.ok(orth <= tol, `${what}: max |VᵀV − I| = ${orth}`);
  let trace = 0;
  for (let i = 0; i < n; i++) trace += a[i * n + i]!;
  const sum = values.reduce((s, v) => s + v, 0);
  assert.ok(Math.abs(sum - trace) <= tol * n * norm, `${what}: Σλ = ${sum} vs trace ${trace}`);
  const fro = frobenius(values);
  assert.ok(Math.abs(fro - norm) <= tol * norm, `${what}: ‖λ‖ = ${fro} vs ‖A‖_F = ${norm}`);
  return { res, orth };
}

/** Eigenvalues agree with the cyclic-Jacobi implementation to tol·‖A‖_F. */
function checkAgainstJacobi(A: Rows, values: ArrayLike<number>, what: string, tol = 1e-10): void {
  const ref = jacobiEigen(A).values;
  const norm = frobenius(toFlat(A));
  ref.forEach((v, k) => close(values[k]!, v, tol * norm, `${what}: λ${k} vs Jacobi`));
}

// ---------------------------------------------------------------------------------------------

type Kind = "symmetric" | (typeof JACOBIAN_KINDS)[number];
const caseArb = fc.record({
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  n: fc.integer({ min: 1, max: 40 }),
  d: fc.integer({ min: 1, max: 60 }),
  kind: fc.constantFrom<Kind>("symmetric", ...JACOBIAN_KINDS),
});
const matrixOf = ({ seed, n, d, kind }: { seed: number; n: number; d: number; kind: Kind }): Rows =>
  kind === "symmetric" ? randomSymmetric(seed, n) : gramOf(jacobian(seed, n, d, kind));

describe("eighFlat", () => {
  test("property: AV = VΛ, VᵀV = I, λ descending, trace and ‖A‖_F preserved; λ agree with Jacobi (random symmetric and Gram, n ≤ 40)", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const A = matrixOf(c);
        const a = toFlat(A);
        const r = eighFlat(a, c.n);
        checkDecomposition(a, c.n, r, `${c.kind} n=${c.n}`);
        checkAgainstJacobi(A, r.values, `${c.kind} n=${c.n}`);
      }),
      { numRuns: 150 },
    );
  });

  test("property: Gramians are positive semidefinite to rounding (λ ≥ −1e-12·λmax)", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        if (c.kind === "symmetric") return;
        const { values } = eighFlat(toFlat(matrixOf(c)), c.n);
        const top = Math.max(values[0]!, 0);
        assert.ok(values[c.n - 1]! >= -1e-12 * top, `λmin = ${values[c.n - 1]} (λmax ${top})`);
      }),
      { numRuns: 100 },
    );
  });

  test("property: the caller's array is not modified", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const a = toFlat(matrixOf(c));
        const copy = a.slice();
        eighFlat(a, c.n);
        eigenvaluesFlat(a, c.n);
        assert.deepEqual(a, copy);
      }),
      { numRuns: 30 },
    );
  });

  test("property: rank-deficient Gramians J Jᵀ (J n×r, r < n) have n − r eigenvalues ≈ 0 (within 1e-12·λmax) and r clearly positive", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 2, max: 40 }), fc.double({ min: 0, max: 1, noNaN: true }), (seed, n, u) => {
        const r = 1 + Math.min(n - 2, Math.floor(u * (n - 1)));
        const G = gramOf(gaussianMatrix(mulberry32(seed), n, r));
        const a = toFlat(G);
        const res = eighFlat(a, n);
        checkDecomposition(a, n, res, `n=${n} r=${r}`);
        const top = res.values[0]!;
        assert.ok(res.values[r - 1]! > 1e-8 * top, `λ${r - 1} = ${res.values[r - 1]} should be clearly positive (λmax ${top})`);
        for (let k = r; k < n; k++) assert.ok(Math.abs(res.values[k]!) <= 1e-12 * top, `λ${k} = ${res.values[k]} should be ≈ 0 (λmax ${top})`);
      }),
      { numRuns: 100 },
    );
  });

  test("property: badly scaled Gramians (row norms 1e-6..1e6, and 1e-8..1e8: entries 1e-16..1e16)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.integer({ min: 2, max: 30 }),
        fc.integer({ min: 1, max: 40 }),
        fc.constantFrom(6, 8),
        (seed, n, d, e) => {
          const G = scaledGram(seed, n, d, -e, e);
          const a = toFlat(G);
          const r = eighFlat(a, n);
          checkDecomposition(a, n, r, `n=${n} d=${d} 1e±${e}`);
          checkAgainstJacobi(G, r.values, `n=${n} d=${d} 1e±${e}`);
          assert.ok(r.values[n - 1]! >= -1e-12 * r.values[0]!, `λmin = ${r.values[n - 1]}`);
        },
      ),
      { numRuns: 100 },
    );
  });

  test("property: eigenvaluesFlat gives eighFlat's eigenvalues", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const a = toFlat(matrixOf(c));
        const full = eighFlat(a, c.n).values;
        const only = eigenvaluesFlat(a, c.n);
        const norm = frobenius(a);
        assert.equal(only.length, c.n);
        only.forEach((v, k) => close(v, full[k]!, 1e-14 * norm, `λ${k}`));
      }),
      { numRuns: 100 },
    );
  });

  test("property: 2×2 closed form λ = (a + c)/2 ± √(((a − c)/2)² + b²)", () => {
    // (Subnormal entries are flushed to 0: this test's own A·V would round them to nothing.)
    const entry = fc.double({ min: -1e3, max: 1e3, noNaN: true }).map((v) => (Math.abs(v) < 1e-250 ? 0 : v));
    fc.assert(
      fc.property(entry, entry, entry, (x, y, z) => {
        const a = new Float64Array([x, y, y, z]);
        const r = eighFlat(a, 2);
        const m = (x + z) / 2;
        const h = Math.hypot((x - z) / 2, y);
        const tol = 2e-15 * (Math.abs(x) + Math.abs(y) + Math.abs(z)); // ≈ 9ε: both sides round
        close(r.values[0]!, m + h, tol, "λ₁");
        close(r.values[1]!, m - h, tol, "λ₂");
        checkDecomposition(a, 2, r, `[[${x}, ${y}], [${y}, ${z}]]`, 2e-15);
      }),
      { numRuns: 300 },
    );
  });

  test("property: already tridiagonal and block-diagonal inputs", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 40 }), (seed, n) => {
        const rng = mulberry32(seed);
        const T = Array.from({ length: n }, () => new Array<number>(n).fill(0));
        for (let i = 0; i < n; i++) {
          T[i]![i] = gaussian(rng);
          if (i + 1 < n) T[i]![i + 1] = T[i + 1]![i] = rng() < 0.15 ? 0 : gaussian(rng); // some splits
        }
        const t = toFlat(T);
        const rt = eighFlat(t, n);
        checkDecomposition(t, n, rt, `tridiagonal n=${n}`);
        checkAgainstJacobi(T, rt.values, `tridiagonal n=${n}`);

        // Blocks of random sizes on the diagonal: eigenvalues are the union of the blocks'.
        const B = Array.from({ length: n }, () => new Array<number>(n).fill(0));
        const union: number[] = [];
        for (let lo = 0; lo < n; ) {
          const size = Math.min(n - lo, 1 + Math.floor(rng() * 8));
          const block = rng() < 0.5 ? randomSymmetric(seed + lo, size) : gramOf(gaussianMatrix(rng, size, 1 + Math.floor(rng() * size)));
          for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) B[lo + i]![lo + j] = block[i]![j]!;
          union.push(...jacobiEigen(block).values);
          lo += size;
        }
        const b = toFlat(B);
        const rb = eighFlat(b, n);
        checkDecomposition(b, n, rb, `block-diagonal n=${n}`);
        union.sort((x, y) => y - x);
        union.forEach((v, k) => close(rb.values[k]!, v, 1e-12 * frobenius(b), `block-diagonal λ${k}`));
      }),
      { numRuns: 100 },
    );
  });

  test("Wilkinson's W21⁺ (tridiagonal; its top two eigenvalues differ by ≈7e-14): orthonormal vectors, λmax = 10.7461941829033…", () => {
    const n = 21;
    const W = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? Math.abs(10 - i) : Math.abs(i - j) === 1 ? 1 : 0)));
    const w = toFlat(W);
    const r = eighFlat(w, n);
    checkDecomposition(w, n, r, "W21+");
    checkAgainstJacobi(W, r.values, "W21+", 1e-14);
    close(r.values[0]!, 10.7461941829033, 1e-12, "λ₁");
    close(r.values[1]!, 10.7461941829033, 1e-12, "λ₂");
  });

  test("zero matrix: all eigenvalues 0, vectors the identity", () => {
    const n = 5;
    const r = eighFlat(new Float64Array(n * n), n);
    assert.deepEqual(Array.from(r.values), new Array(n).fill(0));
    r.vectors.forEach((v, idx) => assert.equal(v, Math.floor(idx / n) === idx % n ? 1 : 0));
    assert.deepEqual(Array.from(eigenvaluesFlat(new Float64Array(n * n), n)), new Array(n).fill(0));
  });

  test("identity and 3·I (one eigenvalue, repeated): exact values, orthonormal vectors", () => {
    for (const c of [1, 3]) {
      const n = 7;
      const a = new Float64Array(n * n);
      for (let i = 0; i < n; i++) a[i * n + i] = c;
      const r = eighFlat(a, n);
      assert.deepEqual(Array.from(r.values), new Array(n).fill(c));
      checkDecomposition(a, n, r, `${c}·I`);
    }
  });

  test("I + uuᵀ (eigenvalue 1 repeated n − 1 times, and 1 + ‖u‖²): orthonormal vectors", () => {
    const n = 12;
    const rng = mulberry32(99);
    const u = Array.from({ length: n }, () => gaussian(rng));
    const A = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0) + u[i]! * u[j]!));
    const a = toFlat(A);
    const r = eighFlat(a, n);
    checkDecomposition(a, n, r, "I + uuᵀ");
    close(r.values[0]!, 1 + u.reduce((s, v) => s + v * v, 0), 1e-13 * frobenius(a), "λ₁");
    for (let k = 1; k < n; k++) close(r.values[k]!, 1, 1e-13 * frobenius(a), `λ${k}`);
  });

  test("diagonal matrix: the sorted diagonal exactly, vectors a permutation of the identity", () => {
    const diag = [3, -1, 0, 7.5, 1e-9, -20, 3, 2];
    const n = diag.length;
    const a = new Float64Array(n * n);
    diag.forEach((v, i) => (a[i * n + i] = v));
    const r = eighFlat(a, n);
    assert.deepEqual(
      Array.from(r.values),
      diag.slice().sort((x, y) => y - x),
    );
    checkDecomposition(a, n, r, "diagonal");
    r.vectors.forEach((v) => assert.ok(v === 0 || v === 1, `vector entry ${v}`));
  });

  test("1×1 and 0×0", () => {
    const r = eighFlat(new Float64Array([-3.5]), 1);
    assert.deepEqual(Array.from(r.values), [-3.5]);
    assert.deepEqual(Array.from(r.vectors), [1]);
    assert.deepEqual(symmetricEigen([[2]]), { values: [2], vectors: [[1]] });
    const e = eighFlat(new Float64Array(0), 0);
    assert.equal(e.values.length, 0);
    assert.equal(e.vectors.length, 0);
    assert.equal(eigenvaluesFlat(new Float64Array(0), 0).length, 0);
    assert.deepEqual(symmetricEigen([]), { values: [], vectors: [] });
  });

  test("extreme magnitudes (1e±300, subnormal): eigenvalues scale exactly with the matrix, no overflow or underflow", () => {
    const n = 9;
    const A = gramOf(jacobian(5, n, 6, "random"));
    const a = toFlat(A);
    const base = eighFlat(a, n).values;
    for (const s of [1e300 / frobenius(a), 1e-300, 2 ** -1060, 2 ** 40]) {
      const as = a.map((v) => v * s);
      const r = eighFlat(as, n);
      assert.ok(r.values.every(Number.isFinite) && r.vectors.every(Number.isFinite), `scale ${s}: non-finite result`);
      base.forEach((v, k) => close(r.values[k]!, v * s, 1e-12 * frobenius(a) * s, `scale ${s}: λ${k}`));
      if (s > 1e-300) checkDecomposition(as, n, r, `scale ${s}`);
    }
  });

  test("a larger case (n = 150, full-rank and rank-deficient Gramians) is accurate", () => {
    for (const d of [300, 40]) {
      const n = 150;
      const a = toFlat(gramOf(jacobian(11, n, d, "random")));
      const r = eighFlat(a, n);
      const { res, orth } = checkDecomposition(a, n, r, `n=${n} d=${d}`);
      assert.ok(res < 1e-13 && orth < 1e-13, `res ${res}, orth ${orth}`);
      const ev = eigenvaluesFlat(a, n);
      ev.forEach((v, k) => close(v, r.values[k]!, 1e-14 * frobenius(a), `λ${k}`));
      if (d < n) for (let k = d; k < n; k++) assert.ok(Math.abs(r.values[k]!) <= 1e-12 * r.values[0]!, `λ${k} = ${r.values[k]}`);
    }
  });
});

describe("symmetricEigen (Householder + QR)", () => {
  test("property: same results as eighFlat, as number[] and number[][] (eigenvectors in the columns)", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const A = matrixOf(c);
        const r = symmetricEigen(A);
        const f = eighFlat(toFlat(A), c.n);
        assert.ok(Array.isArray(r.values) && Array.isArray(r.vectors) && r.vectors.every((row) => Array.isArray(row) && row.length === c.n));
        assert.deepEqual(r.values, Array.from(f.values));
        assert.deepEqual(r.vectors, toRows(f.vectors, c.n));
      }),
      { numRuns: 50 },
    );
  });

  test("property: a non-symmetric input is symmetrized as (A + Aᵀ)/2 first", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 20 }), (seed, n) => {
        const A = gaussianMatrix(mulberry32(seed), n, n);
        const S = A.map((row, i) => row.map((v, j) => (v + A[j]![i]!) / 2));
        const r = symmetricEigen(A);
        const s = symmetricEigen(S);
        r.values.forEach((v, k) => close(v, s.values[k]!, 1e-13 * frobenius(toFlat(S)), `λ${k}`));
        checkDecomposition(toFlat(S), n, { values: Float64Array.from(r.values), vectors: toFlat(r.vectors) }, `n=${n}`);
        checkAgainstJacobi(A, r.values, `n=${n}`); // the Jacobi version symmetrizes too
      }),
      { numRuns: 50 },
    );
  });
});

describe("bad inputs throw, naming the problem and the first bad entry", () => {
  const A3 = () => [
    [2, 1, 0],
    [1, 3, 1],
    [0, 1, 4],
  ];

  test("NaN and ±Infinity entries", () => {
    const nan = A3();
    nan[2]![1] = Number.NaN;
    nan[1]![2] = Number.NaN;
    assert.throws(() => symmetricEigen(nan), /^Error: symmetricEigen: entry \(1, 2\) is NaN \(must be finite\)$/);
    const inf = A3();
    inf[2]![0] = Number.POSITIVE_INFINITY;
    assert.throws(() => symmetricEigen(inf), /symmetricEigen: entry \(2, 0\) is Infinity \(must be finite\)/);

    const a = toFlat(A3());
    a[1 * 3 + 0] = Number.NEGATIVE_INFINITY;
    a[2 * 3 + 2] = Number.NaN;
    assert.throws(() => eighFlat(a, 3), /eighFlat: entry \(1, 0\) is -Infinity \(must be finite\)/);
    assert.throws(() => eigenvaluesFlat(a, 3), /eigenvaluesFlat: entry \(1, 0\) is -Infinity \(must be finite\)/);
    const b = toFlat(A3());
    b[2 * 3 + 2] = Number.NaN;
    assert.throws(() => eighFlat(b, 3), /eighFlat: entry \(2, 2\) is NaN/);
  });

  test("ragged, non-square and non-numeric inputs", () => {
    assert.throws(
      () =>
        symmetricEigen([
          [1, 2, 3],
          [2, 3],
          [3, 4, 5],
        ]),
      /symmetricEigen: row 1 has 2 entries, expected 3/,
    );
    assert.throws(
      () =>
        symmetricEigen([
          [1, 2, 3],
          [2, 3, 4],
        ]),
      /symmetricEigen: row 0 has 3 entries, expected 2/,
    );
    assert.throws(() => symmetricEigen([[1, 2], "ab"] as unknown as number[][]), /symmetricEigen: row 1 is the string "ab"/);
    assert.throws(() => symmetricEigen([[1, "x"], [2, 3]] as unknown as number[][]), /symmetricEigen: entry \(0, 1\) is the string "x", not a number/);
    assert.throws(() => symmetricEigen(undefined as unknown as number[][]), /symmetricEigen: expected an array of rows, got undefined/);
    assert.throws(() => eighFlat(new Float64Array(8), 3), /eighFlat: expected 3×3 = 9 entries, got 8/);
    assert.throws(() => eigenvaluesFlat(new Float64Array(4), 1.5), /eigenvaluesFlat: n must be a non-negative integer, got 1.5/);
  });
});
