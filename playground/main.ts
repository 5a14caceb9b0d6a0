/**
 * The playground page: a form of settings, Start/Stop, and two uPlot charts fed live by a module Web
 * Worker (worker.js) that trains; this thread only draws (at most once per animation frame). The method
 * list comes from the registry at build time (__PLAYGROUND_METHODS__, defined by esbuild), so this bundle
 * holds no jax-js. Settings can be preset from the query string (?tasks=3&steps=1000&method=dwa…).
 */
import uPlot from "uplot";
import { playgroundDefaults, type PlaygroundMessage, type PlaygroundSettings, type ToWorker } from "./settings.js";

declare const __PLAYGROUND_METHODS__: { name: string; options: string[] }[];
const METHODS = __PLAYGROUND_METHODS__;
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

const $ = <T extends HTMLElement = HTMLInputElement>(id: string) => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`playground: no #${id}`);
  return e as T;
};
const NUMBER_FIELDS = ["tasks", "inputScale", "dataSeed", "trainSize", "steps", "batchSize", "lr", "seed", "reportEvery"] as const;

/** Default options of a method for T tasks, as shown in the options field. */
function defaultOptions(method: string, T: number): Record<string, unknown> {
  if (method === "gradnorm") return { alpha: 0.12 };
  if (method === "static") return { weights: Array.from({ length: T }, () => 1) };
  return {};
}

function setupForm(): void {
  const method = $<HTMLSelectElement>("method");
  for (const m of METHODS) method.add(new Option(m.name, m.name));
  const d = playgroundDefaults;
  for (const k of NUMBER_FIELDS) $(k).value = String(d[k]);
  $("sigmas").value = d.sigmas.join(",");
  $("hidden").value = d.hidden.join(",");
  method.value = d.method;
  $("options").value = JSON.stringify(d.options);
  $<HTMLSelectElement>("backend").value = d.backend;
  $<HTMLSelectElement>("threads").value = String(d.threads);
  const q = new URLSearchParams(location.search);
  for (const [k, v] of q) {
    const e = document.getElementById(k) as HTMLInputElement | HTMLSelectElement | null;
    if (e && e.closest("#settings")) e.value = v;
  }
  const hint = () => {
    const m = METHODS.find((x) => x.name === method.value);
    $("optionsHint").textContent = m && m.options.length > 0 ? `options: ${m.options.join(", ")}` : "no options";
  };
  method.addEventListener("change", () => {
    $("options").value = JSON.stringify(defaultOptions(method.value, Number($("tasks").value) || 2));
    hint();
  });
  if (!q.has("options") && q.has("method")) $("options").value = JSON.stringify(defaultOptions(method.value, Number($("tasks").value) || 2));
  hint();
  const gpu = "gpu" in navigator && (navigator as { gpu?: unknown }).gpu;
  if (!gpu) {
    ($<HTMLSelectElement>("backend").options[1] as HTMLOptionElement).disabled = true;
    $("backendHint").textContent = "WebGPU: not available in this browser";
  }
  $("threadsHint").textContent = globalThis.crossOriginIsolated
    ? `cross-origin isolated: jax-js can use a pool of workers (${navigator.hardwareConcurrency} cores)`
    : "not cross-origin isolated: 1 thread (serve with COOP/COEP for a pool)";
}

const numList = (s: string, what: string): number[] => {
  const t = s.trim();
  if (t === "") return [];
  const v = t.split(",").map((x) => Number(x.trim()));
  if (v.some((x) => !Number.isFinite(x))) throw new Error(`${what}: not a list of numbers: ${s}`);
  return v;
};

/** The settings in the form, checked. */
export function readSettings(): PlaygroundSettings {
  const num = (k: (typeof NUMBER_FIELDS)[number], integer: boolean, min: number) => {
    const v = Number($(k).value);
    if (!Number.isFinite(v) || v < min || (integer && !Number.isInteger(v))) throw new Error(`${k}: expected ${integer ? "an integer" : "a number"} ≥ ${min}, got '${$(k).value}'`);
    return v;
  };
  let options: Record<string, unknown>;
  try {
    options = JSON.parse($("options").value.trim() || "{}") as Record<string, unknown>;
  } catch {
    throw new Error(`method options: not JSON: ${$("options").value}`);
  }
  if (typeof options !== "object" || options === null || Array.isArray(options)) throw new Error("method options: expected a JSON object");
  const threads = $<HTMLSelectElement>("threads").value;
  const s: PlaygroundSettings = {
    tasks: num("tasks", true, 1),
    sigmas: numList($("sigmas").value, "σ"),
    inputScale: num("inputScale", false, 0),
    dataSeed: num("dataSeed", true, 0),
    trainSize: num("trainSize", true, 1),
    steps: num("steps", true, 1),
    batchSize: num("batchSize", true, 1),
    lr: num("lr", false, 0),
    hidden: numList($("hidden").value, "hidden widths"),
    seed: num("seed", true, 0),
    method: $<HTMLSelectElement>("method").value,
    options,
    backend: $<HTMLSelectElement>("backend").value === "webgpu" ? "webgpu" : "wasm",
    threads: threads === "auto" ? "auto" : Number(threads),
    reportEvery: num("reportEvery", true, 1),
  };
  if (s.sigmas.length > 0 && s.sigmas.length !== s.tasks) throw new Error(`σ: ${s.sigmas.length} values for ${s.tasks} tasks`);
  return s;
}

interface Run {
  worker: Worker;
  xs: number[];
  weights: number[][];
  ratios: number[][];
  initial: number[] | null;
  plots: { weights: uPlot; losses: uPlot };
  dirty: boolean;
}

/** What the page exposes for tests and the console. */
const state = {
  status: "idle" as "idle" | "starting" | "running" | "done" | "stopped" | "error",
  run: null as Run | null,
  final: null as number[] | null,
  /** The worker's "ready" message of the current run (σ, device, threads). */
  ready: null as Extract<PlaygroundMessage, { type: "ready" }> | null,
};
(globalThis as { playground?: unknown }).playground = state;

function setStatus(status: typeof state.status, text: string): void {
  state.status = status;
  document.body.dataset.state = status;
  const e = $("status");
  e.textContent = text;
  e.className = status === "error" ? "error" : "";
}

function makePlot(el: HTMLElement, title: string, yLabel: string, T: number, logY: boolean): uPlot {
  el.replaceChildren();
  const series: uPlot.Series[] = [{ label: "step" }];
  for (let i = 0; i < T; i++) series.push({ label: `task ${i + 1}`, stroke: PALETTE[i % PALETTE.length]!, width: 1.5, points: { show: false } });
  return new uPlot(
    {
      title,
      width: 520,
      height: 300,
      scales: { x: { time: false }, ...(logY ? { y: { distr: 3 } } : {}) },
      axes: [{ label: "step" }, { label: yLabel }],
      series,
    },
    [[], ...Array.from({ length: T }, () => [])] as unknown as uPlot.AlignedData,
    el,
  );
}

function redraw(run: Run): void {
  if (!run.dirty) return;
  run.dirty = false;
  run.plots.weights.setData([run.xs, ...run.weights] as unknown as uPlot.AlignedData);
  run.plots.losses.setData([run.xs, ...run.ratios] as unknown as uPlot.AlignedData);
}

function start(): void {
  let s: PlaygroundSettings;
  try {
    s = readSettings();
  } catch (e) {
    setStatus("error", e instanceof Error ? e.message : String(e));
    return;
  }
  state.final = null;
  state.ready = null;
  $("final").replaceChildren();
  delete $("final").dataset.weights;
  const T = s.tasks;
  const run: Run = {
    worker: new Worker(new URL("./worker.js", import.meta.url), { type: "module" }),
    xs: [],
    weights: Array.from({ length: T }, () => []),
    ratios: Array.from({ length: T }, () => []),
    initial: null,
    plots: {
      weights: makePlot($<HTMLDivElement>("chartWeights"), "weights wᵢ(t)", "wᵢ", T, false),
      losses: makePlot($<HTMLDivElement>("chartLosses"), "batch losses Lᵢ(t)/Lᵢ(0)", "Lᵢ/Lᵢ(0) (log)", T, true),
    },
    dirty: false,
  };
  state.run = run;
  $<HTMLButtonElement>("start").disabled = true;
  $<HTMLButtonElement>("stop").disabled = false;
  setStatus("starting", `making the data (T = ${T}) and starting jax-js (${s.backend})…`);
  let info = "";
  const finish = () => {
    run.worker.terminate();
    $<HTMLButtonElement>("start").disabled = false;
    $<HTMLButtonElement>("stop").disabled = true;
  };
  run.worker.onmessage = (e: MessageEvent<PlaygroundMessage>) => {
    if (state.run !== run) return;
    const m = e.data;
    if (m.type === "ready") {
      state.ready = m;
      const th = m.threads as { threads?: number; reason?: string } | undefined;
      info = `σ = (${m.sigmas.map((x) => x.toPrecision(3)).join(", ")}), device ${m.device}, ${th?.threads ?? 1} thread(s)`;
      if (th?.reason) $("threadsHint").textContent = th.reason;
      setStatus("running", `training… ${info}`);
    } else if (m.type === "progress") {
      for (let k = 0; k < m.steps.length; k++) {
        const losses = m.losses[k]!;
        run.initial ??= losses;
        run.xs.push(m.steps[k]!);
        for (let i = 0; i < T; i++) {
          run.weights[i]!.push(m.weights[k]![i]!);
          run.ratios[i]!.push(losses[i]! / run.initial[i]!);
        }
      }
      run.dirty = true;
      requestAnimationFrame(() => redraw(run));
      setStatus("running", `step ${run.xs.length}/${s.steps} — ${info}`);
    } else if (m.type === "done") {
      redraw(run);
      state.final = m.weights;
      const f = $("final");
      f.dataset.weights = JSON.stringify(m.weights);
      f.textContent = `final weights: ${m.weights.map((w, i) => `w${i + 1} = ${w.toPrecision(6)}`).join(", ")}   last batch losses: ${m.losses.map((l) => l.toPrecision(4)).join(", ")}`;
      setStatus(m.stopped ? "stopped" : "done", `${m.stopped ? "stopped" : "done"} after ${m.steps} steps, ${m.msPerStep.toFixed(2)} ms/step (${(m.wallMs / 1000).toFixed(1)} s in all) — ${info}`);
      finish();
    } else if (m.type === "error") {
      setStatus("error", `error: ${m.message}`);
      finish();
    }
  };
  run.worker.onerror = (e) => {
    setStatus("error", `worker error: ${e.message || "failed to load worker.js"}`);
    finish();
  };
  const msg: ToWorker = { type: "start", settings: s };
  run.worker.postMessage(msg);
}

function stop(): void {
  const run = state.run;
  if (!run) return;
  const msg: ToWorker = { type: "stop" };
  run.worker.postMessage(msg);
  $<HTMLButtonElement>("stop").disabled = true;
  $("status").textContent = "stopping after the current step…";
}

setupForm();
$("start").addEventListener("click", start);
$("stop").addEventListener("click", stop);
setStatus("idle", "idle — choose the settings and press Start");
