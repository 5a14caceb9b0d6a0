import assert from "node:assert/strict";
import { BalancerInputError } from "../../src/balancers/validate.js";

/** Asserts that `fn` throws a BalancerInputError whose message matches every pattern. */
export function throwsInput(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BalancerInputError, `expected BalancerInputError, got ${String(e)}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

/** Asserts |actual − expected| ≤ tol. */
export function close(actual: number, expected: number, tol: number, what = ""): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected} (tol ${tol})`);
}
