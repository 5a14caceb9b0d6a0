import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prepareOutDir, saveOutput } from "../../src/cli/output.js";
import { readRecords, recordSink } from "../../src/cli/sweep.js";
import type { MultiRunOutcome } from "../../src/experiments/multiExperiment.js";

/** Runs fn with console.error captured; returns what it printed. */
function captureStderr(fn: () => void): string {
  const original = console.error;
  let text = "";
  console.error = (...a: unknown[]) => void (text += a.join(" ") + "\n");
  try {
    fn();
  } finally {
    console.error = original;
  }
  return text;
}

test("prepareOutDir creates missing folders, and leaves nothing behind", () => {
  const dir = join(mkdtempSync(join(tmpdir(), "lb-out-")), "a", "b");
  assert.equal(prepareOutDir(dir, ["results.json"]), dir);
  assert.ok(existsSync(dir));
  assert.deepEqual(readdirSync(dir), [], "the probe file is removed");
  assert.throws(() => prepareOutDir(""), /must not be empty/);
});

test("saveOutput: a result that cannot be written where asked goes to a temporary file, and says where", () => {
  const dir = mkdtempSync(join(tmpdir(), "lb-out-"));
  writeFileSync(join(dir, "file"), "x");
  let written = "";
  const said = captureStderr(() => (written = saveOutput(join(dir, "file", "results.json"), "the result")));
  assert.notEqual(written, join(dir, "file", "results.json"));
  assert.equal(readFileSync(written, "utf8"), "the result");
  assert.match(said, /could not write .*results\.json \(a part of the path is a file, not a folder\); saved it to .*results\.json instead/);
  assert.equal(saveOutput(join(dir, "ok.json"), "fine"), join(dir, "ok.json"));
  assert.equal(readFileSync(join(dir, "ok.json"), "utf8"), "fine");
});

test("sweep records: when the record file becomes unwritable mid-sweep, later runs are kept in a temporary file", () => {
  const dir = mkdtempSync(join(tmpdir(), "lb-sink-"));
  const file = join(dir, "sweep.jsonl");
  const sink = recordSink(file);
  const outcome = { label: "p", testAccuracy: [0.5, 0.5] } as unknown as MultiRunOutcome;
  sink.append("k1", outcome);
  rmSync(dir, { recursive: true });
  const said = captureStderr(() => sink.append("k2", outcome));
  sink.append("k3", outcome);
  assert.notEqual(sink.file, file);
  assert.match(said, /could not append to .*sweep\.jsonl.*saved in /);
  assert.deepEqual([...readRecords(sink.file).keys()], ["k2", "k3"]);
});
