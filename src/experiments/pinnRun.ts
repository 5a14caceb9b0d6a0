import { jit, numpy as np, tree } from "@jax-js/jax";
import type { Balancer, BalancerState } from "../balancers/types.js";
import { adam } from "../optim/adam.js";
import type { LoopHistory } from "../train/loop.js";
import { trainModelLoop, type ModelLoopState, type NonFiniteOptions, type SkippedStep } from "../train/modelLoop.js";
import { featureDerivative, initPinnParams, pinnModel, type PinnBatch, type PinnParams } from "../pinn/model.js";
import type { PinnProblem } from "../pinn/problems.js";
import { gridPoints, relativeL2 } from "../pinn/reference.js";
import { Rng, deriveSeed, hash32 } from "../util/rng.js";
import { loopCheckpointOptions, type RunCheckpoints, type RunHooks } from "./hooks.js";
import type { ModelParams } from "../model/contract.js";
import { checkCount, TrainingError } from "../train/checks.js";

/** Training settings of a PINN run (defaults: Wang, Teng & Perdikaris 2021's network, Adam 1e-3, 128 points per term and step). */
export interface PinnTrainConfig extends NonFiniteOptions {
  readonly steps: number;
  readonly lr: number;
  /** Hidden widths of the tanh network (default: the problem's own, {@link PinnProblem.hidden}). */
  readonly hidden?: readonly number[];
  /** Seed of the initial network and of the sampled points. */
  readonly seed: number;
  /** Points per loss term, drawn afresh each step. */
  readonly points: number;
  /** Grid points per axis for the relative L2 error. */
  readonly grid: number;
  /** How input derivatives are computed (see {@link PinnNetworkConfig}); default taylor. */
  readonly derivatives?: "taylor" | "jvp";
  readonly evalEvery?: number;
}

export const pinnTrainDefaults: PinnTrainConfig = { steps: 5000, lr: 1e-3, seed: 0, points: 128, grid: 101 };

export interface PinnRunResult {
  readonly method: string;
  readonly problem: string;
  /** ‖u − u_ref‖₂ / ‖u_ref‖₂ on the grid at the end. */
  readonly relativeL2: number;
  /** The relative L2 error at each evaluation (steps done, error). */
  readonly errors: { readonly steps: number[]; readonly values: number[] };
  /** Names of the loss terms (the tasks). */
  readonly terms: string[];
  readonly weights: number[];
  /** The network's values on the grid at the end, row-major (x fastest), for pictures. */
  readonly prediction: number[];
  readonly msPerStep: number;
  readonly wallMs: number;
  readonly history: LoopHistory;
  readonly skipped: readonly SkippedStep[];
}

/**
 * Step t's batch: every term's points drawn from its own stream at a seed that is a pure function of
 * (seed, term, t) — so a resumed run draws the points an uninterrupted one would.
 */
export function pinnBatches(problem: PinnProblem, seed: number, points: number) {
  const bases = problem.terms.map((term) => deriveSeed(seed, `pinn-${term.name}`));
  return (t: number): PinnBatch => {
    const samples = problem.terms.map((term, k) => term.sample(new Rng(hash32(bases[k]!, t)), points));
    return { points: samples.map((s) => np.array(s.points).reshape([points, 2])), data: samples.map((s) => np.array(s.data)) };
  };
}

/** The network's values u at points x [N, 2] (jit; consumes its arguments). */
function buildPredict() {
  return jit((shared: PinnParams["shared"], x: np.Array) => {
    const f = featureDerivative(shared.body.layers, x, []);
    const u = np.matmul(f, shared.last.W.ref).reshape([-1]);
    tree.dispose(shared);
    x.dispose();
    return u;
  });
}

/**
 * Trains a PINN on `problem` with one balancer: the terms are the tasks of {@link pinnModel} on the
 * async trainer (every gradient mode and method applies), Adam on the network, fresh points every
 * step; evaluates the terms' losses on a fixed set of points and the relative L2 error on the grid
 * every `evalEvery` steps. `checkpoints`: save and resume as for the other runs.
 */
export async function runPinn(
  problem: PinnProblem,
  method: string,
  balancer: Balancer<BalancerState>,
  cfg: Partial<PinnTrainConfig> = {},
  onStep?: (t: number) => void,
  hooks?: RunHooks,
  checkpoints?: RunCheckpoints<ModelLoopState>,
): Promise<PinnRunResult> {
  const c = { ...pinnTrainDefaults, ...Object.fromEntries(Object.entries(cfg).filter(([, v]) => v !== undefined)) } as PinnTrainConfig;
  checkCount("pinn: points (per loss term and step)", c.points, 1);
  checkCount("pinn: grid (points per axis)", c.grid, 2);
  checkCount("pinn: steps", c.steps, 1);
  if (!(c.lr > 0 && Number.isFinite(c.lr))) throw new TrainingError(`pinn: lr must be a finite number > 0, got ${c.lr}`);
  const hidden = c.hidden ?? problem.hidden;
  const network = { inputDim: 2, hidden, ...(c.derivatives ? { derivatives: c.derivatives } : {}) };
  const model = pinnModel(problem.terms, network);
  const T = problem.terms.length;
  const { x: [x0, x1], y: [y0, y1] } = problem.domain;
  const grid = gridPoints(x0, x1, c.grid, y0, y1, c.grid);
  const exact = problem.exact(grid);
  const gridArray = np.array(Float32Array.from(grid)).reshape([c.grid * c.grid, 2]);
  const evalBatch = pinnBatches(problem, deriveSeed(c.seed, "pinn-eval"), 1000)(0);
  const predict = buildPredict();
  const evalLosses = jit((p: ModelParams, b: PinnBatch) => {
    const z = model.split!.body(p, b);
    const rep = model.split!.last(p, z);
    z.dispose();
    const R = rep.shape;
    const losses = model.tasks(p, np.broadcastTo(rep.reshape([1, ...R]), [T, ...R]), b);
    tree.dispose([p, b] as never);
    return losses;
  });
  // The error curve so far: kept in checkpoints, restored on resume.
  const saved = checkpoints?.resume?.loop.extra as { errors?: { steps: number[]; values: number[] }; prediction?: number[] } | undefined;
  const errors = saved?.errors ? structuredClone(saved.errors) : { steps: [] as number[], values: [] as number[] };
  // The last evaluation's grid values (kept in checkpoints too: a run resumed at its last step evaluates nothing).
  let prediction: Float32Array = Float32Array.from(saved?.prediction ?? []);
  const t0 = performance.now();
  try {
    const result = await trainModelLoop({
      model,
      optimizer: adam({ lr: c.lr }),
      balancer,
      ...loopCheckpointOptions(
        checkpoints,
        () => initPinnParams({ inputDim: 2, hidden }, deriveSeed(c.seed, "init")),
        () => ({ errors, prediction: Array.from(prediction) }),
      ),
      steps: c.steps,
      batch: pinnBatches(problem, c.seed, c.points),
      onNonFinite: c.onNonFinite,
      maxSkipped: c.maxSkipped,
      maxSkippedInARow: c.maxSkippedInARow,
      evalEvery: c.evalEvery ?? Math.max(1, Math.floor(c.steps / 20)),
      evaluate: async (p) => {
        prediction = (await predict(tree.ref((p as PinnParams).shared), gridArray.ref).data()) as Float32Array;
        errors.values.push(relativeL2(prediction, exact));
        return Array.from((await evalLosses(tree.ref(p), tree.ref(evalBatch)).data()) as Float32Array);
      },
      onStep: (t, rec, ms) => {
        hooks?.onStep?.(t, rec, ms);
        onStep?.(t);
      },
      onEval: (t, losses) => {
        errors.steps.push(t);
        hooks?.onEval?.(t, { losses: [...losses], relativeL2: errors.values[errors.values.length - 1]! }, "test");
      },
    });
    tree.dispose(result.params);
    return {
      method,
      problem: problem.name,
      relativeL2: errors.values[errors.values.length - 1]!,
      errors,
      terms: problem.terms.map((t) => t.name),
      weights: result.finalWeights,
      prediction: Array.from(prediction),
      msPerStep: result.msPerStep,
      wallMs: performance.now() - t0,
      history: result.history,
      skipped: result.skipped,
    };
  } catch (e) {
    throw namedTerms(e, problem);
  } finally {
    predict.dispose();
    evalLosses.dispose();
    gridArray.dispose();
    tree.dispose(evalBatch);
  }
}

/** The same error with "task i" spelled out as the loss term it is ("task 0 (term 'residual')"). */
function namedTerms(e: unknown, problem: PinnProblem): unknown {
  if (!(e instanceof Error) || !/\btask \d+/.test(e.message)) return e;
  e.message = e.message.replace(/\btask (\d+)/g, (m, i: string) => (problem.terms[Number(i)] ? `${m} (term '${problem.terms[Number(i)]!.name}')` : m));
  return e;
}
