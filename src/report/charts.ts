/**
 * The report page's own script: it draws the charts with uPlot from the report embedded as JSON.
 * Written as typed functions of this module (tested in Node: the chart data and options are pure
 * functions of the report), then serialized into the page by {@link chartScript} — each function's
 * source, in order, so they may call one another but must not use anything else of this module or any
 * import at run time (type imports are erased).
 */
import type uPlot from "uplot";
import type { ComparisonReport, Experiment, LoopHistory, RunSummary } from "./types.js";

type Cell = number | null;

/** Chart size and series colors (written into the page as a constant). */
export const CHART = {
  palette: ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"],
  width: 420,
  height: 240,
};

/** What one chart shows: x values, one y column per series (null for gaps), series labels. */
export interface ChartSpec {
  title: string;
  yLabel: string;
  xs: number[];
  ys: Cell[][];
  labels: string[];
}

/** The data attributes of a chart element: which experiment, which kind, which run(s). */
export interface ChartRef {
  exp?: string;
  kind?: string;
  run?: string;
  runs?: string;
}

export function isNum(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

export function runLabel(run: Pick<RunSummary, "label" | "method">): string {
  return run.label != null ? run.label : run.method;
}

/** i written with Unicode subscript digits. */
export function subscript(i: number): string {
  const digits = "₀₁₂₃₄₅₆₇₈₉";
  return String(i)
    .split("")
    .map((c) => digits[Number(c)])
    .join("");
}

export function sigmaText(s: number | null | undefined): string {
  return s == null ? "" : " σ=" + Number(Number(s).toPrecision(3));
}

/** Log scale when every value is positive and they span more than 100×. */
export function wantLog(ys: Cell[][]): boolean {
  let lo = Infinity;
  let hi = -Infinity;
  for (const col of ys)
    for (const v of col) {
      if (v == null) continue;
      if (!isNum(v) || v <= 0) return false;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  return hi > 0 && lo > 0 && hi / lo > 100;
}

/** On log axes, grid lines and ticks at powers of ten only. */
export function decades(_u: unknown, splits: number[]): Cell[] {
  return splits.map((v) => {
    const e = Math.log10(v);
    return Math.abs(e - Math.round(e)) < 1e-9 ? v : null;
  });
}

export function tick(v: Cell): string {
  if (v == null) return "";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(0);
  return String(Number(v.toPrecision(3)));
}

/** Non-finite values (NaN, ±∞, or anything else) become gaps. */
export function gaps(ys: unknown[][]): Cell[][] {
  return ys.map((col) => col.map((v) => (isNum(v) ? v : null)));
}

/** Aligns several (x, y) series on the union of their x values, with nulls for gaps. */
export function joinSeries(list: { xs: number[]; ys: Cell[] }[]): { xs: number[]; ys: Cell[][] } {
  const xs = [...new Set(list.flatMap((s) => s.xs))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys = list.map((s) => {
    const col: Cell[] = xs.map(() => null);
    s.xs.forEach((x, k) => (col[index.get(x)!] = s.ys[k] ?? null));
    return col;
  });
  return { xs, ys };
}

/** Test-loss ratios Lᵢ(t)/Lᵢ(0) per evaluation, null where either is not finite. */
export function lossRatios(h: LoopHistory): Cell[][] {
  const base = h.evalLosses[0] ?? [];
  return h.evalLosses.map((row) => row.map((l, i) => (isNum(l) && isNum(base[i]) ? l / base[i]! : null)));
}

/** Rows [time][task] → T columns [task][time]. */
export function columns(rows: readonly (readonly Cell[])[], T: number): Cell[][] {
  return Array.from({ length: T }, (_, i) => rows.map((r) => r[i] ?? null));
}

/** The number of tasks of a run's rows (at least `run.tasks`). */
export function tasksOf(run: RunSummary, rows: readonly (readonly unknown[])[]): number {
  return rows.reduce((T, r) => Math.max(T, r.length), run.tasks || 0);
}

/** What a chart element shows, from the report and its data attributes (pure). */
export function chartSpec(report: ComparisonReport, ref: ChartRef): ChartSpec {
  const exp: Experiment | undefined = report.experiments[Number(ref.exp)];
  if (!exp) throw new Error(`chart: no experiment ${ref.exp}`);
  if (ref.kind === "normalized") {
    const list: { xs: number[]; ys: Cell[] }[] = [];
    const labels: string[] = [];
    for (const r of ref.runs ? ref.runs.split(",").map(Number) : []) {
      const run = exp.runs[r]!;
      const h = run.history;
      if (!h.evalSteps.length) continue;
      const sums = lossRatios(h).map((row) => (row.every((v) => v != null) ? row.reduce<number>((s, v) => s + v!, 0) : null));
      list.push({ xs: h.evalSteps, ys: sums });
      labels.push(runLabel(run));
    }
    const j = joinSeries(list);
    return { title: "Normalized test loss Σ Lᵢ(t)/Lᵢ(0)", yLabel: "Σ Lᵢ/Lᵢ(0)", xs: j.xs, ys: j.ys, labels };
  }
  const run = exp.runs[Number(ref.run)];
  if (!run) throw new Error(`chart: no run ${ref.run} in experiment ${ref.exp}`);
  const h = run.history;
  const sig = run.sigma || exp.sigma || [];
  if (ref.kind === "weights") {
    const T = tasksOf(run, h.weights);
    const labels = Array.from({ length: T }, (_, i) => "w" + subscript(i + 1) + sigmaText(sig[i]));
    return { title: runLabel(run) + ": task weights wᵢ(t)", yLabel: "weight wᵢ", xs: h.steps, ys: columns(h.weights, T), labels };
  }
  if (ref.kind === "ratios") {
    const rows = lossRatios(h);
    const T = tasksOf(run, rows);
    const labels = Array.from({ length: T }, (_, i) => "L" + subscript(i + 1) + sigmaText(sig[i]));
    return { title: runLabel(run) + ": test loss Lᵢ(t)/Lᵢ(0)", yLabel: "Lᵢ/Lᵢ(0)", xs: h.evalSteps, ys: columns(rows, T), labels };
  }
  throw new Error(`chart: unknown kind ${ref.kind}`);
}

/** uPlot options for a spec whose gaps are already nulls (pure). */
export function chartOptions(spec: ChartSpec, log: boolean): uPlot.Options {
  const series: uPlot.Series[] = [{ label: "step", value: (_u, v) => (v == null ? "–" : String(v)) }];
  spec.labels.forEach((label, i) => {
    series.push({
      label,
      stroke: CHART.palette[i % CHART.palette.length],
      width: 1.5,
      ...(i >= CHART.palette.length ? { dash: [6, 3] } : {}),
      spanGaps: true,
      points: { show: spec.xs.length <= 30, size: 4 },
      value: (_u, v) => (v == null ? "–" : Number(v.toPrecision(4)).toString()),
    });
  });
  const grid = { stroke: "#eceff2" };
  return {
    title: spec.title + (log ? " (log y)" : ""),
    width: CHART.width,
    height: CHART.height,
    scales: { x: { time: false }, y: log ? { distr: 3, log: 10 } : { auto: true } },
    axes: [
      { label: "training step", labelSize: 20, size: 36, stroke: "#444", grid },
      {
        label: spec.yLabel,
        labelSize: 20,
        size: 56,
        stroke: "#444",
        grid: log ? { ...grid, filter: decades as never } : grid,
        ticks: log ? { filter: decades as never } : {},
        values: (_u, vals) => vals.map(tick),
      },
    ],
    series,
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
  };
}

/** A chart box that says why it has no chart. */
export function emptyChart(doc: Document, el: Element, title: string, message: string): void {
  const t = doc.createElement("div");
  t.className = "u-title";
  t.style.cssText = "font-weight:600;font-size:13px;text-align:center";
  t.textContent = title;
  const d = doc.createElement("div");
  d.className = "empty";
  d.textContent = message;
  el.appendChild(t);
  el.appendChild(d);
}

/** Shows a message in the page's error list (and keeps it in window.__reportErrors for tests). */
export function showError(doc: Document, message: string): void {
  const w = doc.defaultView as (Window & { __reportErrors?: string[] }) | null;
  w?.__reportErrors?.push(message);
  const ul = doc.getElementById("errors");
  if (!ul) return;
  ul.hidden = false;
  const li = doc.createElement("li");
  li.textContent = message;
  ul.appendChild(li);
}

/** Runs first in the page: every error anywhere on it becomes visible. */
export function installErrorHook(win: Window & { __reportErrors?: string[] }): void {
  win.__reportErrors = [];
  win.addEventListener("error", (ev) => {
    const message = "JavaScript error: " + ((ev && ev.message) || String(ev));
    const doc = win.document;
    if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", () => showError(doc, message));
    else showError(doc, message);
  });
}

/** Draws every `.chart` element of the page; returns how many there were. */
export function drawCharts(doc: Document, report: ComparisonReport, UPlot: typeof uPlot): number {
  const boxes = doc.querySelectorAll<HTMLElement>(".chart");
  boxes.forEach((el) => {
    try {
      const spec = chartSpec(report, el.dataset as ChartRef);
      if (spec.xs.length === 0 || spec.ys.length === 0) {
        emptyChart(doc, el, spec.title, "no data recorded");
        return;
      }
      const ys = gaps(spec.ys);
      new UPlot(chartOptions({ ...spec, ys }, wantLog(ys)), [spec.xs, ...ys] as uPlot.AlignedData, el);
    } catch (err) {
      showError(doc, "chart error: " + (err instanceof Error && err.stack ? err.stack : String(err)));
    }
  });
  doc.body.setAttribute("data-charts-done", String(boxes.length));
  return boxes.length;
}

/** What the chart script writes into the page, in order: every page-side function but the error hook's installer. */
const CHART_FUNCTIONS = [isNum, runLabel, subscript, sigmaText, wantLog, decades, tick, gaps, joinSeries, lossRatios, columns, tasksOf, chartSpec, chartOptions, emptyChart, showError, drawCharts];

/** What the error-hook script writes into the page: the hook and the one function it calls. */
const HOOK_FUNCTIONS = [showError, installErrorHook];

/**
 * A page script: {@link CHART}, the functions `fns` (which may call one another), then `call` (e.g.
 * drawing the charts). `__name` is defined because a TypeScript runner that keeps function names (tsx)
 * writes calls to it into functions' source; compiled output has none.
 */
function script(fns: readonly ((...args: never[]) => unknown)[], call: string): string {
  return [
    '"use strict";',
    "var __name = function (f) { return f; };",
    `var CHART = ${JSON.stringify(CHART)};`,
    ...fns.map((f) => f.toString()),
    call,
  ].join("\n");
}

/** The script installing the error hook (run first, in the page's head). */
export function errorHookScript(): string {
  return `(function () {\n${script(HOOK_FUNCTIONS, "installErrorHook(window);")}\n})();`;
}

/** The script drawing the charts from the JSON in `#report-data` with the inlined uPlot (run last). */
export function chartScript(): string {
  return `(function () {\n${script(CHART_FUNCTIONS, 'drawCharts(document, JSON.parse(document.getElementById("report-data").textContent), uPlot);')}\n})();`;
}
