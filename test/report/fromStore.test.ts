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

test("compare's page reads its runs back from the store when every run was recorded, and keeps its own runs otherwise", async () => {
  const { reportRunsFromStore } = await import("../../src/cli/compare.js");
  const dir = mkdtempSync(join(tmpdir(), "lossbalance-report-"));
  try {
    const path = join(dir, "runs.db");
    const store = openStore(path);
    const rec = store.startRun({ name: "gradnorm α=0.12", method: "gradnorm", seed: 0, tasks: 2 });
    for (let t = 0; t < 5; t++) rec.step(t, { losses: [1 / (t + 1), 2 / (t + 1)], weights: [1 + 0.1 * t, 1 - 0.1 * t] });
    rec.eval(4, { losses: [0.5, 0.7] }, "test");
    const final = { method: "gradnorm", tasks: 2, sigma: [1, 100], testLoss: [0.5, 0.7], initialTestLoss: [1, 1], normalizedTestLoss: 1.2, weights: [1.4, 0.6], msPerStep: 1, wallMs: 5 };
    rec.finish(final);
    store.close();
    const inMemory = { ...final, label: "gradnorm α=0.12", seed: 0, history: { steps: [0], weights: [[1, 1]], losses: [[1, 2]], evalSteps: [], evalLosses: [] } };
    const report = { title: "t", generatedAt: "", command: "c", settings: {}, experiments: [{ title: "T = 2 tasks", tasks: 2, sigma: [1, 100], runs: [{ ...inMemory, storeId: rec.id }] }] };
    const read = reportRunsFromStore(report, path);
    const run = read.experiments[0]!.runs[0]!;
    assert.deepEqual(run.history.steps, [0, 1, 2, 3, 4], "the history is the store's");
    assert.deepEqual(run.history.evalLosses.map((l) => l.map((v) => Math.round(v * 1e6) / 1e6)), [[0.5, 0.7]]);
    assert.equal(run.label, "gradnorm α=0.12");
    const unrecorded = { ...report, experiments: [{ ...report.experiments[0]!, runs: [inMemory] }] };
    assert.equal(reportRunsFromStore(unrecorded, path), unrecorded, "a run without a storeId: the report as it is");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
