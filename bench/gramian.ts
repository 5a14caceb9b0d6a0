/**
 * Host-side cost of every Gramian method's update for many tasks: T ∈ {10, 100, 1000} by default, on
 * three families of Gramians G = J Jᵀ (float64):
 * - `random`: J with T × 2T Gaussian entries (nearly orthogonal gradients, about half the pairs in
 *   conflict: the hard case for the QP methods);
 * - `correlated`: every row a shared Gaussian vector plus 0.7 × its own noise (cosines ≈ 0.67, few
 *   conflicts: what related tasks look like);
 * - `low-rank`: J of T × T/2 (more tasks than dimensions: singular G, zero often in the convex hull).
 * Each cell is one balancer update (the shared Gramian check included) from a fresh state: the median
 * of up to 5 runs within about 2 s, or a single run when one takes longer. Also timed: the Gramian
 * check alone and a full eigendecomposition, for scale.
 * Usage: npm run bench:gramian [-- --tasks 10,100,1000] [-- --methods mgda,upgrad] [-- --json]
 */
import { createBalancer, methodNames } from "../src/balancers/registry.js";
import { checkGramian } from "../src/solvers/gramian.js";
import { eighFlat } from "../src/solvers/eigen.js";
import { toFlat } from "../src/solvers/dense.js";
import { Rng } from "../src/util/rng.js";
import { median } from "../src/util/stats.js";
import { formatTable } from "../src/cli/table.js";

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const json = args.includes("--json");
const tasks = (flag("--tasks") ?? "10,100,1000").split(",").map(Number);
if (!tasks.every((T) => Number.isInteger(T) && T >= 2)) {
  console.error("bench:gramian: --tasks must be comma-separated integers ≥ 2");
  process.exit(1);
}
const gramianMethods = methodNames().filter((m) => m !== "static" && createBalancer(m).needs.gramian !== undefined);
const methods = flag("--methods")?.split(",") ?? gramianMethods;
for (const m of methods) {
  if (!gramianMethods.includes(m)) {
    console.error(`bench:gramian: '${m}' is not a Gramian method (${gramianMethods.join(", ")})`);
    process.exit(1);
  }
}
const families = ["random", "correlated", "low-rank"] as const;
type Family = (typeof families)[number];

function gramian(T: number, family: Family, seed = 1): number[][] {
  const rng = new Rng(seed);
  const d = family === "low-rank" ? Math.max(1, T >> 1) : 2 * T;
  const shared = Float64Array.from({ length: d }, () => rng.normal());
  const J = Array.from({ length: T }, () => Float64Array.from({ length: d }, (_, k) => (family === "correlated" ? shared[k]! + 0.7 * rng.normal() : rng.normal())));
  const G = Array.from({ length: T }, () => new Array<number>(T).fill(0));
  for (let i = 0; i < T; i++)
    for (let j = 0; j <= i; j++) {
      let s = 0;
      const a = J[i]!;
      const b = J[j]!;
      for (let k = 0; k < d; k++) s += a[k]! * b[k]!;
      G[i]![j] = G[j]![i] = s;
    }
  return G;
}

/** Median ms of `fn` over up to 5 runs within ~2 s (at least one run). */
function time(fn: () => void): number {
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 5 && (times.length === 0 || performance.now() - start < 2000)) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

const results: Record<string, Record<string, number>> = {};
const cell = (row: string, col: string, ms: number) => {
  (results[row] ??= {})[col] = ms;
  if (!json) console.error(`  ${row.padEnd(22)} ${col.padEnd(16)} ${ms.toFixed(1)} ms`);
};
const t0 = performance.now();
for (const T of tasks) {
  for (const family of families) {
    const G = gramian(T, family);
    const col = `T=${T} ${family}`;
    if (!json) console.error(col);
    const losses = new Array<number>(T).fill(1);
    cell("(Gramian check)", col, time(() => void checkGramian(G, T)));
    cell("(eigendecomposition)", col, time(() => void eighFlat(toFlat(G), T)));
    for (const m of methods) {
      const b = createBalancer(m);
      const s = b.init(T);
      cell(m, col, time(() => void b.update({ losses, gramian: G }, s)));
    }
  }
}
const wallS = (performance.now() - t0) / 1000;
if (json) {
  process.stdout.write(JSON.stringify({ tasks, families, msPerUpdate: results, wallSeconds: wallS, node: process.version }) + "\n");
} else {
  const cols = tasks.flatMap((T) => families.map((f) => `T=${T} ${f}`));
  const fmt = (ms: number | undefined) => (ms === undefined ? "" : ms >= 10_000 ? `${(ms / 1000).toFixed(0)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 10 ? ms.toFixed(0) : ms.toFixed(2));
  console.log(formatTable(["ms per update", ...cols], Object.entries(results).map(([row, r]) => [row, ...cols.map((c) => fmt(r[c]))])));
  console.log(`(one balancer update from a fresh state, median of up to 5 runs; ${wallS.toFixed(0)} s in all)`);
}
