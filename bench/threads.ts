/**
 * Threads benchmark: ms/step (and s/epoch) with jax-js's wasm kernels on 1 thread, on a pool of 2
 * worker threads, and with `auto` (lossbalance/threads), on
 * - the toy network (250 → 4×100 ReLU → T = 10 heads of 100) at batch 100 and 1000, equal weights and
 *   GradNorm (α = 0.12, last shared layer) on the async trainer, in alternating blocks of steps, each
 *   block timed from all parameters read back to all read back (on a pool a step returns once its
 *   losses are read while its update may still run, so one-step alternation (ABBA) would charge one
 *   trainer's update to the other), the median over the blocks;
 * - one epoch of MultiMNIST (7000 training canvases, 27 steps of 256, then the validation and test
 *   accuracy passes) with equal weights, MLP encoder and LeNet encoder: runMulti (as bench:epoch), after
 *   a warm-up on a few canvases with the same shapes (jit compiles), one measured epoch.
 * jax-js fixes its pool when it is first imported, so every (workload, threads) pair runs in a child
 * process of its own (this file with --child), one at a time; `auto` gets the workload's FLOPs per step
 * as its hint. Each pair runs once per round, in a rotating order; a cell is the fastest of the rounds
 * (other load on the machine only adds time).
 * Usage: npm run bench:threads [-- --rounds N] [-- --only toy100,toy1000,mlp,lenet] [-- --json]
 */
import { spawnSync } from "node:child_process";
import { availableParallelism, cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { busyCores, configureThreads, threadsInfo, type ThreadsInfo } from "../src/threads/node.js";

/** The table's workloads; `toy<B>` (any batch B) is accepted by --only too. */
const WORKLOADS = ["toy100", "toy1000", "mlp", "lenet"] as const;
type Workload = "mlp" | "lenet" | `toy${number}`;
const toyBatch = (w: string) => (/^toy[1-9]\d*$/.test(w) ? Number(w.slice(3)) : undefined);
const SETTINGS = ["1", "2", "auto"] as const;
/** Toy timing: [steps per block, blocks per trainer], by batch size (batch 100: 8 blocks of 10; 1000: 5 of 4). */
const toyBlocks = (B: number): [number, number] => (B <= 300 ? [10, 8] : [4, 5]);

interface Row {
  readonly label: string;
  readonly msPerStep: number;
  /** Seconds of the epoch (multi workloads). */
  readonly seconds?: number;
}
interface ChildResult {
  readonly workload: Workload;
  readonly info: ThreadsInfo;
  readonly workers: number;
  /** Cores busy with other work when the child started (0.1 s of the machine's CPU use). */
  readonly busy: number;
  readonly rows: Row[];
}

const { values } = parseArgs({
  options: {
    child: { type: "string" },
    threads: { type: "string" },
    flops: { type: "string" },
    rounds: { type: "string", default: "3" },
    only: { type: "string", default: WORKLOADS.join(",") },
    json: { type: "boolean", default: false },
  },
});

if (values.child) {
  const threads = values.threads === "auto" ? "auto" : Number(values.threads);
  const busy = busyCores();
  const info = configureThreads(threads, { flopsPerStep: Number(values.flops), busyCores: busy });
  process.stdout.write(JSON.stringify({ ...(await child(values.child as Workload, info)), busy }) + "\n");
} else {
  await parent();
}

/** One workload in this process, after configureThreads (jax-js is imported only now). */
async function child(workload: Workload, info: ThreadsInfo): Promise<Omit<ChildResult, "busy">> {
  const { init, defaultDevice } = await import("@jax-js/jax");
  await init("wasm");
  defaultDevice("wasm");
  const rows: Row[] = [];
  const B = toyBatch(workload);
  if (B !== undefined) {
    const { tree } = await import("@jax-js/jax");
    const { toyTrainer, toyStep } = await import("./methods.js");
    const { toyBatches } = await import("./timing.js");
    const { median } = await import("../src/util/stats.js");
    const { createBalancer } = await import("../src/balancers/registry.js");
    const batches = toyBatches(10, { trainSize: 2000, count: 16, seed: 1, batchSize: B });
    const model = { inputDim: 250, hidden: [100, 100, 100, 100], outputDim: 100, numTasks: 10 };
    const trainers = [toyTrainer(model, createBalancer("equal")), toyTrainer(model, createBalancer("gradnorm", { alpha: 0.12 }))];
    type Trainer = (typeof trainers)[number];
    // On a pool, a step returns once its losses are read, while its parameter update may still run:
    // each block of steps starts and ends with every parameter read back, so no trainer pays for another's work.
    const drain = async (tr: Trainer) => {
      for (const leaf of tree.leaves(tr.params) as { ref: { data(): Promise<unknown> } }[]) await leaf.ref.data();
    };
    let i = 0;
    const block = async (tr: Trainer, steps: number) => {
      const step = toyStep(tr, batches, model);
      await drain(tr);
      const t0 = performance.now();
      for (let k = 0; k < steps; k++) await step(i++);
      await drain(tr);
      return (performance.now() - t0) / steps;
    };
    const [size, blocks] = toyBlocks(B);
    for (const tr of trainers) await block(tr, size); // warm-up: jit compiles
    const times: number[][] = [[], []];
    for (let r = 0; r < blocks; r++) for (const k of r % 2 === 0 ? [0, 1] : [1, 0]) times[k]!.push(await block(trainers[k]!, size));
    for (const tr of trainers) tr.dispose();
    const [eq, gn] = times.map((t) => median(t));
    rows.push({ label: "equal", msPerStep: eq! }, { label: "gradnorm", msPerStep: gn! });
  } else {
    const encoder = workload as "mlp" | "lenet";
    const { multiData, runMulti } = await import("../src/experiments/multiRun.js");
    const { createBalancer } = await import("../src/balancers/registry.js");
    const md = multiData("mnist", 0);
    // Warm-up (jit compiles): two steps and one 1000-canvas accuracy chunk on each split, the shapes of the measured epoch.
    const { train, validation, test } = md.splits;
    await runMulti({ ...md, splits: { train: train.subarray(0, 512), validation, test: test.subarray(0, 1000) } }, "equal", createBalancer("equal"), { epochs: 1, encoder });
    const r = await runMulti(md, "equal", createBalancer("equal"), { epochs: 1, encoder });
    rows.push({ label: "equal", msPerStep: r.msPerStep, seconds: r.secondsPerEpoch });
  }
  return { workload, info, workers: threadsInfo()?.workers ?? 0, rows };
}

async function parent(): Promise<void> {
  const only = values.only.split(",") as Workload[];
  for (const w of only) if (w !== "mlp" && w !== "lenet" && toyBatch(w) === undefined) fail(`unknown workload '${w}' (${WORKLOADS.join(", ")}, or toy<batch>)`);
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) fail("--rounds must be a positive integer");
  const { toyFlopsPerStep, multiFlopsPerStep } = await import("../src/cli/threads.js");
  const { defaultHidden } = await import("../src/experiments/multiRun.js");
  const flopsOf = (w: Workload) => (w === "mlp" || w === "lenet" ? multiFlopsPerStep(w, defaultHidden[w], 256) : toyFlopsPerStep(10, toyBatch(w)!));
  const flops: Partial<Record<Workload, number>> = Object.fromEntries(only.map((w) => [w, flopsOf(w)]));
  const machine = { availableParallelism: availableParallelism(), cpus: cpus().length, cpu: cpus()[0]?.model ?? "?", node: process.version, loadAverageAtStart: loadavg()[0]! };
  const self = fileURLToPath(import.meta.url);
  const t0 = performance.now();
  const results: Record<string, ChildResult[]> = {};
  if (!values.json) {
    console.log(`machine: os.availableParallelism() = ${machine.availableParallelism}, os.cpus().length = ${machine.cpus} (${machine.cpu}); Node ${machine.node}; 1-min load average at start ${machine.loadAverageAtStart.toFixed(2)}`);
  }
  for (let round = 0; round < rounds; round++) {
    for (const w of only) {
      const order = SETTINGS.map((_, k) => SETTINGS[(k + round) % SETTINGS.length]!);
      for (const s of round % 2 === 0 ? order : order.reverse()) {
        const r = spawnSync(process.execPath, [...process.execArgv, self, "--child", w, "--threads", s, "--flops", String(flops[w])], { encoding: "utf8", timeout: 240_000 });
        if (r.status !== 0) fail(`child ${w} --threads ${s} failed (status ${r.status}, signal ${r.signal}):\n${r.stderr}`);
        (results[`${w}:${s}`] ??= []).push(JSON.parse(r.stdout.trim().split("\n").at(-1)!) as ChildResult);
        if (!values.json) process.stderr.write(`  round ${round + 1}/${rounds}: ${w} threads ${s} done (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
      }
    }
  }
  const wallS = (performance.now() - t0) / 1000;
  const best = (w: Workload, s: string, label: string) => {
    const runs = results[`${w}:${s}`]!;
    const rows = runs.map((c) => c.rows.find((r) => r.label === label)!);
    const ms = Math.min(...rows.map((r) => r.msPerStep));
    const sec = rows[0]!.seconds === undefined ? undefined : Math.min(...rows.map((r) => r.seconds!));
    return { ms, sec, threads: runs.map((c) => c.info.threads), busy: runs.map((c) => c.busy), all: rows.map((r) => r.seconds ?? r.msPerStep) };
  };
  const table: Record<string, unknown>[] = [];
  const title = (w: Workload) => (w === "mlp" ? "MultiMNIST epoch, MLP" : w === "lenet" ? "MultiMNIST epoch, LeNet" : `toy T=10 batch ${toyBatch(w)}`);
  for (const w of only) {
    for (const label of w.startsWith("toy") ? ["equal", "gradnorm"] : ["equal"]) {
      const cells = Object.fromEntries(SETTINGS.map((s) => [s, best(w, s, label)]));
      table.push({ workload: w, title: `${title(w)}, ${label}`, gflopPerStep: flops[w]! / 1e9, ...cells });
    }
  }
  if (values.json) {
    process.stdout.write(JSON.stringify({ machine, rounds, wallSeconds: wallS, table, reasons: Object.fromEntries(only.map((w) => [w, results[`${w}:auto`]![0]!.info.reason])) }) + "\n");
    return;
  }
  const cell = (c: { ms: number; sec: number | undefined }) => (c.sec === undefined ? `${c.ms.toFixed(2)} ms` : `${c.sec.toFixed(2)} s (${c.ms.toFixed(1)} ms)`);
  const head = ["workload", "GFLOP/step", "1 thread", "2 threads", "auto", "2 vs 1"];
  const lines = table.map((r) => {
    const c = r as unknown as Record<string, { ms: number; sec: number | undefined; threads: number[] }> & { title: string; gflopPerStep: number };
    const speed = (c["1"]!.sec ?? c["1"]!.ms) / (c["2"]!.sec ?? c["2"]!.ms);
    return [c.title, c.gflopPerStep.toFixed(2), cell(c["1"]!), cell(c["2"]!), `${cell(c.auto!)} → ${c.auto!.threads.join(",")}`, `${speed.toFixed(2)}×`];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (l: string[]) => l.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join("  ");
  console.log(`\n${fmt(head)}\n${widths.map((n) => "-".repeat(n)).join("  ")}\n${lines.map(fmt).join("\n")}`);
  console.log(
    `\ntoy: ms/step, the median over blocks of steps, equal and GradNorm in alternating blocks, each block timed from all parameters read back to all read back (batch ≤ 300: ${toyBlocks(100)[1]} blocks of ${toyBlocks(100)[0]}; larger: ${toyBlocks(1000)[1]} of ${toyBlocks(1000)[0]}; after a warm-up block); epochs: s per epoch (27 steps of 256, then accuracy on 1000 + 2000 canvases) and mean ms/step, after a warm-up (2 steps, 2 accuracy chunks). ` +
      `Each cell: the fastest of ${rounds} round${rounds > 1 ? "s" : ""}, every run in a process of its own; "→ n": the threads auto chose in each round (it leaves cores busy with other work alone).`,
  );
  for (const w of only) for (const reason of new Set(results[`${w}:auto`]!.map((c) => c.info.reason))) console.log(`auto, ${title(w)}: ${reason}`);
  console.log(`\nEvery round (ms/step or s/epoch, in round order; [cores busy with other work when the run started]):`);
  for (const r of table) {
    const c = r as unknown as Record<string, { all: number[]; busy: number[] }> & { title: string };
    const runs = (s: string) => c[s]!.all.map((v, k) => `${v.toFixed(2)} [${c[s]!.busy[k]!.toFixed(1)}]`).join(", ");
    console.log(`  ${c.title}: ${SETTINGS.map((s) => `${s === "auto" ? "auto" : s}: ${runs(s)}`).join("; ")}`);
  }
  console.log(`${wallS.toFixed(0)} s in all; 1-min load average at the end ${loadavg()[0]!.toFixed(2)}`);
}

function fail(message: string): never {
  console.error(`bench:threads: ${message}`);
  process.exit(1);
}
