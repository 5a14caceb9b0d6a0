import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CHROMIUM, launchChromium } from "../helpers/chromium.js";
import { buildPlayground, servePlayground } from "../../src/cli/playground.js";
import { playgroundData, playgroundDefaults, runPlayground, type PlaygroundSettings } from "../../playground/train.js";
import { runToy } from "../../src/experiments/toyRun.js";
import { createBalancer } from "../../src/balancers/registry.js";

/**
 * The playground (playground/, built by src/cli/playground.ts and served by it, cross-origin isolated,
 * on 127.0.0.1) in headless Chromium: the form is set to a short GradNorm run (T = 2, 40 steps, seed 0,
 * wasm on one thread), Start is clicked, and the page must finish with the final weights shown in the
 * DOM equal to the bit to the same settings run in Node — both by the playground's own training function
 * and by the library's runToy. Also: both charts hold 40 points per series and drew each series' color on
 * their canvases; the page's main thread kept painting frames while the worker trained; Stop ends a long
 * run early; a second page with jax-js's wasm pool (2 threads, started inside the worker) matches Node within
 * float tolerance. A screenshot goes to $ARTIFACTS (default: <tmp>/lossbalance-artifacts).
 */
const ARTIFACTS = process.env.ARTIFACTS ?? join(tmpdir(), "lossbalance-artifacts");
const RUN = { tasks: 2, steps: 40, method: "gradnorm", alpha: 0.12, seed: 0, reportEvery: 2 };

test("playground: trains in a Web Worker, plots live, equals Node to the bit, Stop works", { timeout: 90_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip(`no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM)`);
    return;
  }
  const t0 = performance.now();
  const out = mkdtempSync(join(tmpdir(), "lossbalance-playground-"));
  const built = await buildPlayground(out);
  const server = await servePlayground(built.outDir, { port: 0 });
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1150, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    // tsx compiles this file with esbuild's keepNames: functions passed to page.evaluate call __name.
    await page.addInitScript("globalThis.__name = (f) => f;");
    await page.goto(server.url);
    await page.waitForSelector("body[data-state=idle]");
    assert.equal(await page.evaluate(() => globalThis.crossOriginIsolated), true, "the CLI's server sends COOP/COEP");
    const methods = await page.$$eval("#method option", (os) => os.map((o) => (o as HTMLOptionElement).value));
    assert.ok(methods.includes("gradnorm") && methods.includes("dwa") && methods.length > 10, `methods from the registry: ${methods.join(",")}`);

    // The short run, set through the form.
    await page.fill("#tasks", String(RUN.tasks));
    await page.fill("#steps", String(RUN.steps));
    await page.selectOption("#method", RUN.method);
    await page.fill("#options", JSON.stringify({ alpha: RUN.alpha }));
    await page.fill("#seed", String(RUN.seed));
    await page.fill("#reportEvery", String(RUN.reportEvery));
    await page.selectOption("#backend", "wasm");
    await page.selectOption("#threads", "1");
    // Frames painted by the main thread, counted from Start to done.
    await page.evaluate(() => {
      const w = globalThis as unknown as { frames: number[] };
      w.frames = [];
      const tick = (ts: number) => {
        w.frames.push(ts);
        requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
    const tStart = await page.evaluate(() => performance.now());
    await page.click("#start");
    await page.waitForSelector("body[data-state=done], body[data-state=error]", { timeout: 45_000 });
    const tDone = await page.evaluate(() => performance.now());
    const status = await page.textContent("#status");
    assert.equal(await page.getAttribute("body", "data-state"), "done", `status: ${status}; errors: ${errors.join(" | ")}`);
    const shown = JSON.parse((await page.getAttribute("#final", "data-weights")) ?? "null") as number[];
    const finalText = await page.textContent("#final");

    // The page's state: the worker's settings echo, the charts' data and pixels, the frames.
    const probe = await page.evaluate(async () => {
      await new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok)));
      const pg = (globalThis as unknown as { playground: { ready: { device: string; threads: { threads: number; pool: boolean } }; run: { plots: Record<string, { data: number[][] }> } } }).playground;
      const colors: Record<string, [number, number, number]> = { task1: [0x1f, 0x77, 0xb4], task2: [0xff, 0x7f, 0x0e] };
      const pixels = (id: string) => {
        const c = document.querySelector(`#${id} canvas`) as HTMLCanvasElement;
        const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
        const counts: Record<string, number> = { task1: 0, task2: 0, painted: 0 };
        for (let i = 0; i < d.length; i += 4) {
          if (d[i + 3]! > 0) counts.painted!++;
          for (const [k, [r, g, b]] of Object.entries(colors)) if (Math.abs(d[i]! - r) + Math.abs(d[i + 1]! - g) + Math.abs(d[i + 2]! - b) < 30 && d[i + 3]! > 200) counts[k]!++;
        }
        return counts;
      };
      return {
        device: pg.ready.device,
        threads: pg.ready.threads,
        lengths: Object.fromEntries(Object.entries(pg.run.plots).map(([k, p]) => [k, p.data.map((s) => s.length)])),
        pixels: { weights: pixels("chartWeights"), losses: pixels("chartLosses") },
        frames: (globalThis as unknown as { frames: number[] }).frames,
      };
    });
    const frames = probe.frames.filter((f) => f >= tStart && f <= tDone);
    const gaps = frames.slice(1).map((f, i) => f - frames[i]!);
    const maxGap = Math.max(0, ...gaps);
    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, "playground.png");
    await page.screenshot({ path: shot, fullPage: true });
    t.diagnostic(`screenshot: ${shot}`);
    t.diagnostic(`page: ${status} | ${finalText}`);
    t.diagnostic(`main thread: ${frames.length} frames in ${(tDone - tStart).toFixed(0)} ms of training, longest gap ${maxGap.toFixed(0)} ms; chart pixels ${JSON.stringify(probe.pixels)}`);

    assert.equal(probe.device, "wasm");
    assert.equal(probe.threads.threads, 1, "threads = 1: no pool, kernels on the worker's thread");
    assert.deepEqual(probe.lengths, { weights: [40, 40, 40], losses: [40, 40, 40] }, "40 steps × (x + 2 tasks) in each chart");
    for (const [chart, c] of Object.entries(probe.pixels)) {
      assert.ok(c.task1! > 20 && c.task2! > 20, `${chart} chart: both series drawn (${JSON.stringify(c)})`);
    }
    // The main thread was never blocked: frames kept coming (headless Chromium paints at ~60 Hz).
    assert.ok(frames.length >= Math.min(10, (tDone - tStart) / 50), `only ${frames.length} frames in ${(tDone - tStart).toFixed(0)} ms`);
    assert.ok(maxGap < 500, `the main thread stalled for ${maxGap.toFixed(0)} ms`);

    // The same run in Node: the playground's training function, and the library's runToy.
    const settings: PlaygroundSettings = { ...playgroundDefaults, tasks: RUN.tasks, steps: RUN.steps, method: RUN.method, options: { alpha: RUN.alpha }, seed: RUN.seed, reportEvery: RUN.reportEvery, threads: 1 };
    const node = await runPlayground(settings, { post: () => {} });
    const toy = await runToy(playgroundData(settings), RUN.method, createBalancer(RUN.method, { alpha: RUN.alpha }), {
      steps: RUN.steps,
      batchSize: settings.batchSize,
      lr: settings.lr,
      hidden: settings.hidden,
      seed: RUN.seed,
      evalEvery: RUN.steps,
    });
    t.diagnostic(`final weights: browser ${JSON.stringify(shown)}, node ${JSON.stringify(node.weights)}, runToy ${JSON.stringify(toy.weights)}`);
    assert.deepEqual(shown, node.weights, "browser (wasm, 1 thread, in a worker) = Node, to the bit");
    assert.deepEqual(node.weights, toy.weights, "the playground's loop = runToy, to the bit");

    // Stop: a long run, stopped after some progress.
    await page.fill("#steps", "100000");
    await page.click("#start");
    await page.waitForFunction(() => ((globalThis as unknown as { playground: { run: { plots: { weights: { data: number[][] } } } } }).playground.run.plots.weights.data[0]?.length ?? 0) >= 10, undefined, { timeout: 20_000 });
    await page.click("#stop");
    await page.waitForSelector("body[data-state=stopped], body[data-state=error]", { timeout: 20_000 });
    const stopped = await page.textContent("#status");
    assert.equal(await page.getAttribute("body", "data-state"), "stopped", `status: ${stopped}`);
    const ran = Number(/after (\d+) steps/.exec(stopped ?? "")?.[1]);
    assert.ok(ran >= 10 && ran < 100000, `stopped after ${ran} steps`);
    assert.equal(await page.isEnabled("#start"), true);

    // jax-js's wasm pool started by jax-js inside the playground's worker (the page is cross-origin
    // isolated): 2 threads, settings preset from the query string; equal to Node within float tolerance
    // (seen equal to the bit: each pool worker runs the same kernels on a disjoint range of outputs).
    const pool = await browser.newPage();
    await pool.addInitScript("globalThis.__name = (f) => f;");
    await pool.goto(`${server.url}?tasks=${RUN.tasks}&steps=${RUN.steps}&seed=${RUN.seed}&method=${RUN.method}&threads=2`);
    await pool.waitForSelector("body[data-state=idle]");
    await pool.click("#start");
    await pool.waitForSelector("body[data-state=done], body[data-state=error]", { timeout: 45_000 });
    assert.equal(await pool.getAttribute("body", "data-state"), "done", `pool: ${await pool.textContent("#status")}`);
    const poolInfo = await pool.evaluate(() => (globalThis as unknown as { playground: { ready: { threads: { threads: number; pool: boolean } } } }).playground.ready.threads);
    assert.deepEqual([poolInfo.threads, poolInfo.pool], [2, true], "configureThreads(2) in the worker: a pool of 2");
    const poolWeights = JSON.parse((await pool.getAttribute("#final", "data-weights")) ?? "null") as number[];
    for (let i = 0; i < RUN.tasks; i++) assert.ok(Math.abs(poolWeights[i]! - node.weights[i]!) <= 1e-5 * Math.abs(node.weights[i]!), `pool weights ${JSON.stringify(poolWeights)} vs Node ${JSON.stringify(node.weights)}`);
    t.diagnostic(`pool (2 threads): ${await pool.textContent("#status")}; weights ${JSON.stringify(poolWeights)}${poolWeights.every((w, i) => w === node.weights[i]) ? " (= Node to the bit)" : ""}`);
    assert.deepEqual(errors, [], "no page errors");
    t.diagnostic(`stop: ${stopped}`);
    t.diagnostic(`build ${built.ms.toFixed(0)} ms; whole test ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    await browser.close();
    await server.close();
    rmSync(out, { recursive: true, force: true });
  }
});
