import { numpy as np } from "@jax-js/jax";
import { Rng } from "../util/rng.js";
import type { PinnTerm } from "./model.js";
import {
  burgersDomain,
  burgersExact,
  burgersNu,
  helmholtzDefaults,
  helmholtzDomain,
  helmholtzExact,
  helmholtzSource,
  kleinGordonBoundary,
  kleinGordonDefaults,
  kleinGordonDomain,
  kleinGordonExact,
  kleinGordonInitial,
  kleinGordonSource,
  poissonDomain,
  poissonExact,
  poissonSource,
  type Box,
} from "./reference.js";

/**
 * The PINN benchmark problems: each a PDE on a 2-D box (x, y) or (x, t), its loss terms with their
 * samplers, and a reference solution for the relative L2 error. Every term samples its points afresh
 * each step (uniformly in the box, on its edges or on the initial line), as the papers do.
 */

/** Sampled points of one term: [n, 2] row-major, and the term's data [n] (a source or a target value). */
export interface TermSample {
  readonly points: Float32Array<ArrayBuffer>;
  readonly data: Float32Array<ArrayBuffer>;
}

export interface PinnProblemTerm extends PinnTerm {
  /** `n` points of this term and their data, from `rng`. */
  readonly sample: (rng: Rng, n: number) => TermSample;
}

export interface PinnProblem {
  readonly name: string;
  readonly title: string;
  /** Names of the two inputs, e.g. ["x", "y"] or ["x", "t"]. */
  readonly inputs: readonly [string, string];
  readonly domain: Box;
  readonly terms: readonly PinnProblemTerm[];
  /** The reference solution at points [n·2] (float64). */
  readonly exact: (points: ArrayLike<number>) => Float64Array;
  /** One sentence: the PDE and its conditions. */
  readonly equation: string;
  /** Hidden widths of the problem's default tanh network (the authors' where they give one). */
  readonly hidden: readonly number[];
}

const f32 = (a: ArrayLike<number>) => Float32Array.from(a);

/** n points uniform in the box. */
function interior(box: Box, rng: Rng, n: number): Float64Array {
  const p = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    p[2 * i] = box.x[0] + (box.x[1] - box.x[0]) * rng.uniform();
    p[2 * i + 1] = box.y[0] + (box.y[1] - box.y[0]) * rng.uniform();
  }
  return p;
}

/** n points uniform on the box's four edges (each edge with probability ∝ its length). */
function edges(box: Box, rng: Rng, n: number): Float64Array {
  const wx = box.x[1] - box.x[0];
  const wy = box.y[1] - box.y[0];
  const p = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    const s = rng.uniform() * 2 * (wx + wy);
    const u = rng.uniform();
    const horizontal = s < 2 * wx;
    const low = horizontal ? s < wx : s - 2 * wx < wy;
    p[2 * i] = horizontal ? box.x[0] + wx * u : low ? box.x[0] : box.x[1];
    p[2 * i + 1] = horizontal ? (low ? box.y[0] : box.y[1]) : box.y[0] + wy * u;
  }
  return p;
}

/** n points on the line y = y₀ (t = 0), x uniform. */
function initialLine(box: Box, rng: Rng, n: number): Float64Array {
  const p = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    p[2 * i] = box.x[0] + (box.x[1] - box.x[0]) * rng.uniform();
    p[2 * i + 1] = box.y[0];
  }
  return p;
}

/** n points on the sides x = x₀ and x = x₁ (alternately), t uniform. */
function sides(box: Box, rng: Rng, n: number): Float64Array {
  const p = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    p[2 * i] = i % 2 === 0 ? box.x[0] : box.x[1];
    p[2 * i + 1] = box.y[0] + (box.y[1] - box.y[0]) * rng.uniform();
  }
  return p;
}

const column = (p: Float64Array, k: number) => Float64Array.from({ length: p.length / 2 }, (_, i) => p[2 * i + k]!);

/** u − g: a Dirichlet (or initial-value) term. */
const dirichlet = (name: string, at: (box: Box, rng: Rng, n: number) => Float64Array, box: Box, g: (p: Float64Array) => ArrayLike<number>): PinnProblemTerm => ({
  name,
  derivatives: [[]],
  residual: (d, _x, data) => d[0]!.ref.sub(data.ref),
  sample(rng, n) {
    const p = at(box, rng, n);
    return { points: f32(p), data: f32(g(p)) };
  },
});

/** aᵏ for an integer k ≥ 1 by products (np.power goes through log a: NaN for a < 0); borrows a. */
function intPower(a: np.Array, k: number): np.Array {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`intPower: k must be an integer ≥ 1, got ${k}`);
  let out = a.ref;
  for (let i = 1; i < k; i++) out = out.mul(a.ref);
  return out;
}

const zeros = (p: Float64Array) => new Float64Array(p.length / 2);

/** Helmholtz 2D, the stiff case of Wang, Teng & Perdikaris (2021): Δu + k²u = q on [−1, 1]², u = 0 on the edges, u = sin(a₁πx)·sin(a₂πy). */
export function helmholtz(params = helmholtzDefaults): PinnProblem {
  const { k } = params;
  return {
    name: "helmholtz",
    title: `Helmholtz 2D (a₁ = ${params.a1}, a₂ = ${params.a2}, k = ${k})`,
    inputs: ["x", "y"],
    domain: helmholtzDomain,
    equation: `u_xx + u_yy + k²u = q(x, y) on [−1, 1]², u = 0 on the boundary; exact u = sin(${params.a1}πx)·sin(${params.a2}πy)`,
    hidden: [50, 50, 50], // the authors' code (Helmholtz2D.py); their paper's Fig. 1 uses 4 × 50
    exact: (p) => helmholtzExact(p, params),
    terms: [
      {
        name: "residual",
        derivatives: [[0, 0], [1, 1], []],
        residual: (d, _x, q) => d[0]!.ref.add(d[1]!.ref).add(d[2]!.ref.mul(k * k)).sub(q.ref),
        sample(rng, n) {
          const p = interior(helmholtzDomain, rng, n);
          return { points: f32(p), data: f32(helmholtzSource(p, params)) };
        },
      },
      dirichlet("boundary", edges, helmholtzDomain, zeros),
    ],
  };
}

/** Poisson 2D: −Δu = f on [0, 1]², u = 0 on the edges, u = sin(mπx)·sin(mπy). */
export function poisson(frequency = 1): PinnProblem {
  return {
    name: "poisson",
    title: `Poisson 2D (frequency ${frequency})`,
    inputs: ["x", "y"],
    domain: poissonDomain,
    equation: `−(u_xx + u_yy) = f on [0, 1]², u = 0 on the boundary; exact u = sin(${frequency}πx)·sin(${frequency}πy)`,
    hidden: [50, 50, 50, 50],
    exact: (p) => poissonExact(p, frequency),
    terms: [
      {
        name: "residual",
        derivatives: [[0, 0], [1, 1]],
        residual: (d, _x, f) => d[0]!.ref.add(d[1]!.ref).add(f.ref),
        sample(rng, n) {
          const p = interior(poissonDomain, rng, n);
          return { points: f32(p), data: f32(poissonSource(p, frequency)) };
        },
      },
      dirichlet("boundary", edges, poissonDomain, zeros),
    ],
  };
}

/** Klein–Gordon 1D (Wang, Teng & Perdikaris 2021): u_tt − u_xx + u³ = f, x, t ∈ [0, 1], u = x·cos(5πt) + (xt)³. */
export function kleinGordon(): PinnProblem {
  const { alpha, beta, gamma, k } = kleinGordonDefaults;
  const box = kleinGordonDomain;
  return {
    name: "kleingordon",
    title: "Klein–Gordon 1D",
    inputs: ["x", "t"],
    domain: box,
    equation: "u_tt − u_xx + u³ = f on x, t ∈ [0, 1], u(x, 0) = x, u_t(x, 0) = 0, Dirichlet values at x = 0, 1; exact u = x·cos(5πt) + (xt)³",
    hidden: [50, 50, 50, 50, 50], // the paper's §4 and the authors' code
    exact: kleinGordonExact,
    terms: [
      {
        name: "residual",
        derivatives: [[1, 1], [0, 0], []],
        residual: (d, _x, f) => {
          let r = d[0]!.ref.add(d[1]!.ref.mul(alpha));
          if (beta !== 0) r = r.add(d[2]!.ref.mul(beta));
          return r.add(intPower(d[2]!, k).mul(gamma)).sub(f.ref);
        },
        sample(rng, n) {
          const p = interior(box, rng, n);
          return { points: f32(p), data: f32(kleinGordonSource(p)) };
        },
      },
      {
        // The initial value and velocity in one term (the paper's L_ics): residuals u − x and u_t, each over the n points.
        name: "initial",
        derivatives: [[], [1]],
        residual: (d, _x, u0) => np.concatenate([d[0]!.ref.sub(u0.ref), d[1]!.ref], 0),
        sample(rng, n) {
          const p = initialLine(box, rng, n);
          return { points: f32(p), data: f32(kleinGordonInitial(column(p, 0))) };
        },
      },
      {
        name: "boundary",
        derivatives: [[]],
        residual: (d, _x, g) => d[0]!.ref.sub(g.ref),
        sample(rng, n) {
          const p = sides(box, rng, n);
          const t = column(p, 1);
          const left = kleinGordonBoundary(t, "left");
          const right = kleinGordonBoundary(t, "right");
          return { points: f32(p), data: f32(Float64Array.from(t, (_, i) => (i % 2 === 0 ? left[i]! : right[i]!))) };
        },
      },
    ],
  };
}

/** Viscous Burgers (Raissi et al. 2019): u_t + u·u_x = ν·u_xx, x ∈ [−1, 1], t ∈ [0, 1], u(x, 0) = −sin(πx), u(±1, t) = 0, ν = 0.01/π. */
export function burgers(): PinnProblem {
  const box = burgersDomain;
  return {
    name: "burgers",
    title: "Burgers 1D (ν = 0.01/π)",
    inputs: ["x", "t"],
    domain: box,
    equation: "u_t + u·u_x = (0.01/π)·u_xx on x ∈ [−1, 1], t ∈ [0, 1], u(x, 0) = −sin(πx), u(±1, t) = 0; reference by the Cole–Hopf formula with Gauss–Hermite quadrature",
    hidden: [50, 50, 50, 50],
    exact: (p) => burgersExact(p),
    terms: [
      {
        name: "residual",
        derivatives: [[1], [0], [0, 0], []],
        residual: (d) => d[0]!.ref.add(d[3]!.ref.mul(d[1]!.ref)).sub(d[2]!.ref.mul(burgersNu)),
        sample(rng, n) {
          return { points: f32(interior(box, rng, n)), data: new Float32Array(n) };
        },
      },
      dirichlet("initial", initialLine, box, (p) => Float64Array.from(column(p, 0), (x) => -Math.sin(Math.PI * x))),
      dirichlet("boundary", sides, box, zeros),
    ],
  };
}

/** The problems by CLI name. */
export const pinnProblems = { poisson, helmholtz, kleingordon: kleinGordon, burgers } as const;
export type PinnProblemName = keyof typeof pinnProblems;
export const pinnProblemNames = Object.keys(pinnProblems) as PinnProblemName[];
