import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { weightExponent, staticGrid } from "../../src/cli/compare.js";
import { gradModeFor } from "../../src/cli/benchMnist.js";

// The training commands record their runs in the run store: a temporary one, not the working directory's.
process.env.LOSSBALANCE_STORE ??= join(mkdtempSync(join(tmpdir(), "lb-store-")), "runs.db");

const cli = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { encoding: "utf8", timeout: 120_000 });

const tiny = ["--steps", "8", "--train-size", "64", "--test-size", "16"];

test("toy --json prints one JSON object with the documented fields", () => {
  const r = cli("toy", "--tasks", "2", "--method", "gradnorm", "--alpha", "0.5", ...tiny, "--json");
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.equal(lines.length, 1, "exactly one line on stdout");
  const o = JSON.parse(lines[0]!);
  assert.equal(o.method, "gradnorm");
  assert.equal(o.tasks, 2);
  assert.deepEqual(o.sigma, [1, 100]);
  assert.equal(o.testLoss.length, 2);
  assert.equal(o.weights.length, 2);
  assert.ok(Math.abs(o.weights[0] + o.weights[1] - 2) < 1e-9);
  assert.equal(typeof o.normalizedTestLoss, "number");
  assert.ok(o.msPerStep > 0);
  assert.equal(o.options.alpha, 0.5);
});

test("toy runs every registered baseline and the GradNorm gradient modes", () => {
  for (const args of [["--method", "equal"], ["--method", "uncertainty"], ["--method", "dwa"], ["--method", "rlw"], ["--method", "static", "--weights", "1,3"], ["--method", "gradnorm", "--grad-mode", "shared"], ["--method", "gradnorm", "--grad-mode", "representation"], ["--method", "mgda", "--grad-mode", "representation"], ["--method", "cagrad", "--opt", "c=0.2", "--tasks", "3"]]) {
    const r = cli("toy", ...args, ...tiny, "--json");
    assert.equal(r.status, 0, `${args.join(" ")}: ${r.stderr}`);
    assert.ok(Number.isFinite(JSON.parse(r.stdout).normalizedTestLoss), args.join(" "));
  }
});

for (const [args, pattern] of [
  [["toy", "--method", "nope"], /unknown method 'nope'/],
  [["toy", "--steps", "abc"], /--steps.*positive integer/],
  [["toy", "--steps"], /argument missing/],
  [["toy", "--alpha", "-1"], /--alpha.*≥ 0/],
  [["toy", "--method", "equal", "--alpha", "1"], /--alpha does not apply/],
  [["toy", "--method", "static"], /needs --weights/],
  [["toy", "--method", "static", "--weights", "1,x"], /comma-separated/],
  [["toy", "--method", "static", "--weights", "1,2,3", "--tasks", "2"], /static.*3.*2|2.*3/],
  [["toy", "--tasks", "1"], /gradnorm.*tasks/],
  [["toy", "--grad-mode", "everything"], /must be one of/],
  [["toy", "--method", "equal", "--grad-mode", "shared"], /--grad-mode does not apply/],
  [["toy", "--opt", "c"], /key=value/],
  [["toy", "--method", "cagrad", "--opt", "cc=0.4"], /cagrad: unknown option 'cc' \(known: c, rescale, gradMode\)/],
  [["toy", "--bogus"], /unknown option/],
  [["toy", "--out", ""], /--out.*must not be empty/],
  [["compare", "--out", ""], /--out.*must not be empty/],
  [["compare", "--seeds", "0,1,0"], /--seeds.*must not repeat a value \(0/],
  [["compare", "--tasks", "2,2"], /--tasks.*must not repeat/],
  [["compare", "--tasks", "2", "--extra-methods", "bogus"], /unknown method 'bogus'/],
  [["compare", "--extra-methods", "mgda,equal"], /--extra-methods: 'equal' already runs in the main comparison/],
  [["compare", "--tasks", "2", "--extra-methods", "mgda"], /--extra-methods has no effect.*--tasks 2 does not include/],
  [["compare", "--tasks", "2", "--extra-tasks", "3"], /--extra-tasks 3 is not among --tasks 2/],
  [["bench", "mnist", "--seeds", "1,1"], /--seeds.*must not repeat/],
  [["bench", "mnist", "--methods", "equal,equal"], /--methods.*must not repeat/],
  [["sweep", "--alpha", "1,1"], /--alpha.*must not repeat/],
  [["frobnicate"], /unknown command/],
  [["toy", "--method", "gradnrom"], /--method.*unknown method 'gradnrom'; allowed: gradnorm, equal, /],
  [["toy", "--checkpoint-every", "5"], /--checkpoint-every needs --checkpoint-dir/],
  [["bench", "mnist", "--config", "no/such/config.json"], /cannot read --config no\/such\/config\.json: no such file/],
] as const) {
  test(`bad input: lossbalance ${args.join(" ")} → one-line error, non-zero exit`, () => {
    const r = cli(...args);
    assert.notEqual(r.status, 0);
    const err = r.stderr.trim();
    assert.match(err, pattern);
    assert.equal(err.split("\n").length, 1, `one line, got:\n${err}`);
    assert.equal(r.stdout, "");
  });
}

test("--help lists the commands and toy's options", () => {
  const r = cli("toy", "--help");
  assert.equal(r.status, 0);
  for (const flag of ["--tasks", "--method", "--alpha", "--steps", "--seed", "--out", "--json"]) assert.match(r.stdout, new RegExp(flag));
});

test("compare writes results.json and a self-contained report.html", () => {
  const out = mkdtempSync(join(tmpdir(), "lb-compare-"));
  const r = cli("compare", "--tasks", "2", "--seeds", "0", "--workers", "1", ...tiny, "--out", out);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /gradnorm α=0\.12/);
  assert.ok(existsSync(join(out, "report.html")));
  const data = JSON.parse(readFileSync(join(out, "results.json"), "utf8"));
  assert.equal(data.experiments.length, 1);
  const labels = data.experiments[0].runs.map((x: { label: string }) => x.label);
  assert.deepEqual(labels, ["gradnorm α=0.12", "equal", "uncertainty", "static 10:1", "static 100:1", "static 1000:1"]);
  assert.ok(!/<script[^>]+src=["']https?:/i.test(readFileSync(join(out, "report.html"), "utf8")));
});

test("weightExponent recovers p in w ∝ σ^-p; the static grid sums to T", () => {
  const sig = [1, 3, 10, 40];
  for (const p of [0, 0.5, 1, 2]) assert.ok(Math.abs(weightExponent(sig.map((s) => 7 * s ** -p), sig) - p) < 1e-9);
  for (const g of [...staticGrid([1, 100]), ...staticGrid([2, 5, 9])]) {
    assert.ok(Math.abs(g.weights.reduce((a, b) => a + b, 0) - g.weights.length) < 1e-9);
  }
});

test("bench mnist --json: single-task baselines, accuracy per task and Δm for each method", () => {
  const out = mkdtempSync(join(tmpdir(), "lb-bench-"));
  const r = cli("bench", "mnist", "--methods", "equal", "--seeds", "0", "--epochs", "1", "--hidden", "16", "--workers", "1", "--out", out, "--json");
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  const rows = o.summary.mnist as { label: string; left: number[]; right: number[]; deltaM: number[] }[];
  assert.deepEqual(rows.map((x) => x.label), ["single left", "single right", "equal"]);
  const eq = rows[2]!;
  assert.ok(eq.left[0]! > 0.1 && eq.right[0]! > 0.1, "better than chance");
  const expected = (100 * ((eq.left[0]! - rows[0]!.left[0]!) / rows[0]!.left[0]! + (eq.right[0]! - rows[1]!.right[0]!) / rows[1]!.right[0]!)) / 2;
  assert.ok(Math.abs(eq.deltaM[0]! - expected) < 1e-9, `Δm ${eq.deltaM[0]} vs ${expected}`);
  assert.ok(existsSync(join(out, "bench-mnist.json")));
  const bad = cli("bench", "mnist", "--methods", "nope");
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /unknown method 'nope'/);
  assert.match(cli("bench", "mnist", "--datasets", "cifar").stderr, /mnist, fashion, fashion\+mnist/);
  const lenetShared = cli("bench", "mnist", "--encoder", "lenet", "--grad-mode", "shared");
  assert.notEqual(lenetShared.status, 0);
  assert.match(lenetShared.stderr.trim(), /^lossbalance: --grad-mode shared with --encoder lenet: gradient mode 'shared' does not support a convolutional stem/);
});

test("bench mnist gradient modes: --grad-mode for methods that take one; LeNet moves 'shared' methods to the representation", () => {
  assert.equal(gradModeFor("equal", { encoder: "lenet", gradMode: "representation" }), undefined, "equal takes no mode");
  assert.equal(gradModeFor("mgda", { encoder: "mlp" }), undefined, "default: the method's own");
  assert.equal(gradModeFor("mgda", { encoder: "lenet" }), "representation", "MGDA-UB with the conv stem");
  assert.equal(gradModeFor("gradnorm", { encoder: "lenet" }), undefined, "lastShared works with a stem");
  assert.equal(gradModeFor("gradnorm", { encoder: "mlp", gradMode: "representation" }), "representation");
  assert.equal(gradModeFor("pcgrad", { encoder: "mlp", gradMode: "shared" }), undefined, "same as its default: no label change");
});

test("output paths are checked before any training: a file as --out, a path under a file, a folder where a result file goes", () => {
  const dir = mkdtempSync(join(tmpdir(), "lb-out-"));
  const file = join(dir, "a-file");
  writeFileSync(file, "x");
  mkdirSync(join(dir, "taken", "results.json"), { recursive: true });
  // Each run would take far longer than the time limit: only a check made up front returns in time.
  const long = ["--steps", "1000000"];
  for (const [args, pattern] of [
    [["toy", "--out", join(file, "sub"), ...long], /cannot use --out .*a-file\/sub: a part of the path is a file/],
    [["compare", "--tasks", "2", "--seeds", "0", "--extra-methods", "", "--out", file, ...long], /cannot use --out .*a-file: it exists and is not a folder/],
    [["compare", "--tasks", "2", "--seeds", "0", "--extra-methods", "", "--out", join(dir, "taken"), ...long], /cannot write .*taken\/results\.json: it exists and is not a file/],
    [["bench", "mnist", "--epochs", "1000", "--out", file], /cannot use --out .*a-file: it exists and is not a folder/],
    [["sweep", "--epochs", "1000", "--out", join(file, "x")], /cannot use --out .*a part of the path is a file/],
  ] as const) {
    const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { encoding: "utf8", timeout: 30_000 });
    assert.equal(r.status, 1, `${args.join(" ")}: status ${r.status}, stderr ${r.stderr}`);
    assert.match(r.stderr.trim(), pattern);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});
