/**
 * The run store's cost per training step: the toy network (T = 10, batch 32, GradNorm α = 0.12, so
 * each record carries losses, weights and gradient norms) on the async trainer, one trainer stepping
 * in alternation (ABBA) without and with `recorder.step` after every step (default flushing: a
 * commit every 256 steps or 1 s). Prints the medians, the overhead of the medians, and the
 * recorder's own mean time per step including its commits (the median hides the 1-in-256 commit),
 * as a share of the median step. Target: < 2 %.
 * Usage: node --import tsx bench/store.ts [--steps N] [--json]
 */
import { init, defaultDevice } from "@jax-js/jax";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gradNorm } from "../src/balancers/gradNorm.js";
import type { Balancer, BalancerState } from "../src/balancers/types.js";
import { toyTrainDefaults } from "../src/experiments/toyRun.js";
import { openStore } from "../src/store/index.js";
import type { StepRecord } from "../src/train/loop.js";
import { median } from "../src/util/stats.js";
import { toyStep, toyTrainer } from "./methods.js";
import { abba, toyBatches } from "./timing.js";

const args = process.argv.slice(2);
const json = args.includes("--json");
const stepsArg = args.indexOf("--steps");
const measured = stepsArg >= 0 ? Number(args[stepsArg + 1]) : 1000;
if (!Number.isInteger(measured) || measured <= 0) {
  console.error("bench: --steps must be a positive integer");
  process.exit(1);
}
const warmup = 30;
const T = 10;

await init("wasm");
defaultDevice("wasm");

const dir = mkdtempSync(join(tmpdir(), "lb-bench-store-"));
const store = openStore(join(dir, "runs.db"));
try {
  const batches = toyBatches(T, { trainSize: 1024, count: 32, seed: 1, batchSize: toyTrainDefaults.batchSize });
  const model = { inputDim: 250, hidden: toyTrainDefaults.hidden, outputDim: 100, numTasks: T };
  const trainer = toyTrainer(model, gradNorm({ alpha: 0.12 }) as Balancer<BalancerState>);
  const rec = store.startRun({ name: "bench", method: "gradnorm", tasks: T, config: model });
  const step = toyStep(trainer, batches, model);
  const recorderMs: number[] = [];
  let t = 0;
  const plain = (i: number) => step(i);
  const recorded = async (i: number) => {
    const r = (await step(i)) as StepRecord;
    const t0 = performance.now();
    rec.step(t++, r);
    recorderMs.push(performance.now() - t0);
  };
  const [plainMs, recordedMs] = await abba(plain, recorded, warmup, measured);
  rec.finish();
  trainer.dispose();
  const measuredRec = recorderMs.slice(warmup);
  const meanRec = measuredRec.reduce((a, b) => a + b, 0) / measuredRec.length;

  // The recorder alone on synthetic records, many steps: its cost with commits amortized.
  const synth = store.startRun({ name: "synthetic", tasks: T });
  const records = Array.from({ length: 64 }, (_, k) => ({ losses: Array.from({ length: T }, (_, i) => 1 / (k + i + 1)), weights: Array.from({ length: T }, () => 1), gradNorms: Array.from({ length: T }, (_, i) => i + k) }));
  const n = 50_000;
  const s0 = performance.now();
  for (let i = 0; i < n; i++) synth.step(i, records[i % 64]!);
  synth.finish();
  const synthUs = ((performance.now() - s0) / n) * 1000;

  const out = {
    tasks: T,
    batchSize: toyTrainDefaults.batchSize,
    measuredSteps: measured,
    plainMedianMs: plainMs,
    recordedMedianMs: recordedMs,
    medianOverheadPct: (recordedMs / plainMs - 1) * 100,
    recorderMeanUsPerStep: meanRec * 1000,
    recorderMedianUsPerStep: median(measuredRec) * 1000,
    recorderSharePct: (meanRec / plainMs) * 100,
    recorderAloneUsPerStep: synthUs,
  };
  if (json) console.log(JSON.stringify(out));
  else {
    console.log(`toy MLP, T = ${T}, batch ${out.batchSize}, GradNorm; ${measured} measured steps each (ABBA)`);
    console.log(`  training step, median             ${plainMs.toFixed(3)} ms`);
    console.log(`  training step + record, median    ${recordedMs.toFixed(3)} ms   (${out.medianOverheadPct >= 0 ? "+" : ""}${out.medianOverheadPct.toFixed(2)} %)`);
    console.log(`  recorder.step, mean incl. commits ${out.recorderMeanUsPerStep.toFixed(1)} µs   (median ${out.recorderMedianUsPerStep.toFixed(1)} µs) = ${out.recorderSharePct.toFixed(2)} % of a step   [target < 2 %]`);
    console.log(`  recorder alone, ${n} synthetic steps: ${synthUs.toFixed(2)} µs/step`);
  }
} finally {
  store.close();
  rmSync(dir, { recursive: true, force: true });
}
