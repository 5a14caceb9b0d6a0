/**
 * `lossbalance/threads` in Node: jax-js's wasm kernels on a pool of worker threads.
 *
 * jax-js starts its wasm worker pool only where `SharedArrayBuffer` and a global `Worker` exist when
 * `@jax-js/jax` is first evaluated; Node has no global `Worker`. Importing this module defines one as
 * an accessor on `globalThis` that answers jax-js as {@link configureThreads} said: `undefined` (no
 * pool: today's single thread) until told otherwise, else a small Web-Worker shim over
 * `node:worker_threads` that accepts jax-js's `blob:` module URL (the blob is resolved on this thread
 * with `resolveObjectURL`, passed to a bootstrap as `workerData` and imported there as a `data:` URL).
 * The pool's size is what jax-js reads from `navigator.hardwareConcurrency` while it builds the pool:
 * the shim answers that read (recognized by its stack) with the configured count; other code still sees
 * the machine's.
 *
 * The shim's threads are unref()-ed while idle and ref()-ed while a message to them awaits its reply
 * (jax-js's pool answers each message once), so a process exits when its work is done, and an
 * `await a.data()` keeps it alive until the kernel is back. Ctrl-C ends the process as usual (the
 * threads go with it).
 *
 * Usage — before jax-js (or `lossbalance`, which imports it) is first imported:
 * ```ts
 * import { configureThreads } from "lossbalance/threads";
 * configureThreads("auto", { flopsPerStep: 6 * batch * weights });
 * const { createModelTrainer } = await import("lossbalance");
 * ```
 * or in a module of its own imported first. Too late is an error: when jax-js has already built its
 * backend after this module was imported, `configureThreads` throws; when jax-js was imported even
 * before this module, that shows only at jax-js's next kernel compile or array read, which then throws
 * once (see {@link loadedBefore}) and jax-js goes on single-threaded.
 */
import { Worker as ThreadWorker } from "node:worker_threads";
import { resolveObjectURL } from "node:buffer";
import { availableParallelism, cpus } from "node:os";
import { callerStack, checkHint, checkThreads, chooseThreads, jaxRead, loadedBefore, sizingPool, stackNamesVisible, tooLate, type ThreadsHint, type ThreadsInfo, type ThreadsState } from "./common.js";

export { AUTO_MIN_FLOPS, chooseThreads, type ThreadsHint, type ThreadsInfo, type ThreadsState } from "./common.js";

/** What jax-js's wasm backend got, once it exists. */
interface JaxState {
  /** What jax-js's reads of `Worker` get, now and always. */
  readonly value: unknown;
  readonly pool: boolean;
  readonly workers?: number;
  /** jax-js was evaluated before this module (its first read seen here came from a later call). */
  readonly late: boolean;
}

interface State {
  configured: ThreadsInfo | null;
  jax: JaxState | null;
  /** Worker threads the shim has started. */
  started: number;
}

/** Runs in each worker thread: Web-Worker globals over `parentPort`, then jax-js's module source. */
const BOOTSTRAP = `
const { parentPort, workerData } = require("node:worker_threads");
globalThis.self = globalThis;
globalThis.postMessage = (data, transfer) => parentPort.postMessage(data, transfer);
const early = [];
let ready = false;
const deliver = (data) => {
  const handler = globalThis.onmessage;
  if (typeof handler === "function") handler.call(globalThis, { data });
};
parentPort.on("message", (data) => (ready ? deliver(data) : early.push(data)));
(async () => {
  const source = workerData.blob ? await workerData.blob.text() : null;
  await import(source === null ? workerData.href : "data:text/javascript;charset=utf-8," + encodeURIComponent(source));
  ready = true;
  for (const data of early.splice(0)) deliver(data);
})().catch((e) => setImmediate(() => { throw e; }));
`;

type Listener = (event: { data?: unknown; message?: string; error?: unknown }) => void;

/**
 * The Web `Worker` that jax-js gets: a module worker from a `blob:`, `data:` or `file:` URL, over
 * `node:worker_threads`, with `onmessage`, `onerror`, `postMessage`, `terminate` and
 * `addEventListener("message" | "error")`.
 */
class NodeWebWorker {
  onmessage: Listener | null = null;
  onerror: Listener | null = null;
  readonly #thread: ThreadWorker;
  readonly #listeners = new Map<string, Set<Listener>>();
  #pending = 0;

  constructor(url: string | URL, options: { type?: string; name?: string } = {}) {
    const href = String(url);
    let workerData: { blob?: unknown; href?: string };
    if (href.startsWith("blob:")) {
      const blob = resolveObjectURL(href);
      if (!blob) throw new TypeError(`Worker: ${href} is not a live blob URL of this thread`);
      workerData = { blob };
    } else if (/^(data|file):/.test(href)) workerData = { href };
    else throw new TypeError(`Worker (lossbalance/threads): a blob:, data: or file: URL is needed, got ${href}`);
    const thread = new ThreadWorker(BOOTSTRAP, { eval: true, workerData, execArgv: [], name: options.name ?? "jax-js wasm" });
    thread.unref();
    thread.on("message", (data: unknown) => {
      if (this.#pending > 0 && --this.#pending === 0) thread.unref();
      this.#emit("message", { data });
    });
    thread.on("error", (error: Error) => {
      this.#pending = 0;
      thread.unref();
      this.#emit("error", { message: error.message, error });
    });
    thread.on("exit", () => {
      this.#pending = 0;
    });
    this.#thread = thread;
    state.started++;
  }

  postMessage(data: unknown, transfer?: readonly Transferable[]): void {
    if (this.#pending++ === 0) this.#thread.ref();
    this.#thread.postMessage(data, transfer as never);
  }

  terminate(): void {
    this.#pending = 0;
    void this.#thread.terminate();
  }

  addEventListener(type: string, listener: Listener): void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    set.add(listener);
  }

  removeEventListener(type: string, listener: Listener): void {
    this.#listeners.get(type)?.delete(listener);
  }

  #emit(type: "message" | "error", event: { data?: unknown; message?: string; error?: unknown }): void {
    const e = { type, target: this, ...event };
    (type === "message" ? this.onmessage : this.onerror)?.call(this as never, e);
    for (const l of this.#listeners.get(type) ?? []) l.call(this as never, e);
  }
}

const KEY = Symbol.for("lossbalance.threads.node");
const state: State = ((globalThis as Record<symbol, State | undefined>)[KEY] ??= install());

/** Defines the `Worker` accessor (once per thread, shared by every copy of this module). */
function install(): State {
  const s: State = { configured: null, jax: null, started: 0 };
  const names = stackNamesVisible();
  let previous = Object.getOwnPropertyDescriptor(globalThis, "Worker");
  const other = (): unknown => (previous?.get ? previous.get.call(globalThis) : previous?.value);
  Object.defineProperty(globalThis, "Worker", {
    configurable: true,
    enumerable: false,
    get() {
      if (s.jax) {
        const elsewhere = s.jax.pool && !s.jax.late ? NodeWebWorker : other();
        if (s.jax.value === elsewhere) return elsewhere;
        return jaxRead(callerStack(), names) === "other" ? elsewhere : s.jax.value;
      }
      const who = jaxRead(callerStack(), names);
      if (who === "other") return s.configured?.pool ? NodeWebWorker : other();
      if (who === "later") {
        // jax-js was evaluated before this module: it saw what was there then (in Node, normally no Worker: no pool).
        const value = other();
        s.jax = { value, pool: value !== undefined, late: true };
        const c = s.configured;
        if (c && (c.pool || value !== undefined)) {
          s.configured = { ...c, threads: value === undefined ? 1 : c.threads, pool: value !== undefined, reason: loadedBefore(c.requested) };
          throw new Error(loadedBefore(c.requested));
        }
        return value;
      }
      const pool = s.configured?.pool ?? false;
      s.jax = pool ? { value: NodeWebWorker, pool, workers: s.configured!.threads, late: false } : { value: undefined, pool, late: false };
      return s.jax.value;
    },
    set(value: unknown) {
      previous = { value, writable: true, configurable: true };
    },
  });
  return s;
}

/** Answers jax-js's read of `navigator.hardwareConcurrency` (while it sizes its pool) with the configured threads. */
function sizePool(): void {
  const g = globalThis as { navigator?: object };
  if (g.navigator === undefined) Object.defineProperty(globalThis, "navigator", { value: {}, configurable: true, writable: true });
  const nav = g.navigator as object;
  if (Object.getOwnPropertyDescriptor(nav, "hardwareConcurrency")?.get?.name === "lossbalanceHardwareConcurrency") return;
  const proto = Object.getPrototypeOf(nav) as object | null;
  const names = stackNamesVisible();
  Object.defineProperty(nav, "hardwareConcurrency", {
    configurable: true,
    enumerable: true,
    get: function lossbalanceHardwareConcurrency() {
      const stack = callerStack();
      if (state.configured?.pool && (!names || stack === "" || sizingPool(stack))) return state.configured.threads;
      return proto ? Reflect.get(proto, "hardwareConcurrency", nav) : availableParallelism();
    },
  });
}

/** Cores busy with other processes: the machine's CPU use over `ms` (this thread sleeps meanwhile). */
export function busyCores(ms = 100): number {
  const ticks = () => cpus().map((c) => c.times);
  const before = ticks();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  const after = ticks();
  let busy = 0;
  after.forEach((t, i) => {
    const b = before[i];
    if (!b) return;
    const total = t.user + t.nice + t.sys + t.idle + t.irq - (b.user + b.nice + b.sys + b.idle + b.irq);
    if (total > 0) busy += 1 - (t.idle - b.idle) / total;
  });
  return busy;
}

/**
 * Sets how many threads compute jax-js's wasm kernels; call it before jax-js (or `lossbalance`) is
 * first imported, once or more (the last call counts). `1`: no pool, kernels run on the calling thread
 * (jax-js's behaviour in Node without this module). `N > 1`: a pool of N worker threads, used by
 * asynchronous reads (`await a.data()`, as the library's trainers read); `dataSync()` still computes
 * on the calling thread. `"auto"`: see {@link chooseThreads} — cores from `os.availableParallelism()`,
 * more than one thread only for big steps (`hint.flopsPerStep`), at most (cores − busy cores) /
 * `hint.jobs` each; where that would be more than one, it first measures the busy cores (0.1 s of the
 * machine's CPU use, this thread asleep) unless `hint.busyCores` gives them.
 * Throws on a bad value, and when jax-js's wasm backend already exists.
 */
export function configureThreads(threads: number | "auto", hint?: ThreadsHint): ThreadsInfo {
  const requested = checkThreads(threads);
  const h = checkHint(hint);
  if (state.jax) throw new Error(state.jax.late ? loadedBefore(requested) : tooLate(requested, state.jax.pool, state.jax.workers));
  const cores = availableParallelism();
  let chosen = chooseThreads(requested, cores, h);
  if (requested === "auto" && h.busyCores === undefined && chosen.threads > 1) chosen = chooseThreads(requested, cores, { ...h, busyCores: busyCores() });
  const pool = chosen.threads > 1;
  const info: ThreadsInfo = {
    requested,
    threads: chosen.threads,
    pool,
    reason: `${chosen.reason}; ${pool ? `jax-js gets a pool of ${chosen.threads} worker threads` : "no pool: kernels run on the calling thread"}`,
    cores,
  };
  state.configured = info;
  if (pool) sizePool();
  return info;
}

/**
 * What was configured (null if nothing), with `started`: whether jax-js's wasm backend exists, and
 * `workers`: how many worker threads the pool has started so far (it starts them at the first
 * asynchronous read).
 */
export function threadsInfo(): ThreadsState | null {
  const c = state.configured;
  return c ? { ...c, started: state.jax !== null, workers: state.started } : null;
}
