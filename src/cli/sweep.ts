import { appendFileSync, existsSync, readFileSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { poolJobs, runPool } from "./pool.js";
import { planThreads, threadsLine, multiFlopsPerStep } from "./threads.js";
import { fallbackPath, prepareOutDir, reason, saveOutput } from "./output.js";
import { progressReporter } from "./progress.js";
import { prepareStore } from "./record.js";
import { provenance } from "../store/configHash.js";
import { formatTable } from "./table.js";
import { summarizeSweep, sweepPoints, type SweepSettings } from "../experiments/sweep.js";
import type { MultiRunOutcome } from "../experiments/multiExperiment.js";
import { defaultHidden, multiTitle, type MultiKind } from "../experiments/multiRun.js";
import { nonFiniteSetting, reportSkipped, type MultiTrainCliOptions } from "./options.js";

export interface SweepOptions extends MultiTrainCliOptions {
  dataset: MultiKind;
  grid: number;
  alpha: number[];
  out: string;
}

/** One finished run, as a line of the sweep's record file. */
interface SweepRecord {
  key: string;
  outcome: MultiRunOutcome;
}

/**
 * Finished runs saved by earlier (possibly interrupted) sweeps, by key. A last line cut short by
 * an interruption is dropped from the file (it was never a saved run); any other unreadable line
 * is an error, and the file is left as it is.
 */
export function readRecords(file: string): Map<string, MultiRunOutcome> {
  const done = new Map<string, MultiRunOutcome>();
  if (!existsSync(file)) return done;
  const text = readFileSync(file, "utf8");
  const complete = text.endsWith("\n") || text === "" ? text : text.slice(0, text.lastIndexOf("\n") + 1);
  if (complete.length < text.length) truncateSync(file, Buffer.byteLength(complete));
  complete
    .split("\n")
    .filter((l) => l.trim() !== "")
    .forEach((line, i) => {
      let rec: SweepRecord;
      try {
        rec = JSON.parse(line) as SweepRecord;
      } catch {
        throw new Error(`${file}, line ${i + 1}: not a sweep record (unreadable JSON); move the file away to start a new sweep`);
      }
      if (typeof rec?.key !== "string" || !Array.isArray(rec.outcome?.testAccuracy)) throw new Error(`${file}, line ${i + 1}: not a sweep record`);
      done.set(rec.key, rec.outcome);
    });
  return done;
}

/** Appends one finished run as a single write, so an interruption can cut at most this line. */
export function appendRecord(file: string, key: string, outcome: MultiRunOutcome): void {
  appendFileSync(file, JSON.stringify({ key, outcome } satisfies SweepRecord) + "\n");
}

/**
 * Appends records to `file`; if an append fails (the folder was removed, the disk is full, …), that
 * record and every later one go to a new file in the system's temporary folder instead, with one line
 * on stderr saying where, so no finished run is lost. Returns the append function and the file in use.
 */
export function recordSink(file: string): { append: (key: string, outcome: MultiRunOutcome) => void; readonly file: string } {
  let target = file;
  return {
    append(key, outcome) {
      try {
        appendRecord(target, key, outcome);
      } catch (e) {
        if (target !== file) throw e;
        target = fallbackPath(file);
        appendRecord(target, key, outcome);
        console.error(`\nsweep: could not append to ${file} (${reason(e)}); this and later runs are saved in ${target} (append its lines to ${file} to resume from them)`);
      }
    },
    get file() {
      return target;
    },
  };
}

const pct = (x: number) => (100 * x).toFixed(2);

export async function sweepCommand(options: SweepOptions): Promise<void> {
  // `store` is where the runs are recorded, not a setting of the sweep: kept out of the saved settings.
  const { store: storeFlag, ...o } = options;
  const settings: SweepSettings = {
    dataset: o.dataset,
    grid: o.grid,
    alphas: o.alpha,
    seeds: o.seeds,
    dataSeed: o.dataSeed,
    train: { epochs: o.epochs, batchSize: o.batchSize, lr: o.lr, encoder: o.encoder, hidden: o.hidden, ...nonFiniteSetting(o.onNonfinite) },
  };
  const points = sweepPoints(settings);
  const outDir = prepareOutDir(o.out, ["sweep.jsonl", "sweep.json"]);
  const file = join(outDir, "sweep.jsonl");
  const saved = readRecords(file);
  const sink = recordSink(file);
  const keys = new Set(points.map((p) => p.key));
  const outcomes = new Map([...saved].filter(([k]) => keys.has(k)));
  const todo = points.filter((p) => !outcomes.has(p.key));
  console.error(
    `sweep: ${points.length} runs (${o.grid} static grid points${o.alpha.length ? ` and GradNorm α = ${o.alpha.join(", ")}` : ""}, seeds ${o.seeds.join(", ")}); ` +
      `${outcomes.size} already in ${file}, ${todo.length} to run` +
      (saved.size > outcomes.size ? ` (${saved.size - outcomes.size} saved runs with other settings are kept but not used)` : ""),
  );
  const store = todo.length > 0 ? prepareStore(storeFlag) : null;
  const plan = planThreads(o.threads, poolJobs(todo.length, o.workers), multiFlopsPerStep(o.encoder, o.hidden ?? defaultHidden[o.encoder], o.batchSize));
  if (todo.length > 0) console.error(threadsLine(plan));
  const onInterrupt = () => {
    console.error(`\nsweep interrupted: ${outcomes.size} of ${points.length} runs are saved in ${sink.file}; run the same command again to resume.`);
    process.exit(130);
  };
  process.once("SIGINT", onInterrupt);
  const t0 = performance.now();
  const progress = progressReporter(todo.map((p) => `${p.label} seed ${p.spec.train.seed}`), o.epochs, false);
  try {
    if (todo.length > 0)
      await runPool(
      todo.map((p) => p.spec),
      "multi",
      {
        onProgress: progress,
        onResult: (i, r) => {
          sink.append(todo[i]!.key, r);
          outcomes.set(todo[i]!.key, r);
          progress.finish(i);
        },
        workers: o.workers,
        threads: plan.threads,
        store,
      },
    );
  } finally {
    progress.stop();
    process.removeListener("SIGINT", onInterrupt);
  }
  const wallS = (performance.now() - t0) / 1000;
  reportSkipped([...outcomes.values()]);
  const summary = summarizeSweep(points, outcomes);
  const base = { ...o, threadsPerRun: plan.threads };
  const report = { settings: { ...base, wallSeconds: wallS, resumed: points.length - todo.length, ran: todo.length, ...provenance(base) }, summary };
  const summaryFile = saveOutput(join(outDir, "sweep.json"), JSON.stringify(report));
  if (o.json) {
    process.stdout.write(JSON.stringify(report) + "\n");
    return;
  }
  console.log(`\nSweep on ${multiTitle(o.dataset)}: mean test accuracy over both tasks (mean ± std over seeds ${o.seeds.join(", ")})`);
  console.log(
    formatTable(
      ["point", "final weights", "validation %", "test %"],
      summary.rows.map((r) => [r.label, r.weights.map((w) => w.toFixed(3)).join(", "), pct(r.validation[0]), `${pct(r.test[0])} ± ${pct(r.test[1])}`]),
    ),
  );
  if (summary.selected) console.log(`\nGrid search pick (best validation): ${summary.selected.label}, test ${pct(summary.selected.test[0])} %; best test in the grid: ${summary.bestTest!.label}, ${pct(summary.bestTest!.test[0])} %.`);
  for (const g of summary.gradnorm) console.log(`${g.label}: test ${pct(g.test)} %, better than ${g.beats} of ${g.of} static grid points (percentile ${(100 * g.percentile).toFixed(0)}).`);
  console.log(`\n${todo.length} runs in ${wallS.toFixed(0)} s (${points.length - todo.length} resumed from ${file}). Summary: ${summaryFile}`);
}
