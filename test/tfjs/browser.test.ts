import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";
import { CHROMIUM, CHROMIUM_FLAGS, launchChromium } from "../helpers/chromium.js";
import * as tf from "@tensorflow/tfjs";
import { createTfjsTrainer } from "../../src/tfjs/index.js";
import { gradNorm } from "../../src/balancers/gradNorm.js";

/**
 * lossbalance/tfjs in a browser: a page script (TF.js, the library's TF.js trainer and GradNorm, bundled
 * by esbuild) trains a tiny two-output model for a few steps on the cpu backend and, where headless
 * Chromium can start them, on webgl and webgpu (SwiftShader), and writes what it saw into the DOM, read
 * back through playwright-core. The same scenario runs here in Node on the cpu backend: both must give the
 * same weights, losses and variables, to the bit.
 */
const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

/**
 * The scenario, as module source shared by both sides (so they run the same code): the page bundles it
 * with the real imports, Node loads it as a module and passes its own. It takes TF.js, the library's
 * `createTfjsTrainer` and `gradNorm`, and the backend it expects to run on; every tensor it makes is
 * disposed at the end.
 */
const SCENARIO = String.raw`
export async function scenario(tf, lib, backend) {
  if (tf.getBackend() !== backend) throw new Error("expected the backend " + backend + ", TF.js runs on " + tf.getBackend());
  const before = tf.memory().numTensors;
  const init = (k) => tf.initializers.glorotUniform({ seed: 17 + k });
  const input = tf.input({ shape: [6], name: "x" });
  const t1 = tf.layers.dense({ units: 16, activation: "tanh", kernelInitializer: init(1), name: "trunk1" }).apply(input);
  const t2 = tf.layers.dense({ units: 8, activation: "tanh", kernelInitializer: init(2), name: "trunk2" }).apply(t1);
  const reg = tf.layers.dense({ units: 1, kernelInitializer: init(3), name: "reg" }).apply(t2);
  const cls = tf.layers.dense({ units: 3, activation: "softmax", kernelInitializer: init(4), name: "cls" }).apply(t2);
  const model = tf.model({ inputs: input, outputs: [reg, cls] });
  // Fixed data: 32 rows of smooth functions of the row and column (no random numbers).
  const N = 32;
  const xv = [], yr = [], yc = [];
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < 6; j++) xv.push(Math.sin(1 + 0.37 * i + 1.3 * j));
    yr.push(10 * Math.cos(0.21 * i));
    for (let c = 0; c < 3; c++) yc.push(i % 3 === c ? 1 : 0);
  }
  const x = tf.tensor2d(xv, [N, 6]);
  const ys = [tf.tensor2d(yr, [N, 1]), tf.tensor2d(yc, [N, 3])];
  const optimizer = tf.train.adam(0.01);
  const trainer = lib.createTfjsTrainer({
    model,
    loss: ["meanSquaredError", "categoricalCrossentropy"],
    balancer: lib.gradNorm({ alpha: 1.5, lr: 0.05, gradMode: "lastShared" }),
    optimizer,
  });
  const steps = [];
  for (let s = 0; s < 5; s++) {
    const r = await trainer.step(x, ys);
    steps.push({ losses: r.losses, weights: r.weights, gradNorms: r.gradNorms, tensors: tf.memory().numTensors });
  }
  const params = [];
  for (const w of model.getWeights()) params.push(Array.from(await w.data()));
  const during = tf.memory().numTensors;
  model.dispose();
  optimizer.dispose();
  tf.dispose([x, ...ys]);
  return { backend: tf.getBackend(), steps, weights: trainer.weights, params, tensors: { before, during, after: tf.memory().numTensors } };
}
`;

/** The page: the cpu run, then the webgl and webgpu runs where those backends start (a failure to start is reported, not thrown). */
const PAGE_ENTRY = `
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-webgpu";
import { createTfjsTrainer } from "./src/tfjs/index.ts";
import { gradNorm } from "./src/balancers/gradNorm.ts";
import { scenario } from "scenario";

async function tryBackend(name) {
  const warnings = [];
  const warn = console.warn;
  console.warn = (...a) => { warnings.push(a.map(String).join(" ")); warn(...a); };
  try {
    if (await tf.setBackend(name)) return { ok: true };
    return { ok: false, reason: warnings.join(" | ") || "tf.setBackend('" + name + "') returned false" };
  } catch (e) {
    return { ok: false, reason: String(e && e.message || e) };
  } finally {
    console.warn = warn;
  }
}

const out = { tfjs: tf.version.tfjs, runs: {}, gpu: {}, errors: [], stage: "start" };
/** Writes what the page has so far (a run that stalls leaves the earlier ones readable). */
function publish(done) {
  out.stage = done ? "done" : out.stage;
  document.getElementById("result").textContent = JSON.stringify(out);
  if (done) document.body.dataset.done = "1";
}
addEventListener("error", (e) => { out.errors.push("page error: " + e.message); publish(false); });
addEventListener("unhandledrejection", (e) => { out.errors.push("unhandled rejection: " + String(e.reason && e.reason.stack || e.reason)); publish(false); });

/** The WebGL renderer TF.js's context runs on (SwiftShader in headless Chromium without a GPU). */
function renderer(name) {
  if (name === "webgpu") return "WebGPU adapter";
  try {
    const gl = tf.backend().gpgpu.gl;
    const info = gl.getExtension("WEBGL_debug_renderer_info");
    return String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  } catch (e) {
    return "unknown (" + String(e && e.message || e) + ")";
  }
}

async function main() {
  for (const name of ["cpu", "webgl", "webgpu"]) {
    out.stage = "starting " + name;
    publish(false);
    const b = await tryBackend(name);
    if (name !== "cpu") out.gpu[name] = b.ok ? { ok: true, renderer: renderer(name) } : b;
    if (!b.ok) continue;
    out.stage = "training on " + name;
    publish(false);
    try {
      out.runs[name] = await scenario(tf, { createTfjsTrainer, gradNorm }, name);
    } catch (e) {
      out.errors.push(name + ": " + String(e && e.stack || e));
    }
  }
}

main().then(
  () => publish(true),
  (e) => { out.errors.push("fatal: " + String(e && e.stack || e)); publish(true); },
);
`;

interface Run {
  backend: string;
  /** Per step: what it observed, the weights it applied, and the live tensors after it. */
  steps: { losses: number[]; weights: number[]; gradNorms?: number[]; tensors: number }[];
  weights: number[];
  params: number[][];
  tensors: { before: number; during: number; after: number };
}
interface PageResult {
  tfjs: string;
  runs: Record<string, Run>;
  gpu: Record<string, { ok: true; renderer: string } | { ok: false; reason: string }>;
  errors: string[];
  /** What the page was doing when it was dumped ("done" once finished). */
  stage: string;
}


function checkRun(run: Run, label: string): void {
  assert.equal(run.steps.length, 5, `${label}: 5 steps`);
  for (const [s, st] of run.steps.entries()) {
    assert.ok(st.losses.length === 2 && st.losses.every(Number.isFinite), `${label}: finite losses at step ${s} (${st.losses})`);
    assert.ok(st.weights.every(Number.isFinite), `${label}: finite weights at step ${s}`);
  }
  assert.deepEqual(run.steps[0]!.weights, [1, 1], `${label}: GradNorm starts at [1, 1]`);
  assert.ok(run.weights.every(Number.isFinite) && Math.abs(run.weights[0]! - 1) > 1e-3, `${label}: the weights moved from [1, 1] (${run.weights})`);
  assert.ok(Math.abs(run.weights[0]! + run.weights[1]! - 2) < 1e-9, `${label}: GradNorm's weights sum to T = 2 (${run.weights})`);
  assert.ok(run.params.flat().every(Number.isFinite), `${label}: finite variables`);
  // The optimizer makes its slots in the first step; from then on a step leaves the count as it was.
  assert.deepEqual(run.steps.map((st) => st.tensors), run.steps.map(() => run.steps[0]!.tensors), `${label}: no tensor left by a step (${run.steps.map((st) => st.tensors)})`);
  assert.equal(run.tensors.after, run.tensors.before, `${label}: no tensor left behind (${run.tensors.before} before, ${run.tensors.after} after disposal)`);
}

test("lossbalance/tfjs trains in headless Chromium (cpu, and webgl and webgpu where they start) as it does in Node", async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip(`no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM)`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "lossbalance-tfjs-browser-"));
  try {
    const bundle = await build({
      stdin: { contents: PAGE_ENTRY, resolveDir: ROOT, loader: "ts", sourcefile: "page.ts" },
      bundle: true,
      format: "iife",
      platform: "browser",
      target: "es2022",
      write: false,
      logLevel: "silent",
      plugins: [
        {
          name: "scenario",
          setup(b) {
            b.onResolve({ filter: /^scenario$/ }, () => ({ path: "scenario", namespace: "scenario" }));
            b.onLoad({ filter: /.*/, namespace: "scenario" }, () => ({ contents: SCENARIO, loader: "js" }));
          },
        },
      ],
    });
    writeFileSync(join(dir, "page.js"), bundle.outputFiles[0]!.contents);
    writeFileSync(join(dir, "index.html"), `<!doctype html><html><head><meta charset="utf-8"></head><body><pre id="result"></pre><script src="page.js"></script></body></html>`);

    // Chromium through playwright-core (the system's chromium; no download): the page is waited for until it
    // marks itself done, as GPU backends read back through promises that --dump-dom's virtual time skips.
    const browser = await launchChromium();
    let page: PageResult;
    try {
      const tab = await browser.newPage();
      await tab.goto(pathToFileURL(join(dir, "index.html")).href);
      await tab.waitForFunction(() => document.body.dataset.done === "1", undefined, { timeout: 90_000 });
      page = JSON.parse((await tab.textContent("#result"))!) as PageResult;
    } finally {
      await browser.close();
    }
    assert.deepEqual(page.errors, [], "no error on the page, no backend's run threw");
    assert.equal(page.stage, "done");

    // The same scenario in Node, on the cpu backend.
    const mod = (await import(`data:text/javascript,${encodeURIComponent(SCENARIO)}`)) as { scenario: (...a: unknown[]) => Promise<Run> };
    await tf.setBackend("cpu");
    const node = await mod.scenario(tf, { createTfjsTrainer, gradNorm }, "cpu");
    checkRun(node, "node cpu");

    const cpu = page.runs.cpu;
    assert.ok(cpu, "the browser's cpu run happened");
    assert.equal(cpu.backend, "cpu");
    checkRun(cpu, "browser cpu");
    assert.deepEqual(cpu.steps, node.steps, "browser cpu and Node cpu: the same losses, norms and weights at every step");
    assert.deepEqual(cpu.weights, node.weights, "browser cpu and Node cpu: the same final weights");
    assert.deepEqual(cpu.params, node.params, "browser cpu and Node cpu: the same variables, to the bit");

    for (const name of ["webgl", "webgpu"]) {
      const gpu = page.gpu[name];
      assert.ok(gpu, `the page tried ${name}`);
      if (gpu.ok) {
        const run = page.runs[name];
        assert.ok(run, `${name} started, so its run happened`);
        assert.equal(run.backend, name);
        checkRun(run, `browser ${name}`);
        const gap = Math.max(...run.weights.map((w, i) => Math.abs(w - cpu.weights[i]!)));
        // The GPU backends compute in float32 in other orders (SwiftShader here): close to the cpu run, not equal.
        assert.ok(gap < 1e-3, `${name} weights ${run.weights} close to cpu's ${cpu.weights}`);
        t.diagnostic(`tfjs ${page.tfjs}; ${name} on ${gpu.renderer} ran: weights ${run.weights.map((w) => w.toFixed(6)).join(", ")} vs cpu ${cpu.weights.map((w) => w.toFixed(6)).join(", ")}`);
      } else {
        t.diagnostic(`tfjs ${page.tfjs}; ${name} did not start in headless Chromium (flags ${CHROMIUM_FLAGS.slice(4).join(" ")}): ${gpu.reason}; not checked`);
      }
    }
    t.diagnostic(`cpu: weights ${cpu.weights.map((w) => w.toFixed(6)).join(", ")}, same in Node; tensors ${cpu.tensors.before} → ${cpu.tensors.during} → ${cpu.tensors.after}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
