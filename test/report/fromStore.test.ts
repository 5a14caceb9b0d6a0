import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../../src/store/store.js";
import { reportFromStore } from "../../src/report/fromStore.js";
import { renderReport } from "../../src/report/html.js";

test("the report from the store: stored toy runs by task count, their steps thinned, test losses at the evaluations; bad ids refused", () => {
  const dir = mkdtempSync(join(tmpdir(), "lossbalance-report-"));
  try {
    const store = openStore(join(dir, "runs.db"));
    const record = (method: string, T: number, steps: number) => {
      const rec = store.startRun({ name: `${method} T${T}`, method, seed: 1, tasks: T });
      for (let t = 0; t < steps; t++) rec.step(t, { losses: Array.from({ length: T }, (_, i) => 1 / (t + 1 + i)), weights: Array.from({ length: T }, (_, i) => 1 + 0.001 * t * (i % 2 ? -1 : 1)) });
      for (const t of [0, steps - 1]) rec.eval(t, { losses: Array.from({ length: T }, () => (t === 0 ? 2 : 1)) }, "test");
      const final = { method, tasks: T, sigma: Array.from({ length: T }, (_, i) => i + 1), testLoss: new Array(T).fill(1), initialTestLoss: new Array(T).fill(2), normalizedTestLoss: T / 2, weights: new Array(T).fill(1), msPerStep: 1, wallMs: steps };
      rec.finish(final);
      return rec.id;
    };
    const a = record("gradnorm", 2, 1000);
    const b = record("equal", 2, 50);
    const c = record("mgda", 3, 10);
    const report = reportFromStore(store, [a, b, c], { command: "test", maxPoints: 100 });
    assert.deepEqual(report.experiments.map((e) => [e.tasks, e.runs.map((r) => r.method)]), [[2, ["gradnorm", "equal"]], [3, ["mgda"]]]);
    const h = report.experiments[0]!.runs[0]!.history;
    assert.ok(h.steps.length <= 101 && h.steps.length >= 100, `${h.steps.length} points`);
    assert.equal(h.steps[0], 0);
    assert.equal(h.steps[h.steps.length - 1], 999);
    assert.ok(Math.abs(h.weights[h.weights.length - 1]![0]! - 1.999) < 1e-6, "weights as recorded (float32)");
    assert.deepEqual(h.evalSteps, [0, 999]);
    assert.deepEqual(h.evalLosses, [[2, 2], [1, 1]]);
    assert.equal(report.experiments[0]!.runs[1]!.history.steps.length, 50, "short runs keep every step");
    assert.match(renderReport(report), /T = 3 tasks/);
    assert.throws(() => reportFromStore(store, [a, 99], { command: "x" }), /no run 99 in the store/);
    const running = store.startRun({ name: "live", method: "equal" });
    assert.throws(() => reportFromStore(store, [running.id], { command: "x" }), /run \d+ is running: a report needs finished runs/);
    running.finish({ accuracy: [0.9, 0.8] });
    assert.throws(() => reportFromStore(store, [running.id], { command: "x" }), /is not a synthetic-task run/);
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
