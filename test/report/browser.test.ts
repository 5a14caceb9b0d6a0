import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { renderReport } from "../../src/report/html.js";
import type { ComparisonReport } from "../../src/report/types.js";
import { reportRun } from "../helpers/reportRuns.js";

/** Headless Chromium (Debian's package; .ci/run installs it). */
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const FLAGS = ["--headless=new", "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

test("the report page draws its charts in headless Chromium, with no errors on the page", async () => {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: install it (apt-get install -y chromium) or set CHROMIUM`);
  const report: ComparisonReport = {
    title: "browser check",
    generatedAt: "2026-01-01T00:00:00.000Z",
    command: "test",
    settings: { steps: 20 },
    experiments: [
      // The second run's ratios span 10⁴ (a log axis); its last evaluation is NaN (a gap).
      { title: "e", tasks: 2, sigma: [1, 100], runs: [reportRun("equal", [[2, 4], [1, 2], [0.5, 1]], [0, 10, 20]), reportRun("gradnorm", [[2, 4000], [1, 40], [0.0002, Number.NaN]], [0, 10, 20])] },
    ],
  };
  const dir = mkdtempSync(join(tmpdir(), "lossbalance-report-"));
  try {
    const file = join(dir, "report.html");
    writeFileSync(file, renderReport(report));
    const { stdout } = await promisify(execFile)(CHROMIUM, [...FLAGS, "--virtual-time-budget=5000", "--dump-dom", pathToFileURL(file).href], { timeout: 60_000, maxBuffer: 64 << 20 });
    assert.match(stdout, /<ul id="errors" hidden(="")?><\/ul>/, "the page's error list stays empty and hidden");
    assert.match(stdout, /data-charts-done="5"/);
    const titles = [...stdout.matchAll(/class="u-title">([^<]*)</g)].map((m) => m[1]);
    assert.deepEqual(titles, [
      "Normalized test loss Σ Lᵢ(t)/Lᵢ(0)",
      "equal: task weights wᵢ(t)",
      "gradnorm: task weights wᵢ(t)",
      "equal: test loss Lᵢ(t)/Lᵢ(0)",
      "gradnorm: test loss Lᵢ(t)/Lᵢ(0) (log y)",
    ]);
    assert.equal(stdout.match(/<canvas/g)?.length, 5, "one canvas per chart");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
