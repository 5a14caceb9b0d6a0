import { join } from "node:path";
import { prepareOutDir, saveOutput } from "./output.js";
import { createBalancer } from "../balancers/registry.js";
import { statisticMode, type GradStatistic } from "../balancers/types.js";
import { toyData } from "../experiments/toyExperiment.js";
import { formatTable } from "./table.js";
import { planThreads, threadsLine, toyFlopsPerStep } from "./threads.js";
import { toyTrainDefaults } from "../experiments/toyRun.js";
import { prepareStore, runOne, toyRunInfo, type StoreFlag } from "./record.js";
import { configHash, packageVersion } from "../store/index.js";
import { nonFiniteSetting, reportSkipped } from "./options.js";
import type { NonFinitePolicy } from "../train/modelLoop.js";
import { checkCheckpointFlags, checkpointSpec, type CheckpointFlags } from "./checkpointFlags.js";

export interface ToyCommandOptions extends CheckpointFlags {
  tasks: number;
  method: string;
  alpha?: number;
  weights?: number[];
  temperature?: number;
  gradMode?: GradStatistic;
  opt?: Record<string, unknown>;
  steps: number;
  seed: number;
  dataSeed: number;
  batchSize: number;
  lr: number;
  inputScale: number;
  trainSize: number;
  testSize: number;
  out?: string;
  /** jax-js's threads for the run: 1 runs in this thread, more in a worker thread whose jax-js gets a pool of them. */
  threads: number | "auto";
  json?: boolean;
  /** `--store <path>` (a path) or `--no-store` (false); undefined: the default store. */
  store?: StoreFlag;
  /** `--on-nonfinite` (commander's attribute name): stop (default) or skip steps with non-finite values. */
  onNonfinite?: NonFinitePolicy;
}

/** Method options from CLI flags; flags that a method does not take are an error. */
export function methodOptions(o: Pick<ToyCommandOptions, "method" | "alpha" | "weights" | "temperature" | "gradMode" | "opt">): Record<string, unknown> {
  const opts: Record<string, unknown> = { ...o.opt };
  const reject = (flag: string) => {
    throw new Error(`--${flag} does not apply to method '${o.method}'`);
  };
  if (o.alpha !== undefined) (o.method === "gradnorm" ? (opts.alpha = o.alpha) : reject("alpha"));
  if (o.gradMode !== undefined) {
    const needs = createBalancer(o.method, o.method === "static" ? { weights: o.weights ?? [] } : {}).needs;
    if (statisticMode(needs) === undefined) reject("grad-mode");
    opts.gradMode = o.gradMode;
  }
  if (o.weights !== undefined) (o.method === "static" ? (opts.weights = o.weights) : reject("weights"));
  if (o.temperature !== undefined) (o.method === "dwa" ? (opts.temperature = o.temperature) : reject("temperature"));
  if (o.method === "static" && o.weights === undefined) throw new Error(`method 'static' needs --weights w1,w2,…`);
  if (o.method === "gradnorm" && opts.alpha === undefined) opts.alpha = 0.12; // the paper's α on this task
  return opts;
}

export async function toyCommand(o: ToyCommandOptions): Promise<void> {
  const options = methodOptions(o);
  createBalancer(o.method, options).init(o.tasks); // validate method, options and T before any work
  const outFile = `toy-T${o.tasks}-${o.method}-seed${o.seed}.json`;
  const outDir = o.out === undefined ? undefined : prepareOutDir(o.out, [outFile]);
  checkCheckpointFlags(o);
  const plan = planThreads(o.threads, 1, toyFlopsPerStep(o.tasks, o.batchSize, toyTrainDefaults.hidden));
  console.error(threadsLine(plan));
  const data = { numTasks: o.tasks, seed: o.dataSeed, inputScale: o.inputScale, trainSize: o.trainSize, testSize: o.testSize };
  const checkpoint = checkpointSpec(o);
  const spec = { method: o.method, options, data, train: { steps: o.steps, seed: o.seed, batchSize: o.batchSize, lr: o.lr, ...nonFiniteSetting(o.onNonfinite) }, ...(checkpoint ? { checkpoint } : {}) };
  const r = await runOne({ kind: "toy", spec }, plan.threads, prepareStore(o.store));
  const summary = {
    method: r.method,
    options: r.options,
    tasks: r.tasks,
    sigma: r.sigma,
    testLoss: r.testLoss,
    initialTestLoss: r.initialTestLoss,
    lossRatio: r.testLoss.map((l, i) => l / r.initialTestLoss[i]!),
    normalizedTestLoss: r.normalizedTestLoss,
    weights: r.weights,
    msPerStep: r.msPerStep,
    wallMs: r.wallMs,
    steps: o.steps,
    seed: o.seed,
    /** lossbalance's version, and the hash of the run's config (the same as its run store row's). */
    version: packageVersion() ?? "unknown",
    configHash: configHash(toyRunInfo(spec).config),
    threads: plan.threads,
    saturation: toyData(data).saturation,
    onNonFinite: o.onNonfinite ?? "stop",
    /** Steps skipped under --on-nonfinite skip: how many, and which. */
    skipped: r.skipped.length,
    skippedSteps: r.skipped.map((s) => s.step),
  };
  if (outDir !== undefined) {
    const file = saveOutput(join(outDir, outFile), JSON.stringify({ ...summary, history: r.history }, null, 1));
    if (!o.json) console.log(`wrote ${file}`);
  }
  if (o.json) {
    process.stdout.write(JSON.stringify(summary) + "\n");
    return;
  }
  reportSkipped([r]);
  console.log(`toy T=${o.tasks} method=${o.method} ${JSON.stringify(options)} steps=${o.steps} seed=${o.seed}`);
  console.log(
    formatTable(
      ["task", "σ", "test loss", "L/L(0)", "final w", "w·σ (norm.)"],
      r.sigma.map((s, i) => {
        const ws = r.weights.map((w, j) => w * r.sigma[j]!);
        const meanWs = ws.reduce((a, b) => a + b, 0) / ws.length;
        return [String(i), s.toFixed(2), r.testLoss[i]!.toPrecision(4), summary.lossRatio[i]!.toFixed(3), r.weights[i]!.toPrecision(4), (ws[i]! / meanWs).toFixed(3)];
      }),
    ),
  );
  console.log(`normalized test loss Σ Lᵢ/Lᵢ(0) = ${r.normalizedTestLoss.toFixed(4)}   ${r.msPerStep.toFixed(2)} ms/step`);
}
