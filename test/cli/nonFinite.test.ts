import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// The training commands record their runs in the run store: a temporary one, not the working directory's.
process.env.LOSSBALANCE_STORE ??= join(mkdtempSync(join(tmpdir(), "lb-store-")), "runs.db");

const cli = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { encoding: "utf8", timeout: 120_000 });
const small = ["--train-size", "64", "--test-size", "16"];

test("--on-nonfinite is validated on toy, compare, bench mnist and sweep (before any work)", () => {
  for (const cmd of [["toy"], ["compare"], ["bench", "mnist"], ["sweep"]]) {
    const r = cli(...cmd, "--on-nonfinite", "ignore");
    assert.notEqual(r.status, 0, cmd.join(" "));
    assert.match(r.stderr, /option '--on-nonfinite <policy>' argument 'ignore' is invalid\. must be one of stop, skip/, cmd.join(" "));
    const help = cli(...cmd, "--help");
    assert.match(help.stdout, /--on-nonfinite <policy>/, `${cmd.join(" ")} --help`);
  }
});

test("toy --lr 1e30 (stop, the default): the error names step 1, task 0 and NaN, the policy and the flag that changes it", () => {
  const r = cli("toy", "--lr", "1e30", ...small);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /lossbalance: loss of task 0 is NaN at step 1 \(training diverged or the data holds NaN\/Inf\); the run stopped \(onNonFinite: "stop"; .*--on-nonfinite skip/);
});

test("toy --lr 1e30 --on-nonfinite skip: step 0 applies, steps 1–11 are skipped, and the 11th in a row stops the run", () => {
  const r = cli("toy", "--lr", "1e30", "--on-nonfinite", "skip", ...small);
  assert.equal(r.status, 1, r.stderr);
  assert.match(
    r.stderr,
    /lossbalance: 11 steps skipped with non-finite values, 11 of them in a row: more than the 10 allowed in a row \(onNonFinite: "skip"; limits maxSkipped 20, maxSkippedInARow 10\); the run stopped at step 11\. Skipped steps: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11\. Last: loss of task 0 is NaN at step 11/,
  );
});

test("toy --on-nonfinite skip on a healthy run: finishes and reports no skipped steps", () => {
  const r = cli("toy", "--on-nonfinite", "skip", "--steps", "8", ...small, "--json");
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  assert.equal(o.onNonFinite, "skip");
  assert.equal(o.skipped, 0);
  assert.deepEqual(o.skippedSteps, []);
});
