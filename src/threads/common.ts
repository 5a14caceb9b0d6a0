/**
 * What `lossbalance/threads` shares between Node and browsers (no Node built-ins): the thread-count
 * validation, the `auto` rule, and how jax-js's reads of the `Worker` global are recognized.
 *
 * jax-js (0.1.25) builds its wasm backend when `@jax-js/jax` is first evaluated: it gets a worker pool
 * (and shared wasm memory) iff `SharedArrayBuffer` and a global `Worker` exist then, with
 * `navigator.hardwareConcurrency` workers (4 when that is unset). It asks again whenever it compiles a
 * kernel (the kernel's memory import is declared shared iff it does), so the answer jax-js gets must
 * never change afterwards. The pool runs a kernel only when its result is read asynchronously
 * (`await a.data()`); `dataSync()` runs it on the calling thread.
 */

/** What `configureThreads` chose. */
export interface ThreadsInfo {
  /** The argument as given. */
  readonly requested: number | "auto";
  /** Threads that compute jax-js's wasm kernels (1: the calling thread, no pool). */
  readonly threads: number;
  /** Whether jax-js gets a worker pool (of `threads` workers). */
  readonly pool: boolean;
  /** Why, in words (what `auto` weighed, or why threads were not available). */
  readonly reason: string;
  /** The machine's cores as this environment reports them. */
  readonly cores: number;
}

/** {@link ThreadsInfo} as it stands: `started` once jax-js's wasm backend exists; `workers`: worker threads started so far (Node only; the pool starts them at the first asynchronous read). */
export type ThreadsState = ThreadsInfo & { readonly started: boolean; readonly workers?: number };

/** Hints for `"auto"`. */
export interface ThreadsHint {
  /**
   * Floating-point operations of one training step (forward and backward, ≈ 6 × batch × weights of
   * the dense layers). Without it, `auto` stays on one thread (the pool pays off only for big steps).
   */
  readonly flopsPerStep?: number;
  /** Jobs that run at the same time on this machine, each with its own jax-js (default 1): `auto` keeps jobs × threads ≤ cores. */
  readonly jobs?: number;
  /**
   * Cores busy with other work, which `auto` leaves alone (a pool's kernel waits for its slowest chunk,
   * so a core shared with another process slows every kernel). In Node, when `auto` would use more than
   * one thread, `configureThreads` measures it (the machine's CPU use over 0.1 s) unless given.
   */
  readonly busyCores?: number;
}

/**
 * Steps of fewer floating-point operations than this stay on one thread under `auto`. Measured on
 * 2 idle cores (bench/threads.ts, Node 22), the toy network at T = 10 (equal weights and GradNorm), 2
 * threads against 1: batch 100 (0.09 GFLOP per step) ≈ 0.7×, batch 200 (0.19) ≈ 0.9–1.0×, batch 300
 * (0.28) ≈ 1.05–1.15×, batch 500 (0.47) ≈ 1.15–1.25×, batch 1000 (0.93) ≈ 1.4×; the MultiMNIST MLP
 * step (0.56) ≈ 1.1×. Beyond 2 cores (1 + floor(flops / this) threads) is an extrapolation.
 */
export const AUTO_MIN_FLOPS = 3e8;

/** The thread request, checked: a positive integer or "auto" (TypeError/RangeError otherwise). */
export function checkThreads(threads: unknown, where = "configureThreads"): number | "auto" {
  if (threads === "auto") return threads;
  if (typeof threads !== "number") {
    throw new TypeError(`${where}: threads must be a positive integer or "auto", got ${typeof threads === "string" ? JSON.stringify(threads) : String(threads)} (${typeof threads})`);
  }
  if (!Number.isSafeInteger(threads) || threads < 1) throw new RangeError(`${where}: threads must be a positive integer or "auto", got ${threads}`);
  return threads;
}

/** The hint, checked (TypeError/RangeError on a bad field). */
export function checkHint(hint: ThreadsHint | undefined, where = "configureThreads"): ThreadsHint {
  if (hint === undefined) return {};
  if (typeof hint !== "object" || hint === null) throw new TypeError(`${where}: the hint must be an object like { flopsPerStep, jobs }`);
  const { flopsPerStep, jobs, busyCores } = hint;
  if (busyCores !== undefined && !(typeof busyCores === "number" && Number.isFinite(busyCores) && busyCores >= 0)) throw new RangeError(`${where}: busyCores must be a finite number ≥ 0, got ${String(busyCores)}`);
  if (flopsPerStep !== undefined && !(typeof flopsPerStep === "number" && Number.isFinite(flopsPerStep) && flopsPerStep >= 0)) {
    throw new RangeError(`${where}: flopsPerStep must be a finite number ≥ 0, got ${String(flopsPerStep)}`);
  }
  if (jobs !== undefined && !(typeof jobs === "number" && Number.isSafeInteger(jobs) && jobs >= 1)) throw new RangeError(`${where}: jobs must be a positive integer, got ${String(jobs)}`);
  return hint;
}

const gflop = (f: number) => `${(f / 1e9).toPrecision(2)} GFLOP`;

/**
 * The thread count for a request on `cores` cores: a number is taken as is (with a note when jobs ×
 * threads exceed the cores); `"auto"` gives each job floor((cores − busyCores) / jobs) cores (busy
 * cores rounded) and uses more than one of them only for steps of at least {@link AUTO_MIN_FLOPS}:
 * then 1 + floor(flopsPerStep / AUTO_MIN_FLOPS) threads, at most the job's cores.
 */
export function chooseThreads(requested: number | "auto", cores: number, hint: ThreadsHint = {}): { threads: number; reason: string } {
  const jobs = hint.jobs ?? 1;
  const jobsText = jobs > 1 ? ` for ${jobs} parallel jobs` : "";
  if (requested !== "auto") {
    const over = requested * jobs > cores ? ` (${requested * jobs} threads${jobsText} on ${cores} cores: oversubscribed)` : "";
    return { threads: requested, reason: `${requested} requested${over}` };
  }
  const busy = Math.min(cores, Math.round(hint.busyCores ?? 0));
  const share = Math.max(1, Math.floor((cores - busy) / jobs));
  const busyText = hint.busyCores === undefined ? "" : ` (≈ ${hint.busyCores.toFixed(1)} busy with other work)`;
  const f = hint.flopsPerStep;
  if (f === undefined) return { threads: 1, reason: `auto: no work-size hint (flopsPerStep), so one thread (the pool pays off only for steps of ≥ ${gflop(AUTO_MIN_FLOPS)})` };
  if (f < AUTO_MIN_FLOPS) return { threads: 1, reason: `auto: a step of ≈ ${gflop(f)} is below ${gflop(AUTO_MIN_FLOPS)}, where the pool's dispatch costs more than it saves` };
  if (share < 2) {
    return { threads: 1, reason: `auto: ${cores} cores${busyText}${jobsText} leave one core ${jobs > 1 ? "per job" : "free"}` };
  }
  const threads = Math.min(share, 1 + Math.floor(f / AUTO_MIN_FLOPS));
  return { threads, reason: `auto: a step of ≈ ${gflop(f)} (≥ ${gflop(AUTO_MIN_FLOPS)}) on ${cores} cores${busyText}${jobsText} → ${threads} threads` };
}

/** A stack trace of the caller, "" when the environment gives none. */
export function callerStack(): string {
  const limit = Error.stackTraceLimit;
  try {
    Error.stackTraceLimit = 16;
    return new Error().stack ?? "";
  } catch {
    return "";
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Whether function names show in stack traces here (not so in minified bundles); then jax-js's reads can be told apart. */
export function stackNamesVisible(): boolean {
  return function lossbalanceThreadsProbe() {
    return callerStack().includes("lossbalanceThreadsProbe");
  }();
}

/**
 * Who reads `Worker`: jax-js building its wasm backend ("construction"), jax-js later (compiling a
 * kernel, reading an array: "later"), other code ("other"), or not recognizable ("unknown": no stack,
 * or function names mangled by a minifier).
 */
export function jaxRead(stack: string, namesVisible: boolean): "construction" | "later" | "other" | "unknown" {
  if (stack === "" || !namesVisible) return "unknown";
  if (!stack.includes("hasSharedArrayBuffer")) return "other";
  // V8: "at new WasmBackend" (its methods show as "at WasmBackend.prepareKernel"); SpiderMonkey, JSC: "WasmBackend@".
  return /new WasmBackend|^\s*WasmBackend@|createWorkerPool/m.test(stack) ? "construction" : "later";
}

/** Whether a stack shows jax-js sizing its worker pool (reading `navigator.hardwareConcurrency`). */
export function sizingPool(stack: string): boolean {
  return stack.includes("createWorkerPool");
}

/** The message when jax-js's wasm backend already exists. */
export function tooLate(requested: number | "auto", pool: boolean, workers: number | undefined): string {
  const state = pool ? `with a pool of ${workers ?? "?"} workers` : "single-threaded";
  return (
    `lossbalance/threads: configureThreads(${JSON.stringify(requested)}) was called after jax-js had built its wasm backend (${state}); ` +
    `the thread count is fixed from then on. Call configureThreads before @jax-js/jax (or lossbalance, which imports it) is first imported: ` +
    `in a module imported before them, or before an \`await import("lossbalance")\`.`
  );
}

/** The message when jax-js turned out to have been loaded before `lossbalance/threads` itself. */
export function loadedBefore(requested: number | "auto"): string {
  return (
    `lossbalance/threads: configureThreads(${JSON.stringify(requested)}) came too late: jax-js had been imported before lossbalance/threads, ` +
    `so its wasm backend keeps the threads it started with. Import lossbalance/threads and call configureThreads before @jax-js/jax (or lossbalance) is first imported.`
  );
}
