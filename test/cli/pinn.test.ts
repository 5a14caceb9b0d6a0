import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "./helpers.js";

const cli = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args, "--no-store"], { encoding: "utf8", timeout: 120_000 });
const tiny = ["--steps", "6", "--hidden", "8", "--grid", "11", "--points", "16"];

test("pinn <problem> --json: the relative L2 error, one weight and one final loss per term, the error curve", () => {
  const r = cli("pinn", "kleingordon", "--method", "relobralo", ...tiny, "--json");
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  assert.equal(o.problem, "kleingordon");
  assert.deepEqual(o.terms, ["residual", "initial", "boundary"]);
  assert.equal(o.weights.length, 3);
  assert.equal(o.finalTermLosses.length, 3);
  assert.ok(Number.isFinite(o.relativeL2) && o.relativeL2 > 0);
  assert.equal(o.errors.steps.at(-1), 6);
  assert.deepEqual(o.hidden, [8]);
  // Without --hidden, each problem's own network (Klein–Gordon: the paper's 5 × 50).
  const d = cli("pinn", "kleingordon", "--steps", "1", "--grid", "5", "--points", "4", "--json");
  assert.equal(d.status, 0, d.stderr);
  assert.deepEqual(JSON.parse(d.stdout).hidden, [50, 50, 50, 50, 50]);
  assert.match(o.configHash, /^[0-9a-f]{16}$/);
});

test("pinn --method lra: the residual keeps weight 1, the other terms' weights move with the gradient ratios (every step with --opt every=1)", () => {
  const r = cli("pinn", "kleingordon", "--method", "lra", "--opt", "every=1", ...tiny, "--json");
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  assert.equal(o.weights[0], 1);
  for (const w of o.weights.slice(1)) assert.ok(Number.isFinite(w) && w > 0 && w !== 1, `weights ${o.weights}`);
});

test("pinn bench: a table per problem, pinn-bench.json and report.html", () => {
  const out = join(mkdtempSync(join(tmpdir(), "lb-pinn-bench-")), "o");
  const r = cli("pinn", "bench", "--problems", "poisson,burgers", "--methods", "equal,softadapt", "--seeds", "0", "--workers", "1", ...tiny, "--out", out);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Poisson 2D .* relative L2 error/);
  assert.match(r.stdout, /Burgers 1D .* relative L2 error/);
  const saved = JSON.parse(readFileSync(join(out, "pinn-bench.json"), "utf8"));
  assert.deepEqual(Object.keys(saved.summary).sort(), ["burgers", "poisson"]);
  assert.equal(saved.runs.length, 4);
  assert.ok(existsSync(join(out, "report.html")));
  assert.equal(readFileSync(join(out, "report.html"), "utf8").match(/<canvas /g)?.length, 6);
});

test("pinn flags: checked by the schema before any work", async () => {
  assert.match(cli("pinn", "poisson", "--points", "0").stderr, /--points.*must be a positive integer/);
  assert.match(cli("pinn", "poisson", "--method", "nope").stderr, /unknown method 'nope'/);
  assert.match(cli("pinn", "bench", "--problems", "heat").stderr, /unknown problem 'heat'; allowed: poisson, helmholtz, kleingordon, burgers/);
  assert.match(cli("pinn", "poisson", "--alpha", "1", "--method", "mgda").stderr, /--alpha does not apply to method 'mgda'/);
  const call = await parse("pinn", "helmholtz", "--method", "cagrad", "--opt", "c=0.2", "--steps", "10");
  assert.equal(call.command, "pinn");
  assert.deepEqual([call.options.problem, call.options.method, call.options.opt, call.options.steps, call.options.derivatives], ["helmholtz", "cagrad", { c: 0.2 }, 10, "taylor"]);
});
