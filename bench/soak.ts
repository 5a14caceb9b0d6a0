/**
 * Soak test: one long run of the T = 10 synthetic task (the built-in MLP, GradNorm α = 0.12, batch 32,
 * Adam 1e-3 — `runToy`, as `lossbalance toy --tasks 10` runs it) with the process's memory sampled
 * every `--every` steps:
 * - rss: process.memoryUsage().rss (the whole process: V8 heap, wasm memory, native allocations);
 * - heapUsed: the V8 JS heap;
 * - wasm: the byte length of jax-js's WebAssembly.Memory (its device heap: a bump allocator with free
 *   lists by size class, which grows by 64 KiB pages and never shrinks). jax-js does not export its
 *   backend and keeps the Memory in a private field, so this script wraps the WebAssembly.Memory
 *   constructor before jax-js creates its backend and reads every Memory made since (one here);
 * - live: jax-js wasm buffers allocated and not yet freed (test/helpers/liveBuffers.ts).
 * Verdict: growth of rss and wasm from the sample at `--warmup` (default 10 % of the steps) to the last
 * sample under 5 %, and the live-buffer count at the end no higher than at the warm-up sample.
 *
 *   npm run soak -- [--steps 100000] [--every 1000] [--warmup 10000] [--json]
 */
import { parseArgs } from "node:util";

const memories: WebAssembly.Memory[] = [];
const OriginalMemory = WebAssembly.Memory;
WebAssembly.Memory = new Proxy(OriginalMemory, {
  construct(target, args, newTarget) {
    const m = Reflect.construct(target, args, newTarget) as WebAssembly.Memory;
    memories.push(m);
    return m;
  },
});

const { values } = parseArgs({
  options: {
    steps: { type: "string", default: "100000" },
    every: { type: "string", default: "1000" },
    warmup: { type: "string" },
    tasks: { type: "string", default: "10" },
    json: { type: "boolean", default: false },
  },
});
const int = (name: string, v: string | undefined, min: number) => {
  const n = Number(v);
  if (!/^\d+$/.test(v ?? "") || !Number.isSafeInteger(n) || n < min) {
    console.error(`soak: --${name} must be an integer ≥ ${min}, got ${v}`);
    process.exit(1);
  }
  return n;
};
const steps = int("steps", values.steps, 1);
const every = int("every", values.every, 1);
const tasks = int("tasks", values.tasks, 2);
const warmup = values.warmup === undefined ? Math.min(10_000, Math.floor(steps / 10)) : int("warmup", values.warmup, 0);

const { init, defaultDevice } = await import("@jax-js/jax");
const { liveBufferCounter } = await import("../test/helpers/liveBuffers.js");
const { runToy, toyTrainDefaults } = await import("../src/experiments/toyRun.js");
const { toyData } = await import("../src/experiments/toyExperiment.js");
const { createBalancer } = await import("../src/balancers/registry.js");

await init("wasm");
defaultDevice("wasm");
const live = await liveBufferCounter();
if (memories.length === 0) {
  console.error("soak: jax-js created no WebAssembly.Memory after the wrapper was installed; cannot read its heap");
  process.exit(1);
}

interface Sample {
  step: number;
  seconds: number;
  rssMiB: number;
  heapUsedMiB: number;
  wasmMiB: number;
  live: number;
}
const MiB = 1024 * 1024;
const samples: Sample[] = [];
const t0 = performance.now();
const sample = (step: number) => {
  const m = process.memoryUsage();
  samples.push({
    step,
    seconds: (performance.now() - t0) / 1000,
    rssMiB: m.rss / MiB,
    heapUsedMiB: m.heapUsed / MiB,
    wasmMiB: memories.reduce((a, mem) => a + mem.buffer.byteLength, 0) / MiB,
    live: live.live(),
  });
  if (!values.json) {
    const s = samples[samples.length - 1]!;
    process.stderr.write(`\rsoak: step ${step}/${steps}  rss ${s.rssMiB.toFixed(1)} MiB  wasm ${s.wasmMiB.toFixed(1)} MiB  live ${s.live}   `);
  }
};

// The data and settings of `lossbalance toy --tasks 10` (experimentDefaults in src/cli/main.ts).
const data = toyData({ numTasks: tasks, seed: 0, inputScale: 1, trainSize: 2000, testSize: 1000 });
sample(0);
const result = await runToy(data, "gradnorm", createBalancer("gradnorm", { alpha: 0.12 }), { ...toyTrainDefaults, steps, batchSize: 32 }, (t) => {
  if ((t + 1) % every === 0 || t + 1 === steps) sample(t + 1);
});
if (!values.json) process.stderr.write("\n");

const at = (step: number) => samples.reduce((best, s) => (Math.abs(s.step - step) < Math.abs(best.step - step) ? s : best));
const base = at(warmup);
const last = samples[samples.length - 1]!;
const growth = (k: "rssMiB" | "wasmMiB") => (last[k] - base[k]) / base[k];
const verdict = {
  warmupStep: base.step,
  rssGrowth: growth("rssMiB"),
  wasmGrowth: growth("wasmMiB"),
  liveAtWarmup: base.live,
  liveAtEnd: last.live,
  pass: growth("rssMiB") < 0.05 && growth("wasmMiB") < 0.05 && last.live <= base.live,
};
const summary = { steps, every, tasks, msPerStep: result.msPerStep, wallSeconds: (performance.now() - t0) / 1000, normalizedTestLoss: result.normalizedTestLoss, skipped: result.skipped.length, verdict, samples };
if (values.json) {
  process.stdout.write(JSON.stringify(summary) + "\n");
} else {
  const { formatTable } = await import("../src/cli/table.js");
  console.log(
    formatTable(
      ["step", "s", "rss MiB", "V8 heap MiB", "wasm MiB", "live buffers"],
      samples.map((s) => [String(s.step), s.seconds.toFixed(0), s.rssMiB.toFixed(1), s.heapUsedMiB.toFixed(1), s.wasmMiB.toFixed(2), String(s.live)]),
    ),
  );
  const pct = (x: number) => `${x >= 0 ? "+" : ""}${(100 * x).toFixed(2)} %`;
  console.log(
    `\n${steps} steps of T = ${tasks} GradNorm, ${result.msPerStep.toFixed(2)} ms/step, ${summary.wallSeconds.toFixed(0)} s; normalized test loss ${result.normalizedTestLoss.toFixed(4)}.` +
      `\nFrom step ${base.step} to ${last.step}: rss ${base.rssMiB.toFixed(1)} → ${last.rssMiB.toFixed(1)} MiB (${pct(verdict.rssGrowth)}), wasm heap ${base.wasmMiB.toFixed(2)} → ${last.wasmMiB.toFixed(2)} MiB (${pct(verdict.wasmGrowth)}), live buffers ${base.live} → ${last.live}.` +
      `\nVerdict: ${verdict.pass ? "PASS" : "FAIL"} (growth after warm-up under 5 % for rss and the wasm heap, no more live buffers at the end than after warm-up).`,
  );
}
process.exitCode = verdict.pass ? 0 : 1;
