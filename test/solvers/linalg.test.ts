import { test } from "node:test";
import assert from "node:assert/strict";
import { maxOf, minOf } from "../../src/solvers/linalg.js";

test("maxOf and minOf take any length (no spread into Math.max)", () => {
  const big = Float64Array.from({ length: 300_000 }, (_, i) => Math.sin(i));
  assert.equal(maxOf(big), big.reduce((m, v) => Math.max(m, v), -Infinity));
  assert.equal(minOf([3, -2, 5]), -2);
  assert.equal(maxOf([]), -Infinity);
});
