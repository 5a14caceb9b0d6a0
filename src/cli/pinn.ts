import { join } from "node:path";
import { createBalancer } from "../balancers/registry.js";
import type { GradStatistic } from "../balancers/types.js";
import { pinnTrainDefaults } from "../experiments/pinnRun.js";
import type { PinnRunOutcome, PinnRunSpec } from "../experiments/pinnExperiment.js";
import { pinnProblems, type PinnProblemName } from "../pinn/problems.js";
import type { NonFinitePolicy } from "../train/modelLoop.js";
import { provenance } from "../store/configHash.js";
import { mean, stdOrZero } from "../util/stats.js";
import { checkCheckpointFlags, checkpointSpec, runFolderName, withRunCheckpoints, type CheckpointFlags } from "./checkpointFlags.js";
import { nonFiniteSetting, reportSkipped } from "./options.js";
import { prepareOutDir, saveOutput } from "./output.js";
import { poolJobs, runPool } from "./pool.js";
import { progressReporter } from "./progress.js";
import { prepareStore, runOne, type StoreFlag } from "./record.js";
import { formatTable } from "./table.js";
import { pinnReportHtml, type PinnReportProblem } from "../report/pinn.js";
import { gridPoints } from "../pinn/reference.js";
import { planThreads, threadsLine } from "./threads.js";

/** The options of `lossbalance pinn <problem>` and the training settings `pinn bench` shares. */
export interface PinnTrainCliOptions {
  steps: number;
  lr: number;
  /** Hidden widths for every problem; default each problem's own ({@link PinnProblem.hidden}). */
  hidden?: number[];
  points: number;
  grid: number;
  derivatives: "taylor" | "jvp";
  threads: number | "auto";
  json?: boolean;
  store?: StoreFlag;
  onNonfinite?: NonFinitePolicy;
}

export interface PinnCommandOptions extends PinnTrainCliOptions, CheckpointFlags {
  method: string;
  alpha?: number;
  gradMode?: GradStatistic;
  opt?: Record<string, unknown>;
  seed: number;
  out?: string;
}

export interface PinnBenchOptions extends PinnTrainCliOptions, CheckpointFlags {
  problems: PinnProblemName[];
  methods: string[];
  seeds: number[];
  workers?: number;
  out: string;
}

/** The hidden widths a run of `problem` uses: --hidden, else the problem's own. */
const hiddenOf = (o: PinnTrainCliOptions, problem: PinnProblemName) => o.hidden ?? [...pinnProblems[problem]().hidden];

/** FLOPs of a PINN step, for `--threads auto`: about 6 × points × terms × derivative rows × the weights. */
function pinnFlops(o: PinnTrainCliOptions, hidden: readonly number[]): number {
  const sizes = [2, ...hidden, 1];
  const weights = sizes.slice(1).reduce((a, h, i) => a + h * sizes[i]!, 0);
  return 6 * o.points * 3 * 4 * weights;
}

const trainOf = (o: PinnTrainCliOptions, seed: number, problem: PinnProblemName) => ({
  steps: o.steps,
  lr: o.lr,
  hidden: hiddenOf(o, problem),
  points: o.points,
  grid: o.grid,
  seed,
  ...(o.derivatives === "jvp" ? { derivatives: o.derivatives } : {}),
  ...nonFiniteSetting(o.onNonfinite),
});

/** `lossbalance pinn <problem>`: one PINN trained with one method; the relative L2 error, the terms' losses and weights. */
export async function pinnCommand(problemName: PinnProblemName, o: PinnCommandOptions): Promise<void> {
  const options: Record<string, unknown> = { ...o.opt, ...(o.alpha !== undefined ? { alpha: o.alpha } : {}), ...(o.gradMode !== undefined ? { gradMode: o.gradMode } : {}) };
  if (o.alpha !== undefined && o.method !== "gradnorm") throw new Error(`--alpha does not apply to method '${o.method}'`);
  const problem = pinnProblems[problemName]();
  createBalancer(o.method, options).init(problem.terms.length); // validate method, options and T before any work
  const outFile = `pinn-${problemName}-${o.method}-seed${o.seed}.json`;
  const outDir = o.out === undefined ? undefined : prepareOutDir(o.out, [outFile]);
  checkCheckpointFlags(o);
  const plan = planThreads(o.threads, 1, pinnFlops(o, hiddenOf(o, problemName)));
  console.error(threadsLine(plan));
  const checkpoint = checkpointSpec(o);
  const train = trainOf(o, o.seed, problemName);
  const spec: PinnRunSpec = { method: o.method, options, problem: problemName, train, ...(checkpoint ? { checkpoint } : {}) };
  const r = await runOne({ kind: "pinn", spec }, plan.threads, prepareStore(o.store));
  const summary = {
    problem: problemName,
    method: r.method,
    options: r.options,
    relativeL2: r.relativeL2,
    terms: r.terms,
    weights: r.weights,
    finalTermLosses: r.history.evalLosses[r.history.evalLosses.length - 1],
    errors: r.errors,
    msPerStep: r.msPerStep,
    wallMs: r.wallMs,
    steps: o.steps,
    seed: o.seed,
    hidden: train.hidden,
    ...provenance({ problem: problemName, method: o.method, options, train: spec.train }),
    skipped: r.skipped.length,
  };
  if (outDir !== undefined) {
    const file = saveOutput(join(outDir, outFile), JSON.stringify({ ...summary, history: r.history, prediction: r.prediction }, null, 1));
    if (!o.json) console.log(`wrote ${file}`);
  }
  if (o.json) {
    process.stdout.write(JSON.stringify(summary) + "\n");
    return;
  }
  reportSkipped([r]);
  console.log(`${problem.title}: ${problem.equation}`);
  console.log(`method=${o.method} ${JSON.stringify(options)} steps=${o.steps} seed=${o.seed} network=2-${train.hidden.join("-")}-1`);
  console.log(formatTable(["term", "final loss (eval points)", "final weight"], r.terms.map((t, i) => [t, summary.finalTermLosses![i]!.toExponential(3), r.weights[i]!.toPrecision(4)])));
  console.log(`relative L2 error ${r.relativeL2.toExponential(3)} on a ${o.grid}×${o.grid} grid   ${r.msPerStep.toFixed(2)} ms/step`);
}

/** Relative L2 error per problem and method: mean ± std over seeds, ms/step. */
export function summarizePinnBench(runs: readonly PinnRunOutcome[]) {
  const out: Record<string, { label: string; seeds: number; relativeL2: [number, number]; msPerStep: number; wallSeconds: number }[]> = {};
  for (const problem of [...new Set(runs.map((r) => r.problem))]) {
    const rs = runs.filter((r) => r.problem === problem);
    out[problem] = [...new Set(rs.map((r) => r.label))].map((label) => {
      const g = rs.filter((r) => r.label === label);
      const e = g.map((r) => r.relativeL2);
      return { label, seeds: g.length, relativeL2: [mean(e), stdOrZero(e)], msPerStep: mean(g.map((r) => r.msPerStep)), wallSeconds: mean(g.map((r) => r.wallMs)) / 1000 };
    });
  }
  return out;
}

/** `lossbalance pinn bench`: every problem × method × seed in the pool; a table per problem and pinn-bench.json. */
export async function pinnBenchCommand(options: PinnBenchOptions): Promise<void> {
  const { store: storeFlag, checkpointEvery, checkpointDir, resume, ...o } = options;
  const outDir = prepareOutDir(o.out, ["pinn-bench.json", "report.html"]);
  const flags = { checkpointEvery, checkpointDir, resume };
  checkCheckpointFlags(flags);
  for (const m of o.methods) createBalancer(m, {});
  const specs = withRunCheckpoints(
    flags,
    o.problems.flatMap((problem) => o.seeds.flatMap((seed) => o.methods.map((method): PinnRunSpec => ({ method, problem, train: trainOf(o, seed, problem) })))),
    (s) => runFolderName(s.problem, `seed${s.train.seed ?? 0}`, s.method),
  );
  const store = prepareStore(storeFlag);
  const plan = planThreads(o.threads, poolJobs(specs.length, o.workers), Math.max(...o.problems.map((p) => pinnFlops(o, hiddenOf(o, p)))));
  console.error(threadsLine(plan));
  const t0 = performance.now();
  const progress = progressReporter(specs.map((s) => `${s.problem} seed ${s.train.seed} ${s.method}`), o.steps);
  let runs: PinnRunOutcome[];
  try {
    runs = await runPool(specs, "pinn", { onProgress: progress, onResult: (i) => progress.finish(i), workers: o.workers, threads: plan.threads, store });
  } finally {
    progress.stop();
  }
  reportSkipped(runs);
  const summary = summarizePinnBench(runs);
  const wallS = (performance.now() - t0) / 1000;
  const base = { ...o, threadsPerRun: plan.threads, networks: Object.fromEntries(o.problems.map((p) => [p, hiddenOf(o, p)])) };
  const settings = { ...base, wallSeconds: wallS, ...provenance(base) };
  const file = saveOutput(join(outDir, "pinn-bench.json"), JSON.stringify({ settings, summary, runs: runs.map(({ history: _h, ...r }) => r) }));
  const report = saveOutput(join(outDir, "report.html"), pinnBenchReport(runs, summary, o));
  if (o.json) {
    process.stdout.write(JSON.stringify({ settings, summary }) + "\n");
    return;
  }
  for (const [problem, rows] of Object.entries(summary)) {
    console.log(`\n${pinnProblems[problem as PinnProblemName]().title} — relative L2 error (seeds ${o.seeds.join(", ")}; ${o.steps} steps; network 2-${hiddenOf(o, problem as PinnProblemName).join("-")}-1), lower is better`);
    const sorted = [...rows].sort((a, b) => a.relativeL2[0] - b.relativeL2[0]);
    console.log(
      formatTable(
        ["method", "rel. L2 (mean ± std)", "ms/step", "s/run"],
        sorted.map((r) => [r.label, r.seeds > 1 ? `${r.relativeL2[0].toExponential(2)} ± ${r.relativeL2[1].toExponential(1)}` : r.relativeL2[0].toExponential(2), r.msPerStep.toFixed(1), r.wallSeconds.toFixed(0)]),
      ),
    );
  }
  console.log(`\n${runs.length} runs in ${wallS.toFixed(0)} s (${plan.threads} thread(s) per run). Data: ${file}; report: ${report}`);
}

/** The report: per problem its table, and the reference, the best run's prediction and its error on the grid. */
export function pinnBenchReport(runs: readonly PinnRunOutcome[], summary: ReturnType<typeof summarizePinnBench>, o: Pick<PinnBenchOptions, "seeds" | "steps" | "grid">): string {
  const problems: PinnReportProblem[] = Object.entries(summary).map(([name, rows]) => {
    const problem = pinnProblems[name as PinnProblemName]();
    const best = runs.filter((r) => r.problem === name).reduce((a, b) => (b.relativeL2 < a.relativeL2 ? b : a));
    const { x: [x0, x1], y: [y0, y1] } = problem.domain;
    const sorted = [...rows].sort((a, b) => a.relativeL2[0] - b.relativeL2[0]);
    return {
      name,
      title: problem.title,
      equation: problem.equation,
      inputs: problem.inputs,
      grid: o.grid,
      reference: Array.from(problem.exact(gridPoints(x0, x1, o.grid, y0, y1, o.grid))),
      prediction: best.prediction,
      predictionLabel: `${best.label}, seed ${best.seed} (relative L2 ${best.relativeL2.toExponential(2)}, the lowest of the runs)`,
      rows: sorted.map((r) => ({ label: r.label, cells: [r.seeds > 1 ? `${r.relativeL2[0].toExponential(2)} ± ${r.relativeL2[1].toExponential(1)}` : r.relativeL2[0].toExponential(2), r.msPerStep.toFixed(1)] })),
    };
  });
  return pinnReportHtml(
    "lossbalance: physics-informed networks",
    `Relative L2 error against the reference on a ${o.grid}×${o.grid} grid after ${o.steps} steps, seeds ${o.seeds.join(", ")}; lower is better.`,
    problems,
    ["method", "relative L2 (mean ± std)", "ms/step"],
  );
}
