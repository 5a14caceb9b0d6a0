/**
 * Renders a {@link ComparisonReport} as one self-contained HTML page: the tables (./tables.ts) and
 * the stylesheet (./style.ts) are written here; the charts are drawn in the browser by the page's own
 * script (./charts.ts) with uPlot (inlined, with its CSS) from the report, which is embedded as JSON.
 * The page makes no network requests.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { ComparisonReport, Experiment } from "./types.js";
import { chartScript, errorHookScript } from "./charts.js";
import { escapeHtml, inlineCode, jsonForScript, shortNumber } from "./format.js";
import { PAGE_CSS } from "./style.js";
import { groupedTable, groupRuns, settingsTable, summaryTable } from "./tables.js";

export type { ComparisonReport, Experiment, RunSummary, LoopHistory } from "./types.js";

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
<script>${inlineCode(errorHookScript(), "script")}</script>
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
<script>${inlineCode(chartScript(), "script")}</script>
</body>
</html>
`;
}
