import { Command, Option } from "commander";
import { createWriteStream, existsSync } from "node:fs";
import { once } from "node:events";
import { shortF32 } from "../store/codec.js";
import { exportCsv, exportJson } from "../store/export.js";
import { defaultStorePath, openStore, runStatuses, type RunStore, type RunSummary } from "../store/store.js";
import { oneOf, outPath, positiveInt } from "./options.js";
import { formatTable } from "./table.js";
import { saveOutput } from "./output.js";
import { renderReport } from "../report/html.js";
import { reportFromStore } from "../report/fromStore.js";

/**
 * `lossbalance runs …`: list, show, compare, export and remove the runs of a run store
 * (`--store`, default LOSSBALANCE_STORE or .lossbalance/runs.db).
 */

function withStore<T>(opts: { store?: string }, fn: (store: RunStore) => T): T {
  const path = opts.store ?? defaultStorePath();
  const store = openStore(path, { create: false });
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

function storeOption(): Option {
  return new Option("--store <path>", "run store file (default: LOSSBALANCE_STORE or .lossbalance/runs.db)").argParser(outPath);
}

const time = (ms: number | null) => (ms == null ? "" : new Date(ms).toISOString().replace("T", " ").slice(0, 19));

function duration(run: RunSummary): string {
  const end = run.ended ?? (run.status === "running" ? Date.now() : run.heartbeat);
  if (end == null) return "";
  const s = Math.max(0, (end - run.started) / 1000);
  return s < 60 ? `${s.toFixed(1)}s` : s < 3600 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s` : `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** A number for a table: 4 significant digits (shortest float32 form first). */
function num(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const s = shortF32(v);
  return String(Math.abs(s) >= 1e-3 && Math.abs(s) < 1e6 ? Number(s.toPrecision(4)) : s.toPrecision(4));
}

/** Flattens final metrics into [key, value] pairs: arrays as key[i], objects as a.b. */
function flatten(v: unknown, prefix = ""): [string, string][] {
  if (typeof v === "number") return [[prefix || "value", num(v)]];
  if (Array.isArray(v)) return v.flatMap((x, i) => flatten(x, `${prefix}[${i}]`));
  if (v && typeof v === "object") return Object.entries(v).flatMap(([k, x]) => flatten(x, prefix ? `${prefix}.${k}` : k));
  if (v == null) return [];
  return [[prefix || "value", String(v)]];
}

function runIds(values: string[]): number[] {
  return values.map((v) => {
    if (!/^\s*\d+\s*$/.test(v) || Number(v) <= 0) throw new Error(`run id '${v}' must be a positive integer`);
    return Number(v);
  });
}

function getRun(store: RunStore, id: number): RunSummary {
  const run = store.getRun(id);
  if (!run) throw new Error(`no run ${id} in ${store.path}`);
  return run;
}

function list(opts: { store?: string; status?: (typeof runStatuses)[number]; limit?: number; json?: boolean }): void {
  if (!existsSync(opts.store ?? defaultStorePath())) {
    if (opts.json) console.log("[]");
    else console.log(`no runs (no store at ${opts.store ?? defaultStorePath()})`);
    return;
  }
  withStore(opts, (store) => {
    const runs = store.listRuns({ status: opts.status, limit: opts.limit });
    if (opts.json) return console.log(JSON.stringify(runs));
    if (runs.length === 0) return console.log(`no runs in ${store.path}`);
    console.log(
      formatTable(
        ["id", "name", "method", "seed", "tasks", "status", "started", "time", "steps", "last step"],
        runs.map((r) => [String(r.id), r.name ?? "", r.method ?? "", r.seed == null ? "" : String(r.seed), r.tasks == null ? "" : String(r.tasks), r.status, time(r.started), duration(r), String(r.steps), r.lastStep == null ? "" : String(r.lastStep)]),
      ),
    );
  });
}

function show(id: string, opts: { store?: string; json?: boolean }): void {
  withStore(opts, (store) => {
    const run = getRun(store, runIds([id])[0]!);
    const last = store.lastStep(run.id);
    const evals = store.evals(run.id);
    const lastEval = evals[evals.length - 1];
    if (opts.json) return console.log(JSON.stringify({ ...run, lastStepRecord: last ?? null, lastEval: lastEval ?? null }));
    const lines = [
      `run ${run.id}${run.name ? ` (${run.name})` : ""}`,
      `  status    ${run.status}${run.error ? ` — ${run.error.split("\n")[0]}` : ""}`,
      `  method    ${run.method ?? ""}`,
      `  seed      ${run.seed ?? ""}`,
      `  tasks     ${run.tasks ?? ""}`,
      `  version   lossbalance ${run.version ?? "?"}`,
      `  config #  ${run.configHash ?? "?"}`,
      `  started   ${time(run.started)}  (pid ${run.pid ?? "?"} on ${run.host ?? "?"})`,
      `  ended     ${time(run.ended)}  (${duration(run)})`,
      `  steps     ${run.steps}${run.lastStep == null ? "" : ` recorded, last ${run.lastStep}`}`,
      `  config    ${JSON.stringify(run.config, null, 2).replace(/\n/g, "\n            ")}`,
    ];
    console.log(lines.join("\n"));
    if (last) {
      const T = last.losses.length;
      const rows = Array.from({ length: T }, (_, i) => [String(i), num(last.losses[i]!), num(last.weights[i]!), last.gradNorms ? num(last.gradNorms[i]!) : ""]);
      console.log(`\nlast step (${last.step}${last.ms == null ? "" : `, ${last.ms.toFixed(2)} ms`})`);
      console.log(formatTable(["task", "loss", "weight", ...(last.gradNorms ? ["grad norm"] : [])], last.gradNorms ? rows : rows.map((r) => r.slice(0, 3))));
    }
    if (lastEval) {
      console.log(`\nlast eval (step ${lastEval.step}, ${lastEval.split})`);
      console.log(formatTable(["metric", "value"], flatten(lastEval.metrics)));
    }
    if (run.final != null) {
      console.log("\nfinal metrics");
      console.log(formatTable(["metric", "value"], flatten(run.final)));
    }
  });
}

function compare(ids: string[], opts: { store?: string; json?: boolean }): void {
  withStore(opts, (store) => {
    const runs = runIds(ids).map((id) => getRun(store, id));
    const cols = runs.map((r) => {
      const last = store.lastStep(r.id);
      const values = new Map<string, string>([
        ["method", r.method ?? ""],
        ["seed", r.seed == null ? "" : String(r.seed)],
        ["status", r.status],
        ["steps", String(r.steps)],
      ]);
      for (const [k, v] of flatten(r.final)) values.set(k, v);
      last?.weights.forEach((w, i) => values.set(`weight[${i}]`, num(w)));
      return { run: r, values, last };
    });
    if (opts.json) return console.log(JSON.stringify(cols.map((c) => ({ id: c.run.id, name: c.run.name, method: c.run.method, status: c.run.status, final: c.run.final, lastWeights: c.last?.weights ?? null }))));
    const keys: string[] = [];
    for (const c of cols) for (const k of c.values.keys()) if (!keys.includes(k)) keys.push(k);
    // Final metrics first (in the order they appear), then the weights.
    const isWeight = (k: string) => k.startsWith("weight[");
    const ordered = [...keys.filter((k) => !isWeight(k)), ...keys.filter(isWeight)];
    console.log(
      formatTable(
        ["", ...cols.map((c) => `run ${c.run.id}${c.run.name ? ` ${c.run.name}` : ""}`)],
        ordered.map((k) => [k, ...cols.map((c) => c.values.get(k) ?? "")]),
      ),
    );
  });
}

async function exportRun(id: string, opts: { store?: string; format: "csv" | "json"; out?: string }): Promise<void> {
  const path = opts.store ?? defaultStorePath();
  const store = openStore(path, { create: false });
  try {
    const runId = runIds([id])[0]!;
    getRun(store, runId);
    const out = opts.out ? createWriteStream(opts.out) : process.stdout;
    const write = async (s: string) => {
      if (!out.write(s)) await once(out, "drain");
    };
    if (opts.format === "json") await write(exportJson(store, runId) + "\n");
    else {
      let chunk = "";
      for (const line of exportCsv(store, runId)) {
        chunk += line + "\n";
        if (chunk.length > 1 << 16) {
          await write(chunk);
          chunk = "";
        }
      }
      await write(chunk);
    }
    if (opts.out) {
      out.end();
      await once(out, "finish");
    }
  } finally {
    store.close();
  }
}

function rm(ids: string[], opts: { store?: string; force?: boolean }): void {
  withStore(opts, (store) => {
    const runs = runIds(ids).map((id) => getRun(store, id));
    const running = runs.filter((r) => r.status === "running");
    if (running.length > 0 && !opts.force) throw new Error(`run ${running.map((r) => r.id).join(", ")} is still running; --force removes it anyway`);
    for (const r of runs) store.deleteRun(r.id);
    console.log(`removed ${runs.length === 1 ? "run" : "runs"} ${runs.map((r) => r.id).join(", ")}`);
  });
}

export function runsCommand(): Command {
  const runs = new Command("runs").description("the run store: list, show, compare, export and remove recorded training runs");
  runs
    .command("list")
    .description("every run, newest first")
    .addOption(storeOption())
    .addOption(new Option("--status <s>", `only runs with this status: ${runStatuses.join(", ")}`).argParser(oneOf(runStatuses)))
    .addOption(new Option("--limit <n>", "at most this many runs").argParser(positiveInt))
    .option("--json", "print JSON")
    .action((opts) => list(opts));
  runs
    .command("show")
    .description("one run: config, status, last step, last eval and final metrics")
    .argument("<id>", "run id")
    .addOption(storeOption())
    .option("--json", "print JSON")
    .action((id: string, opts) => show(id, opts));
  runs
    .command("compare")
    .description("final metrics and last weights of runs, side by side")
    .argument("<id...>", "run ids")
    .addOption(storeOption())
    .option("--json", "print JSON")
    .action((ids: string[], opts) => compare(ids, opts));
  runs
    .command("export")
    .description("a run's steps as CSV (one row per step, a column per task and quantity) or JSON")
    .argument("<id>", "run id")
    .addOption(storeOption())
    .addOption(new Option("--format <f>", "csv or json").argParser(oneOf(["csv", "json"] as const)).default("csv"))
    .addOption(new Option("--out <file>", "write to this file instead of stdout").argParser(outPath))
    .action(async (id: string, opts) => exportRun(id, opts));
  runs
    .command("report")
    .description("the HTML report (weights and losses over the steps, test losses) of recorded synthetic-task runs, from the store")
    .argument("<id...>", "run ids")
    .addOption(storeOption())
    .addOption(new Option("--out <file>", "the page to write").argParser(outPath).default("out/runs-report.html"))
    .action((ids: string[], opts: { store?: string; out: string }) =>
      withStore(opts, (store) => {
        const html = renderReport(reportFromStore(store, runIds(ids), { command: `lossbalance runs report ${ids.join(" ")}` }));
        console.log(`Report: ${saveOutput(opts.out, html)}`);
      }),
    );
  runs
    .command("rm")
    .description("remove runs with their steps and evals")
    .argument("<id...>", "run ids")
    .addOption(storeOption())
    .option("--force", "also remove runs still marked running")
    .action((ids: string[], opts) => rm(ids, opts));
  return runs;
}
