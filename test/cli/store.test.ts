import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configHash, openStore } from "../../src/store/index.js";

/** The training commands record their runs in the run store (`--store`, `--no-store`). */

const tmp = () => mkdtempSync(join(tmpdir(), "lb-cli-store-"));
/** The CLI with LOSSBALANCE_STORE pointing at `defaultStore`, so nothing lands in the working directory. */
const cli = (defaultStore: string, ...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { encoding: "utf8", timeout: 120_000, env: { ...process.env, LOSSBALANCE_STORE: defaultStore } });
const tiny = ["--steps", "8", "--train-size", "64", "--test-size", "16"];
const compareArgs = ["compare", "--tasks", "2", "--seeds", "0", "--extra-methods", "", ...tiny, "--workers", "2", "--json"];

test("compare --store records every run from its worker: method, config, each step, evals, final metrics, finished", () => {
  const dir = tmp();
  const path = join(dir, "runs.db");
  const r = cli(join(dir, "default.db"), ...compareArgs, "--store", path, "--out", join(dir, "out"));
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!existsSync(join(dir, "default.db")), "--store replaces the default store");
  const output = JSON.parse(r.stdout) as { settings: Record<string, unknown>; experiments: { summary: { label: string; mean: number }[] }[] };
  const summary = output.experiments[0]!.summary;
  // Every result records its seed(s), the library version and a hash of its settings.
  const version = (JSON.parse(readFileSync("package.json", "utf8")) as { version: string }).version;
  assert.deepEqual(output.settings.seeds, [0]);
  assert.equal(output.settings.version, version);
  assert.match(String(output.settings.configHash), /^[0-9a-f]{16}$/);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, "out", "results.json"), "utf8")).settings, output.settings, "results.json has the same settings");
  const store = openStore(path, { create: false });
  try {
    const runs = store.listRuns();
    assert.equal(runs.length, 6, "gradnorm, equal, uncertainty and three static grid points");
    assert.deepEqual(new Set(runs.map((x) => x.method)), new Set(["gradnorm", "equal", "uncertainty", "static"]));
    assert.deepEqual(new Set(runs.map((x) => x.name)), new Set(summary.map((s) => s.label)));
    for (const run of runs) {
      assert.equal(run.status, "finished", `${run.name}: ${run.error}`);
      assert.equal(run.steps, 8, run.name!);
      assert.equal(run.lastStep, 7);
      assert.equal(run.tasks, 2);
      assert.equal(run.seed, 0);
      assert.equal(run.version, version);
      assert.equal(run.configHash, configHash(run.config), "each run row carries its config's hash");
      const config = run.config as { kind: string; data: { numTasks: number; trainSize: number }; train: { steps: number; seed: number }; options: Record<string, unknown> };
      assert.equal(config.kind, "toy");
      assert.deepEqual([config.data.numTasks, config.data.trainSize, config.train.steps, config.train.seed], [2, 64, 8, 0]);
      if (run.method === "gradnorm") assert.equal(config.options.alpha, 0.12);
      const steps = store.steps(run.id);
      assert.deepEqual(steps.map((s) => s.step), [0, 1, 2, 3, 4, 5, 6, 7]);
      for (const s of steps) assert.ok(s.losses.length === 2 && s.weights.length === 2 && s.losses.every(Number.isFinite));
      if (run.method === "gradnorm") assert.equal(steps[0]!.gradNorms?.length, 2, "GradNorm's gradient norms are recorded");
      const evals = store.evals(run.id);
      assert.ok(evals.length >= 2 && evals[0]!.step === 0 && evals.at(-1)!.step === 8, `evals at ${evals.map((e) => e.step)}`);
      assert.ok(evals.every((e) => e.split === "test" && (e.metrics as { losses: number[] }).losses.length === 2));
      // The final metrics are the numbers the command printed (one seed: the mean is the run's value).
      const final = run.final as { normalizedTestLoss: number; history?: unknown };
      assert.equal(final.history, undefined, "the history is in steps/evals, not repeated in final");
      assert.equal(final.normalizedTestLoss, summary.find((s) => s.label === run.name)!.mean);
    }
    // The HTML report of these runs, from the store.
    const ids = runs.map((r) => String(r.id));
    const rep = cli(join(dir, "default.db"), "runs", "report", ...ids, "--store", path, "--out", join(dir, "stored.html"));
    assert.equal(rep.status, 0, rep.stderr);
    const html = readFileSync(join(dir, "stored.html"), "utf8");
    assert.match(html, /T = 2 tasks/);
    for (const r of runs) assert.ok(html.includes(r.name!), `the report shows ${r.name}`);
  } finally {
    store.close();
  }
});

test("--no-store records nothing and creates no store; without either flag the default store (LOSSBALANCE_STORE) is used", () => {
  const dir = tmp();
  const none = join(dir, "none", "runs.db");
  const c = cli(none, ...compareArgs, "--no-store", "--out", join(dir, "out"));
  assert.equal(c.status, 0, c.stderr);
  const t = cli(none, "toy", "--method", "equal", ...tiny, "--json", "--no-store");
  assert.equal(t.status, 0, t.stderr);
  assert.ok(!existsSync(join(dir, "none")), "no store file (nor its folder)");
  const d = cli(none, "toy", "--method", "equal", ...tiny, "--json");
  assert.equal(d.status, 0, d.stderr);
  const store = openStore(none, { create: false });
  try {
    const runs = store.listRuns();
    assert.equal(runs.length, 1);
    assert.deepEqual([runs[0]!.method, runs[0]!.status, runs[0]!.steps], ["equal", "finished", 8]);
    assert.equal(JSON.parse(d.stdout).configHash, runs[0]!.configHash, "toy --json reports its run's config hash, as stored");
  } finally {
    store.close();
  }
});

test("a run that throws is recorded as failed, with its error (in a worker: compare; in the main thread: toy)", () => {
  const dir = tmp();
  const path = join(dir, "runs.db");
  // A learning rate of 1e30 makes the network NaN at once: the first evaluation throws.
  const c = cli(join(dir, "default.db"), ...compareArgs, "--workers", "1", "--lr", "1e30", "--store", path, "--out", join(dir, "out"));
  assert.notEqual(c.status, 0);
  assert.match(c.stderr, /NaN/);
  const t = cli(join(dir, "default.db"), "toy", "--method", "equal", ...tiny, "--lr", "1e30", "--store", path);
  assert.notEqual(t.status, 0);
  const store = openStore(path, { create: false });
  try {
    const runs = store.listRuns();
    assert.equal(runs.length, 2, `one compare run (one worker: the pool stops at the first failure) and the toy run: ${runs.map((r) => `${r.name} ${r.status}`)}`);
    for (const run of runs) {
      assert.equal(run.status, "failed", run.name!);
      assert.match(run.error ?? "", /TrainingError: evaluate returned NaN/);
      assert.ok(run.ended !== null && run.final === null);
    }
    assert.deepEqual(runs.map((r) => r.method).sort(), ["equal", "gradnorm"]);
  } finally {
    store.close();
  }
});

test("--record-every k records every k-th step, in the main thread (toy) and in the pool's workers (compare)", () => {
  const dir = tmp();
  const path = join(dir, "runs.db");
  const t = cli(join(dir, "default.db"), "toy", "--method", "equal", ...tiny, "--json", "--store", path, "--record-every", "3");
  assert.equal(t.status, 0, t.stderr);
  const c = cli(join(dir, "default.db"), ...compareArgs, "--store", path, "--record-every", "4", "--out", join(dir, "out"));
  assert.equal(c.status, 0, c.stderr);
  assert.match(cli(join(dir, "default.db"), "toy", ...tiny, "--record-every", "0").stderr, /--record-every/);
  const store = openStore(path, { create: false });
  try {
    const [toy, ...pool] = store.listRuns().reverse();
    assert.deepEqual(store.steps(toy!.id).map((s) => s.step), [0, 3, 6]);
    assert.ok(pool.length > 0);
    for (const r of pool) assert.deepEqual(store.steps(r.id).map((s) => s.step), [0, 4], r.name ?? "");
  } finally {
    store.close();
  }
});
