import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { choleskyInPlace, choleskySolveInPlace, fromFlat, growingCholesky, toFlat } from "../../src/solvers/dense.js";
import { gaussianMatrix, gramOf, mulberry32 } from "../helpers/gramians.js";

/** A random SPD matrix J Jᵀ + I of size n. */
function spd(seed: number, n: number): number[][] {
  const G = gramOf(gaussianMatrix(mulberry32(seed), n, n + 2));
  return G.map((row, i) => row.map((v, j) => v + (i === j ? 1 : 0)));
}

const residual = (A: number[][], x: ArrayLike<number>, b: ArrayLike<number>) =>
  Math.max(...A.map((row, i) => Math.abs(row.reduce((s, v, j) => s + v * x[j]!, 0) - b[i]!)));

test("toFlat / fromFlat round trip", () => {
  const A = [[1, 2], [3, 4]];
  assert.deepEqual(Array.from(toFlat(A)), [1, 2, 3, 4]);
  assert.deepEqual(fromFlat(toFlat(A), 2), A);
});

test("property: Cholesky solves SPD systems; it refuses an indefinite or singular matrix", () => {
  fc.assert(
    fc.property(fc.integer(), fc.integer({ min: 1, max: 30 }), (seed, n) => {
      const A = spd(seed, n);
      const L = toFlat(A);
      assert.ok(choleskyInPlace(L, n));
      const b = Float64Array.from({ length: n }, (_, i) => Math.cos(i + seed));
      const x = b.slice();
      choleskySolveInPlace(L, n, x);
      assert.ok(residual(A, x, b) < 1e-9 * (1 + Math.max(...A.flat())), `residual ${residual(A, x, b)}`);
    }),
    { numRuns: 100 },
  );
  assert.equal(choleskyInPlace(toFlat([[1, 2], [2, 1]]), 2), false);
  assert.equal(choleskyInPlace(toFlat([[1, 1], [1, 1]]), 2), false);
});

test("property: a growing Cholesky factor with random pushes and removals solves the current block exactly", () => {
  fc.assert(
    fc.property(fc.integer(), fc.array(fc.nat(), { minLength: 5, maxLength: 60 }), (seed, ops) => {
      const n = 12;
      const A = spd(seed, n);
      const f = growingCholesky(n);
      const members: number[] = [];
      for (const op of ops) {
        const outside = Array.from({ length: n }, (_, i) => i).filter((i) => !members.includes(i));
        if (outside.length > 0 && (members.length === 0 || op % 3 !== 0)) {
          const j = outside[op % outside.length]!;
          assert.ok(f.push(members.map((i) => A[i]![j]!), A[j]![j]!, 1e-12), "an SPD block is never refused");
          members.push(j);
        } else {
          const p = op % members.length;
          f.remove(p);
          members.splice(p, 1);
        }
        assert.equal(f.size, members.length);
        if (members.length === 0) continue;
        const block = members.map((i) => members.map((j) => A[i]![j]!));
        const b = Float64Array.from(members, (i) => Math.sin(i + 1));
        const x = b.slice();
        f.solve(x);
        assert.ok(residual(block, x, b) < 1e-9 * (1 + Math.max(...block.flat())), `residual ${residual(block, x, b)} with members ${members}`);
      }
    }),
    { numRuns: 150 },
  );
});

test("a growing Cholesky factor refuses a dependent member and stays as it was", () => {
  const f = growingCholesky(3);
  assert.ok(f.push([], 1, 1e-12));
  assert.ok(f.push([0.5], 1, 1e-12));
  // The third column equals the first: the block [[1, .5, 1], [.5, 1, .5], [1, .5, 1]] is singular.
  assert.equal(f.push([1, 0.5], 1, 1e-12), false);
  assert.equal(f.size, 2);
  const x = Float64Array.from([1, 1]);
  f.solve(x);
  assert.ok(Math.abs(x[0]! - 2 / 3) < 1e-15 && Math.abs(x[1]! - 2 / 3) < 1e-15);
});
