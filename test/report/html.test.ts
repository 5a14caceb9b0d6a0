import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { renderReport } from "../../src/report/html.js";
import type { ComparisonReport, Experiment, RunSummary } from "../../src/report/types.js";

function run(method: string, seed: number, normalizedTestLoss: number, extra: Partial<RunSummary> = {}): RunSummary {
  const T = extra.tasks ?? 2;
  const sigma = Array.from({ length: T }, (_, i) => i + 1);
  return {
    method,
    tasks: T,
    sigma,
    seed,
    testLoss: sigma.map((s) => 0.1 * s),
    initialTestLoss: sigma.map((s) => s * s),
    normalizedTestLoss,
    weights: sigma.map((_, i) => (i === 0 ? 1.5 : 0.5)),
    msPerStep: 2.5,
    wallMs: 1234,
    history: {
      steps: [0, 10, 20],
      weights: [sigma.map(() => 1), sigma.map(() => 1.2), sigma.map(() => 0.8)],
      losses: [sigma.map(() => 3), sigma.map(() => 2), sigma.map(() => 1)],
      evalSteps: [0, 20],
      evalLosses: [sigma.map((s) => s * s), sigma.map((s) => 0.1 * s)],
    },
    ...extra,
  };
}

function report(experiments: Experiment[], title = "Comparison"): ComparisonReport {
  return {
    title,
    generatedAt: "2025-01-02T03:04:05.000Z",
    command: "lossbalance compare --steps 20",
    settings: { steps: 20, lr: 0.001, hidden: [8, 8], jit: true, backend: "cpu" },
    experiments,
  };
}

function experiment(runs: RunSummary[], title = "Two tasks"): Experiment {
  const T = runs[0]?.tasks ?? 2;
  return { title, tasks: T, sigma: Array.from({ length: T }, (_, i) => i + 1), runs };
}

const uplotDist = join(dirname(createRequire(import.meta.url).resolve("uplot/package.json")), "dist");

test("inlines uPlot (code and CSS) and loads nothing from the network", () => {
  const html = renderReport(report([experiment([run("equal", 1, 1)])]));
  const js = readFileSync(join(uplotDist, "uPlot.iife.min.js"), "utf8");
  const css = readFileSync(join(uplotDist, "uPlot.min.css"), "utf8");
  assert.ok(js.length > 10_000);
  assert.ok(html.includes(js), "uPlot code is inlined verbatim");
  assert.ok(html.includes(css), "uPlot CSS is inlined verbatim");
  assert.doesNotMatch(html, /<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=\s*["']?(https?:)?\/\//i);
  assert.doesNotMatch(html, /<script\b[^>]*\bsrc\s*=/i, "no external scripts at all");
  assert.doesNotMatch(html, /<link\b/i, "no external stylesheets");
});

test("embedded JSON parses back to the input, even with </script> and <!-- in strings", () => {
  const input = report(
    [
      experiment([run("equal", 1, 1.25), run("gradnorm", 7, 0.5, { label: "a </script><script>alert(1)</script> <!-- b" })], "T=2 </script>"),
      experiment([run("rlw", 3, 4.5, { tasks: 6 })], "Six tasks"),
    ],
    "Report </SCRIPT> \u2028 test",
  );
  input.experiments[0]!.notes = ["note with </ and <!-- and \"quotes\""];
  const html = renderReport(input);
  const m = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(m, "data tag present");
  const raw = m[1]!;
  assert.ok(!raw.includes("</"), "no </ inside the data tag");
  assert.ok(!raw.includes("<!--"), "no <!-- inside the data tag");
  assert.deepEqual(JSON.parse(raw), input);
});

test("escapes text inserted into HTML (a <script> label)", () => {
  const evil = '<script>alert("x")</script>';
  const html = renderReport(
    report([experiment([run("equal", 1, 1, { label: evil }), run("<b>m</b>", 2, 2)], `<i>${evil}</i>`)], `T & ${evil}`),
  );
  assert.ok(!html.includes('<script>alert("x")'), "raw script tag from a label");
  assert.ok(!html.includes("<b>m</b>"), "raw markup from a method name");
  assert.ok(html.includes("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
  assert.ok(html.includes("&lt;b&gt;m&lt;/b&gt;"));
  assert.ok(html.includes("<title>T &amp; &lt;script&gt;"));
  // only our own four script elements: error hook, uPlot, data, charts
  assert.equal(html.match(/<script\b/gi)?.length, 4);
});

test("marks the best (lowest) normalized test loss, and only it", () => {
  const html = renderReport(
    report([experiment([run("equal", 1, 0.9), run("gradnorm", 1, 0.4), run("uncertainty", 1, 0.7)])]),
  );
  const best = [...html.matchAll(/<td class="num best"[^>]*><strong>([^<]*)<\/strong><\/td>/g)].map((m) => m[1]);
  assert.deepEqual(best, ["0.4000"]);
  const row = /<tr><th scope="row">gradnorm<\/th>.*?<\/tr>/.exec(html)?.[0] ?? "";
  assert.match(row, /class="num best"/);
  // one run per method: no grouped table
  assert.ok(!html.includes('<table class="grouped">'));
});

test("groups seeds of one method: mean ± sample std of the normalized test loss", () => {
  const html = renderReport(
    report([experiment([run("gradnorm", 1, 0.5), run("equal", 1, 1.2), run("gradnorm", 2, 0.7)])]),
  );
  const table = /<table class="grouped">[\s\S]*?<\/table>/.exec(html)?.[0];
  assert.ok(table, "grouped table present");
  // gradnorm: mean (0.5 + 0.7)/2 = 0.6; sample std sqrt(((0.5-0.6)² + (0.7-0.6)²)/(2-1)) = sqrt(0.02) ≈ 0.14142
  const gn = /<tr><th scope="row">gradnorm<\/th>(.*?)<\/tr>/.exec(table)?.[1] ?? "";
  assert.match(gn, /<td class="num">2<\/td>/, "two runs");
  assert.match(gn, /<td class="num best"[^>]*><strong>0\.6000 ± 0\.1414<\/strong><\/td>/);
  const eq = /<tr><th scope="row">equal<\/th>(.*?)<\/tr>/.exec(table)?.[1] ?? "";
  assert.match(eq, /<td class="num">1<\/td>/, "one run");
  assert.match(eq, /<td class="num">1\.200<\/td>/, "single run: mean without ±");
  assert.ok(!eq.includes("±"));
  // group order follows first appearance
  assert.ok(table.indexOf(">gradnorm<") < table.indexOf(">equal<"));
});

test("more than four tasks: min / median / max of the loss ratios", () => {
  // ratios Lᵢ/Lᵢ(0) = 0.1 s / s² = 0.1 / s for s = 1..5 → 0.1, 0.05, 0.0333, 0.025, 0.02
  const html = renderReport(report([experiment([run("equal", 1, 0.2283, { tasks: 5 })], "Five")]));
  const row = /<tr><th scope="row">equal<\/th>(.*?)<\/tr>/.exec(html)?.[1] ?? "";
  const cells = [...row.matchAll(/<td[^>]*>(?:<strong>)?([^<]*)/g)].map((m) => m[1]);
  // seed, min, median, max, Σ, w min, w max, ms/step
  assert.deepEqual(cells, ["1", "0.02000", "0.03333", "0.1000", "0.2283", "0.5000", "1.500", "2.500"]);
  assert.match(html, /L<sub>i<\/sub>\/L<sub>i<\/sub>\(0\) median/);
});
