/**
 * Regime exploration for GradNorm's synthetic task, run before any method comparison:
 * for each input scale and training-set size, train single-task networks (static weights
 * (1, 0) and (0, 1) on the T = 2 network: the other head gets no gradient) and equal
 * weights, over several seeds, and report test Lᵢ/Lᵢ(0) and how saturated the targets are.
 * No adaptive method runs here, so the regime is fixed without looking at who wins.
 *
 * Usage: npm run regime [-- --json] [-- --steps N] [-- --seeds 0,1]
 */
import { runPool } from "../src/cli/pool.js";
import { makeToy } from "../src/data/toy.js";
import { init, defaultDevice } from "@jax-js/jax";
import type { ToyRunSpec } from "../src/experiments/toyExperiment.js";
import { formatTable } from "../src/cli/table.js";

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const json = args.includes("--json");
const steps = Number(arg("--steps", "2000"));
const seeds = arg("--seeds", "0,1").split(",").map(Number);
if (!Number.isInteger(steps) || steps <= 0 || !seeds.every((s) => Number.isInteger(s) && s >= 0)) {
  console.error("regime: --steps must be a positive integer and --seeds comma-separated non-negative integers");
  process.exit(1);
}
const scales = [1, 0.1, 0.01];
const sizes = [1000, 2000, 10000];
const configs = [
  { label: "single σ=1", weights: [1, 0] },
  { label: "single σ=100", weights: [0, 1] },
  { label: "equal", weights: [1, 1] },
];

const specs: ToyRunSpec[] = [];
for (const inputScale of scales)
  for (const trainSize of sizes)
    for (const seed of seeds)
      for (const c of configs)
        specs.push({
          method: "static",
          label: `${inputScale}|${trainSize}|${c.label}`,
          options: { weights: c.weights },
          data: { numTasks: 2, inputScale, trainSize, testSize: 2000, seed: 0 },
          train: { steps, seed },
        });

const t0 = performance.now();
let done = 0;
const runs = await runPool(specs, "toy", {
  onResult: () => {
    if (!json) process.stderr.write(`\r${++done}/${specs.length} runs`);
  },
});
if (!json) process.stderr.write("\n");
await init("wasm");
defaultDevice("wasm");
const rows = [];
for (const inputScale of scales)
  for (const trainSize of sizes) {
    const sat = makeToy({ numTasks: 2, inputScale, trainSize: 10, testSize: 2000, seed: 0 }).saturation;
    const ratio = (label: string, task: number) => {
      const rs = runs.filter((r) => r.label === `${inputScale}|${trainSize}|${label}`);
      return rs.reduce((a, r) => a + r.testLoss[task]! / r.initialTestLoss[task]!, 0) / rs.length;
    };
    rows.push({
      inputScale,
      trainSize,
      saturation: sat,
      single: [ratio("single σ=1", 0), ratio("single σ=100", 1)],
      equal: [ratio("equal", 0), ratio("equal", 1)],
    });
  }
const wallS = (performance.now() - t0) / 1000;
if (json) {
  process.stdout.write(JSON.stringify({ steps, seeds, rows, wallSeconds: wallS }) + "\n");
} else {
  console.log(
    formatTable(
      ["input std", "train size", "saturated", "single σ=1", "single σ=100", "equal σ=1", "equal σ=100", "equal Σ"],
      rows.map((r) => [
        String(r.inputScale),
        String(r.trainSize),
        `${(100 * r.saturation).toFixed(0)}%`,
        r.single[0]!.toFixed(3),
        r.single[1]!.toFixed(3),
        r.equal[0]!.toFixed(3),
        r.equal[1]!.toFixed(3),
        (r.equal[0]! + r.equal[1]!).toFixed(3),
      ]),
    ),
  );
  console.log(`test Lᵢ/Lᵢ(0), mean over seeds ${seeds.join(",")}; ${steps} steps; ${specs.length} runs in ${wallS.toFixed(0)} s`);
}
