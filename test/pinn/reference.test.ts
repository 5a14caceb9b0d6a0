import { test } from "node:test";
import assert from "node:assert/strict";
import {
  burgersExact,
  burgersGradient,
  burgersInitial,
  burgersNu,
  gaussHermite,
  gridPoints,
  helmholtzDefaults,
  helmholtzExact,
  helmholtzSource,
  kleinGordonBoundary,
  kleinGordonDefaults,
  kleinGordonExact,
  kleinGordonInitial,
  kleinGordonInitialVelocity,
  kleinGordonSource,
  kleinGordonTimeDerivative,
  poissonExact,
  poissonSource,
  relativeL2,
  type HelmholtzParams,
  type KleinGordonParams,
} from "../../src/pinn/reference.js";
import { Rng } from "../../src/util/rng.js";

type Field = (points: Float64Array) => Float64Array;

/** n random points in [x0, x1] × [y0, y1] as flat pairs. */
function randomPoints(seed: number, n: number, x0: number, x1: number, y0: number, y1: number): Float64Array {
  const rng = new Rng(seed);
  const p = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    p[2 * i] = x0 + (x1 - x0) * rng.uniform();
    p[2 * i + 1] = y0 + (y1 - y0) * rng.uniform();
  }
  return p;
}

function shifted(points: Float64Array, axis: 0 | 1, by: number): Float64Array {
  const q = Float64Array.from(points);
  for (let i = axis; i < q.length; i += 2) q[i]! += by;
  return q;
}

/** Fourth-order central first and second derivatives of f along an axis at every point. */
function fd(f: Field, points: Float64Array, axis: 0 | 1, h: number): { d1: Float64Array; d2: Float64Array } {
  const [m2, m1, c, p1, p2] = [-2, -1, 0, 1, 2].map((k) => f(shifted(points, axis, k * h))) as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];
  const n = c.length;
  const d1 = new Float64Array(n);
  const d2 = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    d1[i] = (-p2[i]! + 8 * p1[i]! - 8 * m1[i]! + m2[i]!) / (12 * h);
    d2[i] = (-p2[i]! + 16 * p1[i]! - 30 * c[i]! + 16 * m1[i]! - m2[i]!) / (12 * h * h);
  }
  return { d1, d2 };
}

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** max |Σ terms| / max |each term| over the points: the residual relative to the terms' scale. */
function relativeResidual(terms: ArrayLike<number>[]): number {
  const n = terms[0]!.length;
  let res = 0;
  let scale = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (const t of terms) {
      s += t[i]!;
      scale = Math.max(scale, Math.abs(t[i]!));
    }
    res = Math.max(res, Math.abs(s));
  }
  return res / scale;
}

const neg = (a: ArrayLike<number>) => Float64Array.from(a, (v) => -v);

// ---------------------------------------------------------------------------------------------------
// Helpers

test("gridPoints: row-major pairs, x fastest, endpoints exact", () => {
  const g = gridPoints(0, 1, 3, -1, 1, 2);
  assert.deepEqual(Array.from(g), [0, -1, 0.5, -1, 1, -1, 0, 1, 0.5, 1, 1, 1]);
  const h = gridPoints(-1, 1, 7, 0, 0.3, 11);
  assert.equal(h.length, 2 * 7 * 11);
  assert.equal(h[2 * 6], 1); // last x of the first row
  assert.equal(h[2 * (7 * 11 - 1) + 1], 0.3); // last point's y
  assert.equal(h[2 * 7 + 1], 0.03); // second row's y
  assert.deepEqual(Array.from(gridPoints(2, 5, 1, 3, 4, 1)), [2, 3]);
  assert.throws(() => gridPoints(0, 1, 0, 0, 1, 2), RangeError);
  assert.throws(() => gridPoints(0, 1, 2, 0, 1, 1.5), RangeError);
});

test("relativeL2: the norm ratio, its edge cases", () => {
  assert.ok(Math.abs(relativeL2([1.1, -2.2, 3.3], [1, -2, 3]) - 0.1) < 1e-15);
  assert.ok(Math.abs(relativeL2([3, 0], [0, 4]) - 5 / 4) < 1e-15);
  assert.equal(relativeL2([1, 2], [1, 2]), 0);
  assert.equal(relativeL2([0, 0], [0, 0]), 0);
  assert.equal(relativeL2([1, 0], [0, 0]), Infinity);
  assert.ok(Math.abs(relativeL2([3e200, 0], [0, 4e200]) - 1.25) < 1e-15); // no overflow
  assert.ok(Math.abs(relativeL2([3e-200, 0], [0, 4e-200]) - 1.25) < 1e-15); // no underflow
  assert.throws(() => relativeL2([1], [1, 2]), RangeError);
});

test("evaluators reject odd-length point arrays", () => {
  assert.throws(() => helmholtzExact([0, 0, 1]), RangeError);
  assert.throws(() => burgersExact([0.5]), RangeError);
});

// ---------------------------------------------------------------------------------------------------
// Helmholtz

for (const params of [helmholtzDefaults, { a1: 2, a2: 3, k: 5 }] as HelmholtzParams[]) {
  test(`Helmholtz (a1=${params.a1}, a2=${params.a2}, k=${params.k}): Δu + k²u = q at random interior points`, () => {
    const p = randomPoints(1, 300, -0.99, 0.99, -0.99, 0.99);
    const u = (q: Float64Array) => helmholtzExact(q, params);
    const { d2: uxx } = fd(u, p, 0, 1e-3);
    const { d2: uyy } = fd(u, p, 1, 1e-3);
    const k2u = u(p).map((v) => params.k ** 2 * v);
    const r = relativeResidual([uxx, uyy, k2u, neg(helmholtzSource(p, params))]);
    assert.ok(r < 1e-8, `relative residual ${r}`);
  });
}

test("Helmholtz: u = 0 on the boundary of [−1, 1]², the paper's values inside", () => {
  const s = Array.from({ length: 41 }, (_, i) => -1 + i / 20);
  const edges = new Float64Array(s.flatMap((v) => [v, -1, v, 1, -1, v, 1, v]));
  assert.ok(maxAbs(helmholtzExact(edges)) < 1e-14);
  // u = sin(πx)·sin(4πy): 1 at (1/2, 1/8); q = (1 − π² − 16π²)·u.
  const [u] = helmholtzExact([0.5, 0.125]);
  const [q] = helmholtzSource([0.5, 0.125]);
  assert.ok(Math.abs(u! - 1) < 1e-15);
  assert.ok(Math.abs(q! - (1 - 17 * Math.PI ** 2)) < 1e-12);
  assert.ok(Math.abs(helmholtzExact([0.3, -0.7])[0]! - Math.sin(0.3 * Math.PI) * Math.sin(-2.8 * Math.PI)) < 1e-15);
});

// ---------------------------------------------------------------------------------------------------
// Poisson

for (const m of [1, 3]) {
  test(`Poisson (frequency ${m}): −Δu = f at random interior points, u = 0 on the boundary`, () => {
    const p = randomPoints(2, 300, 0.01, 0.99, 0.01, 0.99);
    const u = (q: Float64Array) => poissonExact(q, m);
    const { d2: uxx } = fd(u, p, 0, 1e-3);
    const { d2: uyy } = fd(u, p, 1, 1e-3);
    const r = relativeResidual([uxx, uyy, poissonSource(p, m)]); // Δu + f = 0
    assert.ok(r < 1e-8, `relative residual ${r}`);
    const s = Array.from({ length: 41 }, (_, i) => i / 40);
    assert.ok(maxAbs(poissonExact(new Float64Array(s.flatMap((v) => [v, 0, v, 1, 0, v, 1, v])), m)) < 1e-14);
  });
}

test("Poisson: u = sin(πx)sin(πy), f = 2π²·u", () => {
  assert.ok(Math.abs(poissonExact([0.5, 0.5])[0]! - 1) < 1e-15);
  assert.ok(Math.abs(poissonSource([0.5, 0.5])[0]! - 2 * Math.PI ** 2) < 1e-13);
  assert.ok(Math.abs(poissonSource([0.5, 0.5], 3)[0]! - 18 * Math.PI ** 2) < 1e-12);
});

// ---------------------------------------------------------------------------------------------------
// Klein–Gordon

for (const params of [kleinGordonDefaults, { alpha: 2, beta: -3, gamma: 0.5, k: 2 }] as KleinGordonParams[]) {
  test(`Klein–Gordon (α=${params.alpha}, β=${params.beta}, γ=${params.gamma}, k=${params.k}): u_tt + αu_xx + βu + γuᵏ = f`, () => {
    const p = randomPoints(3, 300, 0.01, 0.99, 0.01, 0.99);
    const { d2: uxx } = fd(kleinGordonExact, p, 0, 1e-3);
    const { d2: utt } = fd(kleinGordonExact, p, 1, 1e-3);
    const u = kleinGordonExact(p);
    const r = relativeResidual([
      utt,
      uxx.map((v) => params.alpha * v),
      u.map((v) => params.beta * v),
      u.map((v) => params.gamma * v ** params.k),
      neg(kleinGordonSource(p, params)),
    ]);
    assert.ok(r < 1e-8, `relative residual ${r}`);
  });
}

test("Klein–Gordon: u = x·cos(5πt) + (xt)³, its time derivative", () => {
  assert.ok(Math.abs(kleinGordonExact([1, 0.2])[0]! - (-1 + 0.008)) < 1e-15);
  assert.ok(Math.abs(kleinGordonExact([0.5, 0.1])[0]! - (0.5 * Math.cos(0.5 * Math.PI) + 0.05 ** 3)) < 1e-15);
  const p = randomPoints(4, 200, 0, 1, 0, 1);
  const { d1: ut } = fd(kleinGordonExact, p, 1, 1e-4);
  const exact = kleinGordonTimeDerivative(p);
  assert.ok(maxAbs(exact.map((v, i) => v - ut[i]!)) < 1e-8 * maxAbs(exact));
});

test("Klein–Gordon: initial u(x,0) = x and u_t(x,0) = 0; boundary u(0,t) = 0, u(1,t) = cos(5πt) + t³", () => {
  const xs = Float64Array.from({ length: 51 }, (_, i) => i / 50);
  const atZero = new Float64Array(Array.from(xs).flatMap((x) => [x, 0]));
  assert.deepEqual(Array.from(kleinGordonInitial(xs)), Array.from(xs));
  assert.deepEqual(Array.from(kleinGordonInitial(xs)), Array.from(kleinGordonExact(atZero)));
  // u_t(x, 0) by central differences of the exact solution (defined for t < 0 too).
  const { d1: ut0 } = fd(kleinGordonExact, atZero, 1, 1e-4);
  assert.ok(maxAbs(ut0) < 1e-9, `u_t(x,0) ≈ ${maxAbs(ut0)}`);
  assert.ok(maxAbs(kleinGordonInitialVelocity(xs)) === 0);
  const ts = Float64Array.from({ length: 51 }, (_, i) => i / 50);
  const left = kleinGordonBoundary(ts, "left");
  const right = kleinGordonBoundary(ts, "right");
  assert.equal(maxAbs(left), 0);
  assert.ok(maxAbs(right.map((v, i) => v - (Math.cos(5 * Math.PI * ts[i]!) + ts[i]! ** 3))) < 1e-15);
  assert.deepEqual(Array.from(right), Array.from(kleinGordonExact(new Float64Array(Array.from(ts).flatMap((t) => [1, t])))));
  assert.throws(() => kleinGordonBoundary(ts, "top" as "left"), RangeError);
});

// ---------------------------------------------------------------------------------------------------
// Gauss–Hermite

/** ∫ x^k e^(−x²) dx = Γ((k+1)/2) for even k, 0 for odd k. */
function hermiteMoment(k: number): number {
  if (k % 2 === 1) return 0;
  let m = Math.sqrt(Math.PI); // Γ(1/2)
  for (let j = 1; j <= k / 2; j++) m *= j - 0.5; // Γ(j + 1/2) = (j − 1/2)·Γ(j − 1/2)
  return m;
}

function quadratureMoment(n: number, k: number): { value: number; scale: number } {
  const { nodes, weights } = gaussHermite(n);
  let value = 0;
  let scale = 0;
  for (let i = 0; i < n; i++) {
    value += weights[i]! * nodes[i]! ** k;
    scale += weights[i]! * Math.abs(nodes[i]!) ** k;
  }
  return { value, scale };
}

test("Gauss–Hermite: small rules in closed form", () => {
  const one = gaussHermite(1);
  assert.ok(one.nodes[0] === 0 && Math.abs(one.weights[0]! - Math.sqrt(Math.PI)) < 1e-15);
  const two = gaussHermite(2);
  for (let i = 0; i < 2; i++) {
    assert.ok(Math.abs(Math.abs(two.nodes[i]!) - Math.SQRT1_2) < 1e-15);
    assert.ok(Math.abs(two.weights[i]! - Math.sqrt(Math.PI) / 2) < 1e-15);
  }
  const three = gaussHermite(3);
  assert.ok(Math.abs(three.nodes[2]! - Math.sqrt(1.5)) < 1e-15 && three.nodes[1] === 0 && three.nodes[0] === -three.nodes[2]!);
  assert.ok(Math.abs(three.weights[1]! - (2 * Math.sqrt(Math.PI)) / 3) < 1e-15);
  assert.ok(Math.abs(three.weights[0]! - Math.sqrt(Math.PI) / 6) < 1e-15);
  const mutated = gaussHermite(5);
  mutated.nodes[0] = 99;
  mutated.logWeights[0] = 0;
  assert.ok(gaussHermite(5).nodes[0]! < 0 && gaussHermite(5).logWeights[0]! < 0); // the cache is not shared
  assert.throws(() => gaussHermite(0), RangeError);
  assert.throws(() => gaussHermite(2.5), RangeError);
});

test("Gauss–Hermite: exact for x^k up to degree 2n − 1; at degree 2n short by exactly n!√π/2ⁿ", () => {
  for (let n = 1; n <= 24; n++) {
    for (let k = 0; k <= 2 * n - 1; k++) {
      const { value, scale } = quadratureMoment(n, k);
      const err = Math.abs(value - hermiteMoment(k));
      assert.ok(err <= 1e-13 * scale, `n=${n}, x^${k}: ${value} vs ${hermiteMoment(k)}`);
    }
    // The rule's error term (n!√π/2ⁿ)·f⁽²ⁿ⁾(ξ)/(2n)! is n!√π/2ⁿ for x²ⁿ.
    const { value, scale } = quadratureMoment(n, 2 * n);
    let err = Math.sqrt(Math.PI);
    for (let j = 1; j <= n; j++) err *= j / 2;
    assert.ok(Math.abs(hermiteMoment(2 * n) - value - err) <= 1e-13 * scale, `n=${n}, x^${2 * n}: short by ${hermiteMoment(2 * n) - value}, not ${err}`);
  }
});

test("Gauss–Hermite: large rules — weights sum to √π, ∫x² = √π/2, symmetric ascending nodes, reference values", () => {
  for (const n of [50, 100, 199, 200, 400, 800]) {
    const { nodes, weights, logWeights } = gaussHermite(n);
    const s0 = quadratureMoment(n, 0).value;
    const s2 = quadratureMoment(n, 2).value;
    const s4 = quadratureMoment(n, 4).value;
    assert.ok(Math.abs(s0 / Math.sqrt(Math.PI) - 1) < 1e-14, `n=${n}: Σw = ${s0}`);
    assert.ok(Math.abs(s2 / (Math.sqrt(Math.PI) / 2) - 1) < 1e-14, `n=${n}: Σwx² = ${s2}`);
    assert.ok(Math.abs(s4 / ((3 * Math.sqrt(Math.PI)) / 4) - 1) < 1e-14, `n=${n}: Σwx⁴ = ${s4}`);
    for (let i = 0; i < n; i++) {
      assert.ok(nodes[i] === -nodes[n - 1 - i]!);
      assert.equal(weights[i], weights[n - 1 - i]);
      if (i > 0) assert.ok(nodes[i]! > nodes[i - 1]!);
      assert.ok(Number.isFinite(logWeights[i]!));
      if (weights[i]! > 1e-300) assert.ok(Math.abs(Math.log(weights[i]!) - logWeights[i]!) < 1e-12);
    }
  }
  // Reference values by Newton on Hₙ in 60-digit arithmetic (mpmath), wᵢ = 2ⁿ⁻¹n!√π / (n²Hₙ₋₁(zᵢ)²).
  const rel = (a: number, b: number) => Math.abs(a / b - 1);
  const r20 = gaussHermite(20);
  assert.ok(rel(r20.nodes[19]!, 5.387480890011232862) < 1e-15);
  assert.ok(rel(r20.weights[19]!, 2.2293936455341512925e-13) < 1e-13);
  const r100 = gaussHermite(100);
  assert.ok(rel(r100.nodes[99]!, 13.406487338144910138) < 1e-15);
  assert.ok(rel(r100.weights[99]!, 5.9080678650312068153e-79) < 1e-13);
  assert.ok(rel(r100.nodes[50]!, 0.11079587242243948289) < 1e-14);
  assert.ok(rel(r100.weights[50]!, 0.21889262958743912506) < 1e-14);
  const r200 = gaussHermite(200);
  assert.ok(rel(r200.nodes[199]!, 19.339248667911405432) < 1e-15);
  assert.ok(Math.abs(r200.logWeights[199]! - -374.51977515911256374) < 1e-11);
});

// ---------------------------------------------------------------------------------------------------
// Burgers

/**
 * An independent evaluation of the Cole–Hopf quotient: the trapezoidal rule on z ∈ [−14, 14] with
 * step 0.01 (spectrally accurate for this analytic, fast-decaying integrand), in log-sum-exp form.
 */
function burgersTrapezoid(x: number, t: number, nu = burgersNu): number {
  const c = 2 * Math.sqrt(nu * t);
  const a = 1 / (2 * Math.PI * nu);
  const zs: number[] = [];
  for (let z = -14; z <= 14 + 1e-9; z += 0.01) zs.push(z);
  const L = zs.map((z) => -z * z - a * Math.cos(Math.PI * (x - c * z)));
  const m = Math.max(...L);
  let num = 0;
  let den = 0;
  zs.forEach((z, i) => {
    const e = Math.exp(L[i]! - m);
    den += e;
    num += Math.sin(Math.PI * (x - c * z)) * e;
  });
  return -num / den;
}

const tStar = 1.6037 / Math.PI; // Basdevant et al.'s time of the steepest slope

test("Burgers: t = 0 returns u₀ = −sin(πx) exactly", () => {
  const xs = Float64Array.from({ length: 41 }, (_, i) => -1 + i / 20);
  const u = burgersExact(new Float64Array(Array.from(xs).flatMap((x) => [x, 0])));
  const u0 = burgersInitial(xs);
  xs.forEach((x, i) => {
    assert.equal(u[i], -Math.sin(Math.PI * x));
    assert.equal(u0[i], -Math.sin(Math.PI * x));
  });
  // ...and the t → 0⁺ limit of the quadrature agrees with it.
  const early = burgersExact(new Float64Array(Array.from(xs).flatMap((x) => [x, 1e-9])));
  assert.ok(maxAbs(early.map((v, i) => v - u0[i]!)) < 1e-8);
});

test("Burgers: u(±1, t) = 0 and odd symmetry u(−x, t) = −u(x, t)", () => {
  const ts = Array.from({ length: 20 }, (_, j) => 0.05 * (j + 1));
  const ends = burgersExact(new Float64Array(ts.flatMap((t) => [-1, t, 1, t])));
  assert.ok(maxAbs(ends) < 1e-12, `boundary ${maxAbs(ends)}`);
  const p = randomPoints(5, 500, 0, 1, 0, 1);
  const u = burgersExact(p);
  const um = burgersExact(p.map((v, i) => (i % 2 === 0 ? -v : v)));
  assert.ok(maxAbs(u.map((v, i) => v + um[i]!)) < 1e-12);
  assert.ok(maxAbs(u) > 0.5); // not trivially zero
});

test("Burgers: the PDE u_t + u·u_x − ν·u_xx = 0 by finite differences at smooth points", () => {
  // Before the shock forms, anywhere; after it, away from x = 0.
  const early = randomPoints(6, 200, -0.98, 0.98, 0.02, 0.25);
  const late = randomPoints(7, 400, 0.15, 0.98, 0.3, 1).map((v, i) => (i % 2 === 0 && i % 4 === 0 ? -v : v));
  for (const p of [early, late]) {
    const u = burgersExact(p);
    const { d1: ux, d2: uxx } = fd(burgersExact, p, 0, 1e-3);
    const { d1: ut } = fd(burgersExact, p, 1, 1e-3);
    const r = relativeResidual([ut, u.map((v, i) => v * ux[i]!), uxx.map((v) => -burgersNu * v)]);
    assert.ok(r < 1e-7, `relative residual ${r}`);
    // The analytic u_x of the quadrature matches the differences too.
    const g = burgersGradient(p);
    assert.ok(maxAbs(g.map((v, i) => v - ux[i]!)) < 1e-7 * maxAbs(g));
  }
});

test("Burgers: the PDE holds across the shock, with steps resolving its width", () => {
  const p = randomPoints(8, 100, -0.02, 0.02, 0.4, 1);
  const u = burgersExact(p);
  const { d1: ux, d2: uxx } = fd(burgersExact, p, 0, 2e-5);
  const { d1: ut } = fd(burgersExact, p, 1, 1e-4);
  const r = relativeResidual([ut, u.map((v, i) => v * ux[i]!), uxx.map((v) => -burgersNu * v)]);
  assert.ok(r < 1e-7, `relative residual ${r}`);
});

test("Burgers: the quadrature is converged (200 vs 400 nodes) and agrees with an independent trapezoidal rule", () => {
  const pts: number[] = [];
  for (const t of [0.01, 0.1, 0.3, 1 / Math.PI, 0.5, tStar, 0.75, 1]) {
    for (let i = 0; i <= 40; i++) pts.push(-1 + i / 20, t);
    for (let i = 0; i <= 20; i++) pts.push(-0.01 + i * 0.001, t);
  }
  const p = Float64Array.from(pts);
  const u200 = burgersExact(p);
  const u400 = burgersExact(p, { nodes: 400 });
  const u50 = burgersExact(p, { nodes: 50 });
  assert.ok(maxAbs(u200.map((v, i) => v - u400[i]!)) < 1e-13);
  assert.ok(maxAbs(u50.map((v, i) => v - u400[i]!)) > 1e-9); // too few nodes is visibly worse
  for (let i = 0; i < u200.length; i++) {
    const ref = burgersTrapezoid(p[2 * i]!, p[2 * i + 1]!);
    assert.ok(Math.abs(u200[i]! - ref) < 1e-12, `(${p[2 * i]}, ${p[2 * i + 1]}): ${u200[i]} vs ${ref}`);
  }
});

test("Burgers: the steepest slope u_x(0, 1.6037/π) = −152.00516 (Basdevant et al. 1986)", () => {
  const [g] = burgersGradient([0, tStar]);
  assert.ok(Math.abs(g! - -152.00516) < 5e-6, `u_x = ${g}`); // every published digit
  // The same slope from the values alone (central difference of u across x = 0).
  const h = 1e-6;
  const [up, um] = burgersExact([h, tStar, -h, tStar]);
  assert.ok(Math.abs((up! - um!) / (2 * h) - g!) < 1e-6 * Math.abs(g!));
  // It is the steepest: in x at that time, and in t at x = 0.
  const xs = Array.from({ length: 201 }, (_, i) => -0.05 + i * 0.0005);
  const gx = burgersGradient(new Float64Array(xs.flatMap((x) => [x, tStar])));
  assert.ok(maxAbs(gx) <= Math.abs(g!) + 1e-9);
  const g2 = burgersGradient([0, tStar - 0.005, 0, tStar + 0.005, 0, 1 / Math.PI, 0, 1]);
  for (const v of g2) assert.ok(Math.abs(v) < Math.abs(g!));
  // At t = 1/π (where the inviscid solution breaks) the slope is still far from its maximum.
  assert.ok(Math.abs(g2[2]! - -34.2262894) < 1e-6, `u_x(0, 1/π) = ${g2[2]}`);
});

test("Burgers: bad arguments", () => {
  assert.throws(() => burgersExact([0, -0.1]), RangeError);
  assert.throws(() => burgersExact([0, 0.5], { nu: 0 }), RangeError);
  assert.throws(() => burgersExact([0, Number.NaN]), RangeError);
});
