import { test, before } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setupJax } from "./helpers/jax.js";
import { createBalancer } from "../src/balancers/registry.js";
import { makeToy } from "../src/data/toy.js";
import { runToy, type ToyRunResult } from "../src/experiments/toyRun.js";
import { configHash } from "../src/store/index.js";
import { anyModelMethods } from "../src/cli/methodSets.js";

/**
 * Same seed, config and machine → identical outputs: every method twice in one process, and the
 * CLI's `toy --json` and `bench mnist --json` twice in separate processes, bit for bit (timings aside).
 */

before(async () => {
  await setupJax();
});

const version = (JSON.parse(readFileSync("package.json", "utf8")) as { version: string }).version;
const data = () => makeToy({ numTasks: 3, sigmas: [1, 5, 20], inputDim: 12, outputDim: 4, trainSize: 64, testSize: 16, seed: 3 });
const train = { steps: 20, batchSize: 8, hidden: [16, 16], seed: 7, evalEvery: 5 };

/** A result without its timings (which differ run to run). */
const untimed = ({ msPerStep: _ms, wallMs: _wall, ...rest }: ToyRunResult) => rest;

for (const name of anyModelMethods()) {
  test(`${name}: two seeded runs give bit-identical weights, losses and final metrics`, async () => {
    const options = name === "static" ? { weights: [1, 2, 3] } : {};
    // Fresh data and balancer each time: nothing may carry over from the first run but the seed.
    const a = await runToy(data(), name, createBalancer(name, options), train);
    const b = await runToy(data(), name, createBalancer(name, options), train);
    assert.ok(a.history.weights.length > 1 && a.history.losses.length > 1);
    assert.ok(a.weights.every(Number.isFinite), `${name}: ${a.weights}`);
    assert.deepEqual(b.history.weights, a.history.weights, `${name}: weights history`);
    assert.deepEqual(b.history.losses, a.history.losses, `${name}: losses history`);
    assert.deepEqual(b.history.evalLosses, a.history.evalLosses, `${name}: test losses history`);
    assert.deepEqual(untimed(b), untimed(a), `${name}: final metrics`);
  });
}

const cli = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { encoding: "utf8", timeout: 120_000 });

/** A JSON output without its timing fields, at any depth. */
function stripTimings(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripTimings);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).filter(([k]) => !["msPerStep", "wallMs", "wallSeconds"].includes(k)).map(([k, x]) => [k, stripTimings(x)]));
  return v;
}

test("lossbalance toy --json: two processes, identical output (timings aside), with seed, version and config hash", () => {
  const args = ["toy", "--tasks", "3", "--method", "gradnorm", "--steps", "12", "--train-size", "64", "--test-size", "16", "--seed", "5", "--json", "--no-store"];
  const [a, b] = [cli(...args), cli(...args)];
  assert.equal(a.status, 0, a.stderr);
  assert.equal(b.status, 0, b.stderr);
  const [ja, jb] = [JSON.parse(a.stdout), JSON.parse(b.stdout)];
  assert.deepEqual(stripTimings(jb), stripTimings(ja));
  assert.equal(ja.seed, 5);
  assert.equal(ja.version, version);
  assert.match(ja.configHash, /^[0-9a-f]{16}$/);
  // Another seed is another config.
  const c = cli(...args.map((x, i) => (args[i - 1] === "--seed" ? "6" : x)));
  assert.equal(c.status, 0, c.stderr);
  assert.notEqual(JSON.parse(c.stdout).configHash, ja.configHash);
});

test("lossbalance bench mnist --json: two processes, identical output (timings and output folder aside), with seeds, version and config hash", () => {
  const run = () => {
    const out = mkdtempSync(join(tmpdir(), "lb-det-"));
    const r = cli("bench", "mnist", "--methods", "equal", "--seeds", "0", "--epochs", "1", "--hidden", "16", "--workers", "1", "--out", out, "--json", "--no-store");
    assert.equal(r.status, 0, r.stderr);
    const o = JSON.parse(r.stdout);
    const saved = JSON.parse(readFileSync(join(out, "bench-mnist.json"), "utf8"));
    assert.deepEqual(saved.settings, o.settings, "bench-mnist.json has the same settings, provenance included");
    delete o.settings.out;
    return o;
  };
  const [a, b] = [run(), run()];
  assert.deepEqual(stripTimings(b), stripTimings(a));
  assert.deepEqual(a.settings.seeds, [0]);
  assert.equal(a.settings.version, version);
  assert.match(a.settings.configHash, /^[0-9a-f]{16}$/);
  assert.equal(a.settings.configHash, b.settings.configHash, "the output folder is not part of the config");
  assert.notEqual(a.settings.configHash, configHash({}));
});
