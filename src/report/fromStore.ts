import type { RunStore } from "../store/store.js";
import type { ComparisonReport, Experiment, LoopHistory, RunSummary } from "./types.js";

/** What a recorded synthetic-task run (`toy`, `compare`) keeps as its final metrics: its result without the history. */
type ToyFinal = Pick<RunSummary, "method" | "tasks" | "sigma" | "testLoss" | "initialTestLoss" | "normalizedTestLoss" | "weights" | "msPerStep" | "wallMs">;

function isToyFinal(f: unknown): f is ToyFinal {
  const o = f as Partial<ToyFinal> | null;
  return !!o && Array.isArray(o.sigma) && Array.isArray(o.testLoss) && Array.isArray(o.initialTestLoss) && typeof o.normalizedTestLoss === "number" && Array.isArray(o.weights);
}

/**
 * A stored run's history for the report: weights and batch losses at most `maxPoints` steps (every k-th
 * recorded step, the last one kept), and the test losses at each evaluation (split `test`).
 */
function historyOf(store: RunStore, id: number, maxPoints: number): LoopHistory {
  const steps = store.steps(id);
  const stride = Math.max(1, Math.ceil(steps.length / maxPoints));
  const kept = steps.filter((_, i) => i % stride === 0 || i === steps.length - 1);
  const evals = store.evals(id).filter((e) => e.split === "test" && Array.isArray((e.metrics as { losses?: unknown })?.losses));
  return {
    steps: kept.map((s) => s.step),
    weights: kept.map((s) => s.weights),
    losses: kept.map((s) => s.losses),
    evalSteps: evals.map((e) => e.step),
    evalLosses: evals.map((e) => (e.metrics as { losses: number[] }).losses),
  };
}

/**
 * The comparison report (see {@link ComparisonReport}) of recorded synthetic-task runs, read from the run
 * store: one experiment per task count, each run with its stored config, final metrics, weights and losses
 * over the steps (float32 as stored) and test losses at its evaluations. Runs of other kinds, or not
 * finished, are refused by id.
 */
export function reportFromStore(store: RunStore, ids: readonly number[], o: { command: string; title?: string; maxPoints?: number }): ComparisonReport {
  const runs = ids.map((id) => storedRunSummary(store, id, o.maxPoints ?? 200));
  const experiments: Experiment[] = [...new Set(runs.map((r) => r.tasks))].sort((a, b) => a - b).map((T) => {
    const rs = runs.filter((r) => r.tasks === T);
    return { title: `T = ${T} tasks`, tasks: T, sigma: rs[0]!.sigma, runs: rs, notes: [`Runs ${ids.filter((_, i) => runs[i]!.tasks === T).join(", ")} of the run store.`] };
  });
  return {
    title: o.title ?? "lossbalance — recorded runs",
    generatedAt: new Date().toISOString(),
    command: o.command,
    settings: { runs: [...ids] },
    experiments,
  };
}

/** One finished synthetic-task run of the store as the report's {@link RunSummary} (its history thinned to `maxPoints` steps). */
export function storedRunSummary(store: RunStore, id: number, maxPoints = 200): RunSummary {
  const row = store.getRun(id);
  if (!row) throw new Error(`no run ${id} in the store`);
  if (row.status !== "finished") throw new Error(`run ${id} is ${row.status}: a report needs finished runs`);
  const f = row.final;
  if (!isToyFinal(f)) throw new Error(`run ${id} (${row.name ?? row.method}) is not a synthetic-task run (toy, compare): the report draws those`);
  return {
    method: row.method ?? f.method,
    ...(row.name ? { label: row.name } : {}),
    tasks: f.sigma.length,
    sigma: f.sigma,
    seed: row.seed ?? 0,
    testLoss: f.testLoss,
    initialTestLoss: f.initialTestLoss,
    normalizedTestLoss: f.normalizedTestLoss,
    weights: f.weights,
    msPerStep: f.msPerStep,
    wallMs: f.wallMs,
    history: historyOf(store, id, maxPoints),
  };
}
