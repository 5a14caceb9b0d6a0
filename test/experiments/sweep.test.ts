import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pointKey, stableStringify, staticWeightGrid, summarizeSweep, sweepPoints, type SweepSettings } from "../../src/experiments/sweep.js";
import { appendRecord, readRecords } from "../../src/cli/sweep.js";
import type { MultiRunOutcome } from "../../src/experiments/multiExperiment.js";

const settings: SweepSettings = { dataset: "mnist", grid: 3, alphas: [0.5, 1.5], seeds: [0, 1], dataSeed: 0, train: { epochs: 2, hidden: [8] } };

const outcome = (test: number[], val = test, weights = [1, 1]): MultiRunOutcome => ({
  method: "static",
  testAccuracy: test,
  validationAccuracy: val,
  bestEpoch: 1,
  epochsRun: 1,
  weights,
  msPerStep: 1,
  secondsPerEpoch: 1,
  label: "x",
  seed: 0,
  dataset: "mnist",
  options: {},
});

test("static grid: n points on w_left + w_right = 2, ends excluded, symmetric", () => {
  assert.deepEqual(staticWeightGrid(1), [[1, 1]]);
  const g = staticWeightGrid(9);
  assert.equal(g.length, 9);
  for (const [a, b] of g) assert.ok(a > 0 && b > 0 && Math.abs(a + b - 2) < 1e-12);
  for (let i = 0; i < 9; i++) assert.ok(Math.abs(g[i]![0] - g[8 - i]![1]) < 1e-12);
  assert.deepEqual(g[4], [1, 1], "an odd grid contains equal weights");
  assert.throws(() => staticWeightGrid(0), /at least one point/);
});

test("point keys: equal settings in any key order give one key; any change gives another", () => {
  assert.equal(stableStringify({ b: 1, a: { d: [1, 2], c: "x" } }), stableStringify({ a: { c: "x", d: [1, 2] }, b: 1 }));
  const pts = sweepPoints(settings);
  assert.equal(pts.length, (3 + 2) * 2);
  assert.equal(new Set(pts.map((p) => p.key)).size, pts.length, "every run has its own key");
  assert.deepEqual(sweepPoints(settings).map((p) => p.key), pts.map((p) => p.key), "deterministic");
  const base = pts[0]!.spec;
  for (const changed of [
    { ...base, train: { ...base.train, epochs: 3 } },
    { ...base, train: { ...base.train, lr: 0.01 } },
    { ...base, dataSeed: 1 },
    { ...base, dataset: "fashion" as const },
    { ...base, options: { weights: [0.25, 1.75] } },
    { ...base, train: { ...base.train, patience: 5 } },
    { ...base, train: { ...base.train, encoder: "lenet" as const } },
  ])
    assert.notEqual(pointKey(changed), pts[0]!.key);
  assert.equal(pointKey({ ...base, label: "another label" }), pts[0]!.key, "the label is not part of a run's identity");
  assert.equal(pointKey({ ...base, train: { ...base.train, patience: 3 } }), pts[0]!.key, "defaults are resolved: the default patience spelled out is the same run");
});

test("summary: GradNorm's place in the grid's distribution, and the grid search's pick by validation", () => {
  const pts = sweepPoints(settings);
  const acc: Record<string, [number, number]> = {
    "static 0.500:1.500": [0.8, 0.7],
    "static 1.000:1.000": [0.9, 0.8],
    "static 1.500:0.500": [0.7, 0.6],
    "gradnorm α=0.5": [0.85, 0.8],
    "gradnorm α=1.5": [0.6, 0.6],
  };
  const outcomes = new Map<string, MultiRunOutcome>();
  for (const p of pts) {
    const [l, r] = acc[p.label]!;
    const d = p.spec.train.seed === 0 ? 0.01 : -0.01;
    // Validation prefers the 1.5:0.5 point, so the pick (by validation) differs from the best test point.
    const val = p.label === "static 1.500:0.500" ? [0.99, 0.99] : [l, r];
    outcomes.set(p.key, outcome([l + d, r + d], val));
  }
  const s = summarizeSweep(pts, outcomes);
  assert.equal(s.rows.length, 5);
  const row = (label: string) => s.rows.find((r) => r.label === label)!;
  assert.ok(Math.abs(row("static 1.000:1.000").test[0] - 0.85) < 1e-12);
  assert.ok(Math.abs(row("static 1.000:1.000").test[1] - Math.SQRT2 * 0.01) < 1e-12, "std over the two seeds");
  assert.equal(s.selected!.label, "static 1.500:0.500");
  assert.equal(s.bestTest!.label, "static 1.000:1.000");
  const g = Object.fromEntries(s.gradnorm.map((x) => [x.label, x]));
  assert.equal(g["gradnorm α=0.5"]!.beats, 2);
  assert.ok(Math.abs(g["gradnorm α=0.5"]!.percentile - 2 / 3) < 1e-12);
  assert.equal(g["gradnorm α=1.5"]!.beats, 0);
  assert.equal(g["gradnorm α=1.5"]!.of, 3);
  // A partial sweep summarizes what is there.
  const partial = new Map([...outcomes].slice(0, 3));
  assert.equal(summarizeSweep(pts, partial).rows.length, 2);
});

test("record file: round trip; a line cut short by an interruption is dropped; a corrupt line is an error and the file is kept", () => {
  const dir = mkdtempSync(join(tmpdir(), "lb-rec-"));
  const file = join(dir, "sweep.jsonl");
  assert.equal(readRecords(file).size, 0, "no file, nothing done");
  appendRecord(file, "a", outcome([0.5, 0.6]));
  appendRecord(file, "b", outcome([0.7, 0.8]));
  const full = readFileSync(file, "utf8");
  writeFileSync(file, full + '{"key":"c","outco');
  const r = readRecords(file);
  assert.deepEqual([...r.keys()], ["a", "b"]);
  assert.deepEqual(r.get("b")!.testAccuracy, [0.7, 0.8]);
  assert.equal(readFileSync(file, "utf8"), full, "the partial line is removed so the next record starts on its own line");
  const corrupt = full.replace('{"key":"b"', "garbage {");
  writeFileSync(file, corrupt);
  assert.throws(() => readRecords(file), /line 2: not a sweep record/);
  assert.equal(readFileSync(file, "utf8"), corrupt, "nothing saved is lost");
});
