import { test } from "node:test";
import assert from "node:assert/strict";
import { runInNewContext } from "node:vm";
import { chartOptions, chartScript, chartSpec, decades, errorHookScript, joinSeries, lossRatios, wantLog } from "../../src/report/charts.js";
import { renderReport } from "../../src/report/html.js";
import type { ComparisonReport } from "../../src/report/types.js";
import { reportRun } from "../helpers/reportRuns.js";

const report: ComparisonReport = {
  title: "t",
  generatedAt: "2026-01-01T00:00:00.000Z",
  command: "c",
  settings: {},
  experiments: [
    {
      title: "e",
      tasks: 2,
      sigma: [1, 100],
      runs: [reportRun("equal", [[2, 4], [1, 1], [0.5, Number.NaN]], [0, 10, 20]), reportRun("gradnorm", [[2, 4], [1, 2]], [0, 15], "GradNorm α=1")],
    },
  ],
};

test("chart data: loss ratios with gaps, Σ ratios aligned on the union of steps, weights per task with σ in the labels", () => {
  assert.deepEqual(lossRatios(report.experiments[0]!.runs[0]!.history), [[1, 1], [0.5, 0.25], [0.25, null]]);
  const normalized = chartSpec(report, { exp: "0", kind: "normalized", runs: "0,1" });
  assert.deepEqual(normalized.xs, [0, 10, 15, 20]);
  assert.deepEqual(normalized.ys, [[2, 0.75, null, null], [2, null, 1, null]]);
  assert.deepEqual(normalized.labels, ["equal", "GradNorm α=1"]);
  const weights = chartSpec(report, { exp: "0", kind: "weights", run: "1" });
  assert.deepEqual(weights.ys, [[1, 1.1, 1.2], [1, 0.9, 0.8]]);
  assert.deepEqual(weights.labels, ["w₁ σ=1", "w₂ σ=100"]);
  assert.equal(weights.title, "GradNorm α=1: task weights wᵢ(t)");
  assert.throws(() => chartSpec(report, { exp: "3", kind: "weights", run: "0" }), /no experiment 3/);
  assert.throws(() => chartSpec(report, { exp: "0", kind: "weights", run: "9" }), /no run 9/);
  assert.throws(() => chartSpec(report, { exp: "0", kind: "pie", run: "0" }), /unknown kind pie/);
  assert.deepEqual(joinSeries([]), { xs: [], ys: [] });
});

test("chart options: a log y axis only for positive values spanning more than 100×, ticks at decades", () => {
  assert.equal(wantLog([[1, 50], [2, null]]), false);
  assert.equal(wantLog([[0.001, 1]]), true);
  assert.equal(wantLog([[0, 1000]]), false);
  assert.deepEqual(decades(null, [0.1, 0.2, 1, 5, 10]), [0.1, null, 1, null, 10]);
  const spec = { title: "x", yLabel: "y", xs: [0, 1], ys: [[0.001, 1]], labels: ["a"] };
  const opts = chartOptions(spec, true);
  assert.equal(opts.title, "x (log y)");
  assert.deepEqual(opts.scales!.y, { distr: 3, log: 10 });
  assert.equal(opts.series.length, 2);
  assert.deepEqual(chartOptions(spec, false).scales!.y, { auto: true });
});

/** A stand-in document: enough DOM for the page's script, recording what it does. */
function fakePage(report: ComparisonReport, chartData: Record<string, string>[]) {
  const made: { tag: string; className?: string; textContent?: string }[] = [];
  const errors = { hidden: true, items: [] as string[], appendChild(li: { textContent: string }) { this.items.push(li.textContent); } };
  const charts = chartData.map((dataset) => ({ dataset, children: [] as unknown[], appendChild(c: unknown) { this.children.push(c); } }));
  const attributes: Record<string, string> = {};
  const listeners: Record<string, (ev: unknown) => void> = {};
  const window: Record<string, unknown> = { addEventListener: (type: string, f: (ev: unknown) => void) => (listeners[type] = f) };
  const document = {
    readyState: "complete",
    defaultView: window,
    querySelectorAll: (sel: string) => (sel === ".chart" ? charts : []),
    getElementById: (id: string) => (id === "report-data" ? { textContent: JSON.stringify(report) } : id === "errors" ? errors : null),
    createElement: (tag: string) => {
      const el = { tag, style: {} };
      made.push(el);
      return el;
    },
    body: { setAttribute: (k: string, v: string) => (attributes[k] = v) },
  };
  window.document = document;
  const plots: { opts: { title: string }; data: unknown[][] }[] = [];
  function uPlot(this: unknown, opts: { title: string }, data: unknown[][]) {
    plots.push({ opts, data });
  }
  return { context: { window, document, uPlot, JSON, Math, Number, String, Array, Set, Map, Error }, charts, errors, attributes, plots, listeners, made };
}

test("the page's script, as serialized into the page, draws every chart and reports errors in the page", () => {
  const page = fakePage(report, [
    { exp: "0", kind: "normalized", runs: "0,1" },
    { exp: "0", kind: "weights", run: "0" },
    { exp: "0", kind: "ratios", run: "1" },
    { exp: "0", kind: "weights", run: "7" },
  ]);
  runInNewContext(errorHookScript(), page.context);
  runInNewContext(chartScript(), page.context);
  assert.equal(page.attributes["data-charts-done"], "4");
  assert.deepEqual(page.plots.map((p) => p.opts.title), ["Normalized test loss Σ Lᵢ(t)/Lᵢ(0)", "equal: task weights wᵢ(t)", "GradNorm α=1: test loss Lᵢ(t)/Lᵢ(0)"]);
  // (arrays made in the page's context: compared through JSON)
  assert.deepEqual(JSON.parse(JSON.stringify(page.plots[0]!.data)), [[0, 10, 15, 20], [2, 0.75, null, null], [2, null, 1, null]]);
  assert.equal(page.errors.hidden, false);
  assert.equal(page.errors.items.length, 1);
  assert.match(page.errors.items[0]!, /^chart error: .*no run 7 in experiment 0/);
  // The error hook, installed first, shows uncaught errors the same way.
  page.listeners.error!({ message: "boom" });
  assert.equal(page.errors.items.at(-1), "JavaScript error: boom");
  assert.equal((page.context.window as { __reportErrors: string[] }).__reportErrors.length, 2);
});

test("a run without evaluations gets an empty box that says so", () => {
  const bare = structuredClone(report);
  bare.experiments[0]!.runs[0]!.history = { ...bare.experiments[0]!.runs[0]!.history, evalSteps: [], evalLosses: [] };
  const page = fakePage(bare, [{ exp: "0", kind: "ratios", run: "0" }]);
  runInNewContext(chartScript(), page.context);
  assert.equal(page.plots.length, 0);
  assert.deepEqual(page.charts[0]!.children.map((c) => (c as { textContent: string }).textContent), ["equal: test loss Lᵢ(t)/Lᵢ(0)", "no data recorded"]);
});

test("the rendered page carries both scripts", () => {
  const html = renderReport(report);
  assert.ok(html.includes(errorHookScript().slice(0, 200)));
  assert.ok(html.includes("drawCharts(document, JSON.parse("));
});
