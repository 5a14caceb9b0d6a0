import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// The training commands record their runs in the run store: a temporary one, not the working directory's.
process.env.LOSSBALANCE_STORE ??= join(mkdtempSync(join(tmpdir(), "lb-store-")), "runs.db");

const args = (out: string) => ["--import", "tsx", "src/cli/main.ts", "sweep", "--grid", "2", "--alpha", "", "--seeds", "0", "--epochs", "1", "--hidden", "16", "--workers", "1", "--out", out];
const lines = (file: string) => (existsSync(file) ? readFileSync(file, "utf8").split("\n").filter((l) => l !== "") : []);

test("a two-point sweep killed after its first point resumes without re-running it", async () => {
  const out = mkdtempSync(join(tmpdir(), "lb-sweep-"));
  const file = join(out, "sweep.jsonl");
  // Start the sweep and kill it (SIGKILL: no chance to clean up) as soon as the first point is saved.
  const child = spawn(process.execPath, args(out), { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
  const deadline = Date.now() + 60_000;
  while (lines(file).length === 0 && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 10));
  child.kill("SIGKILL");
  await exited;
  const first = lines(file);
  assert.equal(first.length, 1, `expected exactly one saved point before the kill; stderr:\n${stderr}`);
  const saved = JSON.parse(first[0]!) as { key: string; outcome: { label: string } };

  const r = spawnSync(process.execPath, [...args(out), "--json"], { encoding: "utf8", timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /1 already in .*, 1 to run/);
  const report = JSON.parse(r.stdout);
  assert.equal(report.settings.resumed, 1);
  assert.equal(report.settings.ran, 1);
  assert.deepEqual(report.settings.seeds, [0]);
  assert.equal(report.settings.version, JSON.parse(readFileSync("package.json", "utf8")).version);
  assert.match(report.settings.configHash, /^[0-9a-f]{16}$/);
  const after = lines(file);
  assert.equal(after.length, 2, "one new record, the first not re-run");
  assert.equal(after[0], first[0], "the saved point is untouched");
  const labels = after.map((l) => JSON.parse(l).outcome.label);
  assert.equal(new Set(labels).size, 2, `two different points: ${labels}`);
  assert.ok(labels.includes(saved.outcome.label));
  assert.equal(report.summary.rows.length, 2);
  for (const row of report.summary.rows) assert.ok(row.test[0] > 0.1, `${row.label} beats chance`);

  // A third invocation has nothing left to run.
  const again = spawnSync(process.execPath, [...args(out), "--json"], { encoding: "utf8", timeout: 60_000 });
  assert.equal(again.status, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).settings.ran, 0);
  assert.equal(JSON.parse(again.stdout).settings.configHash, report.settings.configHash, "a resumed sweep has the same config hash");
  assert.equal(lines(file).length, 2);
});

test("sweep: bad flags get one-line errors", () => {
  for (const [flags, pattern] of [
    [["--grid", "0"], /--grid.*positive integer/],
    [["--alpha", "-1"], /--alpha.*≥ 0/],
    [["--dataset", "cifar"], /must be one of mnist, fashion, fashion\+mnist/],
    [["--encoder", "resnet"], /--encoder.*must be one of mlp, lenet/],
  ] as const) {
    const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "sweep", ...flags], { encoding: "utf8", timeout: 60_000 });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr.trim(), pattern);
    assert.equal(r.stderr.trim().split("\n").length, 1);
  }
});
