import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CHROMIUM, launchChromium } from "../helpers/chromium.js";
import { openStore, type Recorder } from "../../src/store/index.js";
import { startDashboard } from "../../src/ui/server.js";
import { buckets, bucketSteps, downsample, short } from "../../src/ui/series.js";

/**
 * The live dashboard (src/ui/, `lossbalance ui`) over a temporary run store written through the
 * recorder API (synthetic steps, no training): a finished GradNorm-like run (300 steps with Gramians:
 * gradient norms and cosines; evaluations; final metrics with Δm), a long finished run (5,000 steps,
 * no gradient statistics) and a running run. API: the list and its filters, one run, downsampling
 * bounds the points and keeps each series' extremes, the live stream sends steps as they are committed
 * and ends when the run finishes, bad requests are refused. Page (headless Chromium): the list shows
 * the runs, filters narrow it, selecting runs draws their charts (uPlot data lengths and painted
 * pixels), and the live run's charts grow as the test appends and flushes steps. Screenshot to
 * $ARTIFACTS (default <tmp>/lossbalance-artifacts/dashboard.png).
 */
const ARTIFACTS = process.env.ARTIFACTS ?? join(tmpdir(), "lossbalance-artifacts");

function synthetic(t: number, T: number) {
  const losses = Array.from({ length: T }, (_, i) => (1 + i) * Math.exp(-t / (200 + 50 * i)) + 0.01);
  const weights = Array.from({ length: T }, (_, i) => 1 + (i === 0 ? 1 : -1) * 0.5 * Math.tanh(t / 100));
  const g = Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, j) => (i === j ? (1 + i) * (1 + Math.exp(-t / 80)) : 0.3 * Math.cos(t / 40))));
  return { losses, weights, gramian: g };
}

test("dashboard: API (list, filters, downsampling, live stream) and page (list, charts, live growth)", { timeout: 60_000 }, async (t) => {
  const t0 = performance.now();
  const dir = mkdtempSync(join(tmpdir(), "lossbalance-ui-"));
  const path = join(dir, "runs.db");
  const store = openStore(path);
  // A finished run with everything: Gramians (norms, cosines), evaluations, final metrics with Δm.
  const a = store.startRun({ name: "alpha-finished", method: "gradnorm", seed: 0, tasks: 2 });
  for (let s = 0; s < 300; s++) a.step(s, { ...synthetic(s, 2), ms: 2 });
  for (const s of [100, 200, 299]) a.eval(s, [0.5 / (1 + s / 100), 0.8 / (1 + s / 200)], "test");
  a.finish({ normalizedTestLoss: 1.23, testLoss: [0.1, 0.2], deltaM: -2.5, weights: [1.4, 0.6] });
  // A long finished run with losses and weights only, and one spike to survive downsampling.
  const b = store.startRun({ name: "beta-long", method: "dwa", seed: 1, tasks: 3 });
  for (let s = 0; s < 5000; s++) {
    const { losses, weights } = synthetic(s, 3);
    if (s === 3333) weights[1] = 42;
    b.step(s, { losses, weights });
  }
  b.finish({ testAccuracy: [0.9, 0.8, 0.7] });
  // A running run, committed only on flush().
  const c: Recorder = store.startRun({ name: "gamma-live", method: "equal", seed: 2, tasks: 2 }, { flushSteps: 1_000_000, flushMs: 3_600_000 });
  let next = 0;
  const append = (n: number) => {
    for (let k = 0; k < n; k++, next++) c.step(next, { ...synthetic(next, 2), ms: 1 });
    c.flush();
  };
  append(50);

  const ui = await startDashboard({ store: path, port: 0, pollMs: 100 });
  assert.match(ui.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  const get = async (p: string) => {
    const r = await fetch(new URL(p, ui.url));
    return { status: r.status, body: (await r.json()) as any };
  };
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  try {
    // ---- API
    const all = await get("/api/runs");
    assert.equal(all.status, 200);
    assert.deepEqual(all.body.runs.map((r: { id: number }) => r.id), [c.id, b.id, a.id], "newest first");
    assert.deepEqual(all.body.methods, ["dwa", "equal", "gradnorm"]);
    const ra = all.body.runs.find((r: { id: number }) => r.id === a.id);
    assert.deepEqual([ra.steps, ra.status, ra.finalMetric], [300, "finished", { name: "Δm %", value: -2.5 }]);
    assert.deepEqual(all.body.runs.find((r: { id: number }) => r.id === b.id).finalMetric, { name: "mean test acc", value: (0.9 + 0.8 + 0.7) / 3 });
    const ids = async (q: string) => (await get(`/api/runs?${q}`)).body.runs.map((r: { id: number }) => r.id);
    assert.deepEqual(await ids("status=running"), [c.id]);
    assert.deepEqual(await ids("status=finished"), [b.id, a.id]);
    assert.deepEqual(await ids("method=dwa"), [b.id]);
    assert.deepEqual(await ids("q=ALPHA"), [a.id], "text filter, case-insensitive");
    assert.deepEqual(await ids("q=gamma&status=finished"), []);
    assert.equal((await get("/api/runs?status=bogus")).status, 400);

    const one = await get(`/api/runs/${a.id}`);
    assert.equal(one.body.name, "alpha-finished");
    assert.equal(one.body.evals.length, 3);
    assert.equal(one.body.final.deltaM, -2.5);
    assert.equal((await get("/api/runs/9999")).status, 404);
    assert.equal((await get("/api/runs/abc/steps")).status, 400);
    assert.equal((await get(`/api/runs/${a.id}/steps?max=1`)).status, 400);

    const full = (await get(`/api/runs/${a.id}/steps`)).body;
    assert.equal(full.downsampled, false);
    assert.equal(full.step.length, 300);
    assert.equal(full.gradNorms.length, 2);
    assert.deepEqual(full.pairs, [[0, 1]]);
    assert.ok(Math.abs(full.lossRatio[0][0] - 1) < 1e-6, "Lᵢ(0)/Lᵢ(0) = 1");
    assert.ok(Math.abs(full.cosines[0][0] - 0.3 / Math.sqrt(2 * 4)) < 1e-5, "cosine from the Gramian");

    for (const max of [2, 100, 2000]) {
      const d = (await get(`/api/runs/${b.id}/steps?max=${max}`)).body;
      assert.equal(d.total, 5000);
      assert.equal(d.downsampled, true);
      assert.ok(d.step.length <= max && d.step.length >= max - 1, `max=${max}: ${d.step.length} points`);
      for (const cols of [d.weights, d.lossRatio]) for (const col of cols) assert.equal(col.length, d.step.length);
      assert.equal(d.gradNorms, null, "no gradient norms recorded");
      assert.equal(Math.max(...d.weights[1]), 42, `max=${max}: the spike survives`);
      assert.equal(d.step[0], 0);
      assert.equal(d.step[d.step.length - 1], 4999);
      assert.ok(d.step.every((s: number, i: number) => i === 0 || s >= d.step[i - 1]), "steps ascending");
    }
    // Downsampling in isolation: the envelope of every bucket is exact.
    const ys = Array.from({ length: 1001 }, (_, i) => Math.sin(i / 7) + (i === 500 ? -9 : 0));
    const bnd = buckets(ys.length, 50)!;
    const ds = downsample(ys, bnd);
    assert.equal(ds.length, bucketSteps(ys.map((_, i) => i), bnd).length);
    assert.ok(ds.length <= 50);
    assert.equal(Math.min(...(ds as number[])), short(Math.min(...ys)), "values at float32 precision (7 digits)");
    assert.equal(Math.max(...(ds as number[])), short(Math.max(...ys)));

    // The live stream at the API level: steps after `after`, then `end` when the run finishes.
    {
      const side = store.startRun({ name: "sse", method: "equal", tasks: 2 }, { flushSteps: 1_000_000, flushMs: 3_600_000 });
      side.step(0, synthetic(0, 2));
      side.flush();
      const ac = new AbortController();
      const r = await fetch(new URL(`/api/runs/${side.id}/live?after=0`, ui.url), { signal: ac.signal });
      assert.match(r.headers.get("content-type") ?? "", /^text\/event-stream/);
      for (let s = 1; s <= 20; s++) side.step(s, synthetic(s, 2));
      side.flush();
      setTimeout(() => side.finish({ deltaM: 1 }), 300);
      let text = "";
      const reader = r.body!.getReader();
      const dec = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += dec.decode(value);
      }
      const events = [...text.matchAll(/event: (\w+)\n(?:id: (-?\d+)\n)?data: (.*)\n\n/g)].map((m) => ({ event: m[1], id: m[2], data: JSON.parse(m[3]!) }));
      const stepsSent = events.filter((e) => e.event === "steps").flatMap((e) => e.data.step as number[]);
      assert.deepEqual(stepsSent, Array.from({ length: 20 }, (_, i) => i + 1), "each new step once, in order, none before `after`");
      assert.deepEqual(events.map((e) => e.event).slice(-2), ["status", "end"]);
      assert.equal(events.at(-1)!.data.status, "finished");
      store.deleteRun(side.id);
    }

    // ---- Page
    if (!existsSync(CHROMIUM)) {
      t.skip(`page part skipped: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM)`);
      return;
    }
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1500, height: 1200 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    await page.addInitScript("globalThis.__name = (f) => f;");
    await page.goto(ui.url);
    await page.waitForSelector("body[data-state=ready]");
    const rows = () => page.$$eval("#runs tbody tr", (trs) => trs.map((tr) => Number((tr as HTMLElement).dataset.id)));
    assert.deepEqual(await rows(), [c.id, b.id, a.id]);
    assert.match((await page.textContent(`#runs tr[data-id="${a.id}"]`)) ?? "", /alpha-finished.*gradnorm.*finished.*300.*Δm % -2\.5/);
    // Filters narrow the list.
    await page.selectOption("#fMethod", "dwa");
    await page.waitForFunction(() => document.querySelectorAll("#runs tbody tr").length === 1);
    assert.deepEqual(await rows(), [b.id]);
    await page.selectOption("#fMethod", "");
    await page.fill("#fText", "alpha");
    await page.waitForFunction(() => document.querySelectorAll("#runs tbody tr").length === 1);
    assert.deepEqual(await rows(), [a.id]);
    await page.fill("#fText", "");
    await page.waitForFunction(() => document.querySelectorAll("#runs tbody tr").length === 3);

    type Dash = { dashboard: { points(id: number, kind?: string): number } };
    const points = (id: number, kind = "weights") => page.evaluate(([i, k]) => (globalThis as unknown as Dash).dashboard.points(i as number, k as string), [id, kind] as const);
    // Select the finished run: every chart drawn with every step.
    await page.click(`#runs tr[data-id="${a.id}"]`);
    await page.waitForFunction((id) => (globalThis as unknown as Dash).dashboard.points(id, "evals") > 0, a.id);
    for (const kind of ["weights", "lossRatio", "gradNorms", "cosines"]) assert.equal(await points(a.id, kind), 300, `${kind} chart of run ${a.id}`);
    assert.equal(await points(a.id, "evals"), 3);
    const pixels = await page.evaluate((id) => {
      const out: Record<string, number> = {};
      for (const el of document.querySelectorAll(`.view[data-id="${id}"] .chart`)) {
        const cv = el.querySelector("canvas") as HTMLCanvasElement;
        const d = cv.getContext("2d")!.getImageData(0, 0, cv.width, cv.height).data;
        let blue = 0;
        for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i]! - 0x1f) + Math.abs(d[i + 1]! - 0x77) + Math.abs(d[i + 2]! - 0xb4) < 40 && d[i + 3]! > 200) blue++;
        out[(el as HTMLElement).dataset.kind!] = blue;
      }
      return out;
    }, a.id);
    for (const [kind, n] of Object.entries(pixels)) assert.ok(n > 30, `${kind}: the first series drawn (${JSON.stringify(pixels)})`);
    assert.match((await page.textContent("#finalTable")) ?? "", /Δm %.*-2\.5/);

    // The long run: downsampled to ≤ 2000 points.
    await page.click(`#runs tr[data-id="${b.id}"]`);
    await page.waitForFunction((id) => (globalThis as unknown as Dash).dashboard.points(id) > 0, b.id);
    const bPoints = await points(b.id);
    assert.ok(bPoints <= 2000 && bPoints >= 1999, `run ${b.id}: ${bPoints} points`);

    // The live run: its charts grow as steps are committed.
    await page.click(`#runs tr[data-id="${c.id}"]`);
    await page.waitForFunction((id) => (globalThis as unknown as Dash).dashboard.points(id) === 50, c.id);
    const grown: number[] = [];
    for (let round = 0; round < 3; round++) {
      append(40);
      await page.waitForFunction(([id, n]) => (globalThis as unknown as Dash).dashboard.points(id!) === n, [c.id, next] as const, { timeout: 10_000 });
      grown.push(await points(c.id, "lossRatio"));
    }
    assert.deepEqual(grown, [90, 130, 170], "every chart of the live run grows with each flush");
    assert.equal(await points(c.id, "cosines"), 170);
    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, "dashboard.png");
    await page.screenshot({ path: shot, fullPage: true });
    t.diagnostic(`screenshot: ${shot}`);
    // The run finishes: the page says so and stops following.
    c.finish({ deltaM: 0.5 });
    await page.waitForFunction((id) => document.querySelector(`.view[data-id="${id}"] .meta`)?.textContent?.includes("finished") && !document.querySelector(`.view[data-id="${id}"] .meta`)?.textContent?.includes("live"), c.id, { timeout: 10_000 });
    assert.deepEqual(errors, [], "no page errors");
    t.diagnostic(`page script: ${ui.page}; live points ${grown.join(" → ")}; whole test ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    await browser?.close();
    await ui.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
