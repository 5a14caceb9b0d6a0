import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { pinnReportHtml, type PinnReportProblem } from "../../src/report/pinn.js";
import { launchChromium } from "../helpers/chromium.js";

const n = 9;
const field = (f: (x: number, y: number) => number) => Array.from({ length: n * n }, (_, k) => f((k % n) / (n - 1), Math.floor(k / n) / (n - 1)));
const problem: PinnReportProblem = {
  name: "p",
  title: "Problem <one>",
  equation: "u = x − y",
  inputs: ["x", "y"],
  grid: n,
  reference: field((x, y) => x - y),
  prediction: field((x, y) => 0.9 * (x - y)),
  predictionLabel: "equal, seed 0",
  rows: [{ label: "equal", cells: ["1.0e-1", "1.0e-1", "3.0"] }],
};

test("the PINN report: a table and three fields per problem, text escaped, the data embedded", () => {
  const html = pinnReportHtml("t", "intro", [problem, { ...problem, name: "q" }], ["method", "a", "b", "c"]);
  assert.equal(html.match(/<canvas /g)?.length, 6);
  assert.ok(html.includes("Problem &lt;one&gt;") && !html.includes("Problem <one>"));
  const data = JSON.parse(/<script type="application\/json" id="pinn-data">(.*?)<\/script>/s.exec(html)![1]!) as { id: string; values: number[]; scale?: number }[];
  assert.equal(data.length, 6);
  assert.ok(Math.abs(data[2]!.values[n - 1]! + 0.1) < 1e-12, "the error field is prediction − reference");
  assert.equal(data[1]!.scale, 1, "the prediction is drawn on the reference's scale");
});

test("the PINN report draws every field in headless Chromium, with no page error", async () => {
  const dir = mkdtempSync(join(tmpdir(), "lb-pinn-report-"));
  const file = join(dir, "report.html");
  writeFileSync(file, pinnReportHtml("t", "intro", [problem], ["method", "a", "b", "c"]));
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(pathToFileURL(file).href);
    const drawn = await page.evaluate(() =>
      Array.from(document.querySelectorAll("canvas")).map((c) => {
        const d = (c as HTMLCanvasElement).getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
        let coloured = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] !== 255 || d[i + 1] !== 255 || d[i + 2] !== 255) coloured++;
        return { width: c.width, coloured, corner: [d[0], d[1], d[2]] };
      }),
    );
    assert.deepEqual(errors, []);
    assert.deepEqual(drawn.map((d) => d.width), [n, n, n]);
    for (const d of drawn) assert.ok(d.coloured > n, `a field is drawn: ${d.coloured} coloured pixels`);
    // Top-left pixel is (x = 0, y = 1): u = −1, blue at full strength in the reference.
    assert.deepEqual(drawn[0]!.corner, [0, 0, 255]);
  } finally {
    await browser.close();
  }
});
