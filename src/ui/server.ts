/**
 * The live dashboard's server (`lossbalance ui`): one page (src/ui/page/, bundled by esbuild when the
 * server starts) and a JSON API over a run store, on 127.0.0.1 by default.
 *
 * - GET /api/runs?status=&method=&q=&limit=  the run list (newest first), filtered; with every method
 *   in the store (for the filter) and each run's final metric in one number.
 * - GET /api/runs/:id                         one run: settings, final metrics, evaluations, error.
 * - GET /api/runs/:id/steps?max=2000&after=-1 its steps as columns, at most `max` points per series
 *   (min/max buckets: every spike stays visible); Lᵢ(t)/Lᵢ(0) computed here.
 * - GET /api/runs/:id/live?after=S            server-sent events: `steps` (new rows, raw columns,
 *   `id:` the last step, so a reconnecting EventSource resumes), `evals`, `status`, then `end` once
 *   the run is no longer running. The store is polled every `pollMs` (500) for steps after the last sent.
 *
 * The store is only read, except that the run list marks runs whose process died `interrupted` (as
 * every open of the store does), at most every 5 s.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { openStore, runStatuses, type RunStatus, type RunStore } from "../store/store.js";
import { closeServer, listenLocal, uplotDist } from "../util/localServer.js";
import { finalMetric, readColumns, seriesResponse, short, type StepColumns } from "./series.js";

export interface DashboardOptions {
  /** Run store file (default: LOSSBALANCE_STORE or .lossbalance/runs.db); it must exist. */
  store?: string;
  host?: string;
  /** 0: any free port. Default 8080. */
  port?: number;
  /** Store poll period of the live streams (default 500 ms). */
  pollMs?: number;
  /** Default `max` of the steps endpoint (default 2000). */
  maxPoints?: number;
}

export interface Dashboard {
  /** "http://HOST:PORT/" */
  readonly url: string;
  readonly server: Server;
  readonly store: RunStore;
  /** How the page script was produced: bundled by esbuild, or the compiled modules served as they are. */
  readonly page: "bundled" | "modules";
  close(): Promise<void>;
}

const HERE = dirname(fileURLToPath(import.meta.url));
const PAGE_DIR = join(HERE, "page");

const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lossbalance — runs</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/uPlot.min.css">
<script type="importmap">{"imports":{"uplot":"/vendor/uPlot.esm.js"}}</script>
<style>
  body { font: 13px/1.4 system-ui, sans-serif; margin: .8rem 1.2rem; color: #222; }
  h1 { font-size: 1.2rem; margin: 0 0 .5rem; }
  .filters { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; margin-bottom: .4rem; }
  .filters label { display: flex; gap: .3rem; align-items: center; color: #444; }
  input, select, button { font: inherit; }
  .list { max-height: 38vh; overflow: auto; border: 1px solid #ddd; }
  table { border-collapse: collapse; width: 100%; }
  th, td { padding: 2px 8px; text-align: left; white-space: nowrap; border-bottom: 1px solid #eee; }
  th { position: sticky; top: 0; background: #f6f6f6; z-index: 1; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  #runs tbody tr { cursor: pointer; }
  #runs tbody tr:hover { background: #f3f7fb; }
  #runs tbody tr.selected { background: #e2ecf7; }
  .status-running { color: #0a7d27; font-weight: 600; }
  .status-failed { color: #b00; }
  .status-interrupted { color: #a66a00; }
  #info { color: #555; margin: .3rem 0 .6rem; }
  #views { display: flex; gap: 1rem; overflow-x: auto; align-items: flex-start; }
  .view { flex: 0 0 auto; border: 1px solid #ddd; padding: .4rem .6rem; border-radius: 4px; }
  .view h2 { font-size: 1rem; margin: 0 0 .2rem; }
  .view .meta { color: #555; font-size: 12px; margin-bottom: .3rem; }
  .view .chart { margin: .3rem 0; }
  .view .none { color: #888; font-size: 12px; margin: .2rem 0; }
  #finals { margin-top: 1rem; }
  #finals table { width: auto; }
  .u-legend { font-size: 11px; }
</style>
</head>
<body data-state="loading">
<h1>lossbalance runs</h1>
<div class="filters">
  <label>status <select id="fStatus"><option value="">any</option>${runStatuses.map((s) => `<option>${s}</option>`).join("")}</select></label>
  <label>method <select id="fMethod"><option value="">any</option></select></label>
  <label>search <input id="fText" type="search" placeholder="id, name, method…"></label>
  <button id="clear" type="button">clear selection</button>
  <span id="count"></span>
</div>
<div class="list"><table id="runs"><thead><tr><th></th><th>id</th><th>name</th><th>method</th><th>status</th><th>started</th><th class="num">steps</th><th>final metric</th></tr></thead><tbody></tbody></table></div>
<div id="info">Click runs to show them side by side; running runs update live.</div>
<div id="views"></div>
<div id="finals"></div>
<script type="module" src="/page/main.js"></script>
</body>
</html>
`;

/** The page script: bundled with esbuild from src/ui/page/main.ts, else the compiled modules. */
async function pageScripts(): Promise<{ kind: "bundled" | "modules"; files: Map<string, string> }> {
  const entry = [join(PAGE_DIR, "main.ts"), join(PAGE_DIR, "main.js")].find(existsSync);
  if (!entry) throw new Error(`no dashboard page script in ${PAGE_DIR}`);
  let esbuild: typeof import("esbuild") | null = null;
  try {
    esbuild = await import("esbuild");
  } catch {
    esbuild = null;
  }
  const files = new Map<string, string>();
  if (esbuild) {
    const r = await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      write: false,
      outfile: "main.js",
      sourcemap: "inline",
      logLevel: "silent",
    });
    files.set("/page/main.js", r.outputFiles[0]!.text);
    return { kind: "bundled", files };
  }
  // No esbuild (an installed package): tsc's output is plain ES modules; uPlot comes from the import map.
  for (const f of readdirSync(PAGE_DIR)) if (f.endsWith(".js")) files.set(`/page/${f}`, readFileSync(join(PAGE_DIR, f), "utf8"));
  return { kind: "modules", files };
}

function uplotFile(name: string): string {
  return readFileSync(join(uplotDist(), name), "utf8");
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function intParam(url: URL, name: string, dflt: number, lo: number, hi: number): number {
  const s = url.searchParams.get(name);
  if (s === null || s === "") return dflt;
  if (!/^-?\d+$/.test(s.trim())) throw new HttpError(400, `${name} must be an integer`);
  const v = Number(s);
  if (v < lo || v > hi) throw new HttpError(400, `${name} must be in [${lo}, ${hi}]`);
  return v;
}

/** Columns of raw rows as JSON-ready arrays (NaN → null). */
function rawColumns(c: StepColumns) {
  const fix = (cols: Float32Array[] | null) => cols?.map((col) => Array.from(col, short)) ?? null;
  return { step: c.step, losses: fix(c.losses), weights: fix(c.weights), gradNorms: fix(c.gradNorms), cosines: fix(c.cosines) };
}

export async function startDashboard(opts: DashboardOptions = {}): Promise<Dashboard> {
  const store = openStore(opts.store, { create: false });
  const pollMs = Math.max(20, opts.pollMs ?? 500);
  const defaultMax = opts.maxPoints ?? 2000;
  let page: Awaited<ReturnType<typeof pageScripts>>;
  try {
    page = await pageScripts();
  } catch (e) {
    store.close();
    throw e;
  }
  const statics = new Map<string, { body: string; type: string }>([
    ["/", { body: INDEX_HTML, type: "text/html; charset=utf-8" }],
    ["/index.html", { body: INDEX_HTML, type: "text/html; charset=utf-8" }],
    ["/uPlot.min.css", { body: uplotFile("uPlot.min.css"), type: "text/css; charset=utf-8" }],
    ["/vendor/uPlot.esm.js", { body: uplotFile("uPlot.esm.js"), type: "text/javascript; charset=utf-8" }],
    ...[...page.files].map(([p, body]) => [p, { body, type: "text/javascript; charset=utf-8" }] as [string, { body: string; type: string }]),
  ]);
  /** Downsampled steps of runs that no longer change, by "id:max:rows:lastStep". */
  const cache = new Map<string, string>();
  let lastCheck = 0;
  /** Step counts of runs, by id, with the status and end they were counted at. */
  const counts = new Map<number, { key: string; steps: number; lastStep: number | null }>();
  const streams = new Set<() => void>();

  const getRun = (idText: string) => {
    if (!/^\d+$/.test(idText)) throw new HttpError(400, "run id must be a positive integer");
    const run = store.getRun(Number(idText));
    if (!run) throw new HttpError(404, `no run ${idText}`);
    return run;
  };

  const listRuns = (url: URL) => {
    if (Date.now() - lastCheck > 5000) {
      lastCheck = Date.now();
      try {
        store.markInterrupted();
      } catch {
        /* the store is busy: next time */
      }
    }
    const status = url.searchParams.get("status") || undefined;
    if (status && !runStatuses.includes(status as RunStatus)) throw new HttpError(400, `status must be one of ${runStatuses.join(", ")}`);
    const method = url.searchParams.get("method") || undefined;
    const q = (url.searchParams.get("q") ?? "").trim().toLowerCase();
    const limit = intParam(url, "limit", 1000, 1, 1_000_000);
    // The store's listRuns counts every run's steps on each call (~0.7 ms per 20,000 steps); a run
    // that is no longer running keeps its count, so it is counted once (keyed by status and end).
    const rowsAll = store
      .stmt("SELECT id, name, method, status, seed, tasks, started, ended, heartbeat, final FROM runs WHERE (?1 IS NULL OR status = ?1) ORDER BY id DESC")
      .all(status ?? null) as Record<string, unknown>[];
    const all = rowsAll.map((r) => {
      const id = Number(r.id);
      const key = `${r.status}:${r.ended}`;
      let c = counts.get(id);
      if (!c || c.key !== key || r.status === "running") {
        const x = store.stmt("SELECT COUNT(*) AS n, MAX(step) AS last FROM steps WHERE run_id = ?").get(id) as { n: number; last: number | null };
        counts.set(id, (c = { key, steps: Number(x.n), lastStep: x.last == null ? null : Number(x.last) }));
      }
      const n = (v: unknown) => (v == null ? null : Number(v));
      return {
        id,
        name: (r.name as string | null) ?? null,
        method: (r.method as string | null) ?? null,
        status: r.status as RunStatus,
        seed: n(r.seed),
        tasks: n(r.tasks),
        started: Number(r.started),
        ended: n(r.ended),
        heartbeat: n(r.heartbeat),
        steps: c.steps,
        lastStep: c.lastStep,
        final: typeof r.final === "string" ? (JSON.parse(r.final) as unknown) : null,
      };
    });
    const methods = [...new Set((store.stmt("SELECT DISTINCT method FROM runs WHERE method IS NOT NULL ORDER BY method").all() as { method: string }[]).map((r) => r.method))];
    const runs = all
      .filter((r) => !method || r.method === method)
      .filter((r) => !q || [String(r.id), r.name ?? "", r.method ?? "", r.status, r.seed == null ? "" : `seed ${r.seed}`].some((s) => s.toLowerCase().includes(q)))
      .slice(0, limit)
      .map(({ final, ...r }) => ({ ...r, finalMetric: finalMetric(final) }));
    return { store: store.path, total: all.length, methods, runs };
  };

  const steps = (idText: string, url: URL) => {
    const run = getRun(idText);
    const max = intParam(url, "max", defaultMax, 2, 1_000_000);
    const after = intParam(url, "after", -1, -1, Number.MAX_SAFE_INTEGER);
    const key = `${run.id}:${max}:${after}:${run.steps}:${run.lastStep}`;
    const done = run.status !== "running";
    const hit = done ? cache.get(key) : undefined;
    if (hit) return hit;
    const body = JSON.stringify({ status: run.status, ...seriesResponse(store, run.id, run.tasks, max, after) });
    if (done) {
      if (cache.size >= 256) cache.delete(cache.keys().next().value!);
      cache.set(key, body);
    }
    return body;
  };

  const live = (idText: string, url: URL, req: IncomingMessage, res: ServerResponse) => {
    const run = getRun(idText);
    const resume = req.headers["last-event-id"];
    let after = typeof resume === "string" && /^-?\d+$/.test(resume) ? Number(resume) : intParam(url, "after", -1, -1, Number.MAX_SAFE_INTEGER);
    res.writeHead(200, { "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store", Connection: "keep-alive", "X-Accel-Buffering": "no" });
    res.write(`retry: 2000\n\n`);
    let status = run.status;
    let evalCount = -1;
    let lastPing = Date.now();
    let closed = false;
    const send = (event: string, data: unknown, id?: number) => res.write(`event: ${event}\n${id === undefined ? "" : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`);
    const stop = () => {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      streams.delete(stop);
      res.end();
    };
    const poll = () => {
      if (closed) return;
      try {
        // Status first: steps committed with the final status are read after it, so none is missed.
        const row = store.stmt("SELECT status FROM runs WHERE id = ?").get(run.id) as { status: RunStatus } | undefined;
        for (;;) {
          const c = readColumns(store, run.id, after, 5000);
          if (c.step.length === 0) break;
          after = c.step[c.step.length - 1]!;
          send("steps", rawColumns(c), after);
          if (c.step.length < 5000) break;
        }
        const n = Number((store.stmt("SELECT COUNT(*) AS n FROM evals WHERE run_id = ?").get(run.id) as { n: number }).n);
        if (n !== evalCount) {
          if (evalCount >= 0 || n > 0) send("evals", store.evals(run.id));
          evalCount = n;
        }
        const now = row?.status ?? "interrupted";
        if (now !== status) {
          status = now;
          send("status", { status, run: store.getRun(run.id) ?? null });
        }
        if (!row || now !== "running") {
          send("end", { status: now, lastStep: after });
          return stop();
        }
        if (Date.now() - lastPing > 15_000) {
          lastPing = Date.now();
          res.write(": ping\n\n");
        }
      } catch (e) {
        send("error", { message: e instanceof Error ? e.message : String(e) });
      }
    };
    const timer = setInterval(poll, pollMs);
    streams.add(stop);
    res.on("close", stop);
    poll();
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://x");
    const path = url.pathname;
    const send = (status: number, body: string, type: string) => {
      res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(body), "Cache-Control": "no-store" });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    const json = (body: unknown, status = 200) => send(status, typeof body === "string" ? body : JSON.stringify(body), "application/json; charset=utf-8");
    try {
      if (req.method !== "GET" && req.method !== "HEAD") throw new HttpError(405, "method not allowed");
      const file = statics.get(path);
      if (file) return send(200, file.body, file.type);
      if (path === "/api/runs") return json(listRuns(url));
      let m = /^\/api\/runs\/([^/]+)$/.exec(path);
      if (m) {
        const run = getRun(m[1]!);
        return json({ ...run, finalMetric: finalMetric(run.final), evals: store.evals(run.id) });
      }
      if ((m = /^\/api\/runs\/([^/]+)\/steps$/.exec(path))) return json(steps(m[1]!, url));
      if ((m = /^\/api\/runs\/([^/]+)\/live$/.exec(path))) return live(m[1]!, url, req, res);
      throw new HttpError(404, `not found: ${path}`);
    } catch (e) {
      const status = e instanceof HttpError ? e.status : 500;
      if (res.headersSent) return res.end();
      const message = e instanceof Error ? e.message : String(e);
      if (path.startsWith("/api/")) json({ error: message }, status);
      else send(status, `${message}\n`, "text/plain; charset=utf-8");
    }
  };

  const server = createServer(handle);
  let url: string;
  try {
    url = await listenLocal(server, opts.host ?? "127.0.0.1", opts.port ?? 8080);
  } catch (e) {
    store.close();
    throw e;
  }
  return {
    url,
    server,
    store,
    page: page.kind,
    close: async () => {
      for (const stop of [...streams]) stop();
      await closeServer(server);
      store.close();
    },
  };
}
