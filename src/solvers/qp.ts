/**
 * Small exact quadratic programs over T×T Gramians (T = number of tasks), for the methods that
 * weight the task gradients gᵢ (rows of J) by the Gramian G = J Jᵀ alone:
 *
 * - {@link simplexQp} / {@link minNormSimplex}: min ½xᵀQx + cᵀx over the probability simplex
 *   (MGDA's min-norm point of the convex hull of the gᵢ; CAGrad's inner problem).
 * - {@link nonnegativeQp}: min ½xᵀQx + pᵀx over x ≥ 0 (Lawson–Hanson active set).
 * - {@link dualConeWeights}: the weights of the projection of Jᵀu onto the dual cone
 *   {d : Jd ≥ 0} (UPGrad, DualProj).
 *
 * All solvers are active-set methods (finite in exact arithmetic), followed by a polish with
 * a convergent first-order method (pairwise exchange on the simplex, projected coordinate descent
 * for x ≥ 0) until the KKT residual is below tolerance, and they report that residual.
 *
 * Cost: the active-set subproblems are solved with a Cholesky factor of the active block that grows
 * and shrinks by one index per step (O(k²) per step for k active indices, O(T·k) for the gradient),
 * on flat Float64Array buffers, so a T = 1,000 problem takes about as long as one dense
 * factorization. When the active block is numerically singular (a new index nearly dependent on the
 * others) the solve of that QP falls back to a least-norm solve through the eigendecomposition
 * (pseudo-inverse), which handles singular and indefinite-by-rounding blocks exactly.
 */
import { maxAbs, symmetricEigen, type Matrix, type Vector } from "./linalg.js";
import { growingCholesky, quadFormFlat, toFlat, type GrowingCholesky } from "./dense.js";
import { prepareGramian, type PreparedGramian } from "./gramian.js";

/** Result of a small QP solve. */
export interface QpResult {
  /** The minimizer. */
  readonly x: number[];
  /**
   * KKT residual in the units of Q (see each solver), 0 at an exact solution: what is left of the
   * optimality conditions after the solve.
   */
  readonly kktResidual: number;
  /** Active-set steps plus polish steps. */
  readonly iterations: number;
  /** Whether `kktResidual` is within the tolerance (see {@link QpOptions.tol}). */
  readonly converged: boolean;
}

export interface QpOptions {
  /**
   * Relative KKT tolerance. {@link simplexQp}: relative to maxᵢ(Σⱼ|Qᵢⱼ|xⱼ + |cᵢ|), the size of the
   * terms of the gradient, default 1e-12. {@link nonnegativeQp}: relative to the larger of the largest
   * entry of Q and p and that size of the gradient's terms, default 1e-13.
   */
  readonly tol?: number;
  /** Cap on active-set steps. Default 30·n + 30. */
  readonly maxIter?: number;
  /** Cap on polish steps. Default 400·n. */
  readonly maxPolish?: number;
}

/** Options of {@link simplexQp}: {@link QpOptions} and a warm start. */
export interface SimplexQpOptions extends QpOptions {
  /**
   * A point of the simplex to start from (e.g. the solution of a nearby problem, as CAGrad's root
   * search solves a sequence of them): its support is the first active set. Default: the best vertex.
   */
  readonly start?: ArrayLike<number>;
}

/**
 * A new index joins the active block's Cholesky factor only if its pivot² exceeds this share of its
 * diagonal entry (the block is scaled to a unit-size diagonal first); below, the index is taken as
 * numerically dependent on the others and the QP switches to the least-norm (eigendecomposition) solve.
 */
const PIVOT_TOL = 1e-10;

/**
 * Largest set of support and tied coordinates over which the final least-norm tie solve (equal tasks
 * get equal weights) runs: it costs an eigendecomposition of that size (about 9k³ flops). Beyond it,
 * rare in practice (hundreds of exactly tied tasks), the active-set solution is returned as it is.
 */
const TIE_SOLVE_MAX = 256;

/** Least-norm solution of the symmetric system M y = r (eigenvalues below rcond·max|λ| dropped); null if not finite. */
function solveSymmetric(M: Matrix, r: Vector, rcond = 1e-12): number[] | null {
  const n = M.length;
  const { values, vectors } = symmetricEigen(M);
  const cut = rcond * maxAbs(values);
  const y = new Array<number>(n).fill(0);
  for (let k = 0; k < n; k++) {
    const lam = values[k]!;
    if (!(Math.abs(lam) > cut) || lam === 0) continue;
    let proj = 0;
    for (let i = 0; i < n; i++) proj += vectors[i]![k]! * r[i]!;
    const coef = proj / lam;
    for (let i = 0; i < n; i++) y[i]! += coef * vectors[i]![k]!;
  }
  return y.every(Number.isFinite) ? y : null;
}

/** The block Q[S][S] of a flat n×n matrix, as rows. */
function block(Q: Float64Array, n: number, S: readonly number[]): number[][] {
  return S.map((i) => S.map((j) => Q[i * n + j]!));
}

/**
 * The gradient of ½xᵀQx + cᵀx for one problem: `(x, g)` writes g = Qx + c over the nonzero entries of x
 * (Q symmetric: row j is column j), and, in the same pass, the size of the terms that make up g for
 * x ≥ 0, maxᵢ(Σⱼ|Qᵢⱼ|xⱼ + |cᵢ|), which it returns: rounding moves g by about 1e-16 of it, so tolerances
 * relative to it are meaningful for every scale of the active gradients (MGDA with gradient norms
 * spanning 1e-8..1 keeps full relative accuracy). |c| and the work buffer are set up once per problem.
 */
function gradientOf(Q: Float64Array, n: number, c: Float64Array): (x: Float64Array, g: Float64Array) => number {
  const absC = Float64Array.from(c, Math.abs);
  const s = new Float64Array(absC.length);
  return (x, g) => gradientInto(Q, n, c, absC, s, x, g);
}

/** g = Qx + c and the size of its terms (see {@link gradientOf}); `s` is work space, |c| is `absC`. */
function gradientInto(Q: Float64Array, n: number, c: Float64Array, absC: Float64Array, s: Float64Array, x: Float64Array, g: Float64Array): number {
  g.set(c);
  s.set(absC);
  for (let j = 0; j < n; j++) {
    const xj = x[j]!;
    if (xj === 0) continue;
    const rj = j * n;
    const aj = Math.abs(xj);
    for (let i = 0; i < n; i++) {
      const q = Q[rj + i]!;
      g[i] = g[i]! + xj * q;
      s[i] = s[i]! + aj * Math.abs(q);
    }
  }
  return maxAbs(s);
}

/**
 * Active-set ratio test: the largest θ ∈ [0, 1] such that x + θ(z − x) stays ≥ 0 on the coordinates
 * `set` (z indexed like `set`), and the position in `set` of the coordinate that blocks it (−1 when
 * the full step is feasible).
 */
function ratioTest(x: Float64Array, set: readonly number[], z: ArrayLike<number>): { theta: number; drop: number } {
  let theta = 1;
  let drop = -1;
  for (let a = 0; a < set.length; a++) {
    if (z[a]! <= 0) {
      const xi = x[set[a]!]!;
      const t = xi === 0 ? 0 : xi / (xi - z[a]!);
      if (t < theta) {
        theta = t;
        drop = a;
      }
    }
  }
  return { theta, drop };
}

/** x ← x + θ(z − x) on the coordinates `set`, with the blocking coordinate (position `drop`) set exactly to 0. */
function stepTowards(x: Float64Array, set: readonly number[], z: ArrayLike<number>, theta: number, drop: number): void {
  for (let a = 0; a < set.length; a++) x[set[a]!] = x[set[a]!]! + theta * (z[a]! - x[set[a]!]!);
  if (drop >= 0) x[set[drop]!] = 0;
}

/**
 * An active set over the indices of an n×n problem with the Cholesky factor of its (scaled) block
 * (entries `entry(i, j)`), or, while a member is numerically dependent on the others, no factor
 * (`factor` null: the caller solves by eigendecomposition).
 */
interface ActiveSet {
  readonly members: number[];
  readonly inSet: Uint8Array;
  readonly entry: (i: number, j: number) => number;
  factor: GrowingCholesky | null;
}

function activeSet(n: number, entry: (i: number, j: number) => number): ActiveSet {
  return { members: [], inSet: new Uint8Array(n), entry, factor: growingCholesky(n) };
}

/** Pushes j onto the factor (false if there is none or j is numerically dependent: then nothing changes). */
function pushFactor(s: ActiveSet, j: number): boolean {
  return s.factor !== null && s.factor.push(s.members.map((i) => s.entry(i, j)), s.entry(j, j), PIVOT_TOL);
}

/** Adds index j; the factor is dropped (eigen fallback) while j is numerically dependent on the others. */
function addMember(s: ActiveSet, j: number): void {
  if (!pushFactor(s, j)) s.factor = null;
  s.members.push(j);
  s.inSet[j] = 1;
}

/** Adds index j only if the factor takes it (warm starts: a dependent member is left out). */
function tryAddMember(s: ActiveSet, j: number): boolean {
  if (!pushFactor(s, j)) return false;
  s.members.push(j);
  s.inSet[j] = 1;
  return true;
}

/** Removes the members whose x is no longer positive; without a factor, tries to rebuild it (the dependent member may be gone). */
function dropNonPositive(s: ActiveSet, x: Float64Array): void {
  let removed = false;
  for (let a = s.members.length - 1; a >= 0; a--) {
    const i = s.members[a]!;
    if (x[i]! > 0) continue;
    s.factor?.remove(a);
    s.members.splice(a, 1);
    s.inSet[i] = 0;
    removed = true;
  }
  if (removed && s.factor === null) {
    const members = s.members.splice(0);
    s.factor = growingCholesky(s.inSet.length);
    for (const i of members) addMember(s, i);
  }
}

// ---------------------------------------------------------------------------------------------
// Simplex-constrained QP.

/** max over the support of ∇ minus min over all of ∇: 0 exactly at a KKT point of the simplex QP. */
function simplexGap(x: ArrayLike<number>, grad: ArrayLike<number>): number {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < x.length; i++) {
    lo = Math.min(lo, grad[i]!);
    if (x[i]! > 0) hi = Math.max(hi, grad[i]!);
  }
  return Math.max(0, hi - lo);
}

/**
 * Least-norm solution of the (diagonally scaled) bordered KKT system [Q_SS 1; 1ᵀ 0][z; −μ] = [−c_S; 1]
 * through the eigendecomposition: the minimizer of ½zᵀQ_SS z + c_Sᵀz subject to Σz = 1 over S, also
 * when Q_SS is singular (affinely dependent points; then the least-norm scaled z, which treats equal
 * points alike). The fallback of the Cholesky solve, and the solve over tied coordinates.
 */
function affineMinimizerEigen(Q: Float64Array, n: number, c: Float64Array, S: readonly number[]): number[] | null {
  const m = S.length;
  if (m === 1) return [1];
  // Diagonal (Jacobi) scaling x = D y, Dₐ = 1/√Qₐₐ: the block becomes a cosine matrix, so that
  // gradients of very different norms do not make the solve ill-conditioned; then the block and
  // the border are each brought to O(1) (this changes only the multiplier, not x).
  const d = S.map((i) => (Q[i * n + i]! > 0 ? 1 / Math.sqrt(Q[i * n + i]!) : 1));
  let blockScale = 0;
  S.forEach((i, a) => {
    blockScale = Math.max(blockScale, Math.abs(d[a]! * c[i]!));
    S.forEach((j, b) => (blockScale = Math.max(blockScale, Math.abs(d[a]! * d[b]! * Q[i * n + j]!))));
  });
  const s = blockScale > 0 ? 1 / blockScale : 1;
  const border = 1 / maxAbs(d);
  const M = Array.from({ length: m + 1 }, (_, a) =>
    Array.from({ length: m + 1 }, (_, b) => {
      if (a < m && b < m) return s * d[a]! * d[b]! * Q[S[a]! * n + S[b]!]!;
      if (a === m && b === m) return 0;
      return border * d[a < m ? a : b]!;
    }),
  );
  const r = [...S.map((i, a) => -s * d[a]! * c[i]!), border];
  const y = solveSymmetric(M, r);
  return y === null ? null : y.slice(0, m).map((v, a) => v * d[a]!);
}

/**
 * The simplex QP's data scaled for its Cholesky solves: with x = D y, Dᵢ = 1/√Qᵢᵢ (D = the largest of
 * them for Qᵢᵢ = 0), the affine minimizer over S solves (DQD + ρddᵀ)_SS y = (μ + ρ)d_S − (Dc)_S with
 * dᵀy = 1; ρ = 1/max dᵢ² keeps ρddᵀ ≤ 1 entrywise. The lifted block is positive definite exactly when
 * the points of S are affinely independent, which Wolfe's method maintains in exact arithmetic.
 */
interface LiftedSimplex {
  readonly d: Float64Array;
  readonly rho: number;
  entry(i: number, j: number): number;
}

function liftSimplex(Q: Float64Array, n: number): LiftedSimplex {
  const d = new Float64Array(n);
  let dmax = 0;
  for (let i = 0; i < n; i++) {
    const q = Q[i * n + i]!;
    d[i] = q > 0 ? 1 / Math.sqrt(q) : 0;
    if (d[i]! > dmax) dmax = d[i]!;
  }
  if (!(dmax > 0) || !Number.isFinite(dmax)) dmax = 1;
  for (let i = 0; i < n; i++) if (d[i] === 0 || !Number.isFinite(d[i]!)) d[i] = dmax;
  const rho = 1 / (dmax * dmax);
  return { d, rho, entry: (i, j) => d[i]! * d[j]! * (Q[i * n + j]! + rho) };
}

/** The affine minimizer over the active set from its Cholesky factor (null if not finite). */
function affineMinimizerCholesky(L: LiftedSimplex, factor: GrowingCholesky, c: Float64Array, S: readonly number[]): Float64Array | null {
  const k = S.length;
  const u = new Float64Array(k);
  const v = new Float64Array(k);
  for (let a = 0; a < k; a++) {
    u[a] = L.d[S[a]!]!;
    v[a] = L.d[S[a]!]! * c[S[a]!]!;
  }
  factor.solve(u);
  factor.solve(v);
  let du = 0;
  let dv = 0;
  for (let a = 0; a < k; a++) {
    du += L.d[S[a]!]! * u[a]!;
    dv += L.d[S[a]!]! * v[a]!;
  }
  const kappa = (1 + dv) / du;
  const z = new Float64Array(k);
  for (let a = 0; a < k; a++) z[a] = L.d[S[a]!]! * (kappa * u[a]! - v[a]!);
  return z.every(Number.isFinite) ? z : null;
}

/**
 * min ½xᵀQx + cᵀx subject to x ≥ 0, Σx = 1, for Q positive semidefinite on {z : Σz = 0}
 * (e.g. a Gramian, or a Gramian plus a1ᵀ + 1aᵀ).
 *
 * Method: Wolfe's primal active-set method ("finding the nearest point in a polytope", 1976) in
 * Gramian coordinates, started at the best vertex (or at `options.start`): add the coordinate with
 * the most negative reduced gradient, minimize over the affine hull of the support (a growing
 * Cholesky factor of the lifted block, see {@link LiftedSimplex}; least-norm eigen solve if the block
 * is numerically singular), step back to the simplex when a weight would turn negative. Then a
 * polish by pairwise exchanges with exact line search (move weight from the support coordinate with
 * the largest gradient to the coordinate with the smallest) until the KKT gap is below tolerance.
 * Coordinates tied with the support (equal gradient, e.g. repeated points) finally share the weight
 * (least-norm solution, when support and ties are at most {@link TIE_SOLVE_MAX} coordinates).
 *
 * KKT residual: maxᵢ:ₓᵢ>₀ ∇ᵢ − minᵢ ∇ᵢ with ∇ = Qx + c (at a solution every support coordinate has
 * the same gradient μ and no coordinate has a smaller one); `converged` when it is at most
 * `tol` × maxᵢ(Σⱼ|Qᵢⱼ|xⱼ + |cᵢ|), the size of the terms of ∇.
 */
export function simplexQp(Q: Matrix, c?: Vector, options: SimplexQpOptions = {}): QpResult {
  const n = Q.length;
  return simplexQpFlat(toFlat(Q), n, c ? Float64Array.from(c) : new Float64Array(n), options);
}

/** {@link simplexQp} on a row-major n×n buffer (not modified). */
export function simplexQpFlat(Q: Float64Array, n: number, lin: Float64Array, options: SimplexQpOptions = {}): QpResult {
  if (n === 0) return { x: [], kktResidual: 0, iterations: 0, converged: true };
  const tolRel = options.tol ?? 1e-12;
  const maxIter = options.maxIter ?? 30 * n + 30;
  const maxPolish = options.maxPolish ?? 400 * n;
  const grad = new Float64Array(n);
  const gradientAt = gradientOf(Q, n, lin);
  /** ∇ = Qx + c into `grad`; returns the tolerance at x (tolRel × the size of ∇'s terms). */
  const gradient = (x: Float64Array) => tolRel * gradientAt(x, grad);
  /** f(x) = ½xᵀQx + cᵀx, leaving ∇ at x in `grad`; `scale` gets the size of ∇'s terms. */
  let scale = 0;
  const objective = (x: Float64Array) => {
    scale = gradientAt(x, grad);
    let f = 0;
    for (let i = 0; i < n; i++) f += x[i]! * (0.5 * (grad[i]! - lin[i]!) + lin[i]!);
    return f;
  };

  let start = 0;
  for (let i = 1; i < n; i++) if (0.5 * Q[i * n + i]! + lin[i]! < 0.5 * Q[start * n + start]! + lin[start]!) start = i;
  const lifted = liftSimplex(Q, n);
  let x = new Float64Array(n);
  let S = activeSet(n, lifted.entry);
  const vertex = () => {
    x = new Float64Array(n);
    x[start] = 1;
    S = activeSet(n, lifted.entry);
    addMember(S, start);
  };
  let iterations = 0;
  if (options.start && options.start.length === n) {
    // The start's support, less any point the factor finds dependent on the others (e.g. the second
    // of two tied tasks that a tie solve gave equal weights): its weight is spread by the rescaling.
    let top = 0;
    for (let i = 0; i < n; i++) if (options.start[i]! > top && Number.isFinite(options.start[i]!)) top = options.start[i]!;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const v = options.start[i]! / top;
      if (v > 0 && Number.isFinite(v) && tryAddMember(S, i)) {
        x[i] = v;
        total += v;
      }
    }
    if (total > 0) for (let i = 0; i < n; i++) x[i] = x[i]! / total;
    else vertex();
  } else vertex();
  const blocked = new Uint8Array(n);

  /** Minor cycles: move to the affine minimizer of the support, stepping back to the simplex. */
  const minor = (enter: number): "ok" | "fail" => {
    while (iterations < maxIter) {
      iterations++;
      const members = S.members;
      const z = S.factor ? affineMinimizerCholesky(lifted, S.factor, lin, members) : affineMinimizerEigen(Q, n, lin, members);
      if (z === null) return "fail";
      let positive = true;
      for (let a = 0; a < members.length; a++) if (!(z[a]! > 0)) positive = false;
      if (positive) {
        for (let a = 0; a < members.length; a++) x[members[a]!] = z[a]!;
        blocked.fill(0);
        return "ok";
      }
      const { theta, drop } = ratioTest(x, members, z);
      if (theta === 0 && drop >= 0 && members[drop] === enter) {
        // The entering coordinate cannot move (degenerate): skip it until x moves.
        x[enter] = 0;
        dropNonPositive(S, x);
        blocked[enter] = 1;
        return "ok";
      }
      stepTowards(x, members, z, theta, drop);
      dropNonPositive(S, x);
      if (S.members.length === 0) {
        // Cannot happen in exact arithmetic (Σx stays 1); restart from the vertex.
        vertex();
        return "fail";
      }
    }
    return "ok";
  };

  if (n > 1) {
    // A warm start's support is not the affine minimizer of this problem yet.
    if (S.members.length > 1 && minor(-1) === "fail") vertex();
    let fx = objective(x);
    let stalls = 0;
    while (iterations < maxIter) {
      // objective(x) (before the loop, or at the end of the last pass) left ∇ at x in `grad` and the size of its terms in `scale`.
      const tolX = tolRel * scale;
      let mu = 0;
      for (const i of S.members) mu += x[i]! * grad[i]!;
      let enter = -1;
      let best = mu - tolX;
      for (let i = 0; i < n; i++) {
        if (!S.inSet[i] && !blocked[i] && grad[i]! < best) {
          best = grad[i]!;
          enter = i;
        }
      }
      if (enter < 0) break;
      addMember(S, enter);
      if (minor(enter) === "fail") break;
      const f = objective(x);
      if (f < fx - 1e-15 * (Math.abs(fx) + scale)) stalls = 0;
      else if (++stalls >= 2) break;
      fx = f;
    }
  }

  // Clean up: non-negative, summing to 1.
  let total = 0;
  for (let i = 0; i < n; i++) {
    if (!(x[i]! > 0 && Number.isFinite(x[i]!))) x[i] = 0;
    total += x[i]!;
  }
  if (!(total > 0)) {
    x = new Float64Array(n);
    x[start] = 1;
    total = 1;
  }
  for (let i = 0; i < n; i++) x[i] = x[i]! / total;

  // Polish: pairwise exchange with exact line search (the tolerance refreshed with the gradient).
  let polishTol = gradient(x);
  let gap = simplexGap(x, grad);
  for (let k = 0; k < maxPolish && gap > polishTol; k++) {
    let lo = 0;
    let hi = -1;
    for (let i = 0; i < n; i++) {
      if (grad[i]! < grad[lo]!) lo = i;
      if (x[i]! > 0 && (hi < 0 || grad[i]! > grad[hi]!)) hi = i;
    }
    if (hi < 0 || hi === lo) break;
    const slope = grad[hi]! - grad[lo]!;
    const curvature = Q[lo * n + lo]! + Q[hi * n + hi]! - 2 * Q[lo * n + hi]!;
    const t = curvature > 0 ? Math.min(x[hi]!, slope / curvature) : x[hi]!;
    if (!(t > 0)) break;
    x[lo] = x[lo]! + t;
    x[hi] = t === x[hi]! ? 0 : x[hi]! - t;
    iterations++;
    if (k % 32 === 31) polishTol = gradient(x);
    else for (let r = 0; r < n; r++) grad[r] = grad[r]! + t * (Q[lo * n + r]! - Q[hi * n + r]!);
    gap = simplexGap(x, grad);
  }
  let tol = gradient(x);
  gap = simplexGap(x, grad);
  if (gap <= tol) {
    // Ties: coordinates outside the support whose gradient equals μ (e.g. repeated points) may
    // share the weight without changing the optimum; take the least-norm minimizer over the
    // support and the ties, so that equal tasks get equal weights.
    let mu = 0;
    for (let i = 0; i < n; i++) mu += x[i]! * grad[i]!;
    const T: number[] = [];
    let supportSize = 0;
    for (let i = 0; i < n; i++) {
      if (x[i]! > 0) supportSize++;
      if (x[i]! > 0 || grad[i]! <= mu + tol) T.push(i);
    }
    if (T.length > supportSize && T.length <= TIE_SOLVE_MAX) {
      const z = affineMinimizerEigen(Q, n, lin, T);
      if (z !== null && z.every((v) => v >= 0)) {
        const y = new Float64Array(n);
        T.forEach((i, a) => (y[i] = z[a]!));
        let moved = 0;
        for (let i = 0; i < n; i++) moved = Math.max(moved, Math.abs(y[i]! - x[i]!));
        const fx = objective(x);
        const fy = objective(y); // leaves ∇ at y in `grad` and the size of its terms in `scale`
        const tolY = tolRel * scale;
        const gapY = simplexGap(y, grad);
        if (moved > 1e-9 && gapY <= tolY && fy <= fx + tol) {
          x = y;
          gap = gapY;
          tol = tolY;
        }
      }
    }
  }
  return { x: Array.from(x), kktResidual: gap, iterations, converged: gap <= tol };
}

// ---------------------------------------------------------------------------------------------
// Non-negative QP.

/** Natural residual maxᵢ |min(xᵢ, ∇ᵢ)|: 0 exactly at a KKT point of min over x ≥ 0. */
function nonnegativeResidual(x: ArrayLike<number>, grad: ArrayLike<number>): number {
  let r = 0;
  for (let i = 0; i < x.length; i++) r = Math.max(r, Math.abs(Math.min(x[i]!, grad[i]!)));
  return r;
}

/**
 * min ½xᵀQx + pᵀx subject to x ≥ 0, for Q positive semidefinite and the problem bounded below
 * (always the case when p = Qu, as for projections onto a dual cone).
 *
 * Method: Lawson–Hanson's active-set NNLS (1974, ch. 23) in Gramian coordinates — add the
 * coordinate with the most negative gradient to the passive set, solve the unconstrained problem
 * on the passive set (a growing Cholesky factor of Q_PP scaled to unit diagonal; least-norm
 * pseudo-inverse solve if Q_PP is numerically singular), step back when a coordinate would turn
 * negative — then projected coordinate descent until the natural residual maxᵢ|min(xᵢ, ∇ᵢ)|,
 * ∇ = Qx + p, is below tolerance. Zero coordinates tied at a zero gradient (e.g. repeated gradients)
 * finally share the solution (least-norm, up to {@link TIE_SOLVE_MAX} coordinates).
 */
export function nonnegativeQp(Q: Matrix, p: Vector, options: QpOptions = {}): QpResult {
  return nonnegativeQpFlat(toFlat(Q), Q.length, Float64Array.from(p), options);
}

/** {@link nonnegativeQp} on a row-major n×n buffer (not modified). */
export function nonnegativeQpFlat(Q: Float64Array, n: number, p: Float64Array, options: QpOptions = {}): QpResult {
  const ref = Math.max(maxAbs(Q), maxAbs(p));
  const tolRel = options.tol ?? 1e-13;
  // Rounding moves ∇ by about 1e-16 of the size of its terms, maxᵢ(Σⱼ|Qᵢⱼ|xⱼ + |pᵢ|), which grows with x
  // (ill-conditioned problems, e.g. as many active gradients as the Gramian's rank, have large x).
  /** ∇ = Qx + p into `grad`; returns the tolerance at x. */
  const gradientAt = gradientOf(Q, n, p);
  const gradient = (x: Float64Array) => tolRel * Math.max(ref, gradientAt(x, grad));
  const maxIter = options.maxIter ?? 30 * n + 30;
  const maxPolish = options.maxPolish ?? 400 * n;
  let x = new Float64Array(n);
  const grad = new Float64Array(n);
  let iterations = 0;
  if (n === 0 || ref === 0) return { x: Array.from(x), kktResidual: 0, iterations, converged: true };
  // Jacobi scaling of the passive block for its factor: entries Qᵢⱼ/√(QᵢᵢQⱼⱼ).
  const dinv = new Float64Array(n);
  for (let i = 0; i < n; i++) dinv[i] = Q[i * n + i]! > 0 ? 1 / Math.sqrt(Q[i * n + i]!) : 1;
  const entry = (i: number, j: number) => dinv[i]! * dinv[j]! * Q[i * n + j]!;

  const S = activeSet(n, entry);
  const blocked = new Uint8Array(n);
  outer: while (iterations < maxIter) {
    let enter = -1;
    let best = -gradient(x);
    for (let i = 0; i < n; i++) {
      if (!S.inSet[i] && !blocked[i] && grad[i]! < best) {
        best = grad[i]!;
        enter = i;
      }
    }
    if (enter < 0) break;
    addMember(S, enter);
    while (iterations < maxIter) {
      iterations++;
      const members = S.members;
      let z: ArrayLike<number> | null;
      if (S.factor) {
        const b = new Float64Array(members.length);
        for (let a = 0; a < members.length; a++) b[a] = -p[members[a]!]! * dinv[members[a]!]!;
        S.factor.solve(b);
        for (let a = 0; a < members.length; a++) b[a] = b[a]! * dinv[members[a]!]!;
        z = b.every(Number.isFinite) ? b : null;
      } else {
        z = solveSymmetric(
          block(Q, n, members),
          members.map((i) => -p[i]!),
        );
      }
      if (z === null) break outer;
      let positive = true;
      for (let a = 0; a < members.length; a++) if (!(z[a]! > 0)) positive = false;
      if (positive) {
        for (let a = 0; a < members.length; a++) x[members[a]!] = z[a]!;
        blocked.fill(0);
        break;
      }
      const { theta, drop } = ratioTest(x, members, z);
      if (theta === 0 && drop >= 0 && members[drop] === enter) {
        // The entering coordinate cannot move (degenerate, e.g. collinear gradients): skip it.
        x[enter] = 0;
        dropNonPositive(S, x);
        blocked[enter] = 1;
        break;
      }
      stepTowards(x, members, z, theta, drop);
      dropNonPositive(S, x);
      blocked.fill(0);
    }
  }

  for (let i = 0; i < n; i++) if (!(x[i]! > 0 && Number.isFinite(x[i]!))) x[i] = 0;
  // Polish: projected coordinate descent with exact coordinate minimization.
  let tol = gradient(x);
  let residual = nonnegativeResidual(x, grad);
  for (let sweep = 0; sweep * n < maxPolish && residual > tol; sweep++) {
    for (let i = 0; i < n; i++) {
      const qii = Q[i * n + i]!;
      if (!(qii > 0)) continue;
      const next = Math.max(0, x[i]! - grad[i]! / qii);
      const delta = next - x[i]!;
      if (delta === 0) continue;
      x[i] = next;
      const ri = i * n;
      for (let r = 0; r < n; r++) grad[r] = grad[r]! + delta * Q[ri + r]!;
    }
    iterations += n;
    tol = gradient(x);
    residual = nonnegativeResidual(x, grad);
  }
  if (residual <= tol) {
    // Ties: zero coordinates with zero gradient (e.g. repeated gradients) may share the solution
    // without changing the optimum; take the least-norm minimizer over them and the positive
    // coordinates, so that equal tasks get equal weights.
    const T: number[] = [];
    let positive = 0;
    for (let i = 0; i < n; i++) {
      if (x[i]! > 0) positive++;
      if (x[i]! > 0 || Math.abs(grad[i]!) <= tol) T.push(i);
    }
    if (T.length > positive && T.length <= TIE_SOLVE_MAX) {
      const z = solveSymmetric(
        block(Q, n, T),
        T.map((i) => -p[i]!),
      );
      if (z !== null && z.every((v) => v >= 0)) {
        const y = new Float64Array(n);
        T.forEach((i, a) => (y[i] = z[a]!));
        const gy = new Float64Array(n);
        const tolY = tolRel * Math.max(ref, gradientAt(y, gy));
        const ry = nonnegativeResidual(y, gy);
        // ½vᵀQv + pᵀv = ½vᵀ(∇ + p) with ∇ = Qv + p.
        const f = (v: Float64Array, g: Float64Array) => {
          let s = 0;
          for (let i = 0; i < n; i++) s += 0.5 * v[i]! * (g[i]! + p[i]!);
          return s;
        };
        if (ry <= tolY && f(y, gy) <= f(x, grad) + tol) {
          x = y;
          residual = ry;
          tol = tolY;
        }
      }
    }
  }
  return { x: Array.from(x), kktResidual: residual, iterations, converged: residual <= tol };
}

// ---------------------------------------------------------------------------------------------
// Gramians.

/** Result of {@link minNormSimplex}. */
export interface MinNormResult {
  /** α on the simplex minimizing αᵀGα. */
  readonly weights: number[];
  /** αᵀGα = ‖Σαᵢgᵢ‖², in the units of G. */
  readonly value: number;
  /** KKT residual maxᵢ:αᵢ>₀(Gα)ᵢ − minᵢ(Gα)ᵢ relative to maxᵢ Gᵢᵢ. */
  readonly kktResidual: number;
  readonly iterations: number;
  readonly converged: boolean;
}

/**
 * The min-norm point of the convex hull of the gradients: α = argmin over the simplex of
 * αᵀGα = ‖Σαᵢgᵢ‖² (Désidéri's MGDA; Sener & Koltun 2018), solved exactly by {@link simplexQp} on
 * G / maxᵢGᵢᵢ (so α is invariant to G → kG). KKT: (Gα)ᵢ ≥ αᵀGα for all i, with equality where αᵢ > 0.
 *
 * G = 0: every α is optimal; returns 1/T each. When the minimizer is not unique (dependent
 * gradients), the direction Σαᵢgᵢ is, and α is the one the active-set method reaches.
 * `G` is assumed checked (square, finite, symmetric); it may also be a {@link PreparedGramian}.
 */
export function minNormSimplex(G: Matrix | PreparedGramian, options: QpOptions = {}): MinNormResult {
  const P = "cosineFlat" in G ? G : prepareGramian(G);
  const T = P.T;
  if (T === 0) return { weights: [], value: 0, kktResidual: 0, iterations: 0, converged: true };
  if (!(P.maxNorm > 0)) {
    return { weights: new Array<number>(T).fill(1 / T), value: 0, kktResidual: 0, iterations: 0, converged: true };
  }
  const r = simplexQpFlat(P.normalizedFlat, T, new Float64Array(T), options);
  const value = Math.max(0, quadFormFlat(P.normalizedFlat, T, r.x)) * P.maxNorm * P.maxNorm;
  return { weights: r.x, value, kktResidual: r.kktResidual, iterations: r.iterations, converged: r.converged };
}

/** Result of {@link dualConeWeights}. */
export interface DualConeResult {
  /** w with Jᵀw the projection of Jᵀu onto {d : Jd ≥ 0}. */
  readonly weights: number[];
  /** Natural KKT residual of the non-negative QP, relative to the unit gradients and |u|. */
  readonly kktResidual: number;
  readonly converged: boolean;
}

/**
 * Weights of the projection of Jᵀu onto the dual cone {d : Jd ≥ 0} of the rows of J, from the
 * Gramian alone (Quinton & Rey 2024, "Jacobian Descent for Multi-Objective Optimization",
 * arXiv 2406.16232, Proposition 1): the projection is Jᵀw with w ∈ argmin_{v ≥ u} vᵀGv.
 *
 * Derivation (the dual of the projection): minimize ½‖d − Jᵀu‖² subject to Jd ≥ 0; with
 * multipliers λ ≥ 0, d = Jᵀ(u + λ) and λ minimizes ½(u + λ)ᵀG(u + λ) over λ ≥ 0, i.e. the
 * non-negative QP min ½λᵀGλ + (Gu)ᵀλ; w = u + λ. Its KKT conditions are G w ≥ 0 (the projection
 * conflicts with no gradient), λ ≥ 0, and λᵢ(Gw)ᵢ = 0.
 *
 * Solved on unit gradients (the cosine matrix C, with ũᵢ = ‖gᵢ‖uᵢ, wᵢ = w̃ᵢ/‖gᵢ‖), so that tasks
 * with gradients of very different norms are equally accurate and w is invariant to G → kG. Tasks
 * with a zero gradient constrain nothing and keep wᵢ = uᵢ (so G = 0 gives w = u).
 */
export function dualConeWeights(G: Matrix | PreparedGramian, u: Vector, options: QpOptions = {}): DualConeResult {
  const P = "cosineFlat" in G ? G : prepareGramian(G);
  const T = P.T;
  if (T === 0) return { weights: [], kktResidual: 0, converged: true };
  const scaled = u.map((v, i) => v * P.norms[i]!);
  // The problem is homogeneous in ũ: solve it for ũ/‖ũ‖∞ so that the tolerance is relative.
  const size = maxAbs(scaled);
  if (!(size > 0)) return { weights: u.slice(), kktResidual: 0, converged: true };
  const unitU = scaled.map((v) => v / size);
  const C = P.cosineFlat;
  const p = new Float64Array(T);
  for (let j = 0; j < T; j++) {
    const uj = unitU[j]!;
    if (uj === 0) continue;
    for (let i = 0; i < T; i++) p[i] = p[i]! + C[j * T + i]! * uj;
  }
  const r = nonnegativeQpFlat(C, T, p, options);
  const weights = u.map((v, i) => (P.norms[i]! > 0 ? ((unitU[i]! + r.x[i]!) * size) / P.norms[i]! : v));
  return { weights, kktResidual: r.kktResidual, converged: r.converged };
}
