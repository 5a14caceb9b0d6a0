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
 * for x ≥ 0) until the KKT residual is below tolerance, and they report that residual. Singular
 * and indefinite-by-rounding matrices are handled by pseudo-inverse subproblem solves.
 */
import { dot, matVec, symmetricEigen, type Matrix, type Vector } from "./linalg.js";

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
   * terms of the gradient, default 1e-12. {@link nonnegativeQp}: relative to the largest entry of Q
   * and p, default 1e-13.
   */
  readonly tol?: number;
  /** Cap on active-set steps. Default 30·n + 30. */
  readonly maxIter?: number;
  /** Cap on polish steps. Default 400·n. */
  readonly maxPolish?: number;
}

function maxAbs(values: Iterable<number>): number {
  let m = 0;
  for (const v of values) m = Math.max(m, Math.abs(v));
  return m;
}

function maxAbsMatrix(Q: Matrix): number {
  let m = 0;
  for (const row of Q) m = Math.max(m, maxAbs(row));
  return m;
}

/**
 * Least-norm solution of the symmetric system M y = r through the eigendecomposition of M,
 * dropping eigenvalues below `rcond`·max|λ| (M may be singular or indefinite). Null if the
 * result is not finite.
 */
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

// ---------------------------------------------------------------------------------------------
// Simplex-constrained QP.

/**
 * Minimizer of ½zᵀQ_SS z + c_Sᵀz subject to Σz = 1 (no sign constraint) over the index set S:
 * the least-norm solution of the (diagonally scaled) bordered KKT system
 * [Q_SS 1; 1ᵀ 0][z; −μ] = [−c_S; 1]. For the affine hull of affinely dependent points it picks
 * the least-norm (scaled) z, which treats equal points alike.
 */
function affineMinimizer(Q: Matrix, c: Vector, S: readonly number[]): number[] | null {
  const m = S.length;
  if (m === 1) return [1];
  // Diagonal (Jacobi) scaling x = D y, Dₐ = 1/√Qₐₐ: the block becomes a cosine matrix, so that
  // gradients of very different norms do not make the solve ill-conditioned; then the block and
  // the border are each brought to O(1) (this changes only the multiplier, not x).
  const d = S.map((i) => (Q[i]![i]! > 0 ? 1 / Math.sqrt(Q[i]![i]!) : 1));
  let blockScale = 0;
  S.forEach((i, a) => {
    blockScale = Math.max(blockScale, Math.abs(d[a]! * c[i]!));
    S.forEach((j, b) => (blockScale = Math.max(blockScale, Math.abs(d[a]! * d[b]! * Q[i]![j]!))));
  });
  const s = blockScale > 0 ? 1 / blockScale : 1;
  const border = 1 / Math.max(...d);
  const M = Array.from({ length: m + 1 }, (_, a) =>
    Array.from({ length: m + 1 }, (_, b) => {
      if (a < m && b < m) return s * d[a]! * d[b]! * Q[S[a]!]![S[b]!]!;
      if (a === m && b === m) return 0;
      return border * d[a < m ? a : b]!;
    }),
  );
  const r = [...S.map((i, a) => -s * d[a]! * c[i]!), border];
  const y = solveSymmetric(M, r);
  return y === null ? null : y.slice(0, m).map((v, a) => v * d[a]!);
}

/** max over the support of ∇ minus min over all of ∇: 0 exactly at a KKT point of the simplex QP. */
function simplexGap(x: Vector, grad: Vector): number {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < x.length; i++) {
    lo = Math.min(lo, grad[i]!);
    if (x[i]! > 0) hi = Math.max(hi, grad[i]!);
  }
  return Math.max(0, hi - lo);
}

/**
 * The size of the terms that make up ∇ = Qx + c: maxᵢ (Σⱼ|Qᵢⱼ|xⱼ + |cᵢ|). Rounding moves ∇ by about
 * 1e-16 of it, so tolerances relative to it are meaningful for every scale of the active
 * gradients (MGDA with gradient norms spanning 1e-8..1 keeps full relative accuracy).
 */
function gradientScale(Q: Matrix, c: Vector, x: Vector): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    let s = Math.abs(c[i]!);
    const row = Q[i]!;
    for (let j = 0; j < x.length; j++) if (x[j]! !== 0) s += Math.abs(row[j]!) * x[j]!;
    m = Math.max(m, s);
  }
  return m;
}

/**
 * min ½xᵀQx + cᵀx subject to x ≥ 0, Σx = 1, for Q positive semidefinite on {z : Σz = 0}
 * (e.g. a Gramian, or a Gramian plus a1ᵀ + 1aᵀ).
 *
 * Method: Wolfe's primal active-set method ("finding the nearest point in a polytope", 1976) in
 * Gramian coordinates, started at the best vertex: add the coordinate with the most negative
 * reduced gradient, minimize over the affine hull of the support (least-norm KKT solve), step back
 * to the simplex when a weight would turn negative. Then a polish by pairwise exchanges with
 * exact line search (move weight from the support coordinate with the largest gradient to the
 * coordinate with the smallest) until the KKT gap is below tolerance. Coordinates tied with the
 * support (equal gradient, e.g. repeated points) finally share the weight (least-norm solution).
 *
 * KKT residual: maxᵢ:ₓᵢ>₀ ∇ᵢ − minᵢ ∇ᵢ with ∇ = Qx + c (at a solution every support coordinate has
 * the same gradient μ and no coordinate has a smaller one); `converged` when it is at most
 * `tol` × maxᵢ(Σⱼ|Qᵢⱼ|xⱼ + |cᵢ|), the size of the terms of ∇.
 */
export function simplexQp(Q: Matrix, c?: Vector, options: QpOptions = {}): QpResult {
  const n = Q.length;
  if (n === 0) return { x: [], kktResidual: 0, iterations: 0, converged: true };
  const lin = c ?? new Array<number>(n).fill(0);
  const tolRel = options.tol ?? 1e-12;
  const maxIter = options.maxIter ?? 30 * n + 30;
  const maxPolish = options.maxPolish ?? 400 * n;
  const gradient = (x: Vector) => matVec(Q, x).map((v, i) => v + lin[i]!);
  const objective = (x: Vector) => 0.5 * dot(x, matVec(Q, x)) + dot(lin, x);
  const tolAt = (x: Vector) => tolRel * gradientScale(Q, lin, x);

  let start = 0;
  for (let i = 1; i < n; i++) if (0.5 * Q[i]![i]! + lin[i]! < 0.5 * Q[start]![start]! + lin[start]!) start = i;
  let x = new Array<number>(n).fill(0);
  x[start] = 1;
  let support = [start];
  let iterations = 0;

  if (n > 1) {
    let fx = objective(x);
    let stalls = 0;
    outer: while (iterations < maxIter) {
      const grad = gradient(x);
      const mu = dot(x, grad);
      let enter = -1;
      let best = mu - tolAt(x);
      for (let i = 0; i < n; i++) {
        if (!support.includes(i) && grad[i]! < best) {
          best = grad[i]!;
          enter = i;
        }
      }
      if (enter < 0) break;
      support.push(enter);
      while (iterations < maxIter) {
        iterations++;
        const z = affineMinimizer(Q, lin, support);
        if (z === null) break outer;
        if (z.every((v) => v > 0)) {
          support.forEach((i, a) => (x[i] = z[a]!));
          break;
        }
        const { theta, drop } = ratioTest(x, support, z);
        stepTowards(x, support, z, theta, drop);
        support = support.filter((i) => x[i]! > 0);
        if (support.length === 0) {
          // Cannot happen in exact arithmetic (Σx stays 1); restart from the vertex.
          x = new Array<number>(n).fill(0);
          x[start] = 1;
          support = [start];
          break outer;
        }
      }
      const f = objective(x);
      if (f < fx - 1e-15 * (Math.abs(fx) + gradientScale(Q, lin, x))) stalls = 0;
      else if (++stalls >= 2) break;
      fx = f;
    }
  }

  // Clean up: non-negative, summing to 1.
  x = x.map((v) => (v > 0 && Number.isFinite(v) ? v : 0));
  let total = x.reduce((a, b) => a + b, 0);
  if (!(total > 0)) {
    x = new Array<number>(n).fill(0);
    x[start] = 1;
    total = 1;
  }
  x = x.map((v) => v / total);

  // Polish: pairwise exchange with exact line search.
  let grad = gradient(x);
  let gap = simplexGap(x, grad);
  for (let k = 0; k < maxPolish && gap > tolAt(x); k++) {
    let lo = 0;
    let hi = -1;
    for (let i = 0; i < n; i++) {
      if (grad[i]! < grad[lo]!) lo = i;
      if (x[i]! > 0 && (hi < 0 || grad[i]! > grad[hi]!)) hi = i;
    }
    if (hi < 0 || hi === lo) break;
    const slope = grad[hi]! - grad[lo]!;
    const curvature = Q[lo]![lo]! + Q[hi]![hi]! - 2 * Q[lo]![hi]!;
    const t = curvature > 0 ? Math.min(x[hi]!, slope / curvature) : x[hi]!;
    if (!(t > 0)) break;
    x[lo] = x[lo]! + t;
    x[hi] = t === x[hi]! ? 0 : x[hi]! - t;
    iterations++;
    if (k % 32 === 31) grad = gradient(x);
    else for (let r = 0; r < n; r++) grad[r] = grad[r]! + t * (Q[r]![lo]! - Q[r]![hi]!);
    gap = simplexGap(x, grad);
  }
  grad = gradient(x);
  gap = simplexGap(x, grad);
  const tol = tolAt(x);
  if (gap <= tol) {
    // Ties: coordinates outside the support whose gradient equals μ (e.g. repeated points) may
    // share the weight without changing the optimum; take the least-norm minimizer over the
    // support and the ties, so that equal tasks get equal weights.
    const mu = dot(x, grad);
    const S = x.map((_, i) => i).filter((i) => x[i]! > 0 || grad[i]! <= mu + tol);
    if (S.length > x.filter((v) => v > 0).length) {
      const z = affineMinimizer(Q, lin, S);
      if (z !== null && z.every((v) => v >= 0)) {
        const y = new Array<number>(n).fill(0);
        S.forEach((i, a) => (y[i] = z[a]!));
        const gy = gradient(y);
        const gapY = simplexGap(y, gy);
        const moved = Math.max(...y.map((v, i) => Math.abs(v - x[i]!)));
        if (moved > 1e-9 && gapY <= tolAt(y) && objective(y) <= objective(x) + tol) {
          x = y;
          grad = gy;
          gap = gapY;
        }
      }
    }
  }
  return { x, kktResidual: gap, iterations, converged: gap <= tolAt(x) };
}

// ---------------------------------------------------------------------------------------------
// Non-negative QP.

/** Natural residual maxᵢ |min(xᵢ, ∇ᵢ)|: 0 exactly at a KKT point of min over x ≥ 0. */
function nonnegativeResidual(x: Vector, grad: Vector): number {
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
 * on the passive set (least-norm, pseudo-inverse), step back when a coordinate would turn
 * negative — then projected coordinate descent until the natural residual maxᵢ|min(xᵢ, ∇ᵢ)|,
 * ∇ = Qx + p, is below tolerance.
 */
export function nonnegativeQp(Q: Matrix, p: Vector, options: QpOptions = {}): QpResult {
  const n = Q.length;
  const ref = Math.max(maxAbsMatrix(Q), maxAbs(p));
  const tol = (options.tol ?? 1e-13) * ref;
  const maxIter = options.maxIter ?? 30 * n + 30;
  const maxPolish = options.maxPolish ?? 400 * n;
  const gradient = (x: Vector) => matVec(Q, x).map((v, i) => v + p[i]!);
  let x = new Array<number>(n).fill(0);
  let iterations = 0;
  if (n === 0 || ref === 0) return { x, kktResidual: 0, iterations, converged: true };

  let passive: number[] = [];
  const blocked = new Set<number>();
  outer: while (iterations < maxIter) {
    const grad = gradient(x);
    let enter = -1;
    let best = -tol;
    for (let i = 0; i < n; i++) {
      if (!passive.includes(i) && !blocked.has(i) && grad[i]! < best) {
        best = grad[i]!;
        enter = i;
      }
    }
    if (enter < 0) break;
    passive.push(enter);
    while (iterations < maxIter) {
      iterations++;
      const sub = passive.map((i) => passive.map((j) => Q[i]![j]!));
      const z = solveSymmetric(
        sub,
        passive.map((i) => -p[i]!),
      );
      if (z === null) break outer;
      if (z.every((v) => v > 0)) {
        passive.forEach((i, a) => (x[i] = z[a]!));
        blocked.clear();
        break;
      }
      const { theta, drop } = ratioTest(x, passive, z);
      if (theta === 0 && drop === enter) {
        // The entering coordinate cannot move (degenerate, e.g. collinear gradients): skip it.
        passive = passive.filter((i) => i !== enter);
        blocked.add(enter);
        break;
      }
      stepTowards(x, passive, z, theta, drop);
      passive = passive.filter((i) => x[i]! > 0);
      blocked.clear();
    }
  }

  x = x.map((v) => (v > 0 && Number.isFinite(v) ? v : 0));
  // Polish: projected coordinate descent with exact coordinate minimization.
  let grad = gradient(x);
  let residual = nonnegativeResidual(x, grad);
  for (let sweep = 0; sweep * n < maxPolish && residual > tol; sweep++) {
    for (let i = 0; i < n; i++) {
      const qii = Q[i]![i]!;
      if (!(qii > 0)) continue;
      const next = Math.max(0, x[i]! - grad[i]! / qii);
      const delta = next - x[i]!;
      if (delta === 0) continue;
      x[i] = next;
      for (let r = 0; r < n; r++) grad[r] = grad[r]! + delta * Q[r]![i]!;
    }
    iterations += n;
    grad = gradient(x);
    residual = nonnegativeResidual(x, grad);
  }
  if (residual <= tol) {
    // Ties: zero coordinates with zero gradient (e.g. repeated gradients) may share the solution
    // without changing the optimum; take the least-norm minimizer over them and the positive
    // coordinates, so that equal tasks get equal weights.
    const S = x.map((v, i) => i).filter((i) => x[i]! > 0 || Math.abs(grad[i]!) <= tol);
    if (S.length > x.filter((v) => v > 0).length) {
      const z = solveSymmetric(
        S.map((i) => S.map((j) => Q[i]![j]!)),
        S.map((i) => -p[i]!),
      );
      if (z !== null && z.every((v) => v >= 0)) {
        const y = new Array<number>(n).fill(0);
        S.forEach((i, a) => (y[i] = z[a]!));
        const gy = gradient(y);
        const ry = nonnegativeResidual(y, gy);
        const f = (v: Vector, g: Vector) => 0.5 * dot(v, g) + 0.5 * dot(p, v); // ½vᵀQv + pᵀv
        if (ry <= tol && f(y, gy) <= f(x, grad) + tol) {
          x = y;
          grad = gy;
          residual = ry;
        }
      }
    }
  }
  return { x, kktResidual: residual, iterations, converged: residual <= tol };
}

// ---------------------------------------------------------------------------------------------
// Gramians.

/** A Gramian prepared for the solvers: gradient norms and the PSD cosine matrix. */
export interface PreparedGramian {
  readonly T: number;
  /** ‖gᵢ‖ = √Gᵢᵢ. */
  readonly norms: readonly number[];
  /** maxᵢ ‖gᵢ‖ (0 for the zero Gramian). */
  readonly maxNorm: number;
  /**
   * Cᵢⱼ = Gᵢⱼ / (‖gᵢ‖‖gⱼ‖), the Gramian of the unit gradients (rows and columns of zero
   * gradients are 0), projected onto the PSD cone (negative eigenvalues from rounding set to 0).
   * Scale-free: the same for G and kG, and for G and DGD with D positive diagonal.
   */
  readonly cosine: readonly (readonly number[])[];
  /** Smallest eigenvalue of C before the projection (≥ 0 up to rounding for a true Gramian). */
  readonly minCosineEigen: number;
  /** G / maxᵢ Gᵢᵢ, rebuilt from the projected C: Qᵢⱼ = (‖gᵢ‖/m)(‖gⱼ‖/m)Cᵢⱼ, m = maxNorm. */
  readonly normalized: readonly (readonly number[])[];
}

/**
 * Prepares a (checked: square, finite, symmetric, non-negative diagonal) Gramian. Working with
 * the cosine matrix makes every method here exactly invariant to the scale of G and keeps
 * gradients of very different norms (1e-8..1e8 in G) equally accurate.
 */
export function prepareGramian(G: Matrix): PreparedGramian {
  const T = G.length;
  const norms = G.map((row, i) => Math.sqrt(Math.max(row[i]!, 0)));
  const maxNorm = maxAbs(norms);
  let C = Array.from({ length: T }, (_, i) =>
    Array.from({ length: T }, (_, j) => {
      if (!(norms[i]! > 0 && norms[j]! > 0)) return 0;
      if (i === j) return 1;
      return (0.5 * (G[i]![j]! + G[j]![i]!)) / norms[i]! / norms[j]!;
    }),
  );
  let minCosineEigen = 0;
  if (T > 0) {
    const { values, vectors } = symmetricEigen(C);
    minCosineEigen = Math.min(...values);
    if (minCosineEigen < 0) {
      const clipped = values.map((v) => Math.max(v, 0));
      C = Array.from({ length: T }, (_, i) =>
        Array.from({ length: T }, (_, j) => {
          if (!(norms[i]! > 0 && norms[j]! > 0)) return 0;
          let s = 0;
          for (let k = 0; k < T; k++) s += vectors[i]![k]! * clipped[k]! * vectors[j]![k]!;
          return s;
        }),
      );
      for (let i = 0; i < T; i++) for (let j = 0; j < i; j++) C[i]![j] = C[j]![i] = 0.5 * (C[i]![j]! + C[j]![i]!);
    }
  }
  const unit = norms.map((v) => (maxNorm > 0 ? v / maxNorm : 0));
  const normalized = C.map((row, i) => row.map((v, j) => unit[i]! * unit[j]! * v));
  return { T, norms, maxNorm, cosine: C, minCosineEigen, normalized };
}

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
  const P = "normalized" in G ? G : prepareGramian(G);
  const T = P.T;
  if (T === 0) return { weights: [], value: 0, kktResidual: 0, iterations: 0, converged: true };
  if (!(P.maxNorm > 0)) {
    return { weights: new Array<number>(T).fill(1 / T), value: 0, kktResidual: 0, iterations: 0, converged: true };
  }
  const r = simplexQp(P.normalized, undefined, options);
  const value = Math.max(0, dot(r.x, matVec(P.normalized, r.x))) * P.maxNorm * P.maxNorm;
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
  const P = "normalized" in G ? G : prepareGramian(G);
  const T = P.T;
  if (T === 0) return { weights: [], kktResidual: 0, converged: true };
  const scaled = u.map((v, i) => v * P.norms[i]!);
  // The problem is homogeneous in ũ: solve it for ũ/‖ũ‖∞ so that the tolerance is relative.
  const size = maxAbs(scaled);
  if (!(size > 0)) return { weights: u.slice(), kktResidual: 0, converged: true };
  const unitU = scaled.map((v) => v / size);
  const r = nonnegativeQp(P.cosine, matVec(P.cosine, unitU), options);
  const weights = u.map((v, i) => (P.norms[i]! > 0 ? ((unitU[i]! + r.x[i]!) * size) / P.norms[i]! : v));
  return { weights, kktResidual: r.kktResidual, converged: r.converged };
}

/**
 * Active-set ratio test: the largest θ ∈ [0, 1] such that x + θ(z − x) stays ≥ 0 on the coordinates
 * `set` (z indexed like `set`), and the coordinate that blocks it (−1 when the full step is feasible).
 */
function ratioTest(x: readonly number[], set: readonly number[], z: readonly number[]): { theta: number; drop: number } {
  let theta = 1;
  let drop = -1;
  set.forEach((i, a) => {
    if (z[a]! <= 0) {
      const t = x[i]! / (x[i]! - z[a]!);
      if (t < theta) {
        theta = t;
        drop = i;
      }
    }
  });
  return { theta, drop };
}

/** x ← x + θ(z − x) on the coordinates `set`, with the blocking coordinate set exactly to 0. */
function stepTowards(x: number[], set: readonly number[], z: readonly number[], theta: number, drop: number): void {
  set.forEach((i, a) => (x[i] = x[i]! + theta * (z[a]! - x[i]!)));
  if (drop >= 0) x[drop] = 0;
}
