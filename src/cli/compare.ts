import { join } from "node:path";
import { poolJobs, runPool } from "./pool.js";
import { planThreads, threadsLine, toyFlopsPerStep } from "./threads.js";
import { prepareOutDir, saveOutput } from "./output.js";
import { progressReporter } from "./progress.js";
import { prepareStore, type StoreFlag } from "./record.js";
import { formatTable } from "./table.js";
import { mean, stdOrZero } from "../util/stats.js";
import { toySigmas } from "../data/toy.js";
import type { ToyRunOutcome, ToyRunSpec } from "../experiments/toyExperiment.js";
import { statisticMode, type GradStatistic } from "../balancers/types.js";
import { createBalancer, methodNames } from "../balancers/registry.js";
import { pinnBalancers } from "./methodSets.js";
import { renderReport } from "../report/html.js";
import type { ComparisonReport, Experiment, RunSummary } from "../report/types.js";
import { storedRunSummary } from "../report/fromStore.js";
import { openStore } from "../store/store.js";
import { provenance } from "../store/configHash.js";
import { nonFiniteSetting, reportSkipped } from "./options.js";
import type { NonFinitePolicy } from "../train/modelLoop.js";
import { checkCheckpointFlags, runFolderName, withRunCheckpoints, type CheckpointFlags } from "./checkpointFlags.js";

export interface CompareOptions extends CheckpointFlags {
  tasks: number[];
  seeds: number[];
  steps: number;
  batchSize: number;
  lr: number;
  /** GradNorm's α values: one GradNorm run per value. */
  alpha: number[];
  inputScale: number;
  trainSize: number;
  testSize: number;
  dataSeed: number;
  out: string;
  workers?: number;
  /** jax-js's threads per run (`auto`: see planThreads). */
  threads: number | "auto";
  json?: boolean;
  /** `--store <path>` (a path) or `--no-store` (false); undefined: the default store. Each worker records its runs there. */
  store?: StoreFlag;
  command: string;
  /** Methods that need per-task statistics (MGDA, PCGrad, …), run on `extraTasks` with `extraSeeds`. */
  extraMethods?: string[];
  extraTasks?: number[];
  extraSeeds?: number[];
  /** Gradient mode for the extra methods (default: each method's own). */
  gradMode?: GradStatistic;
  /** `--on-nonfinite` (commander's attribute name): stop (default) or skip steps with non-finite values. */
  onNonfinite?: NonFinitePolicy;
}

/** The static grid: T = 2 → weight ratios w₁:w₂ of 10, 100, 1000; T > 2 → w ∝ σ^(−p), p ∈ {0.5, 1, 2}; normalized to Σw = T. */
export function staticGrid(sigmas: readonly number[]): { label: string; weights: number[] }[] {
  const T = sigmas.length;
  const norm = (w: number[]) => {
    const s = w.reduce((a, b) => a + b, 0);
    return w.map((x) => (x * T) / s);
  };
  if (T === 2) return [10, 100, 1000].map((r) => ({ label: `static ${r}:1`, weights: norm([r, 1]) }));
  return [0.5, 1, 2].map((p) => ({ label: `static σ^-${p}`, weights: norm(sigmas.map((s) => Math.max(s, 1e-6) ** -p)) }));
}

/** GradNorm's comparison set, which `compare` always runs (so it cannot be an extra method too). */
export const comparedMethods: readonly string[] = ["gradnorm", "equal", "uncertainty", "static"];

/**
 * The methods of the gradient-manipulation family: every registered one but GradNorm's comparison set,
 * the loss-only DWA and RLW, and the {@link pinnBalancers}.
 */
export function defaultExtraMethods(): string[] {
  const base = new Set([...comparedMethods, "dwa", "rlw", ...pinnBalancers]);
  return methodNames().filter((m) => !base.has(m));
}

export function compareSpecs(o: CompareOptions): ToyRunSpec[] {
  const specs: ToyRunSpec[] = [];
  for (const T of o.tasks) {
    const data = { numTasks: T, seed: o.dataSeed, inputScale: o.inputScale, trainSize: o.trainSize, testSize: o.testSize };
    const sigmas = toySigmas(T, o.dataSeed);
    for (const seed of o.seeds) {
      const train = { steps: o.steps, batchSize: o.batchSize, lr: o.lr, seed, ...nonFiniteSetting(o.onNonfinite) };
      for (const alpha of o.alpha) specs.push({ method: "gradnorm", label: `gradnorm α=${alpha}`, options: { alpha }, data, train });
      specs.push({ method: "equal", data, train });
      specs.push({ method: "uncertainty", data, train });
      for (const g of staticGrid(sigmas)) specs.push({ method: "static", label: g.label, options: { weights: g.weights }, data, train });
    }
    if ((o.extraTasks ?? []).includes(T)) {
      for (const seed of o.extraSeeds ?? [0]) {
        const train = { steps: o.steps, batchSize: o.batchSize, lr: o.lr, seed, ...nonFiniteSetting(o.onNonfinite) };
        for (const m of o.extraMethods ?? []) {
          const takesMode = o.gradMode !== undefined && statisticMode(createBalancer(m).needs) !== undefined;
          specs.push({ method: m, ...(takesMode ? { label: `${m} (${o.gradMode})`, options: { gradMode: o.gradMode } } : {}), data, train });
        }
      }
    }
  }
  return withRunCheckpoints(o, specs, (s) => runFolderName(`T${s.data.numTasks}`, `seed${s.train.seed ?? 0}`, s.label ?? s.method));
}

/**
 * The exponent p of a least-squares fit log wᵢ = c − p·log σᵢ: how the weights scale with the
 * task scale (p = 1: w ∝ 1/σ, which equalizes gradient norms here; p = 2: w ∝ 1/σ², which
 * equalizes loss magnitudes). NaN with fewer than two distinct σ.
 */
export function weightExponent(weights: readonly number[], sigmas: readonly number[]): number {
  const pts = weights.map((w, i) => [Math.log(Math.abs(sigmas[i]!)), Math.log(w)] as const).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (pts.length < 2) return NaN;
  const mx = pts.reduce((a, [x]) => a + x, 0) / pts.length;
  const my = pts.reduce((a, [, y]) => a + y, 0) / pts.length;
  const sxx = pts.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  const sxy = pts.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  return sxx === 0 ? NaN : -sxy / sxx;
}


/** Per label: mean and std over seeds of the normalized test loss, and of each task's loss ratio. */
export function summarize(runs: readonly ToyRunOutcome[]) {
  const byLabel = new Map<string, ToyRunOutcome[]>();
  for (const r of runs) byLabel.set(r.label, [...(byLabel.get(r.label) ?? []), r]);
  return [...byLabel.entries()].map(([label, rs]) => {
    const norm = rs.map((r) => r.normalizedTestLoss);
    const T = rs[0]!.tasks;
    const ratios = Array.from({ length: T }, (_, i) => mean(rs.map((r) => r.testLoss[i]! / r.initialTestLoss[i]!)));
    const weights = Array.from({ length: T }, (_, i) => mean(rs.map((r) => r.weights[i]!)));
    return {
      label,
      method: rs[0]!.method,
      seeds: rs.length,
      mean: mean(norm),
      std: stdOrZero(norm),
      ratios,
      weights,
      weightExponent: weightExponent(weights, rs[0]!.sigma),
      msPerStep: mean(rs.map((r) => r.msPerStep)),
      wallSeconds: mean(rs.map((r) => r.wallMs)) / 1000,
    };
  });
}

export async function compareCommand(o: CompareOptions): Promise<void> {
  const outDir = prepareOutDir(o.out, ["results.json", "report.html"]);
  checkCheckpointFlags(o);
  const specs = compareSpecs(o);
  const store = prepareStore(o.store);
  const plan = planThreads(o.threads, poolJobs(specs.length, o.workers), Math.max(...o.tasks.map((T) => toyFlopsPerStep(T, o.batchSize))));
  console.error(threadsLine(plan));
  const t0 = performance.now();
  const progress = progressReporter(specs.map((s) => `T=${s.data.numTasks} seed ${s.train.seed ?? 0} ${s.label ?? s.method}`), o.steps);
  let runs: ToyRunOutcome[];
  try {
    runs = await runPool(specs, "toy", { onProgress: progress, onResult: (i) => progress.finish(i), workers: o.workers, threads: plan.threads, store });
  } finally {
    progress.stop();
  }
  const wallS = (performance.now() - t0) / 1000;
  reportSkipped(runs);
  const experiments: Experiment[] = o.tasks.map((T) => {
    const rs = runs.filter((r) => r.tasks === T);
    const summary = summarize(rs);
    const statics = summary.filter((s) => s.method === "static").sort((a, b) => a.mean - b.mean);
    const fmt = (s: { mean: number; std: number; seeds: number }) => (s.seeds > 1 ? `${s.mean.toFixed(3)} ± ${s.std.toFixed(3)}` : `${s.mean.toFixed(3)}`);
    const gns = summary.filter((s) => s.method === "gradnorm");
    const notes = [
      `Normalized test loss Σ Lᵢ/Lᵢ(0), mean ± std over seeds ${o.seeds.join(", ")}${summary.some((x) => x.seeds === 1) && o.seeds.length > 1 ? ` (rows marked "1 seed": seed ${(o.extraSeeds ?? [0]).join(", ")} only)` : ""}; lower is better.`,
      `Best static grid point: ${statics[0]?.label} (${statics[0] ? fmt(statics[0]) : "none"}).`,
      `${gns.map((g) => `${g.label}: ${fmt(g)}`).join("; ")}; equal weights: ${fmt(summary.find((s) => s.method === "equal")!)}; uncertainty: ${fmt(summary.find((s) => s.method === "uncertainty")!)}.`,
    ];
    return { title: `T = ${T} tasks`, tasks: T, sigma: rs[0]!.sigma, runs: rs.map((r) => ({ ...r })), notes };
  });
  const report: ComparisonReport = {
    title: "lossbalance — GradNorm's synthetic experiment (Chen et al. 2018, §4)",
    generatedAt: new Date().toISOString(),
    command: o.command,
    settings: {
      ...compareSettings(o, plan.threads),
      wallSeconds: Math.round(wallS),
      ...compareProvenance(o, plan.threads),
    },
    experiments,
  };
  const jsonPath = saveOutput(join(outDir, "results.json"), JSON.stringify(report));
  const htmlPath = saveOutput(join(outDir, "report.html"), renderReport(store ? reportRunsFromStore(report, store) : report));
  if (o.json) {
    process.stdout.write(JSON.stringify({ settings: report.settings, experiments: experiments.map((e) => ({ tasks: e.tasks, sigma: e.sigma, summary: summarize(runs.filter((r) => r.tasks === e.tasks)) })) }) + "\n");
    return;
  }
  for (const e of experiments) {
    console.log(`\n${e.title}, σ = ${e.sigma.map((s) => s.toFixed(1)).join(", ")}`);
    const s = summarize(runs.filter((r) => r.tasks === e.tasks));
    const showTasks = e.tasks <= 4;
    console.log(
      formatTable(
        ["method", "Σ Lᵢ/Lᵢ(0) mean ± std", ...(showTasks ? e.sigma.map((_, i) => `L${i}/L${i}(0)`) : ["Lᵢ/Lᵢ(0) min", "max"]), ...(showTasks ? ["final w"] : []), "w ∝ σ^-p: p", "ms/step", "wall s"],
        s.map((r) => [
          r.label,
          r.seeds > 1 ? `${r.mean.toFixed(3)} ± ${r.std.toFixed(3)}` : `${r.mean.toFixed(3)} (1 seed)`,
          ...(showTasks ? r.ratios.map((x) => x.toFixed(3)) : [Math.min(...r.ratios).toFixed(3), Math.max(...r.ratios).toFixed(3)]),
          ...(showTasks ? [r.weights.map((w) => w.toPrecision(3)).join(" ")] : []),
          r.weightExponent.toFixed(2),
          r.msPerStep.toFixed(2),
          r.wallSeconds.toFixed(1),
        ]),
      ),
    );
    for (const n of e.notes ?? []) console.log(n);
  }
  console.log(`\n${runs.length} runs in ${wallS.toFixed(0)} s. Report: ${htmlPath}\nData: ${jsonPath}`);
}

/** A comparison's settings as results.json shows them (timings and provenance aside). */
function compareSettings(o: CompareOptions, threadsPerRun: number) {
  return {
    seeds: o.seeds,
    steps: o.steps,
    batchSize: o.batchSize,
    lr: o.lr,
    alpha: o.alpha,
    inputScale: o.inputScale,
    trainSize: o.trainSize,
    testSize: o.testSize,
    dataSeed: o.dataSeed,
    threadsPerRun,
  };
}

/**
 * The version and config hash of a comparison: its settings as in results.json (timings aside) and
 * the ones that pick the runs (task counts, extra methods, their tasks, seeds and gradient mode).
 */
export function compareProvenance(o: CompareOptions, threadsPerRun: number): { version: string; configHash: string } {
  return provenance({
    ...compareSettings(o, threadsPerRun),
    tasks: o.tasks,
    extraMethods: o.extraMethods ?? [],
    extraTasks: o.extraTasks ?? [],
    extraSeeds: o.extraSeeds ?? [],
    gradMode: o.gradMode,
    onNonFinite: o.onNonfinite ?? "stop",
  });
}

/**
 * The report with every run read back from the run store at `path` (its histories as recorded: float32,
 * thinned to 200 steps), when every run was recorded completely; otherwise the report as it is.
 */
export function reportRunsFromStore(report: ComparisonReport, path: string): ComparisonReport {
  const runs = report.experiments.flatMap((e) => e.runs as (RunSummary & { storeId?: number })[]);
  if (!runs.every((r) => r.storeId !== undefined)) return report;
  const store = openStore(path);
  try {
    return {
      ...report,
      experiments: report.experiments.map((e) => ({ ...e, runs: e.runs.map((r) => ({ ...storedRunSummary(store, (r as RunSummary & { storeId: number }).storeId), label: r.label ?? r.method })) })),
    };
  } finally {
    store.close();
  }
}
