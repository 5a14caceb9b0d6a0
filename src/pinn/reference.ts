/**
 * Reference solutions of the PINN benchmark problems: exact (manufactured) solutions and their source
 * terms, and a Cole–Hopf evaluation of viscous Burgers. Plain float64 host math, no tensors and no
 * Node APIs, so the module bundles for browsers and serves as ground truth for the relative L² errors.
 *
 * Points are flat row-major pairs, point i at [2i, 2i + 1], as {@link gridPoints} builds them: (x, y)
 * for the steady problems, (x, t) — space first, then time — for the time-dependent ones. Every
 * evaluator takes such an array (any `ArrayLike<number>` of even length) and returns a
 * `Float64Array` with one value per point.
 */

/** Flat row-major pairs: point i is (p[2i], p[2i + 1]). */
export type Points = ArrayLike<number>;

/** An axis-aligned rectangle [x₀, x₁] × [y₀, y₁] (y is t for the time-dependent problems). */
export interface Box {
  readonly x: readonly [number, number];
  readonly y: readonly [number, number];
}

function count(points: Points): number {
  if (points.length % 2 !== 0) throw new RangeError(`reference: points are flat pairs, got an odd length ${points.length}`);
  return points.length / 2;
}

function map2(points: Points, f: (a: number, b: number) => number): Float64Array {
  const n = count(points);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = f(points[2 * i]!, points[2 * i + 1]!);
  return out;
}

function map1(values: ArrayLike<number>, f: (a: number) => number): Float64Array {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f(values[i]!);
  return out;
}

/**
 * The nx × ny grid of [x₀, x₁] × [y₀, y₁] with endpoints (`linspace` on each axis; an axis of one
 * point sits at its lower end), as flat pairs in row-major order: point k = j·nx + i is (xᵢ, yⱼ), x
 * fastest — numpy's `meshgrid(x, y)` flattened.
 */
export function gridPoints(x0: number, x1: number, nx: number, y0: number, y1: number, ny: number): Float64Array {
  for (const [name, n] of [["nx", nx], ["ny", ny]] as const) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`gridPoints: ${name} must be an integer ≥ 1, got ${n}`);
  }
  const at = (a: number, b: number, n: number, i: number) => (n === 1 ? a : i === n - 1 ? b : a + ((b - a) * i) / (n - 1));
  const out = new Float64Array(2 * nx * ny);
  for (let j = 0; j < ny; j++) {
    const y = at(y0, y1, ny, j);
    for (let i = 0; i < nx; i++) {
      const k = 2 * (j * nx + i);
      out[k] = at(x0, x1, nx, i);
      out[k + 1] = y;
    }
  }
  return out;
}

/**
 * The relative L² error ‖pred − exact‖₂ / ‖exact‖₂ (the papers' error metric). 0 when both are
 * identical, Infinity when `exact` is all zeros and `pred` is not.
 */
export function relativeL2(pred: ArrayLike<number>, exact: ArrayLike<number>): number {
  if (pred.length !== exact.length) throw new RangeError(`relativeL2: lengths differ, ${pred.length} vs ${exact.length}`);
  // Scaled sums of squares (as in BLAS dnrm2's spirit): no overflow or underflow for extreme values.
  let scale = 0;
  for (let i = 0; i < pred.length; i++) scale = Math.max(scale, Math.abs(exact[i]!), Math.abs(pred[i]! - exact[i]!));
  if (scale === 0) return 0;
  let num = 0;
  let den = 0;
  for (let i = 0; i < pred.length; i++) {
    const e = exact[i]! / scale;
    const d = (pred[i]! - exact[i]!) / scale;
    num += d * d;
    den += e * e;
  }
  return den === 0 ? Infinity : Math.sqrt(num / den);
}

// ---------------------------------------------------------------------------------------------------
// Helmholtz 2D

/** Parameters of the Helmholtz benchmark: u = sin(a₁πx)·sin(a₂πy), wavenumber k. */
export interface HelmholtzParams {
  readonly a1: number;
  readonly a2: number;
  readonly k: number;
}

/** The benchmark's parameters in Wang, Teng & Perdikaris (2021): a₁ = 1, a₂ = 4, k = 1. */
export const helmholtzDefaults: HelmholtzParams = { a1: 1, a2: 4, k: 1 };

/** The Helmholtz domain [−1, 1]². */
export const helmholtzDomain: Box = { x: [-1, 1], y: [-1, 1] };

/**
 * The exact solution of the 2D Helmholtz benchmark at (x, y) points:
 *
 *   Δu + k²u = q(x, y)  on [−1, 1]²,   u = 0 on the boundary,
 *   u(x, y) = sin(a₁πx)·sin(a₂πy)      (a₁ = 1, a₂ = 4, k = 1 by default),
 *
 * with q from {@link helmholtzSource}. The boundary condition holds for integer a₁, a₂.
 *
 * Source: S. Wang, Y. Teng, P. Perdikaris, "Understanding and mitigating gradient flow pathologies in
 * physics-informed neural networks", SIAM J. Sci. Comput. 43(5), 2021 (arXiv:2001.04536), §2 and §4
 * (their λ is k² here); the same u and q as the authors' code, PredictiveIntelligenceLab/
 * GradientPathologiesPINNs, Helmholtz/Helmholtz2D.py.
 */
export function helmholtzExact(points: Points, params: HelmholtzParams = helmholtzDefaults): Float64Array {
  const { a1, a2 } = params;
  return map2(points, (x, y) => Math.sin(a1 * Math.PI * x) * Math.sin(a2 * Math.PI * y));
}

/**
 * The source term of the Helmholtz benchmark (see {@link helmholtzExact}):
 *
 *   q(x, y) = −(a₁π)²u − (a₂π)²u + k²u = (k² − (a₁π)² − (a₂π)²)·sin(a₁πx)·sin(a₂πy),
 *
 * so that Δu + k²u = q exactly.
 */
export function helmholtzSource(points: Points, params: HelmholtzParams = helmholtzDefaults): Float64Array {
  const { a1, a2, k } = params;
  const c = k * k - (a1 * Math.PI) ** 2 - (a2 * Math.PI) ** 2;
  return map2(points, (x, y) => c * Math.sin(a1 * Math.PI * x) * Math.sin(a2 * Math.PI * y));
}

// ---------------------------------------------------------------------------------------------------
// Poisson 2D

/** The Poisson domain [0, 1]². */
export const poissonDomain: Box = { x: [0, 1], y: [0, 1] };

/**
 * The exact solution of the 2D Poisson benchmark at (x, y) points, with frequency m (default 1):
 *
 *   −Δu = f  on [0, 1]²,   u = 0 on the boundary,
 *   u(x, y) = sin(mπx)·sin(mπy),   f from {@link poissonSource}.
 *
 * The boundary condition holds for integer m. The m = 1 case is the standard manufactured-solution
 * test (e.g. the DeepXDE and PINN tutorials' Poisson example); a larger m raises the frequency and with
 * it the stiffness of the residual loss that Wang, Teng & Perdikaris (2021, §3) analyse.
 */
export function poissonExact(points: Points, frequency = 1): Float64Array {
  const w = frequency * Math.PI;
  return map2(points, (x, y) => Math.sin(w * x) * Math.sin(w * y));
}

/** The source of the Poisson benchmark: f(x, y) = 2(mπ)²·sin(mπx)·sin(mπy), so that −Δu = f exactly. */
export function poissonSource(points: Points, frequency = 1): Float64Array {
  const w = frequency * Math.PI;
  const c = 2 * w * w;
  return map2(points, (x, y) => c * Math.sin(w * x) * Math.sin(w * y));
}

// ---------------------------------------------------------------------------------------------------
// Klein–Gordon 1D

/** The Klein–Gordon equation's coefficients: u_tt + α·u_xx + β·u + γ·uᵏ = f. */
export interface KleinGordonParams {
  readonly alpha: number;
  readonly beta: number;
  readonly gamma: number;
  readonly k: number;
}

/** The benchmark's coefficients: α = −1, β = 0, γ = 1, k = 3, i.e. u_tt − u_xx + u³ = f. */
export const kleinGordonDefaults: KleinGordonParams = { alpha: -1, beta: 0, gamma: 1, k: 3 };

/** The Klein–Gordon domain: x ∈ [0, 1] (`x`), t ∈ [0, 1] (`y`). */
export const kleinGordonDomain: Box = { x: [0, 1], y: [0, 1] };

const kgU = (x: number, t: number) => x * Math.cos(5 * Math.PI * t) + (x * t) ** 3;
const kgUt = (x: number, t: number) => -5 * Math.PI * x * Math.sin(5 * Math.PI * t) + 3 * x ** 3 * t * t;

/**
 * The exact solution of the nonlinear Klein–Gordon benchmark at (x, t) points:
 *
 *   u_tt + α·u_xx + β·u + γ·uᵏ = f(x, t),   x ∈ [0, 1], t ∈ [0, 1]   (α = −1, β = 0, γ = 1, k = 3),
 *   u(x, t) = x·cos(5πt) + (x·t)³,
 *
 * with f from {@link kleinGordonSource}, the initial conditions u(x, 0) = x
 * ({@link kleinGordonInitial}) and u_t(x, 0) = 0 ({@link kleinGordonInitialVelocity}), and the
 * Dirichlet conditions u(0, t) = 0, u(1, t) = cos(5πt) + t³ ({@link kleinGordonBoundary}) — the
 * exact solution's own values there.
 *
 * Source: Wang, Teng & Perdikaris (2021, arXiv:2001.04536), §4 (Klein–Gordon example). Confirmed
 * against the authors' code (GradientPathologiesPINNs, "Klein Gordon/Klein_Gordon.py" and
 * Klein_Gordon_model_tf.py): the same u, f = u_tt + α u_xx + β u + γ uᵏ, domain [0, 1]² in (t, x), the
 * initial loss on u(x, 0) and on u_t(x, 0) = 0, and the boundary loss on x = 0 and x = 1. Their points
 * are (t, x); these are (x, t).
 */
export function kleinGordonExact(points: Points): Float64Array {
  return map2(points, kgU);
}

/** The time derivative u_t = −5πx·sin(5πt) + 3x³t² of the Klein–Gordon solution at (x, t) points. */
export function kleinGordonTimeDerivative(points: Points): Float64Array {
  return map2(points, kgUt);
}

/**
 * The Klein–Gordon source at (x, t) points (see {@link kleinGordonExact}):
 *
 *   f = u_tt + α·u_xx + β·u + γ·uᵏ,   u_tt = −25π²x·cos(5πt) + 6x³t,   u_xx = 6x·t³.
 */
export function kleinGordonSource(points: Points, params: KleinGordonParams = kleinGordonDefaults): Float64Array {
  const { alpha, beta, gamma, k } = params;
  return map2(points, (x, t) => {
    const u = kgU(x, t);
    const utt = -25 * Math.PI ** 2 * x * Math.cos(5 * Math.PI * t) + 6 * x ** 3 * t;
    const uxx = 6 * x * t ** 3;
    return utt + alpha * uxx + beta * u + gamma * u ** k;
  });
}

/** The Klein–Gordon initial value u(x, 0) = x at the given x. */
export function kleinGordonInitial(xs: ArrayLike<number>): Float64Array {
  return map1(xs, (x) => kgU(x, 0));
}

/** The Klein–Gordon initial velocity u_t(x, 0) = 0 at the given x. */
export function kleinGordonInitialVelocity(xs: ArrayLike<number>): Float64Array {
  return map1(xs, (x) => kgUt(x, 0));
}

/**
 * The Klein–Gordon Dirichlet values at the given t: u(0, t) = 0 on the left (x = 0), u(1, t) =
 * cos(5πt) + t³ on the right (x = 1).
 */
export function kleinGordonBoundary(ts: ArrayLike<number>, side: "left" | "right"): Float64Array {
  if (side !== "left" && side !== "right") throw new RangeError(`kleinGordonBoundary: side is "left" or "right", got ${String(side)}`);
  const x = side === "left" ? 0 : 1;
  return map1(ts, (t) => kgU(x, t));
}

// ---------------------------------------------------------------------------------------------------
// Gauss–Hermite quadrature

/** An n-point Gauss–Hermite rule: ∫ e^(−z²) g(z) dz ≈ Σ wᵢ g(zᵢ), exact for polynomials of degree ≤ 2n − 1. */
export interface GaussHermiteRule {
  /** The nodes zᵢ, the zeros of Hₙ, ascending and exactly antisymmetric (0 is a node for odd n). */
  readonly nodes: Float64Array;
  /** The weights wᵢ (symmetric); those below ~1e−308 underflow to 0 — use `logWeights` then. */
  readonly weights: Float64Array;
  /** ln wᵢ, accurate where wᵢ underflows. */
  readonly logWeights: Float64Array;
}

const ghCache = new Map<number, GaussHermiteRule>();

/**
 * The orthonormal Hermite polynomials p̃ₙ(z) and p̃ₙ₋₁(z) (orthonormal w.r.t. e^(−z²): p̃₀ = π^(−1/4),
 * p̃ₖ₊₁ = z·√(2/(k+1))·p̃ₖ − √(k/(k+1))·p̃ₖ₋₁), with a running rescale so nothing overflows:
 * p̃ₙ = pn·e^logScale, p̃ₙ₋₁ = pn1·e^logScale.
 */
function hermiteOrthonormal(n: number, z: number): { pn: number; pn1: number; logScale: number } {
  let prev = 0; // p̃₋₁
  let cur = 1; // p̃₀ / π^(−1/4)
  let logScale = -0.25 * Math.log(Math.PI);
  for (let k = 0; k < n; k++) {
    const next = z * Math.sqrt(2 / (k + 1)) * cur - Math.sqrt(k / (k + 1)) * prev;
    prev = cur;
    cur = next;
    const a = Math.abs(cur);
    if (a > 1e150) {
      prev /= a;
      cur /= a;
      logScale += Math.log(a);
    }
  }
  return { pn: cur, pn1: prev, logScale };
}

/**
 * The n-point Gauss–Hermite rule (weight e^(−z²) on ℝ), as fresh arrays (the rule is computed once
 * per n and cached; O(n²) work, about 7 ms for n = 200). The nodes are the eigenvalues of
 * the Golub–Welsch Jacobi matrix (zero diagonal, off-diagonal √(k/2)), found by Sturm-sequence
 * bisection and polished by Newton steps on the orthonormal Hermite recurrence; the weights come
 * from wᵢ = 1 / (n·p̃ₙ₋₁(zᵢ)²) in log form — not from eigenvector components, whose absolute (not
 * relative) accuracy would ruin the tiny outer weights.
 */
export function gaussHermite(n: number): GaussHermiteRule {
  const { nodes, weights, logWeights } = cachedGaussHermite(n);
  return { nodes: nodes.slice(), weights: weights.slice(), logWeights: logWeights.slice() };
}

/** The cached rule itself (shared: never mutated). */
function cachedGaussHermite(n: number): GaussHermiteRule {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`gaussHermite: n must be an integer ≥ 1, got ${n}`);
  const cached = ghCache.get(n);
  if (cached) return cached;
  const off2 = new Float64Array(n); // off2[i] = β_i² = i/2, coupling rows i−1 and i
  for (let i = 1; i < n; i++) off2[i] = i / 2;
  // Number of eigenvalues of the Jacobi matrix below λ (Sturm count via the LDLᵀ pivots).
  const below = (lambda: number) => {
    let c = 0;
    let q = 1;
    for (let i = 0; i < n; i++) {
      q = -lambda - (i > 0 ? off2[i]! / q : 0);
      if (q === 0) q = -1e-300;
      if (q < 0) c++;
    }
    return c;
  };
  const bound = 2 * Math.sqrt(Math.max(n - 1, 0) / 2) + 1; // Gershgorin
  const nodes = new Float64Array(n);
  const logWeights = new Float64Array(n);
  const half = Math.floor(n / 2);
  for (let j = 0; j < half; j++) {
    // The j-th positive node (ascending) is eigenvalue index n − half + j.
    const idx = n - half + j;
    let lo = j === 0 ? 0 : nodes[n - half + j - 1]!;
    let hi = bound;
    for (let it = 0; it < 200 && hi - lo > 4e-16 * hi; it++) {
      const mid = 0.5 * (lo + hi);
      if (below(mid) > idx) hi = mid;
      else lo = mid;
    }
    let z = 0.5 * (lo + hi);
    for (let it = 0; it < 3; it++) {
      const { pn, pn1 } = hermiteOrthonormal(n, z);
      const step = pn / (Math.sqrt(2 * n) * pn1);
      if (!Number.isFinite(step)) break;
      z -= step;
    }
    nodes[n - half + j] = z;
    nodes[half - 1 - j] = -z;
  }
  if (n % 2 === 1) nodes[half] = 0;
  for (let i = 0; i < n; i++) {
    const { pn1, logScale } = hermiteOrthonormal(n, nodes[i]!);
    logWeights[i] = -Math.log(n) - 2 * (Math.log(Math.abs(pn1)) + logScale);
  }
  // Exact symmetry of the weights.
  for (let i = 0; i < half; i++) logWeights[i] = logWeights[n - 1 - i]!;
  const weights = logWeights.map(Math.exp);
  const rule: GaussHermiteRule = { nodes, weights, logWeights };
  ghCache.set(n, rule);
  return rule;
}

// ---------------------------------------------------------------------------------------------------
// Viscous Burgers (Cole–Hopf)

/** The benchmark viscosity ν = 0.01/π (Raissi, Perdikaris & Karniadakis 2019). */
export const burgersNu = 0.01 / Math.PI;

/** The Burgers domain: x ∈ [−1, 1] (`x`), t ∈ [0, 1] (`y`). */
export const burgersDomain: Box = { x: [-1, 1], y: [0, 1] };

/** The default number of Gauss–Hermite nodes of {@link burgersExact}; see its convergence note. */
export const burgersQuadratureNodes = 200;

export interface BurgersOptions {
  /** Viscosity ν > 0 (default {@link burgersNu}). */
  readonly nu?: number;
  /** Gauss–Hermite nodes (default {@link burgersQuadratureNodes}). */
  readonly nodes?: number;
}

/** The Burgers initial value u(x, 0) = −sin(πx) at the given x. */
export function burgersInitial(xs: ArrayLike<number>): Float64Array {
  return map1(xs, (x) => -Math.sin(Math.PI * x));
}

/** u and, when asked, u_x at one (x, t > 0) by the Gauss–Hermite Cole–Hopf quotient. */
function burgersAt(x: number, t: number, nu: number, rule: GaussHermiteRule, gradient: boolean): number {
  const { nodes, logWeights } = rule;
  const n = nodes.length;
  const c = 2 * Math.sqrt(nu * t);
  const a = 1 / (2 * Math.PI * nu);
  // Exponents Lᵢ = ln wᵢ − cos(π yᵢ)/(2πν), yᵢ = x − c·zᵢ; shift by their max (log-sum-exp).
  let m = -Infinity;
  for (let i = 0; i < n; i++) m = Math.max(m, logWeights[i]! - a * Math.cos(Math.PI * (x - c * nodes[i]!)));
  let den = 0;
  let num = 0;
  let dnum = 0;
  for (let i = 0; i < n; i++) {
    const py = Math.PI * (x - c * nodes[i]!);
    const s = Math.sin(py);
    const cs = Math.cos(py);
    const e = Math.exp(logWeights[i]! - a * cs - m);
    den += e;
    num += s * e;
    if (gradient) dnum += (Math.PI * cs + (s * s) / (2 * nu)) * e;
  }
  const u = -num / den;
  // d/dx of −N/D with D' = N/(2ν): u_x = −N'/D + u²/(2ν).
  return gradient ? -dnum / den + (u * u) / (2 * nu) : u;
}

function burgersEval(points: Points, options: BurgersOptions, gradient: boolean): Float64Array {
  const nu = options.nu ?? burgersNu;
  if (!(nu > 0) || !Number.isFinite(nu)) throw new RangeError(`burgers: nu must be a positive number, got ${nu}`);
  const rule = cachedGaussHermite(options.nodes ?? burgersQuadratureNodes);
  return map2(points, (x, t) => {
    if (!(t >= 0)) throw new RangeError(`burgers: t must be ≥ 0, got ${t}`);
    if (t === 0) return gradient ? -Math.PI * Math.cos(Math.PI * x) : -Math.sin(Math.PI * x);
    return burgersAt(x, t, nu, rule, gradient);
  });
}

/**
 * The viscous Burgers benchmark's reference solution at (x, t) points:
 *
 *   u_t + u·u_x = ν·u_xx,   x ∈ [−1, 1], t ∈ [0, 1],   u(x, 0) = −sin(πx),   u(±1, t) = 0,   ν = 0.01/π
 *
 * (M. Raissi, P. Perdikaris, G. E. Karniadakis, "Physics-informed neural networks", J. Comput. Phys.
 * 378, 2019, §3.1). Cole–Hopf: u = −2ν ∂ₓ ln θ with θ_t = ν θ_xx, θ(x, 0) = exp(−(1/2ν)∫₀ˣ u₀) ∝
 * F(x) = exp(−cos(πx)/(2πν)); solving the heat equation on ℝ with the (2-periodic) F, integrating by
 * parts (F′ = F·sin(πx)/(2ν)) and substituting η = x − 2√(νt)·z gives
 *
 *   u(x, t) = −∫ sin(π(x − cz))·F(x − cz)·e^(−z²) dz / ∫ F(x − cz)·e^(−z²) dz,   c = 2√(νt),
 *
 * the form of C. Basdevant et al., "Spectral and finite difference solutions of the Burgers
 * equation", Computers & Fluids 14(1), 1986, evaluated (as there) by Gauss–Hermite quadrature. Since
 * u₀ is odd about 0 and about ±1 and 2-periodic, the whole-line solution is odd about x = 0 and x = ±1,
 * so it satisfies u(±1, t) = 0. The exponent −cos(·)/(2πν) spans ±50: the sums are formed in log
 * space, shifted by their largest term, so nothing overflows. At t = 0 it returns u₀ exactly.
 *
 * Accuracy, measured as the largest difference between n and 2n nodes over x ∈ [−1, 1] (step 0.001,
 * plus step 1e−4 on [−0.02, 0.02] across the shock) for t ∈ {0.01, 0.02, …, 1}: 1.1e−1 for 25 vs 50
 * nodes, 2.2e−7 for 50 vs 100, 1.2e−14 for 100 vs 200 and 7.6e−15 for 200 vs 400 (u_x: 5.3e−5,
 * 1.3e−12, 1.1e−12); for t ∈ [1e−6, 5e−3] every pair agrees to 2e−15. The default 200 nodes keep
 * that to t = 3 (200 vs 400: 4.9e−15 for 1 < t ≤ 3, where 100 vs 200 is 4.9e−8). The steepest slope,
 * at x = 0, is u_x(0, 1.6037/π) = −152.0051616 for every n ≥ 50 (n = 20: −147.78), Basdevant et
 * al.'s −152.00516; the maximum of |u_x(0, t)| over t is at t ≈ 1.60369/π ≈ 0.51047. (At t = 1/π,
 * the inviscid breaking time, u_x(0, t) is only −34.2262894.)
 */
export function burgersExact(points: Points, options: BurgersOptions = {}): Float64Array {
  return burgersEval(points, options, false);
}

/**
 * The x-derivative u_x of {@link burgersExact} at (x, t) points, by differentiating the same quadrature
 * quotient analytically: with N = Σ wᵢ sin(πyᵢ)Fᵢ, D = Σ wᵢ Fᵢ (yᵢ = x − c·zᵢ),
 * u_x = −N′/D + u²/(2ν), N′ = Σ wᵢ (π cos(πyᵢ) + sin²(πyᵢ)/(2ν)) Fᵢ. At t = 0 it is −π·cos(πx).
 * The steepest slope is at x = 0: u_x(0, 1.6037/π) ≈ −152.00516 (Basdevant et al. 1986).
 */
export function burgersGradient(points: Points, options: BurgersOptions = {}): Float64Array {
  return burgersEval(points, options, true);
}
