import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { SourceMap } from "node:module";
import { basename, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { CHROMIUM, launchChromium } from "../helpers/chromium.js";
import * as jax from "@jax-js/jax";
import * as lib from "../../src/index.js";
import type { ThreadsInfo, ThreadsState } from "../../src/threads/browser.js";
import { startTestServer } from "../helpers/server.js";

/**
 * The library's jax-js training in a real browser: a page bundled by esbuild from the package root
 * (src/index.ts, platform browser: the root must bundle without Node built-ins) trains GradNorm on the
 * synthetic task (makeToy + runToy, seeded, small) in headless Chromium, served over HTTP from 127.0.0.1,
 * in six configurations, one page load each in one browser:
 * - `wasm`: jax-js's wasm backend on one thread (the page is not cross-origin isolated: no
 *   SharedArrayBuffer, so no worker pool) — must equal the same training in Node to the bit;
 * - `pool`: the wasm backend with its worker pool (the page is cross-origin isolated, and every read of
 *   the training is async, so kernels go to the workers) — the page counts the Workers jax-js starts and
 *   the kernels it posts to each; equal to Node within float tolerance;
 * - `webgpu`: jax-js's WebGPU backend (SwiftShader's Vulkan in headless Chromium) — the data are made on
 *   wasm (makeToy reads back synchronously), training runs on WebGPU; equal within float tolerance.
 * - `threads1`, `threads3`, `threads2-nonisolated`: the wasm backend after `configureThreads` from
 *   `lossbalance/threads` (src/threads/browser.ts), called by the page's first module before it imports the
 *   training module (and with it lossbalance and jax-js: `await import(...)`, an esbuild split chunk) —
 *   `configureThreads(1)` in a cross-origin-isolated page hides `Worker` from jax-js (no worker started),
 *   `configureThreads(3)` there gives jax-js a pool of exactly 3 workers (not navigator.hardwareConcurrency's
 *   count, which the page itself still reads) that all run kernels, and `configureThreads(2)` in a page that is not isolated answers 1 thread
 *   with the reason; each must equal Node to the bit, and a call after jax-js is loaded must throw (in the
 *   isolated pages).
 * In every run the page records each `dataSync()` (jax-js's sync read; item(), js() and scalar coercion
 * go through it) during training: none may read the device (with the pool it would throw or stall, and
 * on WebGPU it goes through a canvas and has been seen to return zeros). Allowed: the reads jax-js's jit
 * makes of 0-d constants while tracing, which it answers on the host. The WebGPU page also reports what
 * makeToy's own sync reads give with WebGPU as the default device (not asserted).
 */
const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const CONFIGS = ["wasm", "pool", "webgpu", "threads1", "threads3", "threads2-nonisolated"] as const;
type Config = (typeof CONFIGS)[number];
/** The configurations that call configureThreads(n) before the page loads jax-js, and whether their page is cross-origin isolated. */
const THREADS = { threads1: { threads: 1, isolated: true }, threads3: { threads: 3, isolated: true }, "threads2-nonisolated": { threads: 2, isolated: false } } as const;
type ThreadsConfig = keyof typeof THREADS;
const isThreads = (c: Config): c is ThreadsConfig => Object.hasOwn(THREADS, c);
/** Pages served cross-origin isolated (COOP/COEP: SharedArrayBuffer, hence jax-js's worker pool). */
const ISOLATED = new Set<string>(["pool", ...Object.entries(THREADS).filter(([, v]) => v.isolated).map(([k]) => k)]);

/**
 * The scenario, as module source shared by both sides (the page bundles it, Node imports it), given the
 * library and jax-js: the data, then the training, each watching for sync reads.
 */
const SCENARIO = String.raw`
export const TOY = { numTasks: 2, sigmas: [1, 4], inputDim: 64, outputDim: 32, trainSize: 512, testSize: 128, inputScale: 0.1, seed: 3 };
export const TRAIN = { steps: 40, batchSize: 32, lr: 3e-3, hidden: [64, 64], seed: 5, evalEvery: 10 };
export const GRADNORM = { alpha: 1.5, lr: 0.01 };

/**
 * Records every outermost dataSync() (the array's device and shape, and a stack) until stop(). It is
 * "inline" when jax-js answers it on the host without reading the device: a small array still held as
 * an expression is evaluated by the cpu backend (a nested dataSync on a cpu array).
 */
export function watchSyncReads(jax) {
  const proto = jax.Array.prototype;
  const original = proto.dataSync;
  const calls = [];
  let depth = 0;
  let outer = null;
  proto.dataSync = function (...args) {
    if (depth === 0) calls.push((outer = { device: this.device, shape: [...this.shape], inline: false, stack: String(new Error().stack).split("\n").slice(2).join("\n") }));
    else if (this.device === "cpu" && outer.device !== "cpu") outer.inline = true;
    depth++;
    try {
      return original.apply(this, args);
    } finally {
      depth--;
    }
  };
  return { calls, stop: () => { proto.dataSync = original; } };
}

/** FNV-1a of the bytes of some typed arrays. */
export function hashArrays(arrays) {
  let h = 0x811c9dc5;
  for (const a of arrays) {
    const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

export function makeData(lib, jax, config = TOY) {
  const watch = watchSyncReads(jax);
  try {
    const data = lib.makeToy(config);
    return { data, hash: hashArrays([data.train.x, data.train.y, data.test.x, data.test.y]), saturation: data.saturation, syncReads: watch.calls };
  } finally {
    watch.stop();
  }
}

export async function train(lib, jax, data) {
  const watch = watchSyncReads(jax);
  const t0 = performance.now();
  try {
    const r = await lib.runToy(data, "gradnorm", lib.gradNorm(GRADNORM), TRAIN);
    const h = r.history;
    return {
      weights: r.weights,
      testLoss: r.testLoss,
      initialTestLoss: r.initialTestLoss,
      history: { steps: h.steps, weights: h.weights, losses: h.losses, evalSteps: h.evalSteps, evalLosses: h.evalLosses },
      msPerStep: r.msPerStep,
      wallMs: performance.now() - t0,
      syncReads: watch.calls,
    };
  } finally {
    watch.stop();
  }
}
`;

/**
 * The page's first module (page.js, an ES module): for the threads configurations it imports
 * lossbalance/threads (its own chunk) and calls configureThreads before anything has loaded jax-js, then
 * it imports the training module (a chunk with lossbalance and jax-js) and runs it. The other
 * configurations never load lossbalance/threads.
 */
const PAGE_BOOT = String.raw`
const THREADS = ${JSON.stringify(Object.fromEntries(Object.entries(THREADS).map(([k, v]) => [k, v.threads])))};
const config = new URLSearchParams(location.search).get("config");
let stage = "boot";
try {
  let threads = null;
  if (Object.hasOwn(THREADS, config)) {
    stage = "configureThreads";
    const module = await import("./src/threads/browser.ts");
    const info = module.configureThreads(THREADS[config]);
    threads = { module, requested: THREADS[config], info, before: module.threadsInfo() };
  }
  stage = "importing the training module";
  const page = await import("page-train");
  stage = "training module";
  await page.main(config, threads);
} catch (e) {
  document.getElementById("result").textContent = JSON.stringify({ config, stage, fatal: String(e && e.stack || e), errors: [] });
  document.body.dataset.done = "1";
}
`;

/**
 * The training module, `main(config, threads)` with `config` from `?config=`. It wraps the Worker
 * constructor before any array op (jax-js's pool starts its workers on its first dispatch) to count the
 * workers and the messages posted to each, and writes what it saw into #result as JSON, with data-done
 * on <body> once finished.
 */
const PAGE_TRAIN = String.raw`
import * as lib from "./src/index.ts";
import * as jax from "@jax-js/jax";
import { TOY, makeData, train } from "scenario";

let config = null;
const out = { config, stage: "start", fatal: null, errors: [], env: null, gpu: null, pool: null, data: null, run: null, threads: null };
function publish(done) {
  if (done) out.stage = "done";
  document.getElementById("result").textContent = JSON.stringify(out);
  if (done) document.body.dataset.done = "1";
}
addEventListener("error", (e) => { out.errors.push("page error: " + e.message); publish(false); });
addEventListener("unhandledrejection", (e) => { out.errors.push("unhandled rejection: " + String(e.reason && e.reason.stack || e.reason)); publish(false); });

const workers = { created: [], posted: {}, kernels: [], routines: [] };
if (typeof Worker !== "undefined") {
  const Base = Worker;
  globalThis.Worker = class CountingWorker extends Base {
    constructor(url, options) {
      super(url, options);
      this.index = workers.created.length;
      workers.created.push({ scheme: String(url).split(":")[0], type: options && options.type });
      workers.kernels.push(0);
      workers.routines.push(0);
    }
    postMessage(message, ...rest) {
      const type = message && message.type || typeof message;
      workers.posted[type] = (workers.posted[type] || 0) + 1;
      if (type === "kernel") workers.kernels[this.index]++;
      if (type === "routine") workers.routines[this.index]++;
      return super.postMessage(message, ...rest);
    }
  };
}
const snapshot = () => JSON.parse(JSON.stringify(workers));

async function startWebGPU() {
  if (!navigator.gpu) throw new Error("WebGPU unavailable: navigator.gpu is undefined (flags: --enable-unsafe-webgpu, --use-webgpu-adapter=swiftshader?)");
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error("WebGPU unavailable: navigator.gpu.requestAdapter() returned null");
  const info = adapter.info || {};
  out.gpu = { adapter: { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description } };
  const devices = await jax.init("webgpu");
  if (!devices.includes("webgpu")) throw new Error("WebGPU unavailable: jax-js init('webgpu') did not start it (devices: " + devices.join(", ") + ")");
}

async function run(threads) {
  if (threads) out.threads = { requested: threads.requested, info: threads.info, before: threads.before };
  out.env = {
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    sharedArrayBuffer: typeof SharedArrayBuffer !== "undefined",
    worker: typeof Worker !== "undefined",
    hardwareConcurrency: navigator.hardwareConcurrency,
    userAgent: navigator.userAgent,
  };
  if (!${JSON.stringify(CONFIGS)}.includes(config)) throw new Error("unknown config " + config);
  if (config === "webgpu") {
    out.stage = "starting webgpu";
    publish(false);
    await startWebGPU();
  }
  // The data on wasm in every configuration: makeToy reads its arrays back synchronously.
  jax.defaultDevice("wasm");
  out.stage = "making data";
  publish(false);
  const d = makeData(lib, jax);
  out.data = { hash: d.hash, saturation: d.saturation, syncReads: d.syncReads };
  const before = snapshot();
  if (config === "webgpu") jax.defaultDevice("webgpu");
  out.stage = "training on " + jax.defaultDevice();
  publish(false);
  out.run = await train(lib, jax, d.data);
  out.run.device = jax.defaultDevice();
  const after = snapshot();
  out.pool = {
    ...after,
    duringTraining: {
      posted: Object.fromEntries(Object.entries(after.posted).map(([k, v]) => [k, v - (before.posted[k] || 0)])),
      kernels: after.kernels.map((v, i) => v - (before.kernels[i] || 0)),
      routines: after.routines.map((v, i) => v - (before.routines[i] || 0)),
    },
  };
  if (config === "webgpu") {
    // What a sync read gives on WebGPU here: makeToy (two dataSync) with WebGPU as the default device.
    out.stage = "makeToy probe on webgpu";
    publish(false);
    jax.defaultDevice("webgpu");
    try {
      const g = lib.makeToy(TOY);
      const ref = d.data;
      let maxDiff = 0;
      let zeros = 0;
      for (const k of ["train", "test"]) {
        for (let i = 0; i < ref[k].y.length; i++) {
          maxDiff = Math.max(maxDiff, Math.abs(g[k].y[i] - ref[k].y[i]));
          if (g[k].y[i] === 0 && ref[k].y[i] !== 0) zeros++;
        }
      }
      out.gpu.makeToyOnWebGPU = { values: ref.train.y.length + ref.test.y.length, zeroedValues: zeros, maxAbsDiff: maxDiff, saturation: g.saturation, wasmSaturation: ref.saturation };
    } catch (e) {
      out.gpu.makeToyOnWebGPU = { threw: String(e && e.message || e) };
    }
    jax.defaultDevice("wasm");
  }
  if (threads) {
    out.threads.after = threads.module.threadsInfo();
    // Too late now: jax-js's wasm backend exists.
    try {
      out.threads.late = { returned: threads.module.configureThreads(2) };
    } catch (e) {
      out.threads.late = { threw: String(e && e.message || e) };
    }
  }
}

export function main(c, threads) {
  out.config = config = c;
  return run(threads).then(
    () => publish(true),
    (e) => { out.fatal = String(e && e.stack || e); publish(true); },
  );
}
`;

interface SyncRead {
  device: string;
  shape: number[];
  /** Answered on the host from an expression, without reading the device. */
  inline: boolean;
  stack: string;
}
interface TrainResult {
  weights: number[];
  testLoss: number[];
  initialTestLoss: number[];
  history: { steps: number[]; weights: number[][]; losses: number[][]; evalSteps: number[]; evalLosses: number[][] };
  msPerStep: number;
  wallMs: number;
  syncReads: SyncRead[];
  device?: string;
}
interface DataResult {
  hash: string;
  saturation: number;
  syncReads: SyncRead[];
}
interface PageResult {
  config: Config;
  stage: string;
  fatal: string | null;
  errors: string[];
  env: { crossOriginIsolated: boolean; sharedArrayBuffer: boolean; worker: boolean; hardwareConcurrency: number; userAgent: string };
  gpu: null | {
    adapter: Record<string, string | undefined>;
    makeToyOnWebGPU?: { values: number; zeroedValues: number; maxAbsDiff: number; saturation: number; wasmSaturation: number } | { threw: string };
  };
  pool: null | {
    created: { scheme: string; type?: string }[];
    posted: Record<string, number>;
    kernels: number[];
    routines: number[];
    duringTraining: { posted: Record<string, number>; kernels: number[]; routines: number[] };
  };
  data: DataResult | null;
  run: TrainResult | null;
  threads: null | {
    requested: number;
    /** What configureThreads returned. */
    info: ThreadsInfo;
    /** threadsInfo() right after, before jax-js was imported, and after training. */
    before: ThreadsState | null;
    after?: ThreadsState | null;
    /** configureThreads(2) after training. */
    late?: { threw: string } | { returned: ThreadsInfo };
  };
}
interface Scenario {
  makeData(l: typeof lib, j: typeof jax): DataResult & { data: lib.ToyData };
  train(l: typeof lib, j: typeof jax, data: lib.ToyData): Promise<TrainResult>;
}

/** The largest absolute and relative (to |Node's value|, floored at 1e-6) differences of two runs, by quantity. */
function differences(a: TrainResult, b: TrainResult) {
  const diff = (x: readonly number[], y: readonly number[]) => {
    assert.equal(x.length, y.length);
    let abs = 0;
    let rel = 0;
    for (let i = 0; i < x.length; i++) {
      const d = Math.abs(x[i]! - y[i]!);
      abs = Math.max(abs, Number.isNaN(d) ? Infinity : d);
      rel = Math.max(rel, Number.isNaN(d) ? Infinity : d / Math.max(1e-6, Math.abs(y[i]!)));
    }
    return { abs, rel };
  };
  return {
    weightTrajectory: diff(a.history.weights.flat(), b.history.weights.flat()),
    batchLosses: diff(a.history.losses.flat(), b.history.losses.flat()),
    evalLosses: diff(a.history.evalLosses.flat(), b.history.evalLosses.flat()),
    finalWeights: diff(a.weights, b.weights),
    finalTestLoss: diff(a.testLoss, b.testLoss),
  };
}

/**
 * Float tolerances of the pool and WebGPU runs against Node's, relative to Node's values. Measured here
 * (Chromium 150, x86-64, 2 cores, SwiftShader), the same on every run: the pool run equals Node to the bit
 * (the workers run the same wasm kernels, each on a disjoint range of output elements); WebGPU differs by
 * at most 2.2e-8 relative in GradNorm's weights, 1.1e-6 in the batch losses and 2.1e-6 in the test losses
 * over the 40 steps (float32 in other orders and SwiftShader's own exp/tanh). The bounds leave margins of
 * 50× (losses) and 450× (weights), while a wrong kernel or a lost update moves the losses by 1e-3 or
 * more and the weights by about GradNorm's step (1e-2).
 */
const TOLERANCE: Record<"pool" | "webgpu", { weights: number; losses: number }> = {
  pool: { weights: 1e-5, losses: 1e-4 },
  webgpu: { weights: 1e-5, losses: 1e-4 },
};

/** The page's source maps, by the name of the script they map (page.js and its chunks). */
type Maps = ReadonlyMap<string, SourceMap>;

/** "file:line (function)" frames of a stack (below dataSync), mapped through the page's source maps where given. */
function frames(stack: string, maps?: Maps): string[] {
  const out: string[] = [];
  for (const line of stack.split("\n")) {
    const m = /at (?:(.*?) \()?(.*?):(\d+):(\d+)\)?\s*$/.exec(line);
    if (!m) continue;
    const fn = m[1] ?? "<anonymous>";
    let file = m[2]!;
    let ln = Number(m[3]);
    const map = maps && /^https?:/.test(file) ? maps.get(basename(new URL(file).pathname)) : undefined;
    if (map) {
      const e = map.findEntry(ln - 1, Number(m[4]) - 1) as { originalSource?: string; originalLine?: number };
      if (e.originalSource === undefined || e.originalLine === undefined) continue;
      file = e.originalSource;
      ln = e.originalLine + 1;
    }
    if (file.startsWith("file://")) file = fileURLToPath(file);
    if (file.startsWith("/")) file = relative(ROOT, file);
    out.push(`${file.replace(/^(\.\.\/)+/, "")}:${ln} (${fn})`);
  }
  return out;
}

/** A sync read: where it was made in the library (or the scenario), and the jax-js function that made it. */
function describe(r: SyncRead, map?: Maps): string {
  const all = frames(r.stack, map);
  const own = all.filter((f) => f.startsWith("src/") || f.startsWith("scenario"));
  const via = all[0]?.startsWith("node_modules/@jax-js/") ? ` via jax-js ${/\((.*)\)$/.exec(all[0])?.[1] ?? all[0]}` : "";
  return `${r.inline ? "inline " : ""}${r.device} [${r.shape.join("×")}] at ${own.slice(0, 3).join(" ← ") || "(no library frame)"}${via}`;
}

/** Distinct descriptions with their counts. */
function tally(reads: SyncRead[], map?: Maps): string {
  const n = new Map<string, number>();
  for (const r of reads) n.set(describe(r, map), (n.get(describe(r, map)) ?? 0) + 1);
  return [...n].map(([d, k]) => `${k}× ${d}`).join("; ") || "none";
}

test("jax-js training (GradNorm on the toy task) in headless Chromium — wasm, wasm worker pool, WebGPU, configureThreads — matches Node", { timeout: 120_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip(`no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM)`);
    return;
  }
  const t0 = performance.now();
  // The page, from the package root, for the browser, as ES modules: page.js (the boot module) and the
  // chunks it imports (the training module; lossbalance/threads); source maps to name the sync reads' call sites.
  const virtual: Record<string, string> = { "page-boot": PAGE_BOOT, "page-train": PAGE_TRAIN, scenario: SCENARIO };
  const bundle = await build({
    entryPoints: { page: "page-boot" },
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    outdir: ROOT,
    entryNames: "[name]",
    chunkNames: "[name]-[hash]",
    sourcemap: "external",
    sourcesContent: false,
    write: false,
    logLevel: "silent",
    metafile: true,
    plugins: [
      {
        name: "page-modules",
        setup(b) {
          b.onResolve({ filter: /^(page-boot|page-train|scenario)$/ }, (a) => ({ path: a.path, namespace: "page" }));
          b.onLoad({ filter: /.*/, namespace: "page" }, (a) => ({ contents: virtual[a.path]!, loader: "js", resolveDir: ROOT }));
        },
      },
    ],
  });
  const scripts = bundle.outputFiles.filter((f) => f.path.endsWith(".js"));
  const maps: Maps = new Map(bundle.outputFiles.filter((f) => f.path.endsWith(".js.map")).map((f) => [basename(f.path, ".map"), new SourceMap(JSON.parse(f.text))]));
  const inputs = Object.keys(bundle.metafile.inputs);
  assert.ok(inputs.includes("src/index.ts"), "the page bundles the package root");
  // Neither page.js nor lossbalance/threads' chunk may load jax-js (in itself or in a chunk it imports
  // statically): configureThreads must run before jax-js is evaluated.
  const outputs = bundle.metafile.outputs;
  const outputKey = (name: string) => Object.keys(outputs).find((k) => basename(k) === name)!;
  const loads = (key: string, seen = new Set<string>()): Set<string> => {
    if (seen.has(key)) return seen;
    seen.add(key);
    for (const i of outputs[key]!.imports) if (i.kind === "import-statement") loads(outputKey(basename(i.path)), seen);
    return seen;
  };
  const threadsChunks = Object.entries(outputs).filter(([, o]) => "src/threads/browser.ts" in o.inputs).map(([k]) => k);
  assert.equal(threadsChunks.length, 1, "lossbalance/threads is in one chunk");
  assert.ok(basename(threadsChunks[0]!) !== "page.js", "lossbalance/threads is not in page.js (only the threads configurations load it)");
  for (const first of [outputKey("page.js"), threadsChunks[0]!]) {
    const eager = [...loads(first)].flatMap((k) => Object.keys(outputs[k]!.inputs)).filter((i) => i.includes("@jax-js/") || i === "src/index.ts");
    assert.deepEqual(eager, [], `${basename(first)} loads neither jax-js nor lossbalance (statically)`);
  }
  const buildMs = performance.now() - t0;

  const server = await startTestServer({
    files: {
      "/index.html": `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>lossbalance jax-js</title></head><body><pre id="result"></pre><script type="module" src="page.js"></script></body></html>`,
      ...Object.fromEntries(bundle.outputFiles.map((f) => [`/${basename(f.path)}`, f.contents])),
    },
    // The pool's and the isolated threads pages are cross-origin isolated (SharedArrayBuffer, hence a
    // possible worker pool); only the document's headers matter (the scripts are same-origin).
    crossOriginIsolation: (url) => ISOLATED.has(url.searchParams.get("config") ?? ""),
  });
  const pages = {} as Record<Config, PageResult>;
  const pageMs = {} as Record<Config, number>;
  const consoleErrors = {} as Record<Config, string[]>;
  try {
    const browser = await launchChromium();
    try {
      for (const config of CONFIGS) {
        const tab = await browser.newPage();
        const errors: string[] = (consoleErrors[config] = []);
        tab.on("console", (m) => {
          if (m.type() === "error") errors.push(m.text());
        });
        tab.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
        const p0 = performance.now();
        await tab.goto(`${server.url}/index.html?config=${config}`);
        try {
          await tab.waitForFunction(() => document.body.dataset.done === "1", undefined, { timeout: 40_000 });
        } catch (e) {
          const partial = await tab.textContent("#result").catch(() => "");
          throw new Error(`${config}: the page did not finish (${String(e)}); it had: ${partial}`);
        }
        pageMs[config] = performance.now() - p0;
        pages[config] = JSON.parse((await tab.textContent("#result"))!) as PageResult;
        await tab.close();
      }
    } finally {
      await browser.close();
    }
  } finally {
    await server.close();
  }

  // The same scenario in Node: wasm, one thread (Node has no global Worker, so jax-js starts no pool).
  assert.equal(typeof (globalThis as { Worker?: unknown }).Worker, "undefined", "Node: no global Worker (no jax-js pool)");
  const scenario = (await import(`data:text/javascript,${encodeURIComponent(SCENARIO)}`)) as Scenario;
  await jax.init("wasm");
  jax.defaultDevice("wasm");
  const nodeData = scenario.makeData(lib, jax);
  const node = await scenario.train(lib, jax, nodeData.data);
  assert.deepEqual(node.syncReads.filter((r) => !r.inline).map((r) => describe(r)), [], "Node: no sync read of the device while training");
  assert.ok(Math.abs(node.weights[0]! - 1) > 0.05, `GradNorm moved the weights (${node.weights})`);
  assert.ok(node.weights.every((w) => w > 0.1), `… and kept them off the floor (${node.weights})`);

  for (const config of CONFIGS) {
    await t.test(config, () => {
      const page = pages[config];
      assert.equal(page.fatal, null, `${config}: the page failed: ${page.fatal}`);
      assert.deepEqual(page.errors, [], `${config}: no error on the page`);
      assert.deepEqual(consoleErrors[config], [], `${config}: no console error`);
      assert.equal(page.stage, "done");
      const run = page.run!;
      const pool = page.pool!;
      assert.equal(page.data!.hash, nodeData.hash, `${config}: the same toy data as Node (bytes)`);
      // jax-js's jit inlines 0-d constants as literals when it traces (dataSync on expressions, answered
      // on the host); any other dataSync would read the device synchronously.
      assert.deepEqual(run.syncReads.filter((r) => !r.inline).map((r) => describe(r, maps)), [], `${config}: no sync read of the device (dataSync) while training`);
      t.diagnostic(`${config}: sync reads while training: ${tally(run.syncReads, maps)}`);
      assert.equal(run.history.weights.length, 40, "every step recorded");
      const d = differences(run, node);
      const fmt = (x: { abs: number; rel: number }) => `${x.abs.toExponential(2)} abs / ${x.rel.toExponential(2)} rel`;
      t.diagnostic(
        `${config}: page ${pageMs[config].toFixed(0)} ms, training ${run.wallMs.toFixed(0)} ms (${run.msPerStep.toFixed(1)} ms/step) vs Node ${node.wallMs.toFixed(0)} ms (${node.msPerStep.toFixed(1)} ms/step); ` +
          `max diff vs Node: weights ${fmt(d.weightTrajectory)}, batch losses ${fmt(d.batchLosses)}, eval losses ${fmt(d.evalLosses)}, final weights ${fmt(d.finalWeights)}, final test loss ${fmt(d.finalTestLoss)}`,
      );
      const kernels = pool.duringTraining.kernels;
      const total = kernels.reduce((a, b) => a + b, 0);
      const used = kernels.filter((k) => k > 0).length;
      const equalsNode = () => {
        assert.deepEqual(run.history, node.history, `${config}: weights and losses at every step equal Node's, to the bit`);
        assert.deepEqual(run.weights, node.weights, `${config}: final weights equal Node's`);
        assert.deepEqual(run.testLoss, node.testLoss, `${config}: final test losses equal Node's`);
        assert.deepEqual(run.initialTestLoss, node.initialTestLoss);
      };
      if (config === "wasm") {
        assert.equal(run.device, "wasm");
        assert.deepEqual(page.env.crossOriginIsolated, false, "wasm: the page is not cross-origin isolated");
        assert.equal(page.env.sharedArrayBuffer, false, "wasm: no SharedArrayBuffer, so jax-js's wasm backend has no worker pool");
        assert.equal(pool.created.length, 0, "wasm: no Worker started");
        assert.equal(page.threads, null, "wasm: lossbalance/threads not loaded");
        equalsNode();
        return;
      }
      if (isThreads(config)) {
        const want = THREADS[config];
        const th = page.threads!;
        assert.ok(th, `${config}: the page called configureThreads`);
        const { info } = th;
        t.diagnostic(`${config}: configureThreads(${want.threads}) → ${JSON.stringify(info)}; threadsInfo() after training: ${JSON.stringify(th.after)}; a call after training: ${JSON.stringify(th.late)}`);
        assert.equal(run.device, "wasm");
        assert.equal(page.env.crossOriginIsolated, want.isolated, `${config}: the page is ${want.isolated ? "" : "not "}cross-origin isolated`);
        assert.equal(page.env.sharedArrayBuffer, want.isolated, `${config}: SharedArrayBuffer ${want.isolated ? "exists" : "does not exist"}`);
        assert.equal(info.requested, want.threads);
        // The page's own reads of navigator.hardwareConcurrency still see the machine's (only jax-js's pool sizing is answered).
        assert.equal(info.cores, page.env.hardwareConcurrency, `${config}: info.cores is navigator.hardwareConcurrency as the page sees it`);
        assert.equal(th.before?.started, false, `${config}: configureThreads ran before jax-js's wasm backend existed`);
        assert.ok(pool.created.every((w) => w.scheme === "blob" && w.type === "module"), `${config}: any worker is jax-js's (module, blob:) (${JSON.stringify(pool.created)})`);
        if (config === "threads1") {
          assert.equal(info.threads, 1);
          assert.equal(info.pool, false);
          assert.match(info.reason, /Worker is hidden from jax-js/, "threads1: the reason says jax-js does not see Worker");
          assert.equal(pool.created.length, 0, `threads1: jax-js started no Worker though the page is isolated (${JSON.stringify(pool.created)})`);
        } else if (config === "threads3") {
          assert.equal(info.threads, 3);
          assert.equal(info.pool, true);
          assert.match(info.reason, /pool of 3 workers/, "threads3: the reason names the pool");
          assert.equal(pool.created.length, 3, `threads3: jax-js started exactly 3 workers, not navigator.hardwareConcurrency = ${page.env.hardwareConcurrency} (${JSON.stringify(pool.created)})`);
          assert.ok(total > 100, `threads3: training posted kernels to the workers (${total})`);
          // The largest kernels (the test losses, 2×128×32 elements: ⌈8192 / 512⌉ = 16 chunks) reach all 3.
          assert.equal(used, 3, `threads3: kernels ran on each of the 3 workers (per worker: ${kernels})`);
          t.diagnostic(`threads3: 3 workers (blob:, module), ${used} used; during training ${total} kernel dispatches, per worker ${kernels.join("/")}, ${pool.duringTraining.routines.reduce((a, b) => a + b, 0)} routines; all messages ${JSON.stringify(pool.posted)}`);
        } else {
          assert.equal(info.threads, 1, "threads2-nonisolated: 1 thread where the page is not isolated");
          assert.equal(info.pool, false);
          assert.match(info.reason, /not cross-origin isolated/, "threads2-nonisolated: the reason names cross-origin isolation");
          assert.equal(pool.created.length, 0, "threads2-nonisolated: no Worker started");
        }
        if (want.isolated) {
          assert.equal(th.after?.started, true, `${config}: threadsInfo().started once jax-js has loaded`);
          assert.ok(th.late && "threw" in th.late, `${config}: configureThreads after jax-js was loaded throws (${JSON.stringify(th.late)})`);
          assert.match(th.late.threw, /after jax-js had built its wasm backend/);
        }
        equalsNode();
        return;
      }
      if (config === "pool") {
        const n = page.env.hardwareConcurrency;
        assert.equal(run.device, "wasm");
        assert.equal(page.env.crossOriginIsolated, true, "pool: the page is cross-origin isolated");
        assert.equal(page.env.sharedArrayBuffer, true, "pool: SharedArrayBuffer exists");
        assert.equal(pool.created.length, n, `pool: jax-js started navigator.hardwareConcurrency = ${n} workers (${JSON.stringify(pool.created)})`);
        assert.equal(page.threads, null, "pool: lossbalance/threads not loaded");
        assert.ok(pool.created.every((w) => w.scheme === "blob" && w.type === "module"), "pool: module workers from blob: URLs");
        assert.ok(total > 100, `pool: training posted kernels to the workers (${total})`);
        // jax-js splits a kernel over at most ⌈elements / 512⌉ workers: the largest here (the test losses,
        // 2×128×32) reaches 16 of them.
        assert.ok(used >= Math.min(n, 2), `pool: kernels ran on several workers (per worker: ${kernels})`);
        t.diagnostic(`pool: ${n} workers (blob:, module), ${used} used; during training ${total} kernel dispatches, per worker ${kernels.join("/")}, ${pool.duringTraining.routines.reduce((a, b) => a + b, 0)} routines; all messages ${JSON.stringify(pool.posted)}`);
      } else {
        assert.equal(run.device, "webgpu", "webgpu: trained with WebGPU as the default device");
        t.diagnostic(`webgpu: adapter ${JSON.stringify(page.gpu!.adapter)}; makeToy with WebGPU as the default device (its dataSync): ${JSON.stringify(page.gpu!.makeToyOnWebGPU)}`);
      }
      const tol = TOLERANCE[config];
      assert.ok(d.weightTrajectory.rel <= tol.weights && d.finalWeights.rel <= tol.weights, `${config}: GradNorm weights within ${tol.weights} of Node's (${fmt(d.weightTrajectory)})`);
      assert.ok(d.batchLosses.rel <= tol.losses && d.evalLosses.rel <= tol.losses && d.finalTestLoss.rel <= tol.losses, `${config}: losses within ${tol.losses} of Node's (batch ${fmt(d.batchLosses)}, eval ${fmt(d.evalLosses)})`);
    });
  }
  t.diagnostic(`bundle ${scripts.map((f) => `${basename(f.path)} ${(f.contents.byteLength / 1024).toFixed(0)} KiB`).join(", ")} from ${inputs.length} inputs in ${buildMs.toFixed(0)} ms; total ${(performance.now() - t0).toFixed(0)} ms; makeToy's sync reads (Node, wasm): ${tally(nodeData.syncReads)}`);
});
