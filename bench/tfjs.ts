/**
 * Step-time benchmark of lossbalance/tfjs: equal weights, GradNorm (gradients at the last shared
 * layer, `lastShared`) and MGDA (gradients at the representation) trained through TF.js's
 * `createTfjsTrainer` on the toy network of the synthetic experiment — input 250, a shared trunk of
 * 4 Dense(100, relu), T linear Dense(100) heads, MSE per head, batch 32 (toyTrainDefaults) — on the
 * backends `cpu` and `wasm`, for T = 2 and T = 10.
 *
 * The three trainers start from the same weights (seeded initializers) and see the same batches
 * (seeded tf.randomNormal, already on the backend: no upload inside the timed step). They advance
 * in alternation, one step each per round, the order changing from round to round (every rotation of
 * the methods, forwards then backwards: ABBA for two, a Williams design for three) so that drifts of
 * the machine's speed and the effects of the step run just before hit every method alike. Each figure
 * is the median over the measured rounds, and the ratios are between medians of the same run.
 * A step ends with its losses read back (`await observed.data()`), so a timed step is the whole step.
 *
 * Tensors: the live-tensor count is checked around every measured step (a step must leave none behind)
 * and before/after each backend × T run (data, models, optimizers and trainers disposed).
 * Usage: npm run bench:tfjs [-- --steps N] [-- --warmup N] [-- --backends cpu,wasm] [-- --tasks 2,10] [-- --json]
 */
import { loadavg } from "node:os";
import { Command, InvalidArgumentError, Option } from "commander";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { createTfjsTrainer, type TfjsTrainer } from "../src/tfjs/index.js";
import { createBalancer } from "../src/balancers/registry.js";
import { toyTrainDefaults } from "../src/experiments/toyRun.js";
import { distinct, intList, nonNegativeInt, positiveInt } from "../src/cli/options.js";
import { median } from "../src/util/stats.js";
import { interleaved } from "./timing.js";

const backendNames = ["cpu", "wasm"] as const;
type BackendName = (typeof backendNames)[number];

function backendList(value: string): BackendName[] {
  const out = value.split(",").map((s) => s.trim());
  for (const b of out) if (!(backendNames as readonly string[]).includes(b)) throw new InvalidArgumentError(`'${b}' is not one of ${backendNames.join(", ")}`);
  if (new Set(out).size !== out.length) throw new InvalidArgumentError("lists a backend twice");
  return out as BackendName[];
}

function taskList(value: string): number[] {
  const out = distinct(intList)(value);
  if (!out.every((T) => T >= 2)) throw new InvalidArgumentError("task counts must be ≥ 2");
  return out;
}

const program = new Command()
  .name("bench:tfjs")
  .description("ms/step of equal weights, GradNorm (lastShared) and MGDA (representation) through lossbalance/tfjs")
  .addOption(new Option("--steps <n>", "measured rounds (one step of each method per round)").argParser(positiveInt).default(120))
  .addOption(new Option("--warmup <n>", "warm-up rounds, not timed").argParser(nonNegativeInt).default(10))
  .addOption(new Option("--backends <list>", "TF.js backends").argParser(backendList).default([...backendNames]))
  .addOption(new Option("--tasks <list>", "task counts T").argParser(taskList).default([2, 10]))
  .addOption(new Option("--batches <n>", "distinct random batches, used in turn").argParser(positiveInt).default(8))
  .option("--json", "print one JSON object to stdout instead of the table")
  .parse();
const opts = program.opts<{ steps: number; warmup: number; backends: BackendName[]; tasks: number[]; batches: number; json?: boolean }>();
const json = opts.json === true;
const log = (line: string) => {
  if (!json) console.log(line);
};

const D = 250;
const O = 100;
const { hidden, batchSize: B, lr } = toyTrainDefaults;

const methods = [
  { key: "equal", label: "equal", balancer: () => createBalancer("equal") },
  { key: "gradnorm", label: "GradNorm (lastShared)", balancer: () => createBalancer("gradnorm", { gradMode: "lastShared" }) },
  { key: "mgda", label: "MGDA (representation)", balancer: () => createBalancer("mgda", { gradMode: "representation" }) },
] as const;
type MethodKey = (typeof methods)[number]["key"];

/** The toy network as a functional model; every initializer seeded, so two calls give the same weights. */
function toyModel(T: number): tf.LayersModel {
  const input = tf.input({ shape: [D], name: "x" });
  let h: tf.SymbolicTensor = input;
  hidden.forEach((units, l) => {
    h = tf.layers.dense({ units, activation: "relu", name: `shared${l + 1}`, kernelInitializer: tf.initializers.glorotUniform({ seed: 100 + l }) }).apply(h) as tf.SymbolicTensor;
  });
  const outputs = Array.from(
    { length: T },
    (_, t) => tf.layers.dense({ units: O, name: `task${t + 1}`, kernelInitializer: tf.initializers.glorotUniform({ seed: 200 + t }) }).apply(h) as tf.SymbolicTensor,
  );
  return tf.model({ inputs: input, outputs });
}

interface CellResult {
  backend: BackendName;
  tasks: number;
  msPerStep: Record<MethodKey, number>;
  ratioToEqual: { gradnorm: number; mgda: number };
  /** Median over rounds of the per-round ratio (a check on the ratio of medians). */
  roundRatioMedian: { gradnorm: number; mgda: number };
  wallSeconds: number;
}

async function measure(backend: BackendName, T: number): Promise<CellResult> {
  const wall0 = performance.now();
  const tensors0 = tf.memory().numTensors;
  const xs = Array.from({ length: opts.batches }, (_, b) => tf.randomNormal([B, D], 0, 1, "float32", 1000 * T + b));
  const yss = Array.from({ length: opts.batches }, (_, b) => Array.from({ length: T }, (_, t) => tf.randomNormal([B, O], 0, 1, "float32", 1_000_000 + 1000 * T + 100 * b + t)));
  const runs = methods.map((m) => {
    const model = toyModel(T);
    const optimizer = tf.train.adam(lr);
    const trainer: TfjsTrainer = createTfjsTrainer({ model, loss: "meanSquaredError", balancer: m.balancer(), optimizer });
    return { method: m, model, optimizer, trainer };
  });
  const leaks: string[] = [];
  const steps = runs.map((r) => (i: number) => r.trainer.step(xs[i % xs.length]!, yss[i % yss.length]!));
  let before = 0;
  const times = await interleaved(steps, opts.warmup, opts.steps, {
    before: () => void (before = tf.memory().numTensors),
    after: (k) => {
      const after = tf.memory().numTensors;
      if (after !== before && leaks.length < 5) leaks.push(`${runs[k]!.method.key}: ${after - before} tensors across one step`);
    },
  });
  for (const r of runs) {
    if (!r.trainer.weights.every(Number.isFinite)) throw new Error(`${backend} T=${T} ${r.method.key}: non-finite weights ${r.trainer.weights.join(", ")}`);
    r.model.dispose();
    r.optimizer.dispose();
  }
  tf.dispose([...xs, ...yss.flat()]);
  const tensors1 = tf.memory().numTensors;
  if (tensors1 !== tensors0) leaks.push(`${tensors1 - tensors0} tensors left after the run (before ${tensors0}, after ${tensors1})`);
  if (leaks.length) throw new Error(`bench:tfjs: tensors leak on ${backend}, T = ${T}: ${leaks.join("; ")}`);
  const med = times.map(median);
  const byRound = (k: number) => median(times[k]!.map((ms, i) => ms / times[0]![i]!));
  return {
    backend,
    tasks: T,
    msPerStep: { equal: med[0]!, gradnorm: med[1]!, mgda: med[2]! },
    ratioToEqual: { gradnorm: med[1]! / med[0]!, mgda: med[2]! / med[0]! },
    roundRatioMedian: { gradnorm: byRound(1), mgda: byRound(2) },
    wallSeconds: (performance.now() - wall0) / 1000,
  };
}

const results: CellResult[] = [];
const load0 = loadavg()[0]!;
const t0 = performance.now();
for (const backend of opts.backends) {
  if (!(await tf.setBackend(backend))) throw new Error(`bench:tfjs: backend '${backend}' failed to initialize`);
  await tf.ready();
  for (const T of opts.tasks) {
    const r = await measure(backend, T);
    results.push(r);
    if (!json) process.stderr.write(`${backend} T=${T}: ${r.wallSeconds.toFixed(1)} s\n`);
  }
}
const wallSeconds = (performance.now() - t0) / 1000;
/** The 1-minute load average before and after: on a shared machine, other processes slow every method (the ratios less so). */
const load = [load0, loadavg()[0]!];

if (json) {
  const meta = { steps: opts.steps, warmup: opts.warmup, batches: opts.batches, batchSize: B, hidden, tfjs: tf.version.tfjs, node: process.version, wallSeconds, loadAverage: load };
  process.stdout.write(JSON.stringify({ ...meta, results }) + "\n");
} else {
  const ms = (x: number) => x.toFixed(2);
  const cell = (x: number, ratio: number) => `${ms(x)} (×${ratio.toFixed(2)})`;
  log("");
  log("| backend | T | equal ms/step | GradNorm ms/step (×equal) | MGDA ms/step (×equal) |");
  log("|---|---:|---:|---:|---:|");
  for (const r of results) {
    log(`| ${r.backend} | ${r.tasks} | ${ms(r.msPerStep.equal)} | ${cell(r.msPerStep.gradnorm, r.ratioToEqual.gradnorm)} | ${cell(r.msPerStep.mgda, r.ratioToEqual.mgda)} |`);
  }
  log("");
  log(
    `Median of ${opts.steps} interleaved steps per method after ${opts.warmup} warm-up rounds; batch ${B}, input ${D}, trunk ${hidden.join("-")} (relu), ` +
      `T heads of ${O}, MSE, Adam ${lr}; GradNorm gradMode lastShared, MGDA gradMode representation; ratios between medians of the same run. ` +
      `TF.js ${tf.version.tfjs}, Node ${process.version}; ${wallSeconds.toFixed(0)} s in all; load average ${load.map((l) => l.toFixed(1)).join(" → ")}; no tensor left behind.`,
  );
}
