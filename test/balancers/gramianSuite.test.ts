/**
 * The property suite every Gramian-based balancer must pass (in the spirit of torchjd's aggregator
 * tests). It runs on every registered method whose balancer has `needs.gramian`, and on two small
 * reference methods defined here, so that the suite itself is exercised even before any Gramian
 * method is registered.
 *
 * For each method: (a) finite weights of the right length for random PSD Gramians G = J Jᵀ;
 * (b) the zero Gramian; (c) rank-deficient and collinear Gramians; (d) badly scaled Gramians
 * (rows of J scaled by 1e-4..1e4, so G spans 1e-8..1e8); (e) permutation equivariance;
 * (f) bad input is rejected with a message naming the problem; (g) for methods that claim a
 * non-conflicting direction, (Gα)ᵢ = ⟨gᵢ, Σⱼ αⱼgⱼ⟩ ≥ −1e-6·scaleᵢ for every task i.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { registry, type AnyFactory } from "../../src/balancers/registry.js";
import type { Balancer, BalancerState, Gramian, Observation, UpdateResult } from "../../src/balancers/types.js";
import { BalancerInputError, checkLosses, checkNumTasks } from "../../src/balancers/validate.js";
import { permuteSym } from "../../src/solvers/linalg.js";
import { checkGramian } from "../../src/solvers/gramian.js";
import { assertNonConflicting, gaussianMatrix, gramOf, mulberry32, shuffle } from "../helpers/gramians.js";

// ---------------------------------------------------------------------------------------------
// Which methods are randomized, and which claim a non-conflicting direction.

/**
 * Methods whose update draws random numbers (a random task order): permutation equivariance is
 * only checked with T = 2, where the order of the pairwise projections does not matter.
 */
const RANDOMIZED = new Set(["pcgrad", "gradvac"]);

/**
 * Methods that claim the combined direction d = Σ αᵢgᵢ conflicts with no task: ⟨gᵢ, d⟩ ≥ 0 for all i.
 * - `mgda`: the min-norm point of the convex hull satisfies ⟨gᵢ, d⟩ ≥ ‖d‖² ≥ 0 (Désidéri; Sener & Koltun).
 * - `upgrad`, `dualproj`: project onto the dual cone {d : Gd-conditions ≥ 0} (Quinton & Rey, torchjd), always.
 * - `config`: uᵢᵀv = 1 for the unit gradients uᵢ, solved by pseudo-inverse: exact only when the
 *   gradients are linearly independent (J of full row rank); with dependent, conflicting gradients
 *   the least-squares v may have a negative projection, so it is checked on full-rank cases only.
 * - `imtlg` is not listed: its direction has equal projections k on the unit gradients with Σαᵢ = 1,
 *   and k = 1/(1ᵀN⁻¹C⁻¹1) (N = diag‖gᵢ‖, C = UᵀU) can be negative for T ≥ 3 with independent
 *   gradients, i.e. IMTL-G does not claim, and does not have, ⟨gᵢ, d⟩ ≥ 0 in general.
 */
const NON_CONFLICT: Readonly<Record<string, "always" | "fullRank">> = {
  mgda: "always",
  upgrad: "always",
  dualproj: "always",
  config: "fullRank",
};

// ---------------------------------------------------------------------------------------------
// Two reference Gramian methods, implementing the contract, defined only for this suite.

function checkGramianObservation(method: string, obs: Observation, T: number): Gramian {
  checkLosses(method, obs, T);
  if (obs.gramian === undefined) throw new BalancerInputError(method, `a Gramian is required but was not given`);
  const problem = checkGramian(obs.gramian, T);
  if (problem !== null) throw new BalancerInputError(method, problem);
  return obs.gramian;
}

/** Weights 1/T whatever the Gramian (stateless). */
function referenceMean(): Balancer<BalancerState> {
  const name = "reference-mean";
  return {
    name,
    needs: { gramian: "shared" },
    timing: "current",
    init(numTasks) {
      checkNumTasks(name, numTasks, 2);
      return { weights: new Array<number>(numTasks).fill(1 / numTasks), step: 0 };
    },
    update(obs, state): UpdateResult<BalancerState> {
      const T = state.weights.length;
      checkGramianObservation(name, obs, T);
      const weights = new Array<number>(T).fill(1 / T);
      return { weights, state: { weights, step: state.step + 1 } };
    },
  };
}

interface GuardedState extends BalancerState {
  readonly conflicts: number;
}

/**
 * Weights 1/T when the mean direction conflicts with no task ((G·1)ᵢ ≥ 0 for all i), else 0:
 * trivially non-conflicting. Counts the conflicting steps in its state (stateful).
 */
function referenceGuardedMean(): Balancer<GuardedState> {
  const name = "reference-guarded-mean";
  return {
    name,
    needs: { gramian: "shared" },
    timing: "current",
    init(numTasks) {
      checkNumTasks(name, numTasks, 2);
      return { weights: new Array<number>(numTasks).fill(1 / numTasks), step: 0, conflicts: 0 };
    },
    update(obs, state): UpdateResult<GuardedState> {
      const T = state.weights.length;
      const G = checkGramianObservation(name, obs, T);
      const conflict = G.some((row) => row.reduce((a, b) => a + b, 0) < 0);
      const weights = new Array<number>(T).fill(conflict ? 0 : 1 / T);
      return { weights, state: { weights, step: state.step + 1, conflicts: state.conflicts + (conflict ? 1 : 0) } };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Subjects: registered Gramian methods plus the references.

interface Subject {
  readonly key: string;
  readonly make: () => Balancer<BalancerState>;
  readonly randomized: boolean;
  readonly nonConflict: "always" | "fullRank" | null;
}

function subjectOf(key: string, make: () => Balancer<BalancerState>, nonConflict?: "always" | "fullRank"): Subject {
  const name = make().name;
  return {
    key,
    make,
    randomized: RANDOMIZED.has(key) || RANDOMIZED.has(name),
    nonConflict: nonConflict ?? NON_CONFLICT[key] ?? NON_CONFLICT[name] ?? null,
  };
}

/**
 * Options for the registered factories that cannot be built without any (only to read their
 * `needs`). A factory that throws without options and is not listed here fails the contract
 * test below, so a Gramian method is never skipped silently.
 */
const PROBE_OPTIONS: Readonly<Record<string, Record<string, unknown>>> = { static: { weights: [1, 1] } };

function probe(key: string, factory: AnyFactory): Balancer<BalancerState> | Error {
  try {
    return factory(PROBE_OPTIONS[key]);
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

const probed = Object.entries(registry).map(([key, factory]) => ({ key, factory, balancer: probe(key, factory) }));

const registered = probed.filter(
  (p): p is typeof p & { balancer: Balancer<BalancerState> } => !(p.balancer instanceof Error) && p.balancer.needs.gramian !== undefined,
);

const subjects: Subject[] = [
  ...registered.map(({ key, factory }) => subjectOf(key, () => factory())),
  subjectOf("reference-mean", referenceMean),
  subjectOf("reference-guarded-mean", referenceGuardedMean as () => Balancer<BalancerState>, "always"),
];

// ---------------------------------------------------------------------------------------------
// Seeded random numbers and test Gramians.

function randomLosses(rng: () => number, T: number): number[] {
  return Array.from({ length: T }, () => 0.1 + 3 * rng());
}

interface Case {
  readonly label: string;
  readonly T: number;
  /** One Jacobian per consecutive update (a few, so that stateful methods move their state). */
  readonly Js: readonly (readonly (readonly number[])[])[];
  /** Rows of J linearly independent (d ≥ T, generic): what full-rank-only claims need. */
  readonly fullRank: boolean;
}

const STEPS = 3;

function sequence(make: () => number[][]): number[][][] {
  return Array.from({ length: STEPS }, () => make());
}

function randomCases(seed: number): Case[] {
  const rng = mulberry32(seed);
  const out: Case[] = [];
  for (const T of [2, 3, 5, 8])
    for (const d of [1, 3, 20]) {
      out.push({ label: `random T=${T} d=${d}`, T, Js: sequence(() => gaussianMatrix(rng, T, d)), fullRank: d >= T });
    }
  return out;
}

function zeroCases(): Case[] {
  return [2, 3, 5, 8].map((T) => ({
    label: `zero T=${T}`,
    T,
    Js: Array.from({ length: STEPS }, () => Array.from({ length: T }, () => new Array<number>(4).fill(0))),
    fullRank: false,
  }));
}

function degenerateCases(seed: number): Case[] {
  const rng = mulberry32(seed);
  const d = 6;
  const out: Case[] = [];
  const scaledCopies = (factors: readonly number[]) => () => {
    const g = gaussianMatrix(rng, 1, d)[0]!;
    return factors.map((c) => g.map((v) => c * v));
  };
  out.push({ label: "collinear, same direction, T=3", T: 3, Js: sequence(scaledCopies([1, 2, 0.5])), fullRank: false });
  out.push({ label: "collinear, opposite directions, T=2", T: 2, Js: sequence(scaledCopies([1, -1])), fullRank: false });
  out.push({ label: "collinear, mixed signs, T=5", T: 5, Js: sequence(scaledCopies([1, -2, 3, -0.5, 1])), fullRank: false });
  out.push({
    label: "repeated rows, T=5",
    T: 5,
    Js: sequence(() => {
      const J = gaussianMatrix(rng, 3, d);
      return [J[0]!, J[1]!, J[0]!.slice(), J[2]!, J[1]!.slice()];
    }),
    fullRank: false,
  });
  out.push({
    label: "scaled and negated copies, T=4",
    T: 4,
    Js: sequence(() => {
      const J = gaussianMatrix(rng, 2, d);
      return [J[0]!, J[1]!, J[0]!.map((v) => 3 * v), J[1]!.map((v) => -2 * v)];
    }),
    fullRank: false,
  });
  out.push({
    label: "one zero gradient, T=3",
    T: 3,
    Js: sequence(() => {
      const J = gaussianMatrix(rng, 2, d);
      return [J[0]!, new Array<number>(d).fill(0), J[1]!];
    }),
    fullRank: false,
  });
  out.push({
    label: "rank 2 of 8 (d = 2)",
    T: 8,
    Js: sequence(() => gaussianMatrix(rng, 8, 2)),
    fullRank: false,
  });
  return out;
}

function badlyScaledCases(seed: number): Case[] {
  const rng = mulberry32(seed);
  const out: Case[] = [];
  for (const T of [2, 3, 5, 8])
    for (const d of [3, 20]) {
      // Row scales 10^k, k spread evenly over [−4, 4] (T = 2: 1e-4 and 1e4), shuffled.
      const scales = Array.from({ length: T }, (_, i) => 10 ** (-4 + (8 * i) / (T - 1)));
      shuffle(rng, scales);
      out.push({
        label: `badly scaled T=${T} d=${d}`,
        T,
        Js: sequence(() => gaussianMatrix(rng, T, d).map((row, i) => row.map((v) => v * scales[i]!))),
        fullRank: d >= T,
      });
    }
  return out;
}

interface Step {
  readonly G: number[][];
  readonly losses: number[];
  readonly result: UpdateResult<BalancerState>;
}

/** init(T), then one update per Jacobian of the case (random positive losses). */
function runCase(subject: Subject, c: Case, seed: number): Step[] {
  const rng = mulberry32(seed);
  const b = subject.make();
  let state = b.init(c.T);
  assert.equal(state.weights.length, c.T, `${c.label}: init weights length`);
  return c.Js.map((J, k) => {
    const G = gramOf(J);
    const losses = randomLosses(rng, c.T);
    const result = b.update({ losses, gramian: G }, state);
    state = result.state;
    const w = result.weights;
    assert.equal(w.length, c.T, `${c.label}, update ${k}: ${w.length} weights for ${c.T} tasks`);
    assert.ok(
      w.every((x) => typeof x === "number" && Number.isFinite(x)),
      `${c.label}, update ${k}: weights not finite: ${w.join(", ")}`,
    );
    assert.deepEqual(result.state.weights, w, `${c.label}, update ${k}: state.weights differs from weights`);
    return { G, losses, result };
  });
}

/** A random permutation of 0..T-1 other than the identity. */
function randomPermutation(rng: () => number, T: number): number[] {
  for (;;) {
    const p = shuffle(rng, Array.from({ length: T }, (_, i) => i));
    if (p.some((v, i) => v !== i)) return p;
  }
}

function assertThrowsNaming(fn: () => unknown, what: string, ...patterns: RegExp[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Error, `${what}: expected an Error, got ${String(e)}`);
    for (const p of patterns) assert.match(e.message, p, `${what}: message '${e.message}' should match ${p}`);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------

describe("Gramian suite: contract", () => {
  test("every registered factory can be built (with no options, or those in PROBE_OPTIONS)", () => {
    for (const p of probed) assert.ok(!(p.balancer instanceof Error), `${p.key}: ${p.balancer instanceof Error ? p.balancer.message : ""}`);
  });

  test(`registered Gramian methods (${registered.map((r) => r.key).join(", ") || "none yet"}) have timing 'current'`, () => {
    for (const { key, balancer: b } of probed) {
      if (b instanceof Error) continue;
      if (b.needs.gramian !== undefined) {
        assert.equal(b.timing, "current", `${key}: a Gramian method's weights are a function of this step's Gramian: timing must be 'current'`);
        assert.ok(["lastShared", "representation", "shared"].includes(b.needs.gramian), `${key}: needs.gramian is '${b.needs.gramian}'`);
      }
    }
  });

  test("the suite covers the reference methods too", () => {
    assert.ok(subjects.length >= 2);
    for (const s of subjects) {
      const b = s.make();
      assert.ok(b.needs.gramian !== undefined, s.key);
      assert.equal(b.timing, "current", s.key);
    }
  });

  test("suite self-check: the test Gramians are what they claim", () => {
    const bad = badlyScaledCases(4);
    for (const c of bad) {
      const G = gramOf(c.Js[0]!);
      const diag = G.map((row, i) => row[i]!);
      assert.ok(Math.max(...diag) / Math.min(...diag) > 1e12, `${c.label}: diagonal spans ${Math.min(...diag)}..${Math.max(...diag)}`);
      assert.equal(checkGramian(G, c.T), null);
    }
    for (const c of [...randomCases(1), ...degenerateCases(3)]) assert.equal(checkGramian(gramOf(c.Js[0]!), c.T), null, c.label);
    // The guarded reference does refuse a conflicting mean: ⟨g₁, g₀ + g₁⟩ = −0.3 + 0.1 < 0 (cosine −0.95).
    const g = referenceGuardedMean();
    const r = g.update({ losses: [1, 1], gramian: [[1, -0.3], [-0.3, 0.1]] }, g.init(2));
    assert.deepEqual(r.weights, [0, 0]);
    assert.equal(r.state.conflicts, 1);
  });
});

for (const subject of subjects) {
  describe(`Gramian suite: ${subject.key}`, () => {
    test("(a) random PSD Gramians J Jᵀ, T ∈ {2, 3, 5, 8}, d ∈ {1, 3, 20}: finite weights, right length", () => {
      for (const c of randomCases(11)) runCase(subject, c, 101);
    });

    test("(b) zero Gramian: finite weights", () => {
      for (const c of zeroCases()) runCase(subject, c, 102);
    });

    test("(c) rank-deficient and collinear Gramians: finite weights", () => {
      for (const c of degenerateCases(13)) runCase(subject, c, 103);
    });

    test("(d) badly scaled Gramians (rows of J × 1e-4..1e4): finite weights", () => {
      for (const c of badlyScaledCases(14)) runCase(subject, c, 104);
    });

    test(`(e) permutation equivariance${subject.randomized ? " (randomized: T = 2 only)" : ""}`, () => {
      const rng = mulberry32(15);
      const cases: Case[] = subject.randomized
        ? randomCases(16).filter((c) => c.T === 2 && c.fullRank)
        : [...randomCases(16).filter((c) => c.fullRank), ...badlyScaledCases(17).filter((c) => c.fullRank && c.T <= 3)];
      assert.ok(cases.length > 0);
      for (const c of cases) {
        const p = randomPermutation(rng, c.T);
        const original = runCase(subject, c, 105);
        // Task i of the permuted problem is task p[i] of the original: rows of J permuted.
        const permutedCase: Case = { ...c, label: `${c.label} permuted [${p.join(",")}]`, Js: c.Js.map((J) => p.map((pi) => J[pi]!)) };
        const b = subject.make();
        let state = b.init(c.T);
        original.forEach((step, k) => {
          const G = permuteSym(step.G, p);
          assert.deepEqual(G, gramOf(permutedCase.Js[k]!));
          const losses = p.map((pi) => step.losses[pi]!);
          const r = b.update({ losses, gramian: G }, state);
          state = r.state;
          const w = step.result.weights;
          const scale = Math.max(...w.map(Math.abs));
          r.weights.forEach((wi, i) => {
            const expected = w[p[i]!]!;
            assert.ok(
              Math.abs(wi - expected) <= 1e-6 * scale + 1e-300,
              `${permutedCase.label}, update ${k}: weight ${i} is ${wi}, expected ${expected} (task ${p[i]} of the original)`,
            );
          });
        });
      }
    });

    test("(f) bad input: NaN entry, asymmetric, wrong size, missing Gramian → an Error naming the problem", () => {
      const rng = mulberry32(18);
      for (const T of [2, 3, 5]) {
        const G = gramOf(gaussianMatrix(rng, T, 4));
        const losses = randomLosses(rng, T);
        const b = subject.make();
        const s = b.init(T);
        const nan = G.map((row) => row.slice());
        nan[0]![1] = Number.NaN;
        nan[1]![0] = Number.NaN;
        assertThrowsNaming(() => b.update({ losses, gramian: nan }, s), `T=${T} NaN`, /NaN|finite/i);
        const asym = G.map((row) => row.slice());
        asym[1]![0] = asym[1]![0]! + 1 + Math.sqrt(G[0]![0]! * G[1]![1]!);
        assertThrowsNaming(() => b.update({ losses, gramian: asym }, s), `T=${T} asymmetric`, /symmetr/i);
        const big = gramOf(gaussianMatrix(rng, T + 1, 4));
        assertThrowsNaming(() => b.update({ losses, gramian: big }, s), `T=${T} wrong size`, /gramian/i, new RegExp(`${T}|${T + 1}`));
        const small = gramOf(gaussianMatrix(rng, T - 1, 4));
        assertThrowsNaming(() => b.update({ losses, gramian: small }, s), `T=${T} too small`, /gramian/i, new RegExp(`${T}|${T - 1}`));
        assertThrowsNaming(() => b.update({ losses }, s), `T=${T} missing`, /gramian/i);
        // Symmetric, finite, non-negative diagonal, but no J Jᵀ: a pair with cosine 1.5.
        const impossible = G.map((row) => row.slice());
        impossible[0]![1] = impossible[1]![0] = 1.5 * Math.sqrt(G[0]![0]! * G[1]![1]!);
        assertThrowsNaming(() => b.update({ losses, gramian: impossible }, s), `T=${T} not PSD`, /not positive semidefinite: entry \(1, 0\)/);
        // Every pair within Cauchy–Schwarz, yet indefinite: three gradients with mutual cosines −0.6.
        const triple = G.map((row, i) => row.map((v, j) => (i < 3 && j < 3 && i !== j && T >= 3 ? -0.6 * Math.sqrt(G[i]![i]! * G[j]![j]!) : v)));
        if (T >= 3) assertThrowsNaming(() => b.update({ losses, gramian: triple }, s), `T=${T} indefinite`, /not positive semidefinite: its cosine matrix has eigenvalue -/);
        // The same Gramian rounded to float32 (as the trainer's are) is accepted.
        const rounded = G.map((row, i) => row.map((v, j) => Math.fround(i <= j ? v : G[j]![i]!)));
        assert.ok(b.update({ losses, gramian: rounded }, s).weights.every(Number.isFinite), `T=${T} float32`);
        // The state is still usable after the refusals.
        const r = b.update({ losses, gramian: G }, s);
        assert.ok(r.weights.every(Number.isFinite));
      }
    });

    test("(h) the shared Gramian rule: a rank-deficient float32 Gramian passes, an indefinite one fails, whatever its scale", () => {
      const rng = mulberry32(23);
      for (const T of [3, 8, 30]) {
        const J = gaussianMatrix(rng, 2, 5);
        // T gradients in a 2-dimensional span: singular G, eigenvalues ≈ 0 up to float32 rounding.
        const rows = Array.from({ length: T }, () => {
          const [a, c] = [rng() - 0.5, rng() - 0.5];
          return J[0]!.map((v, k) => a * v + c * J[1]![k]!);
        });
        const G = gramOf(rows).map((row) => row.map(Math.fround));
        const sym = G.map((row, i) => row.map((v, j) => (i <= j ? v : G[j]![i]!)));
        // An indefinite one: the first two tasks' cosine pushed 0.2 beyond what any J Jᵀ allows.
        const bad = gramOf(gaussianMatrix(rng, T, T + 2));
        bad[0]![1] = bad[1]![0] = 1.2 * Math.sqrt(bad[0]![0]! * bad[1]![1]!);
        for (const k of [1e-30, 1, 1e30]) {
          const b = subject.make();
          const s = b.init(T);
          const losses = randomLosses(rng, T);
          const ok = b.update({ losses, gramian: sym.map((row) => row.map((v) => v * k)) }, s);
          assert.ok(ok.weights.every(Number.isFinite), `T=${T} k=${k}`);
          assertThrowsNaming(() => b.update({ losses, gramian: bad.map((row) => row.map((v) => v * k)) }, s), `T=${T} k=${k} indefinite`, /not positive semidefinite/);
        }
      }
    });

    if (subject.nonConflict !== null) {
      const claim = subject.nonConflict;
      test(`(g) non-conflicting direction: (Gα)ᵢ ≥ −1e-6·scaleᵢ for every task (${claim === "always" ? "all cases" : "full-rank cases"})`, () => {
        const cases = [...randomCases(19), ...zeroCases(), ...degenerateCases(20), ...badlyScaledCases(21)].filter(
          (c) => claim === "always" || c.fullRank,
        );
        assert.ok(cases.length > 0);
        for (const c of cases) {
          runCase(subject, c, 106).forEach((step, k) => assertNonConflicting(step.G, step.result.weights, 1e-6, `${c.label}, update ${k}`));
        }
      });
    }
  });
}
