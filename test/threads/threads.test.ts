import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AUTO_MIN_FLOPS, chooseThreads, configureThreads, threadsInfo } from "../../src/threads/node.js";

/**
 * lossbalance/threads in Node. jax-js fixes its worker pool when it is first imported, so every
 * training runs in a child process of its own (Node 22: this process's node, as `npm test` runs it, with
 * tsx), configured before it imports jax-js: the toy task (T = 10, GradNorm, seeded) trains with
 * threads 1 and 2 to the same losses and weights, the process exits by itself after training on a pool,
 * and SIGINT ends it promptly mid-training. This process checks the values and the too-late errors.
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
// The training commands record their runs in the run store: a temporary one, not the working directory's.
process.env.LOSSBALANCE_STORE ??= join(mkdtempSync(join(tmpdir(), "lb-store-")), "runs.db");
const src = (p: string) => JSON.stringify(new URL(`../../src/${p}`, import.meta.url).href);

/** A child that configures `threads`, then trains the toy task and prints one JSON line. */
const TRAIN = (threads: number, steps: number, announceAfter = -1) => `
const { configureThreads, threadsInfo } = await import(${src("threads/node.ts")});
const info = configureThreads(${threads});
const { init, defaultDevice } = await import("@jax-js/jax");
const { createBalancer } = await import(${src("balancers/registry.ts")});
const { makeToy } = await import(${src("data/toy.ts")});
const { runToy } = await import(${src("experiments/toyRun.ts")});
await init("wasm");
defaultDevice("wasm");
const data = makeToy({ numTasks: 10, trainSize: 1000, testSize: 200, inputScale: 1, seed: 0 });
const onStep = (t) => { if (t === ${announceAfter}) console.log("training"); };
const r = await runToy(data, "gradnorm", createBalancer("gradnorm", { alpha: 0.12 }), { steps: ${steps}, batchSize: 200, seed: 1, evalEvery: 5 }, onStep);
console.log(JSON.stringify({ info, workers: threadsInfo().workers, weights: r.weights, losses: r.history.losses, evalLosses: r.history.evalLosses }));
`;

interface Child {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs module source in a child (`node --import tsx`), optionally with a hook on its first stdout line; kills it after `timeout` ms. */
function child(source: string, opts: { timeout?: number; onLine?: (line: string, pid: number) => void } = {}): Promise<Child> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", source], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let told = false;
    p.stdout.on("data", (d: Buffer) => {
      stdout += d;
      if (!told && opts.onLine && stdout.includes("\n")) {
        told = true;
        opts.onLine(stdout.split("\n")[0]!, p.pid!);
      }
    });
    p.stderr.on("data", (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => p.kill("SIGKILL"), opts.timeout ?? 30_000);
    p.on("error", reject);
    p.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

const lastJson = (out: string) => JSON.parse(out.trim().split("\n").at(-1)!) as { info: { threads: number; pool: boolean }; workers: number; weights: number[]; losses: number[][]; evalLosses: number[][] };

/** Largest relative difference between two nested number arrays of the same shape. */
function maxRelDiff(a: unknown, b: unknown): number {
  if (typeof a === "number" && typeof b === "number") return a === b ? 0 : Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-12);
  assert.ok(Array.isArray(a) && Array.isArray(b) && a.length === b.length, "same shapes");
  return Math.max(0, ...(a as unknown[]).map((x, i) => maxRelDiff(x, (b as unknown[])[i])));
}

test("threads 1 and 2 train the toy task to the same losses and weights; the child exits by itself after training on the pool", async (t) => {
  const [one, two] = await Promise.all([child(TRAIN(1, 12)), child(TRAIN(2, 12))]);
  for (const r of [one, two]) assert.equal(r.code, 0, r.stderr);
  const a = lastJson(one.stdout);
  const b = lastJson(two.stdout);
  assert.deepEqual([a.info.pool, a.workers], [false, 0], "threads 1: no pool");
  assert.deepEqual([b.info.pool, b.workers], [true, 2], "threads 2: jax-js started two worker threads");
  const diff = Math.max(maxRelDiff(a.losses, b.losses), maxRelDiff(a.evalLosses, b.evalLosses), maxRelDiff(a.weights, b.weights));
  t.diagnostic(`largest relative difference of losses, test losses and weights between threads 1 and 2: ${diff}; children took ${one.ms.toFixed(0)} and ${two.ms.toFixed(0)} ms`);
  assert.ok(diff <= 1e-5, `largest relative difference ${diff}`);
  // 12 steps, GradNorm, T = 10, batch 200: the pool's processes end with their work (no process.exit in the child).
  assert.ok(two.ms < 25_000, `the threaded child took ${two.ms.toFixed(0)} ms`);
});

test("SIGINT mid-training on a pool ends the child promptly", async (t) => {
  let sent = 0;
  const r = await child(TRAIN(2, 100_000, 2), {
    onLine: (line, pid) => {
      assert.equal(line, "training");
      sent = performance.now();
      process.kill(pid, "SIGINT");
    },
  });
  assert.ok(sent > 0, `the child never reached training: ${r.stderr}`);
  const after = performance.now() - sent;
  t.diagnostic(`exited ${after.toFixed(0)} ms after SIGINT`);
  assert.equal(r.signal, "SIGINT", `exit code ${r.code}, stderr ${r.stderr}`);
  assert.ok(after < 3000, `exited ${after.toFixed(0)} ms after SIGINT`);
});

test("configureThreads when jax-js was imported before lossbalance/threads: the first kernel throws, jax-js goes on on one thread", async () => {
  const r = await child(`
const { numpy: np } = await import("@jax-js/jax");
const { configureThreads, threadsInfo } = await import(${src("threads/node.ts")});
configureThreads(2);
const product = () => np.matmul(np.ones([64, 64]), np.ones([64, 64])).data();
try { await product(); console.log("no error"); } catch (e) { console.log(e.message); }
console.log((await product())[0], JSON.stringify(threadsInfo()));
try { configureThreads(1); } catch (e) { console.log(e.message); }
`);
  assert.equal(r.code, 0, r.stderr);
  const [first, second, third] = r.stdout.trim().split("\n");
  assert.match(first!, /configureThreads\(2\) came too late: jax-js had been imported before lossbalance\/threads/);
  assert.match(second!, /^64 .*"threads":1,"pool":false.*"started":true/);
  assert.match(third!, /configureThreads\(1\) came too late/);
});

test("bad thread counts and hints get clear errors", () => {
  for (const [value, pattern] of [
    [0, /threads must be a positive integer or "auto", got 0/],
    [-1, /got -1/],
    [1.5, /got 1.5/],
    [Number.NaN, /got NaN/],
    [Number.POSITIVE_INFINITY, /got Infinity/],
    ["x", /got "x" \(string\)/],
    ["2", /got "2" \(string\)/],
    [null, /got null/],
  ] as const) {
    assert.throws(() => configureThreads(value as never), pattern, String(value));
  }
  assert.throws(() => configureThreads("auto", { flopsPerStep: -1 }), /flopsPerStep must be a finite number ≥ 0/);
  assert.throws(() => configureThreads("auto", { jobs: 0 }), /jobs must be a positive integer/);
});

test("auto: one thread for small steps, without a hint and with a core per job; more for big steps", () => {
  assert.equal(chooseThreads("auto", 8, {}).threads, 1);
  assert.equal(chooseThreads("auto", 8, { flopsPerStep: AUTO_MIN_FLOPS / 2 }).threads, 1);
  assert.equal(chooseThreads("auto", 2, { flopsPerStep: AUTO_MIN_FLOPS }).threads, 2);
  assert.equal(chooseThreads("auto", 8, { flopsPerStep: 2.5 * AUTO_MIN_FLOPS }).threads, 3);
  assert.equal(chooseThreads("auto", 8, { flopsPerStep: 100 * AUTO_MIN_FLOPS }).threads, 8);
  assert.equal(chooseThreads("auto", 8, { flopsPerStep: 100 * AUTO_MIN_FLOPS, jobs: 4 }).threads, 2);
  assert.equal(chooseThreads("auto", 2, { flopsPerStep: 100 * AUTO_MIN_FLOPS, jobs: 2 }).threads, 1);
  assert.equal(chooseThreads("auto", 2, { flopsPerStep: 100 * AUTO_MIN_FLOPS, busyCores: 0.9 }).threads, 1, "a core busy with other work is left alone");
  assert.equal(chooseThreads("auto", 2, { flopsPerStep: 100 * AUTO_MIN_FLOPS, busyCores: 0.3 }).threads, 2);
  assert.match(chooseThreads(3, 2, { jobs: 2 }).reason, /6 threads for 2 parallel jobs on 2 cores: oversubscribed/);
});

test("CLI: toy --threads 2 trains in a worker thread with a pool, to toy --threads 1's result; --threads is checked", async () => {
  const cli = (...args: string[]) => child(`process.argv.splice(1, Infinity, "lossbalance", ...${JSON.stringify(args)}); await import(${src("cli/main.ts")});`);
  const args = ["toy", "--tasks", "3", "--steps", "8", "--batch-size", "64", "--train-size", "200", "--test-size", "50", "--json"];
  const [one, two, bad] = await Promise.all([cli(...args, "--threads", "1"), cli(...args, "--threads", "2"), cli("toy", "--threads", "0")]);
  for (const r of [one, two]) assert.equal(r.code, 0, r.stderr);
  assert.match(one.stderr, /^threads: 1 thread \(no pool\) per run, 1 run at a time, \d+ cores — 1 requested/);
  assert.match(two.stderr, /^threads: 2 threads \(a pool of 2 workers\) per run/);
  const [a, b] = [one, two].map((r) => JSON.parse(r.stdout) as { threads: number; testLoss: number[]; weights: number[] });
  assert.deepEqual([a!.threads, b!.threads], [1, 2]);
  assert.ok(maxRelDiff([a!.testLoss, a!.weights], [b!.testLoss, b!.weights]) <= 1e-5);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr.trim(), /^error: option '--threads <n\|auto>' argument '0' is invalid\. must be a positive integer or auto$/);
});

test("configureThreads before jax-js records its choice; after jax-js built its backend it throws", async () => {
  const info = configureThreads(1);
  assert.deepEqual([info.requested, info.threads, info.pool], [1, 1, false]);
  assert.match(info.reason, /no pool/);
  assert.equal(threadsInfo()?.started, false);
  const auto = configureThreads("auto", { flopsPerStep: 1e3 });
  assert.deepEqual([auto.threads, auto.pool], [1, false]);
  assert.match(auto.reason, /^auto: a step of ≈ .* is below/);
  const { numpy: np } = await import("@jax-js/jax");
  assert.equal(threadsInfo()?.started, true);
  assert.equal((await np.matmul(np.ones([8, 8]), np.ones([8, 8])).data())[0], 8);
  assert.throws(() => configureThreads(2), /configureThreads\(2\) was called after jax-js had built its wasm backend \(single-threaded\); the thread count is fixed/);
});
