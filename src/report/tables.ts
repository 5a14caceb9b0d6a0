/** The report's tables: per-run final losses and weights, means over seeds, the run's settings. */
import type { ComparisonReport, Experiment, RunSummary } from "./types.js";
import { escapeHtml, formatNumber, shortNumber, sub } from "./format.js";
import { mean, median, sampleStd } from "../util/stats.js";
import { runLabel } from "./charts.js";

/** Tables list every task up to this many tasks, and min/median/max beyond. */
const MAX_TASK_COLUMNS = 4;

export interface RunGroup {
  method: string;
  name: string;
  /** Indices into the experiment's runs, in order. */
  runIndices: number[];
}

/**
 * Groups an experiment's runs by configuration: runs sharing method and label (differing
 * only in seed). Groups keep the order of their first run.
 */
export function groupRuns(runs: readonly RunSummary[]): RunGroup[] {
  const groups = new Map<string, RunGroup>();
  runs.forEach((run, i) => {
    const key = JSON.stringify([run.method, run.label ?? null]);
    let g = groups.get(key);
    if (!g) {
      g = { method: run.method, name: runLabel(run), runIndices: [] };
      groups.set(key, g);
    }
    g.runIndices.push(i);
  });
  return [...groups.values()];
}

/** Indices of the finite minima of `xs` (ties all count). */
function argminAll(xs: readonly number[]): Set<number> {
  const finite = xs.filter(Number.isFinite);
  if (finite.length === 0) return new Set();
  const best = Math.min(...finite);
  return new Set(xs.flatMap((x, i) => (x === best ? [i] : [])));
}

function cell(x: number | undefined, cls?: string): string {
  const text = x === undefined ? "—" : escapeHtml(formatNumber(x));
  return cls ? `<td class="${cls}">${text}</td>` : `<td>${text}</td>`;
}

function bestCell(text: string, best: boolean): string {
  return best
    ? `<td class="num best" title="best (lowest)"><strong>${text}</strong></td>`
    : `<td class="num">${text}</td>`;
}

export function summaryTable(exp: Experiment): string {
  const T = exp.tasks;
  const wide = T > MAX_TASK_COLUMNS;
  const sigmaOf = (i: number) => {
    const s = exp.sigma[i];
    return s === undefined ? "" : `<div class="sigma">σ=${escapeHtml(shortNumber(s))}</div>`;
  };
  const ratioHeads = wide
    ? ["min", "median", "max"].map((s) => `<th>L<sub>i</sub>/L<sub>i</sub>(0) ${s}</th>`)
    : Array.from({ length: T }, (_, i) => `<th>L${sub(i + 1)}/L${sub(i + 1)}(0)${sigmaOf(i)}</th>`);
  const weightHeads = wide
    ? ["min", "max"].map((s) => `<th>final w<sub>i</sub> ${s}</th>`)
    : Array.from({ length: T }, (_, i) => `<th>final w${sub(i + 1)}</th>`);
  const best = argminAll(exp.runs.map((r) => r.normalizedTestLoss));

  const rows = exp.runs.map((run, r) => {
    const ratios = Array.from({ length: T }, (_, i) => {
      const l = run.testLoss[i];
      const l0 = run.initialTestLoss[i];
      return l === undefined || l0 === undefined ? undefined : l / l0;
    });
    const known = ratios.filter((x): x is number => x !== undefined);
    const ratioCells = wide
      ? known.length > 0
        ? [Math.min(...known), median(known), Math.max(...known)].map((x) => cell(x, "num"))
        : ["—", "—", "—"].map((t) => `<td>${t}</td>`)
      : ratios.map((x) => cell(x, "num"));
    const weightCells = wide
      ? run.weights.length > 0
        ? [Math.min(...run.weights), Math.max(...run.weights)].map((x) => cell(x, "num"))
        : ["—", "—"].map((t) => `<td>${t}</td>`)
      : Array.from({ length: T }, (_, i) => cell(run.weights[i], "num"));
    return [
      "<tr>",
      `<th scope="row">${escapeHtml(runLabel(run))}</th>`,
      `<td class="num">${run.seed}</td>`,
      ...ratioCells,
      bestCell(escapeHtml(formatNumber(run.normalizedTestLoss)), best.has(r)),
      ...weightCells,
      cell(run.msPerStep, "num"),
      "</tr>",
    ].join("");
  });

  return [
    `<table class="summary">`,
    "<thead><tr>",
    "<th>run</th><th>seed</th>",
    ...ratioHeads,
    "<th>Σ L<sub>i</sub>/L<sub>i</sub>(0)</th>",
    ...weightHeads,
    "<th>ms/step</th>",
    "</tr></thead>",
    `<tbody>${rows.join("\n")}</tbody>`,
    "</table>",
  ].join("\n");
}

/** Mean ± sample std of the normalized test loss over seeds, per method; "" if no method repeats. */
export function groupedTable(exp: Experiment, groups: readonly RunGroup[]): string {
  if (!groups.some((g) => g.runIndices.length > 1)) return "";
  const runsOf = (g: RunGroup) => g.runIndices.map((i) => exp.runs[i]!);
  const means = groups.map((g) => mean(runsOf(g).map((r) => r.normalizedTestLoss)));
  const best = argminAll(means);
  const rows = groups.map((g, k) => {
    const runs = runsOf(g);
    const losses = runs.map((r) => r.normalizedTestLoss);
    const m = means[k]!;
    const text =
      losses.length > 1
        ? `${escapeHtml(formatNumber(m))} ± ${escapeHtml(formatNumber(sampleStd(losses)))}`
        : escapeHtml(formatNumber(m));
    return [
      "<tr>",
      `<th scope="row">${escapeHtml(g.name)}</th>`,
      `<td class="num">${runs.length}</td>`,
      `<td>${escapeHtml(runs.map((r) => r.seed).join(", "))}</td>`,
      bestCell(text, best.has(k)),
      cell(mean(runs.map((r) => r.msPerStep)), "num"),
      "</tr>",
    ].join("");
  });
  return [
    `<table class="grouped">`,
    "<caption>Over seeds: mean ± sample standard deviation (n − 1)</caption>",
    "<thead><tr><th>method</th><th>runs</th><th>seeds</th>",
    "<th>Σ L<sub>i</sub>/L<sub>i</sub>(0) mean ± std</th><th>mean ms/step</th></tr></thead>",
    `<tbody>${rows.join("\n")}</tbody>`,
    "</table>",
  ].join("\n");
}

export function settingsTable(settings: ComparisonReport["settings"]): string {
  const entries = Object.entries(settings);
  if (entries.length === 0) return "";
  const show = (v: string | number | boolean | number[]) =>
    Array.isArray(v) ? v.map(shortNumber).join(", ") : typeof v === "number" ? shortNumber(v) : String(v);
  const rows = entries.map(
    ([k, v]) => `<tr><th scope="row">${escapeHtml(k)}</th><td>${escapeHtml(show(v))}</td></tr>`,
  );
  return `<table class="settings"><tbody>${rows.join("\n")}</tbody></table>`;
}
