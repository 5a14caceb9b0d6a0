/**
 * The dashboard page (served by src/ui/server.ts): the run list with filters, the selected runs side
 * by side (wᵢ(t), Lᵢ(t)/Lᵢ(0), gradient norms, cosines between task gradients, evaluations), a table
 * of their final metrics, and running runs followed live over server-sent events. Exposes its state
 * as `globalThis.dashboard` (for tests and the console).
 */
import uPlot from "uplot";

type Cell = number | null;
type Status = "running" | "finished" | "failed" | "interrupted";

interface RunItem {
  id: number;
  name: string | null;
  method: string | null;
  status: Status;
  seed: number | null;
  tasks: number | null;
  started: number;
  steps: number;
  lastStep: number | null;
  finalMetric: { name: string; value: number } | null;
}

interface EvalRow {
  step: number;
  split: string;
  metrics: unknown;
}

interface RunDetail extends RunItem {
  config: unknown;
  final: unknown;
  error: string | null;
  evals: EvalRow[];
}

interface Series {
  status: Status;
  tasks: number;
  total: number;
  lastStep: number | null;
  initialLosses: number[] | null;
  pairs: [number, number][];
  step: number[];
  lossRatio: Cell[][];
  weights: Cell[][];
  gradNorms: Cell[][] | null;
  cosines: Cell[][] | null;
}

interface RawSteps {
  step: number[];
  losses: Cell[][];
  weights: Cell[][];
  gradNorms: Cell[][] | null;
  cosines: Cell[][] | null;
}

type Kind = "weights" | "lossRatio" | "gradNorms" | "cosines" | "evals";

interface View {
  id: number;
  detail: RunDetail;
  data: Series;
  el: HTMLElement;
  plots: Partial<Record<Kind, uPlot>>;
  source: EventSource | null;
  /** A running run not followed because MAX_LIVE others are. */
  liveRefused: boolean;
  /** Live updates received (steps events). */
  updates: number;
  pending: boolean;
}

const MAX_POINTS = 2000;
/** Live streams open at once: a browser allows 6 connections per host over HTTP/1.1, and the page needs one for its requests. */
const MAX_LIVE = 4;
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const SUB = "₀₁₂₃₄₅₆₇₈₉";
const sub = (i: number) => String(i).replace(/\d/g, (d) => SUB[Number(d)]!);

const $ = <T extends HTMLElement>(sel: string) => document.querySelector(sel) as T;
const state = {
  runs: [] as RunItem[],
  methods: [] as string[],
  selected: [] as number[],
  views: new Map<number, View>(),
  errors: [] as string[],
};

async function getJson<T>(url: string): Promise<T> {
  const r = await fetch(url);
  const body = (await r.json()) as T & { error?: string };
  if (!r.ok) throw new Error(body.error ?? `${r.status} ${url}`);
  return body;
}

const fmt = (v: number) => (Math.abs(v) >= 1e-3 && Math.abs(v) < 1e6 ? String(Number(v.toPrecision(4))) : v.toPrecision(4));
const time = (ms: number) => new Date(ms).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
const runTitle = (r: RunItem) => `#${r.id} ${r.name ?? r.method ?? ""}`;

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

// ---------------------------------------------------------------- run list

async function refreshList(): Promise<void> {
  const q = new URLSearchParams();
  const status = $<HTMLSelectElement>("#fStatus").value;
  const method = $<HTMLSelectElement>("#fMethod").value;
  const text = $<HTMLInputElement>("#fText").value.trim();
  if (status) q.set("status", status);
  if (method) q.set("method", method);
  if (text) q.set("q", text);
  const r = await getJson<{ total: number; methods: string[]; runs: RunItem[] }>(`/api/runs?${q}`);
  state.runs = r.runs;
  if (r.methods.join("\n") !== state.methods.join("\n")) {
    state.methods = r.methods;
    const sel = $<HTMLSelectElement>("#fMethod");
    const keep = sel.value;
    sel.innerHTML = `<option value="">any</option>` + r.methods.map((m) => `<option>${escapeHtml(m)}</option>`).join("");
    sel.value = r.methods.includes(keep) ? keep : "";
  }
  $("#count").textContent = `${r.runs.length} of ${r.total} runs`;
  const body = $("#runs tbody");
  body.innerHTML = r.runs
    .map((run) => {
      const sel = state.selected.includes(run.id);
      const fm = run.finalMetric ? `${escapeHtml(run.finalMetric.name)} ${fmt(run.finalMetric.value)}` : "";
      return `<tr data-id="${run.id}" class="${sel ? "selected" : ""}"><td><input type="checkbox" ${sel ? "checked" : ""} tabindex="-1"></td><td class="num">${run.id}</td><td>${escapeHtml(run.name ?? "")}</td><td>${escapeHtml(run.method ?? "")}</td><td class="status-${run.status}">${run.status}</td><td>${time(run.started)}</td><td class="num">${run.steps}</td><td>${fm}</td></tr>`;
    })
    .join("");
  // Keep the headers of shown runs current (status, steps).
  for (const run of r.runs) {
    const v = state.views.get(run.id);
    if (v) {
      Object.assign(v.detail, { status: run.status, steps: run.steps, lastStep: run.lastStep });
      renderMeta(v);
    }
  }
}

function toggle(id: number): void {
  const i = state.selected.indexOf(id);
  if (i >= 0) {
    state.selected.splice(i, 1);
    removeView(id);
  } else {
    state.selected.push(id);
    void addView(id).catch((e) => showError(e));
  }
  for (const tr of document.querySelectorAll<HTMLTableRowElement>("#runs tbody tr")) {
    const on = state.selected.includes(Number(tr.dataset.id));
    tr.classList.toggle("selected", on);
    (tr.querySelector("input") as HTMLInputElement).checked = on;
  }
  renderFinals();
}

function showError(e: unknown): void {
  const msg = e instanceof Error ? e.message : String(e);
  state.errors.push(msg);
  $("#info").textContent = `error: ${msg}`;
}

// ---------------------------------------------------------------- charts

function chartWidth(): number {
  const n = Math.max(1, state.selected.length);
  const avail = document.documentElement.clientWidth - 40;
  return Math.round(Math.max(320, Math.min(560, avail / n - 30)));
}

function allPositiveWide(cols: Cell[][]): boolean {
  let lo = Infinity;
  let hi = -Infinity;
  for (const c of cols)
    for (const v of c) {
      if (v == null) continue;
      if (v <= 0) return false;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  return lo > 0 && hi / lo > 100;
}

function makePlot(el: HTMLElement, title: string, labels: string[], xs: number[], ys: Cell[][], opts: { log?: boolean; range?: [number, number] } = {}): uPlot {
  const series: uPlot.Series[] = [{ label: "step" }];
  labels.forEach((label, i) => series.push({ label, stroke: PALETTE[i % PALETTE.length], width: 1.2, points: { show: false }, spanGaps: true }));
  const y: uPlot.Scale = opts.log ? { distr: 3 } : opts.range ? { range: opts.range } : {};
  return new uPlot(
    {
      title,
      width: chartWidth(),
      height: 200,
      series,
      legend: { show: labels.length <= 12 },
      scales: { x: { time: false }, y },
      axes: [{}, { size: 56 }],
      cursor: { sync: { key: "steps" } },
    },
    [xs, ...ys] as unknown as uPlot.AlignedData,
    el,
  );
}

const taskLabels = (T: number, prefix: string) => Array.from({ length: T }, (_, i) => `${prefix}${sub(i + 1)}`);

/** Evaluation metrics flattened to series: one per split and number (e.g. "test [0]"). */
function evalSeries(evals: EvalRow[]): { xs: number[]; labels: string[]; ys: Cell[][] } {
  const xs = [...new Set(evals.map((e) => e.step))].sort((a, b) => a - b);
  const at = new Map(xs.map((x, i) => [x, i]));
  const cols = new Map<string, Cell[]>();
  const flat = (v: unknown, key: string, out: [string, number][]) => {
    if (typeof v === "number") out.push([key, v]);
    else if (Array.isArray(v)) v.forEach((x, i) => flat(x, `${key}[${i}]`, out));
    else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) flat(x, key ? `${key}.${k}` : k, out);
  };
  for (const e of evals) {
    const pairs: [string, number][] = [];
    flat(e.metrics, "", pairs);
    for (const [k, v] of pairs) {
      const label = `${e.split} ${k}`.trim();
      let col = cols.get(label);
      if (!col) cols.set(label, (col = new Array<Cell>(xs.length).fill(null)));
      col[at.get(e.step)!] = Number.isFinite(v) ? v : null;
    }
  }
  return { xs, labels: [...cols.keys()], ys: [...cols.values()] };
}

function renderMeta(v: View): void {
  const d = v.detail;
  const meta = v.el.querySelector(".meta") as HTMLElement;
  const live = v.source ? " · live" : d.status === "running" && v.liveRefused ? ` · not followed live (at most ${MAX_LIVE} at once)` : "";
  meta.innerHTML = `${escapeHtml(d.method ?? "")} · <span class="status-${d.status}">${d.status}</span>${live} · ${v.data.step.length} points of ${d.steps} steps${d.seed == null ? "" : ` · seed ${d.seed}`}${d.error ? ` · ${escapeHtml(d.error.split("\n")[0]!)}` : ""}`;
}

function drawCharts(v: View): void {
  for (const p of Object.values(v.plots)) p?.destroy();
  v.plots = {};
  const box = v.el.querySelector(".charts") as HTMLElement;
  box.innerHTML = "";
  const d = v.data;
  const T = d.tasks;
  const add = (kind: Kind) => {
    const el = document.createElement("div");
    el.className = "chart";
    el.dataset.kind = kind;
    box.appendChild(el);
    return el;
  };
  const none = (text: string) => {
    const p = document.createElement("div");
    p.className = "none";
    p.textContent = text;
    box.appendChild(p);
  };
  v.plots.weights = makePlot(add("weights"), "weights wᵢ(t)", taskLabels(T, "w"), d.step, d.weights);
  v.plots.lossRatio = makePlot(add("lossRatio"), "Lᵢ(t)/Lᵢ(0)", taskLabels(T, "L"), d.step, d.lossRatio, { log: allPositiveWide(d.lossRatio) });
  if (d.gradNorms) v.plots.gradNorms = makePlot(add("gradNorms"), "gradient norms ‖∇Lᵢ‖", taskLabels(T, "g"), d.step, d.gradNorms, { log: allPositiveWide(d.gradNorms) });
  else none("gradient norms: not recorded");
  if (d.cosines) v.plots.cosines = makePlot(add("cosines"), "cos(∇Lᵢ, ∇Lⱼ)", d.pairs.map(([i, j]) => `cos${sub(i + 1)}${sub(j + 1)}`), d.step, d.cosines, { range: [-1, 1] });
  else none("gradient cosines: not recorded");
  const ev = evalSeries(v.detail.evals);
  if (ev.xs.length) v.plots.evals = makePlot(add("evals"), "evaluations", ev.labels, ev.xs, ev.ys);
  else none("evaluations: none recorded");
  renderMeta(v);
}

async function addView(id: number): Promise<void> {
  const el = document.createElement("div");
  el.className = "view";
  el.dataset.id = String(id);
  el.innerHTML = `<h2></h2><div class="meta">loading…</div><div class="charts"></div>`;
  $("#views").appendChild(el);
  const [detail, data] = await Promise.all([getJson<RunDetail>(`/api/runs/${id}`), getJson<Series>(`/api/runs/${id}/steps?max=${MAX_POINTS}`)]);
  if (!state.selected.includes(id)) return el.remove();
  (el.querySelector("h2") as HTMLElement).textContent = runTitle(detail);
  const v: View = { id, detail, data, el, plots: {}, source: null, liveRefused: false, updates: 0, pending: false };
  state.views.set(id, v);
  drawCharts(v);
  if (detail.status === "running") follow(v);
  resizeAll();
  renderFinals();
}

function removeView(id: number): void {
  const v = state.views.get(id);
  state.views.delete(id);
  if (v) {
    v.source?.close();
    for (const p of Object.values(v.plots)) p?.destroy();
    v.el.remove();
  } else document.querySelector(`.view[data-id="${id}"]`)?.remove();
  resizeAll();
}

/** Follows a running run: new steps from the live stream are appended and the charts redrawn. */
function follow(v: View): void {
  const d = v.data;
  if ([...state.views.values()].filter((o) => o.source).length >= MAX_LIVE) {
    v.liveRefused = true;
    return renderMeta(v);
  }
  const es = new EventSource(`/api/runs/${v.id}/live?after=${d.lastStep ?? -1}`);
  v.source = es;
  es.addEventListener("steps", (ev) => {
    const s = JSON.parse((ev as MessageEvent).data) as RawSteps;
    if (!d.initialLosses) d.initialLosses = s.losses.map((col) => col.find((x) => x != null && x !== 0) ?? NaN) as number[];
    const T = Math.max(d.tasks, s.losses.length);
    if (T !== d.tasks || (s.gradNorms && !d.gradNorms) || (s.cosines && !d.cosines)) {
      // The first steps of a run that had none: shape the series, then draw the charts anew.
      d.tasks = T;
      const empty = (k: number) => Array.from({ length: k }, () => new Array<Cell>(d.step.length).fill(null));
      while (d.weights.length < T) d.weights.push(...empty(1)), d.lossRatio.push(...empty(1));
      if (s.gradNorms && !d.gradNorms) d.gradNorms = empty(T);
      if (s.cosines && !d.cosines) {
        d.cosines = empty(s.cosines.length);
        d.pairs = [];
        for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) d.pairs.push([i, j]);
      }
      appendRaw(d, s);
      drawCharts(v);
    } else appendRaw(d, s);
    v.updates++;
    v.detail.steps += s.step.length;
    schedule(v);
  });
  es.addEventListener("evals", (ev) => {
    v.detail.evals = JSON.parse((ev as MessageEvent).data) as EvalRow[];
    const e = evalSeries(v.detail.evals);
    if (v.plots.evals && v.plots.evals.series.length - 1 === e.labels.length) v.plots.evals.setData([e.xs, ...e.ys] as unknown as uPlot.AlignedData);
    else drawCharts(v);
  });
  es.addEventListener("status", (ev) => {
    const s = JSON.parse((ev as MessageEvent).data) as { status: Status; run: (RunItem & { final: unknown; error: string | null }) | null };
    v.detail.status = s.status;
    if (s.run) Object.assign(v.detail, { final: s.run.final, error: s.run.error, steps: s.run.steps });
    renderMeta(v);
    renderFinals();
  });
  es.addEventListener("end", () => {
    es.close();
    v.source = null;
    renderMeta(v);
    void refreshList().catch(showError);
  });
}

function appendRaw(d: Series, s: RawSteps): void {
  d.step.push(...s.step);
  s.weights.forEach((col, i) => d.weights[i]?.push(...col));
  s.losses.forEach((col, i) => d.lossRatio[i]?.push(...col.map((x) => (x == null ? null : x / d.initialLosses![i]!))));
  if (d.gradNorms) d.gradNorms.forEach((col, i) => col.push(...(s.gradNorms?.[i] ?? s.step.map(() => null))));
  if (d.cosines) d.cosines.forEach((col, i) => col.push(...(s.cosines?.[i] ?? s.step.map(() => null))));
  d.lastStep = s.step[s.step.length - 1] ?? d.lastStep;
  // Keep the chart light: past 2 × MAX_POINTS, every other point goes.
  if (d.step.length > 2 * MAX_POINTS) {
    const half = <T>(a: T[]) => a.filter((_, i) => i % 2 === 0 || i === a.length - 1);
    d.step = half(d.step);
    for (const cols of [d.weights, d.lossRatio, d.gradNorms, d.cosines]) if (cols) cols.forEach((c, i) => (cols[i] = half(c)));
  }
}

/** Redraws a view's step charts once per frame however many events came. */
function schedule(v: View): void {
  if (v.pending) return;
  v.pending = true;
  requestAnimationFrame(() => {
    v.pending = false;
    const d = v.data;
    const set = (p: uPlot | undefined, ys: Cell[][] | null) => p && ys && p.setData([d.step, ...ys] as unknown as uPlot.AlignedData);
    set(v.plots.weights, d.weights);
    set(v.plots.lossRatio, d.lossRatio);
    set(v.plots.gradNorms, d.gradNorms);
    set(v.plots.cosines, d.cosines);
    renderMeta(v);
  });
}

function resizeAll(): void {
  const w = chartWidth();
  for (const v of state.views.values()) for (const p of Object.values(v.plots)) if (p && p.width !== w) p.setSize({ width: w, height: 200 });
}

// ---------------------------------------------------------------- final metrics

function flatten(v: unknown, prefix: string, out: Map<string, string>): void {
  if (typeof v === "number") out.set(prefix || "value", fmt(v));
  else if (Array.isArray(v)) {
    if (v.every((x) => typeof x === "number") && v.length > 0) out.set(prefix, v.map((x) => fmt(x as number)).join(", "));
    else v.forEach((x, i) => flatten(x, `${prefix}[${i}]`, out));
  } else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  else if (v != null) out.set(prefix || "value", String(v));
}

function renderFinals(): void {
  const views = state.selected.map((id) => state.views.get(id)).filter((v): v is View => !!v);
  const box = $("#finals");
  if (!views.length) return void (box.innerHTML = "");
  const flat = views.map((v) => {
    const m = new Map<string, string>();
    flatten(v.detail.final, "", m);
    return m;
  });
  const keys = [...new Set(flat.flatMap((m) => [...m.keys()]))];
  // Δm first when the final metrics carry it.
  keys.sort((a, b) => Number(/^delta/i.test(b)) - Number(/^delta/i.test(a)));
  const label = (k: string) => (/^deltaM/i.test(k) ? `Δm % (${k})` : k);
  const head = `<tr><th>final metric</th>${views.map((v) => `<th>${escapeHtml(runTitle(v.detail))}</th>`).join("")}</tr>`;
  const rows = keys.map((k) => `<tr><td>${escapeHtml(label(k))}</td>${flat.map((m) => `<td class="num">${escapeHtml(m.get(k) ?? "")}</td>`).join("")}</tr>`);
  box.innerHTML = keys.length ? `<table id="finalTable">${head}${rows.join("")}</table>` : `<div class="none">no final metrics yet (${views.map((v) => `#${v.id}: ${v.detail.status}`).join(", ")})</div>`;
}

// ---------------------------------------------------------------- start

function points(id: number, kind: Kind = "weights"): number {
  const p = state.views.get(id)?.plots[kind];
  return p ? p.data[0].length : -1;
}

(globalThis as unknown as { dashboard: unknown }).dashboard = { state, points, refreshList };

async function main(): Promise<void> {
  $("#runs tbody").addEventListener("click", (e) => {
    const tr = (e.target as HTMLElement).closest("tr");
    if (tr?.dataset.id) toggle(Number(tr.dataset.id));
  });
  let typing: ReturnType<typeof setTimeout> | undefined;
  $("#fText").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => void refreshList().catch(showError), 200);
  });
  for (const id of ["#fStatus", "#fMethod"]) $(id).addEventListener("change", () => void refreshList().catch(showError));
  $("#clear").addEventListener("click", () => {
    for (const id of [...state.selected]) toggle(id);
  });
  let resizing: ReturnType<typeof setTimeout> | undefined;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(resizeAll, 100);
  });
  const initial = new URLSearchParams(location.search).get("runs");
  await refreshList();
  document.body.dataset.state = "ready";
  for (const id of (initial ?? "").split(",").filter((s) => /^\d+$/.test(s))) toggle(Number(id));
  setInterval(() => void refreshList().catch(showError), 3000);
}

main().catch((e) => {
  document.body.dataset.state = "error";
  showError(e);
});
