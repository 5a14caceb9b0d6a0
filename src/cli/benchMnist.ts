import { join } from "node:path";
import { poolJobs, runPool } from "./pool.js";
import { planThreads, threadsLine, multiFlopsPerStep } from "./threads.js";
import { defaultHidden } from "../experiments/multiRun.js";
import { prepareOutDir, saveOutput } from "./output.js";
import { progressReporter } from "./progress.js";
import { prepareStore } from "./record.js";
import { provenance } from "../store/configHash.js";
import { formatTable } from "./table.js";
import { mean, stdOrZero } from "../util/stats.js";
import { deltaM } from "../metrics/deltaM.js";
import { multiTitle, type MultiKind } from "../experiments/multiRun.js";
import { nonFiniteSetting, reportSkipped, type MultiTrainCliOptions } from "./options.js";
import { statisticMode, type GradStatistic } from "../balancers/types.js";
import { createBalancer } from "../balancers/registry.js";
import { stemModeProblem } from "../models/conv.js";
import type { MultiRunOutcome, MultiRunSpec } from "../experiments/multiExperiment.js";
import { checkCheckpointFlags, runFolderName, withRunCheckpoints, type CheckpointFlags } from "./checkpointFlags.js";

export interface BenchMnistOptions extends MultiTrainCliOptions, CheckpointFlags {
  datasets: MultiKind[];
  methods: string[];
  gradMode?: GradStatistic;
  out: string;
}

const SINGLE = ["single left", "single right"] as const;

/** A run's checkpoint subfolder: dataset, seed and label. */
export const runFolder = (s: MultiRunSpec) => runFolderName(s.dataset, `seed${s.train.seed ?? 0}`, s.label ?? s.method);

/**
 * Single-task networks (weight 1 on one task, 0 on the other: the other head is never trained) and
 * every method, per seed; each run checkpointed in its own subfolder when the flags ask for it.
 */
export function benchSpecs(o: BenchMnistOptions): MultiRunSpec[] {
  const specs: MultiRunSpec[] = [];
  for (const dataset of o.datasets)
    for (const seed of o.seeds) {
      const train = { epochs: o.epochs, batchSize: o.batchSize, lr: o.lr, encoder: o.encoder, hidden: o.hidden, seed, ...nonFiniteSetting(o.onNonfinite) };
      specs.push({ method: "static", label: SINGLE[0], options: { weights: [1, 0] }, dataset, dataSeed: o.dataSeed, train });
      specs.push({ method: "static", label: SINGLE[1], options: { weights: [0, 1] }, dataset, dataSeed: o.dataSeed, train });
      for (const m of o.methods) {
        const mode = gradModeFor(m, o);
        specs.push({ method: m, ...(mode ? { label: `${m} (${mode})`, options: { gradMode: mode } } : {}), dataset, dataSeed: o.dataSeed, train });
      }
    }
  return withRunCheckpoints(o, specs, runFolder);
}

/**
 * The gradient mode a method runs in, when it differs from its default: `--grad-mode` for every
 * method that takes one; with the LeNet encoder, 'representation' for the methods that default to
 * 'shared' (per-task gradients through the convolutions are not computed; MGDA becomes MGDA-UB).
 */
export function gradModeFor(method: string, o: Pick<BenchMnistOptions, "gradMode" | "encoder">): GradStatistic | undefined {
  const needs = createBalancer(method).needs;
  const mode = statisticMode(needs);
  if (!mode) return undefined;
  if (o.gradMode) return o.gradMode === mode ? undefined : o.gradMode;
  return o.encoder === "lenet" && stemModeProblem(mode) ? "representation" : undefined;
}


/**
 * Per dataset and method: test accuracy per task (mean ± std over seeds) and Δm% against the
 * single-task networks of the same seed (left task from "single left", right from "single right").
 */
export function summarizeBench(runs: readonly MultiRunOutcome[]) {
  const out: Record<string, { label: string; seeds: number; left: [number, number]; right: [number, number]; deltaM: [number, number] }[]> = {};
  for (const dataset of [...new Set(runs.map((r) => r.dataset))]) {
    const rs = runs.filter((r) => r.dataset === dataset);
    const single = (seed: number) => ({
      left: rs.find((r) => r.label === SINGLE[0] && r.seed === seed)!.testAccuracy[0]!,
      right: rs.find((r) => r.label === SINGLE[1] && r.seed === seed)!.testAccuracy[1]!,
    });
    const labels = [...new Set(rs.map((r) => r.label))];
    out[dataset] = labels.map((label) => {
      const group = rs.filter((r) => r.label === label);
      const left = label === SINGLE[1] ? [] : group.map((r) => r.testAccuracy[0]!);
      const right = label === SINGLE[0] ? [] : group.map((r) => r.testAccuracy[1]!);
      const dm = label.startsWith("single")
        ? [0]
        : group.map((r) => {
            const b = single(r.seed);
            return deltaM([
              { value: r.testAccuracy[0]!, baseline: b.left, higherIsBetter: true },
              { value: r.testAccuracy[1]!, baseline: b.right, higherIsBetter: true },
            ]);
          });
      const ms = (a: number[]): [number, number] => (a.length ? [mean(a), stdOrZero(a)] : [Number.NaN, Number.NaN]);
      return { label, seeds: group.length, left: ms(left), right: ms(right), deltaM: ms(dm) };
    });
  }
  return out;
}

export async function benchMnistCommand(options: BenchMnistOptions): Promise<void> {
  // `store` is where the runs are recorded, not a setting of the benchmark: kept out of the saved settings.
  // Nor are the checkpoint flags: a resumed benchmark has the settings of the one it continues.
  const { store: storeFlag, checkpointEvery, checkpointDir, resume, ...o } = options;
  const outDir = prepareOutDir(o.out, ["bench-mnist.json"]);
  const flags = { checkpointEvery, checkpointDir, resume };
  checkCheckpointFlags(flags);
  const specs = benchSpecs({ ...o, ...flags });
  const store = prepareStore(storeFlag);
  const plan = planThreads(o.threads, poolJobs(specs.length, o.workers), multiFlopsPerStep(o.encoder, o.hidden ?? defaultHidden[o.encoder], o.batchSize));
  console.error(threadsLine(plan));
  const t0 = performance.now();
  const progress = progressReporter(specs.map((s) => `${s.dataset} seed ${s.train.seed} ${s.label ?? s.method}`), o.epochs, false);
  let runs: MultiRunOutcome[];
  try {
    runs = await runPool(specs, "multi", { onProgress: progress, onResult: (i) => progress.finish(i), workers: o.workers, threads: plan.threads, store });
  } finally {
    progress.stop();
  }
  reportSkipped(runs);
  const summary = summarizeBench(runs);
  const wallS = (performance.now() - t0) / 1000;
  const base = { ...o, threadsPerRun: plan.threads };
  const settings = { ...base, wallSeconds: wallS, ...provenance(base) };
  const file = saveOutput(join(outDir, "bench-mnist.json"), JSON.stringify({ settings, summary, runs }));
  if (o.json) {
    process.stdout.write(JSON.stringify({ settings, summary }) + "\n");
    return;
  }
  const pct = ([m, s]: [number, number], n: number) => (Number.isNaN(m) ? "—" : n > 1 ? `${(100 * m).toFixed(2)} ± ${(100 * s).toFixed(2)}` : (100 * m).toFixed(2));
  for (const [dataset, rows] of Object.entries(summary)) {
    console.log(`\n${multiTitle(dataset as MultiKind)} — test accuracy % (seeds ${o.seeds.join(", ")}), Δm % vs single-task (positive = better)`);
    console.log(
      formatTable(
        ["method", "left", "right", "Δm %"],
        rows.map((r) => [r.label, pct(r.left, r.seeds), pct(r.right, r.seeds), r.label.startsWith("single") ? "0 (baseline)" : r.seeds > 1 ? `${r.deltaM[0].toFixed(2)} ± ${r.deltaM[1].toFixed(2)}` : r.deltaM[0].toFixed(2)]),
      ),
    );
  }
  console.log(`\n${runs.length} runs in ${wallS.toFixed(0)} s. Data: ${file}`);
}
