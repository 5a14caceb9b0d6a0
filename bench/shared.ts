/**
 * The `shared` gradient mode's cost: ms/step of equal weights and, with per-task statistics over all
 * shared parameters (`gradMode: 'shared'`), GradNorm and every Gramian method, on the toy network
 * (250 → 4 ReLU layers of 100, T linear heads of 100, squared loss) with the built-in MLP's fast tier
 * on the async trainer (bench/methods.ts's `toyTrainer`), single-threaded wasm. For each T and batch
 * size all trainers advance in alternation, one step each per round in rotating order
 * (timing.ts's `interleaved`), so that drifts of the machine's speed hit all alike; each figure is the
 * median over the measured rounds, the ratio is to equal weights' median of the same run. Then, for
 * each trainer, the kernels (wasm dispatches) one step runs, counted by jax-js's profiler outside the
 * timing.
 * Usage: npm run bench:shared [-- --steps N] [-- --warmup N] [-- --tasks 10,2] [-- --batch 100,32]
 *        [-- --methods mgda,upgrad] [-- --no-kernels] [-- --json]
 */
import { init, defaultDevice, profiler } from "@jax-js/jax";
import { createBalancer } from "../src/balancers/registry.js";
import { toyTrainDefaults } from "../src/experiments/toyRun.js";
import { formatTable } from "../src/cli/table.js";
import { median } from "../src/util/stats.js";
import { statisticMethods, toyStep, toyTrainer } from "./methods.js";
import { interleaved, toyBatches } from "./timing.js";

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const ints = (name: string, fallback: string, min: number) => {
  const v = (flag(name) ?? fallback).split(",").map(Number);
  if (!v.every((n) => Number.isInteger(n) && n >= min)) {
    console.error(`bench:shared: ${name} must be integers ≥ ${min} (comma-separated)`);
    process.exit(1);
  }
  return v;
};
const json = args.includes("--json");
const [measured] = ints("--steps", "30", 1) as [number];
const [warmup] = ints("--warmup", "5", 0) as [number];
const tasks = ints("--tasks", "10,2", 2);
const batches = ints("--batch", "100,32", 1);
const countKernels = !args.includes("--no-kernels");
const known = statisticMethods();
const methods = flag("--methods")?.split(",") ?? known;
for (const m of methods) {
  if (!known.includes(m)) {
    console.error(`bench:shared: '${m}' takes no gradient mode (${known.join(", ")})`);
    process.exit(1);
  }
}

await init("wasm");
defaultDevice("wasm");

/** The kernels one call of `run` dispatches, from the profiler's trace (one performance measure per dispatch). */
async function kernelsOf(run: () => Promise<unknown>): Promise<number> {
  performance.clearMeasures();
  profiler.startTrace();
  try {
    await run();
  } finally {
    profiler.stopTrace();
  }
  const n = (performance.getEntriesByType("measure") as PerformanceMeasure[]).filter((e) => (e.detail as { devtools?: { trackGroup?: string } } | null)?.devtools?.trackGroup === "JAX Profiler").length;
  performance.clearMeasures();
  return n;
}

type Row = { method: string; msPerStep: number; ratioToEqual: number; kernelsPerStep?: number };
const results: Record<string, Row[]> = {};
const t0 = performance.now();
for (const T of tasks) {
  for (const B of batches) {
    const data = toyBatches(T, { trainSize: 1024, count: 16, seed: 4, batchSize: B });
    const model = { inputDim: 250, hidden: toyTrainDefaults.hidden, outputDim: 100, numTasks: T };
    const labels = ["equal", ...methods];
    const trainers = labels.map((m) => toyTrainer(model, m === "equal" ? createBalancer("equal") : createBalancer(m, { gradMode: "shared" })));
    const steps = trainers.map((tr) => toyStep(tr, data, model));
    const times = await interleaved(steps, warmup, measured);
    const kernels: number[] = [];
    if (countKernels) for (const s of steps) kernels.push(await kernelsOf(async () => s(warmup + measured)));
    trainers.forEach((tr) => tr.dispose());
    const eq = median(times[0]!);
    const rows = labels.map((method, k) => {
      const ms = median(times[k]!);
      const row: Row = { method: k === 0 ? "equal" : `${method} shared`, msPerStep: ms, ratioToEqual: ms / eq };
      if (countKernels) row.kernelsPerStep = kernels[k]!;
      return row;
    });
    results[`T${T}B${B}`] = rows;
    if (!json) console.error(`T=${T} batch ${B}: done (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
}
const wallS = (performance.now() - t0) / 1000;
if (json) {
  process.stdout.write(JSON.stringify({ results, steps: measured, warmup, node: process.version }) + "\n");
} else {
  const cols = Object.keys(results);
  const head = ["method", ...cols.flatMap((c) => [`${c.replace("B", " B=").replace("T", "T=")} ms`, "ratio"]), ...(countKernels ? cols.map((c) => `kernels ${c.replace("B", " B=").replace("T", "T=")}`) : [])];
  const names = results[cols[0]!]!.map((r) => r.method);
  const body = names.map((name, i) => [
    name,
    ...cols.flatMap((c) => {
      const r = results[c]![i]!;
      return [r.msPerStep.toFixed(2), r.ratioToEqual.toFixed(2)];
    }),
    ...(countKernels ? cols.map((c) => String(results[c]![i]!.kernelsPerStep)) : []),
  ]);
  console.log(formatTable(head, body));
  console.log(`(single-threaded wasm; median of ${measured} interleaved steps after ${warmup} warm-up rounds; kernels = wasm dispatches in one step; ${wallS.toFixed(0)} s in all)`);
}
