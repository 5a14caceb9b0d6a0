/**
 * Renders a {@link ComparisonReport} as one self-contained HTML page: tables are rendered
 * here, charts are drawn in the browser by uPlot (inlined, with its CSS) from the report,
 * which is embedded as JSON. The page makes no network requests.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { ComparisonReport, Experiment, RunSummary } from "./types.js";
import { mean } from "../util/stats.js";

export type { ComparisonReport, Experiment, RunSummary, LoopHistory } from "./types.js";

/** Tables list every task up to this many tasks, and min/median/max beyond. */
const MAX_TASK_COLUMNS = 4;

// ---------------------------------------------------------------------------------------------
// Text helpers

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

/**
 * JSON for a `<script type="application/json">` element: every `<` is written as `\u003c`
 * (so neither `</script>` nor `<!--` can appear), which JSON.parse reads back unchanged.
 * Non-finite numbers become null, as with JSON.stringify.
 */
function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/** Guards inlined code against closing its element early (`</script`, `</style`). */
function inlineCode(code: string, tag: "script" | "style"): string {
  return code.replace(new RegExp(`</(${tag})`, "gi"), "<\\/$1");
}

/** Four significant digits; exponent notation for very small or large magnitudes. */
export function formatNumber(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "∞" : "−∞";
  if (x === 0) return "0";
  const a = Math.abs(x);
  const s = a < 1e-3 || a >= 1e5 ? x.toExponential(2) : x.toPrecision(4);
  return s.replace(/^-/, "−");
}

/** Short form for σ values and settings: up to 4 significant digits, trailing zeros dropped. */
function shortNumber(x: number): string {
  if (!Number.isFinite(x)) return formatNumber(x);
  return String(Number(x.toPrecision(4))).replace(/^-/, "−");
}

function sub(i: number): string {
  return `<sub>${i}</sub>`;
}

// ---------------------------------------------------------------------------------------------
// Statistics

export { mean };

/** Sample standard deviation (n − 1 denominator); NaN for fewer than two values. */
export function sampleStd(xs: readonly number[]): number {
  if (xs.length < 2) return Number.NaN;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1));
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return Number.NaN;
  const hi = s[n >> 1]!;
  return n % 2 === 1 ? hi : (s[(n >> 1) - 1]! + hi) / 2;
}

function runName(run: RunSummary): string {
  return run.label ?? run.method;
}

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
      g = { method: run.method, name: runName(run), runIndices: [] };
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

// ---------------------------------------------------------------------------------------------
// Tables

function cell(x: number | undefined, cls?: string): string {
  const text = x === undefined ? "—" : escapeHtml(formatNumber(x));
  return cls ? `<td class="${cls}">${text}</td>` : `<td>${text}</td>`;
}

function bestCell(text: string, best: boolean): string {
  return best
    ? `<td class="num best" title="best (lowest)"><strong>${text}</strong></td>`
    : `<td class="num">${text}</td>`;
}

function summaryTable(exp: Experiment): string {
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
      `<th scope="row">${escapeHtml(runName(run))}</th>`,
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
function groupedTable(exp: Experiment, groups: readonly RunGroup[]): string {
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

function settingsTable(settings: ComparisonReport["settings"]): string {
  const entries = Object.entries(settings);
  if (entries.length === 0) return "";
  const show = (v: string | number | boolean | number[]) =>
    Array.isArray(v) ? v.map(shortNumber).join(", ") : typeof v === "number" ? shortNumber(v) : String(v);
  const rows = entries.map(
    ([k, v]) => `<tr><th scope="row">${escapeHtml(k)}</th><td>${escapeHtml(show(v))}</td></tr>`,
  );
  return `<table class="settings"><tbody>${rows.join("\n")}</tbody></table>`;
}

// ---------------------------------------------------------------------------------------------
// Sections

function chartBox(attrs: Record<string, string | number>): string {
  const a = Object.entries(attrs)
    .map(([k, v]) => `data-${k}="${escapeHtml(String(v))}"`)
    .join(" ");
  return `<div class="chart" ${a}></div>`;
}

function experimentSection(exp: Experiment, e: number): string {
  const groups = groupRuns(exp.runs);
  const reps = groups.map((g) => g.runIndices[0]!);
  const sigma = exp.sigma.map(shortNumber).join(", ");
  const notes = (exp.notes ?? []).map((n) => `<li>${escapeHtml(n)}</li>`).join("\n");
  const seedNote = groups.some((g) => g.runIndices.length > 1)
    ? `<p class="hint">Charts show the first seed of each method.</p>`
    : "";
  return `<section class="experiment" id="exp-${e}">
<h2>${escapeHtml(exp.title)}</h2>
<p class="meta">T = ${exp.tasks} tasks; σ = [${escapeHtml(sigma)}]; ${exp.runs.length} run${exp.runs.length === 1 ? "" : "s"}</p>
${notes ? `<ul class="notes">${notes}</ul>` : ""}
<h3>Final test losses</h3>
<p class="hint">L<sub>i</sub>/L<sub>i</sub>(0): final test loss of task i relative to the initial network; lower is better. Best Σ in bold.</p>
${summaryTable(exp)}
${groupedTable(exp, groups)}
<h3>Training curves</h3>
${seedNote}
<div class="charts">
${chartBox({ exp: e, kind: "normalized", runs: reps.join(",") })}
</div>
<div class="charts">
${reps.map((r) => chartBox({ exp: e, kind: "weights", run: r })).join("\n")}
</div>
<div class="charts">
${reps.map((r) => chartBox({ exp: e, kind: "ratios", run: r })).join("\n")}
</div>
</section>`;
}

// ---------------------------------------------------------------------------------------------
// Assets

let uplotAssets: { js: string; css: string } | undefined;

function loadUplot(): { js: string; css: string } {
  if (!uplotAssets) {
    const dir = join(dirname(createRequire(import.meta.url).resolve("uplot/package.json")), "dist");
    uplotAssets = {
      js: readFileSync(join(dir, "uPlot.iife.min.js"), "utf8"),
      css: readFileSync(join(dir, "uPlot.min.css"), "utf8"),
    };
  }
  return uplotAssets;
}

const PAGE_CSS = `
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d232a; background: #fff; margin: 0 auto; padding: 16px 24px 48px; max-width: 1400px; }
h1 { font-size: 22px; margin: 4px 0 2px; }
h2 { font-size: 18px; margin: 28px 0 4px; padding-top: 12px; border-top: 2px solid #d8dde3; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.meta, .hint { color: #57606a; margin: 2px 0 6px; }
.hint { font-size: 12.5px; }
pre.command { background: #f4f6f8; border: 1px solid #d8dde3; border-radius: 4px; padding: 6px 10px; white-space: pre-wrap; word-break: break-all; font-size: 12.5px; margin: 6px 0; }
table { border-collapse: collapse; margin: 6px 0 10px; font-size: 13px; }
th, td { border: 1px solid #d8dde3; padding: 3px 8px; text-align: left; vertical-align: top; }
thead th { background: #f4f6f8; font-weight: 600; }
tbody th { font-weight: 500; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.best { background: #e6f4ea; }
caption { caption-side: top; text-align: left; color: #57606a; font-size: 12.5px; padding-bottom: 2px; }
.sigma { font-weight: 400; color: #57606a; font-size: 11.5px; }
table.settings th { background: #f9fafb; }
.notes { margin: 4px 0; padding-left: 20px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, 420px); gap: 14px 20px; margin: 8px 0; }
.chart { width: 420px; }
.chart .empty { width: 420px; height: 80px; display: flex; align-items: center; justify-content: center; color: #57606a; border: 1px dashed #c4cad1; }
.uplot .u-title { font-size: 13px; font-weight: 600; }
.uplot .u-legend { font-size: 11.5px; line-height: 1.3; }
.uplot .u-legend .u-series { padding: 0 4px; }
.uplot .u-legend .u-series > * { padding: 1px; }
#errors { color: #b00020; background: #fdecee; border: 1px solid #f1b5bd; padding: 8px 24px; }
nav.toc { margin: 6px 0; }
nav.toc a { margin-right: 12px; }
`;

/** Installed before everything else so that errors anywhere on the page become visible. */
const ERROR_HOOK = `
window.__reportErrors = [];
window.addEventListener("error", function (ev) {
  var msg = (ev && ev.message) || String(ev);
  window.__reportErrors.push(msg);
  var show = function () {
    var ul = document.getElementById("errors");
    if (!ul) return;
    ul.hidden = false;
    var li = document.createElement("li");
    li.textContent = "JavaScript error: " + msg;
    ul.appendChild(li);
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", show); else show();
});
`;

/** Draws the charts from the embedded report. Plain ES5-ish JS, run in the page. */
const CHART_SCRIPT = `
(function () {
  "use strict";
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  var WIDTH = 420, HEIGHT = 240;
  var report = JSON.parse(document.getElementById("report-data").textContent);

  function num(v) { return typeof v === "number" && isFinite(v); }
  function runName(run) { return run.label != null ? run.label : run.method; }
  function sub(i) {
    var d = "₀₁₂₃₄₅₆₇₈₉";
    return String(i).split("").map(function (c) { return d[+c]; }).join("");
  }
  function sigmaText(s) { return s == null ? "" : " σ=" + Number(Number(s).toPrecision(3)); }

  /** Log scale when every value is positive and they span more than 100×. */
  function wantLog(ys) {
    var lo = Infinity, hi = -Infinity;
    for (var i = 0; i < ys.length; i++) for (var j = 0; j < ys[i].length; j++) {
      var v = ys[i][j];
      if (v == null) continue;
      if (!num(v) || v <= 0) return false;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    return hi > 0 && lo > 0 && hi / lo > 100;
  }

  /** On log axes, grid lines and ticks at powers of ten only. */
  function decades(u, splits) {
    return splits.map(function (v) {
      var e = Math.log10(v);
      return Math.abs(e - Math.round(e)) < 1e-9 ? v : null;
    });
  }

  function tick(v) {
    if (v == null) return "";
    if (v === 0) return "0";
    var a = Math.abs(v);
    if (a >= 1e4 || a < 1e-3) return v.toExponential(0);
    return String(Number(v.toPrecision(3)));
  }

  function empty(el, title, msg) {
    var t = document.createElement("div");
    t.className = "u-title";
    t.style.cssText = "font-weight:600;font-size:13px;text-align:center";
    t.textContent = title;
    var d = document.createElement("div");
    d.className = "empty";
    d.textContent = msg;
    el.appendChild(t);
    el.appendChild(d);
  }

  function clean(ys) {
    return ys.map(function (col) { return col.map(function (v) { return num(v) ? v : null; }); });
  }

  function draw(el, title, yLabel, xs, ys, labels) {
    if (xs.length === 0 || ys.length === 0) { empty(el, title, "no data recorded"); return; }
    ys = clean(ys);
    var log = wantLog(ys);
    var series = [{ label: "step", value: function (u, v) { return v == null ? "–" : String(v); } }];
    labels.forEach(function (label, i) {
      series.push({
        label: label,
        stroke: PALETTE[i % PALETTE.length],
        width: 1.5,
        dash: i >= PALETTE.length ? [6, 3] : undefined,
        spanGaps: true,
        points: { show: xs.length <= 30, size: 4 },
        value: function (u, v) { return v == null ? "–" : Number(v.toPrecision(4)).toString(); }
      });
    });
    var opts = {
      title: title + (log ? " (log y)" : ""),
      width: WIDTH,
      height: HEIGHT,
      scales: { x: { time: false }, y: log ? { distr: 3, log: 10 } : { auto: true } },
      axes: [
        { label: "training step", labelSize: 20, size: 36, stroke: "#444", grid: { stroke: "#eceff2" } },
        { label: yLabel, labelSize: 20, size: 56, stroke: "#444",
          grid: log ? { stroke: "#eceff2", filter: decades } : { stroke: "#eceff2" },
          ticks: log ? { filter: decades } : {},
          values: function (u, vals) { return vals.map(tick); } }
      ],
      series: series,
      legend: { live: true },
      cursor: { drag: { x: true, y: false } }
    };
    new uPlot(opts, [xs].concat(ys), el);
  }

  /** Aligns several (x, y) series on the union of their x values, with nulls for gaps. */
  function joinSeries(list) {
    var set = {};
    list.forEach(function (s) { s.xs.forEach(function (x) { set[x] = true; }); });
    var xs = Object.keys(set).map(Number).sort(function (a, b) { return a - b; });
    var index = {};
    xs.forEach(function (x, i) { index[x] = i; });
    var ys = list.map(function (s) {
      var col = xs.map(function () { return null; });
      s.xs.forEach(function (x, k) { col[index[x]] = s.ys[k]; });
      return col;
    });
    return { xs: xs, ys: ys };
  }

  function ratios(h) {
    var base = h.evalLosses[0] || [];
    return h.evalLosses.map(function (row) {
      return row.map(function (l, i) { return num(l) && num(base[i]) ? l / base[i] : null; });
    });
  }

  function transpose(rows, T) {
    var cols = [];
    for (var i = 0; i < T; i++) cols.push(rows.map(function (r) { var v = r[i]; return v == null ? null : v; }));
    return cols;
  }

  function tasksOf(run, rows) {
    var T = run.tasks || 0;
    rows.forEach(function (r) { if (r.length > T) T = r.length; });
    return T;
  }

  function render(el) {
    var exp = report.experiments[+el.dataset.exp];
    var kind = el.dataset.kind;
    if (kind === "normalized") {
      var idx = el.dataset.runs ? el.dataset.runs.split(",").map(Number) : [];
      var list = [], labels = [];
      idx.forEach(function (r) {
        var run = exp.runs[r];
        var h = run.history;
        if (!h.evalSteps.length) return;
        var sums = ratios(h).map(function (row) {
          var s = 0;
          for (var i = 0; i < row.length; i++) { if (row[i] == null) return null; s += row[i]; }
          return s;
        });
        list.push({ xs: h.evalSteps, ys: sums });
        labels.push(runName(run));
      });
      var j = joinSeries(list);
      draw(el, "Normalized test loss Σ Lᵢ(t)/Lᵢ(0)", "Σ Lᵢ/Lᵢ(0)", j.xs, j.ys, labels);
      return;
    }
    var run = exp.runs[+el.dataset.run];
    var h = run.history;
    var sig = run.sigma || exp.sigma || [];
    if (kind === "weights") {
      var T = tasksOf(run, h.weights);
      var labels = [];
      for (var i = 0; i < T; i++) labels.push("w" + sub(i + 1) + sigmaText(sig[i]));
      draw(el, runName(run) + ": task weights wᵢ(t)", "weight wᵢ", h.steps, transpose(h.weights, T), labels);
    } else if (kind === "ratios") {
      var rows = ratios(h);
      var T2 = tasksOf(run, rows);
      var labels2 = [];
      for (var k = 0; k < T2; k++) labels2.push("L" + sub(k + 1) + sigmaText(sig[k]));
      draw(el, runName(run) + ": test loss Lᵢ(t)/Lᵢ(0)", "Lᵢ/Lᵢ(0)", h.evalSteps, transpose(rows, T2), labels2);
    }
  }

  var boxes = document.querySelectorAll(".chart");
  for (var b = 0; b < boxes.length; b++) {
    try { render(boxes[b]); }
    catch (err) {
      window.__reportErrors.push(String(err));
      var ul = document.getElementById("errors");
      ul.hidden = false;
      var li = document.createElement("li");
      li.textContent = "chart error: " + (err && err.stack ? err.stack : err);
      ul.appendChild(li);
    }
  }
  document.body.setAttribute("data-charts-done", String(boxes.length));
})();
`;

// ---------------------------------------------------------------------------------------------

/** Renders the report as a single self-contained HTML document. */
export function renderReport(report: ComparisonReport): string {
  const { js, css } = loadUplot();
  const toc =
    report.experiments.length > 1
      ? `<nav class="toc">${report.experiments
          .map((exp, e) => `<a href="#exp-${e}">${escapeHtml(exp.title)}</a>`)
          .join("")}</nav>`
      : "";
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(report.title)}</title>
<script>${ERROR_HOOK}</script>
<style>${inlineCode(css, "style")}</style>
<style>${PAGE_CSS}</style>
<script>${inlineCode(js, "script")}</script>
</head>
<body>
<ul id="errors" hidden></ul>
<header>
<h1>${escapeHtml(report.title)}</h1>
<p class="meta">Generated <time datetime="${escapeHtml(report.generatedAt)}">${escapeHtml(report.generatedAt)}</time></p>
<pre class="command"><code>${escapeHtml(report.command)}</code></pre>
${settingsTable(report.settings)}
${toc}
</header>
<main>
${report.experiments.map(experimentSection).join("\n")}
</main>
<script type="application/json" id="report-data">${jsonForScript(report)}</script>
<script>${inlineCode(CHART_SCRIPT, "script")}</script>
</body>
</html>
`;
}
