/**
 * What a checkpoint costs: for the toy network (T = 10, trunk 250 → 4×100, batch 32) and the
 * MultiMNIST MLP (1296 → 256 → 128, two heads of 10, batch 256), GradNorm on the async trainer: the
 * median step, and the mean time of one checkpoint — `snapshot()` (async reads of parameters and Adam
 * state) plus the atomic save (safetensors + JSON, each fsynced, renamed) — over `--saves` saves, with
 * its size and the share of the run it costs at `--checkpoint-every 100` and 1000.
 * Usage: node --import tsx bench/checkpoint.ts [--saves 20] [--json]
 */
import { init, defaultDevice } from "@jax-js/jax";
import { parseArgs } from "node:util";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gradNorm } from "../src/balancers/gradNorm.js";
import { saveCheckpoint } from "../src/checkpoint/files.js";
import { toyTrainDefaults } from "../src/experiments/toyRun.js";
import { median, mean } from "../src/util/stats.js";
import { toyStep, toyTrainer } from "./methods.js";
import { Rng } from "../src/util/rng.js";

const { values } = parseArgs({ options: { saves: { type: "string", default: "20" }, json: { type: "boolean", default: false }, help: { type: "boolean", default: false } } });
if (values.help) {
  console.log("usage: npm run bench:checkpoint -- [--saves 20] [--json]");
  process.exit(0);
}
const saves = Number(values.saves);
if (!Number.isInteger(saves) || saves <= 0) {
  console.error("bench:checkpoint: --saves must be a positive integer");
  process.exit(1);
}

await init("wasm");
defaultDevice("wasm");

const folderBytes = (dir: string): number => readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).reduce((a, e) => a + statSync(join(e.parentPath, e.name)).size, 0);

async function measure(name: string, model: { inputDim: number; hidden: number[]; outputDim: number; numTasks: number }, batchSize: number) {
  const trainer = toyTrainer(model, gradNorm({ alpha: 0.12 }));
  const dims = { numTasks: model.numTasks, inputDim: model.inputDim, outputDim: model.outputDim };
  // Random host batches shaped for the model (the timing does not depend on the values).
  const rng = new Rng(2);
  const hostBatches = Array.from({ length: 16 }, () => ({ x: rng.normals(batchSize * model.inputDim), y: rng.normals(model.numTasks * batchSize * model.outputDim) }));
  const step = toyStep(trainer, hostBatches, dims);
  for (let i = 0; i < 20; i++) await step(i);
  const stepMs: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    await step(i);
    stepMs.push(performance.now() - t0);
  }
  const dir = mkdtempSync(join(tmpdir(), "lb-bench-ckpt-"));
  const saveMs: number[] = [];
  let bytes = 0;
  for (let k = 1; k <= saves; k++) {
    await step(k);
    const t0 = performance.now();
    const snap = await trainer.snapshot();
    saveCheckpoint(dir, { trainer: snap, loop: { next: k }, config: { name } }, k);
    saveMs.push(performance.now() - t0);
    if (k === 1) bytes = folderBytes(dir);
  }
  rmSync(dir, { recursive: true, force: true });
  trainer.dispose();
  const step50 = median(stepMs);
  const save = mean(saveMs);
  return { name, stepMs: step50, saveMs: save, checkpointBytes: bytes, shareEvery100: save / (100 * step50), shareEvery1000: save / (1000 * step50) };
}

const rows = [
  await measure("toy T=10", { inputDim: 250, hidden: [...toyTrainDefaults.hidden], outputDim: 100, numTasks: 10 }, 32),
  await measure("MultiMNIST MLP", { inputDim: 1296, hidden: [256, 128], outputDim: 10, numTasks: 2 }, 256),
];
if (values.json) console.log(JSON.stringify(rows));
else {
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(15)} step ${r.stepMs.toFixed(2)} ms (median of 200)   checkpoint ${r.saveMs.toFixed(2)} ms (mean of ${saves}), ${(r.checkpointBytes / 1024).toFixed(0)} KiB   ` +
        `every 100 steps: ${(100 * r.shareEvery100).toFixed(2)} %   every 1000: ${(100 * r.shareEvery1000).toFixed(3)} %`,
    );
  }
}
