/**
 * The dashboard's responsiveness on a big store: 100 runs × 20,000 steps (T tasks with gradient norms
 * and cosines), written through the recorder into a temporary store; then the server's /api/runs and
 * /api/runs/:id/steps?max=2000 (first request of a run, and again: cached) are timed over HTTP.
 *
 *   node --import tsx bench/ui.ts [--runs 100] [--steps 20000] [--tasks 4] [--max 2000]
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openStore } from "../src/store/index.js";
import { startDashboard } from "../src/ui/server.js";

const { values } = parseArgs({ options: { runs: { type: "string", default: "100" }, steps: { type: "string", default: "20000" }, tasks: { type: "string", default: "4" }, max: { type: "string", default: "2000" } } });
const RUNS = Number(values.runs);
const STEPS = Number(values.steps);
const T = Number(values.tasks);
const MAX = Number(values.max);

const dir = mkdtempSync(join(tmpdir(), "lossbalance-ui-bench-"));
const path = join(dir, "runs.db");
const methods = ["gradnorm", "equal", "dwa", "uncertainty", "mgda"];
const store = openStore(path);
const t0 = performance.now();
const P = (T * (T - 1)) / 2;
for (let r = 0; r < RUNS; r++) {
  const rec = store.startRun({ name: `run-${r}`, method: methods[r % methods.length], seed: r, tasks: T }, { flushSteps: 5000, flushMs: 60_000 });
  const losses = new Float64Array(T);
  const weights = new Float64Array(T);
  const norms = new Float64Array(T);
  const cos = new Float64Array(P);
  for (let t = 0; t < STEPS; t++) {
    for (let i = 0; i < T; i++) {
      losses[i] = (1 + i) * Math.exp(-t / (3000 + 500 * i)) + 0.01 * Math.random();
      weights[i] = 1 + 0.5 * Math.sin(t / 1000 + i);
      norms[i] = 1 + i + Math.random();
    }
    for (let k = 0; k < P; k++) cos[k] = Math.cos(t / 500 + k) * 0.5;
    rec.step(t, { losses, weights, gradNorms: norms, cosines: cos, ms: 3 });
  }
  rec.finish({ normalizedTestLoss: Math.random() * T, testLoss: Array.from(losses) });
}
const writeS = (performance.now() - t0) / 1000;
store.close();
console.log(`store: ${RUNS} runs × ${STEPS} steps (T = ${T}, norms + ${P} cosines) written in ${writeS.toFixed(1)} s (${((writeS * 1e6) / (RUNS * STEPS)).toFixed(1)} µs/step), ${(statSync(path).size / 2 ** 20).toFixed(0)} MiB`);

const ui = await startDashboard({ store: path, port: 0 });
async function timed(url: string): Promise<{ ms: number; bytes: number; body: any }> {
  const s = performance.now();
  const r = await fetch(new URL(url, ui.url));
  const text = await r.text();
  if (!r.ok) throw new Error(`${url}: ${r.status} ${text}`);
  return { ms: performance.now() - s, bytes: Buffer.byteLength(text), body: JSON.parse(text) };
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (xs: number[]) => `median ${median(xs).toFixed(1)} ms, min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}`;
try {
  const list: number[] = [];
  let listBytes = 0;
  for (let i = 0; i < 15; i++) {
    const r = await timed("/api/runs");
    list.push(r.ms);
    listBytes = r.bytes;
    if (r.body.runs.length !== RUNS) throw new Error(`listed ${r.body.runs.length} runs`);
  }
  const filtered: number[] = [];
  for (let i = 0; i < 5; i++) filtered.push((await timed("/api/runs?method=dwa&q=run-1")).ms);
  const ids = (await timed("/api/runs")).body.runs.map((r: { id: number }) => r.id) as number[];
  const cold: number[] = [];
  const warm: number[] = [];
  let stepBytes = 0;
  let points = 0;
  for (const id of ids.slice(0, 10)) {
    const r = await timed(`/api/runs/${id}/steps?max=${MAX}`);
    cold.push(r.ms);
    stepBytes = r.bytes;
    points = r.body.step.length;
    if (r.body.total !== STEPS || points > MAX) throw new Error(`run ${id}: ${r.body.total} rows, ${points} points`);
    warm.push((await timed(`/api/runs/${id}/steps?max=${MAX}`)).ms);
  }
  const detail: number[] = [];
  for (const id of ids.slice(0, 10)) detail.push((await timed(`/api/runs/${id}`)).ms);
  console.log(`GET /api/runs (${RUNS} runs, ${(listBytes / 1024).toFixed(0)} KiB): ${fmt(list)}`);
  console.log(`GET /api/runs?method=dwa&q=run-1: ${fmt(filtered)}`);
  console.log(`GET /api/runs/:id: ${fmt(detail)}`);
  console.log(`GET /api/runs/:id/steps?max=${MAX} (${STEPS} rows → ${points} points × ${3 * T + P} series, ${(stepBytes / 1024).toFixed(0)} KiB), first request: ${fmt(cold)}`);
  console.log(`  same request again (cached, finished run): ${fmt(warm)}`);
} finally {
  await ui.close();
  rmSync(dir, { recursive: true, force: true });
}
