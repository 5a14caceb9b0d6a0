/**
 * `lossbalance/threads` in browsers (and other non-Node runtimes): how many threads compute jax-js's
 * wasm kernels.
 *
 * jax-js starts its wasm worker pool by itself where `SharedArrayBuffer` and `Worker` exist, i.e. in a
 * cross-origin-isolated page (served with `Cross-Origin-Opener-Policy: same-origin` and
 * `Cross-Origin-Embedder-Policy: require-corp`), with `navigator.hardwareConcurrency` workers. It
 * decides when `@jax-js/jax` is first evaluated, and asks again (`typeof Worker`) whenever it compiles
 * a kernel, so the answer it gets must never change. Importing this module therefore replaces the
 * global `Worker` by an accessor that gives every caller the browser's `Worker`, except that, after
 * `configureThreads(1)` in an isolated page, it answers jax-js's own reads (recognized by their stack:
 * jax-js's `hasSharedArrayBuffer`) with `undefined`: no pool, kernels on the calling thread, while the
 * page's own workers keep working. With N > 1 the pool gets N workers: jax-js's read of
 * `navigator.hardwareConcurrency` while it sizes the pool is answered with N (other code still sees
 * the machine's count).
 *
 * Where stacks show no function names (a minified bundle), jax-js's reads cannot be told apart: then
 * `configureThreads(1)` in an isolated page gives jax-js a pool of one worker (kernels on one worker
 * thread, not on the page's thread), N > 1 answers every read of `navigator.hardwareConcurrency` with
 * N, and calling `configureThreads` too late cannot be detected. The returned `reason` says which.
 *
 * Call `configureThreads` before jax-js (or `lossbalance`) is first imported — in a module imported
 * before them, or before `await import("lossbalance")`; later it throws.
 */
import { callerStack, checkHint, checkThreads, chooseThreads, jaxRead, loadedBefore, sizingPool, stackNamesVisible, tooLate, type ThreadsHint, type ThreadsInfo, type ThreadsState } from "./common.js";

export { AUTO_MIN_FLOPS, chooseThreads, type ThreadsHint, type ThreadsInfo, type ThreadsState } from "./common.js";

interface JaxState {
  readonly pool: boolean;
  readonly workers?: number;
  /** jax-js's reads of `Worker` are answered with `undefined`. */
  readonly hidden: boolean;
  readonly late: boolean;
}

interface State {
  configured: ThreadsInfo | null;
  jax: JaxState | null;
  /** The environment's `Worker` (undefined where there is none). */
  native: unknown;
  /** The environment's `navigator.hardwareConcurrency` getter, before any override. */
  cores: () => number;
  names: boolean;
}

const KEY = Symbol.for("lossbalance.threads.browser");
const state: State = ((globalThis as Record<symbol, State | undefined>)[KEY] ??= install());

function nav(): { hardwareConcurrency?: number } | undefined {
  return (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
}

const sharedMemory = () => typeof SharedArrayBuffer !== "undefined";

function install(): State {
  const n = nav();
  const proto = n ? (Object.getPrototypeOf(n) as object | null) : null;
  const s: State = {
    configured: null,
    jax: null,
    native: undefined,
    cores: () => (n && proto ? Number(Reflect.get(proto, "hardwareConcurrency", n)) || 1 : 1),
    names: stackNamesVisible(),
  };
  const desc = Object.getOwnPropertyDescriptor(globalThis, "Worker");
  s.native = desc?.get ? desc.get.call(globalThis) : desc?.value;
  if (desc && !desc.configurable) return s; // cannot be replaced: jax-js sees the environment's Worker
  Object.defineProperty(globalThis, "Worker", {
    configurable: true,
    enumerable: desc?.enumerable ?? false,
    get() {
      const j = s.jax;
      if (j) return j.hidden && jaxRead(callerStack(), s.names) !== "other" ? undefined : s.native;
      const who = jaxRead(callerStack(), s.names);
      if (who === "other" || who === "unknown") return s.native;
      const pool = sharedMemory() && s.native !== undefined;
      if (who === "later") {
        // jax-js was evaluated before this module: it saw the environment's Worker.
        s.jax = { pool, hidden: false, late: true };
        const c = s.configured;
        if (c && (c.pool || pool)) {
          s.configured = { ...c, threads: pool ? (nav()?.hardwareConcurrency ?? 4) : 1, pool, reason: loadedBefore(c.requested) };
          throw new Error(loadedBefore(c.requested));
        }
        return s.native;
      }
      const hidden = pool && s.configured !== null && !s.configured.pool;
      s.jax = { pool: pool && !hidden, hidden, late: false, workers: s.configured?.pool ? s.configured.threads : s.cores() };
      return hidden ? undefined : s.native;
    },
    set(value: unknown) {
      s.native = value;
    },
  });
  return s;
}

/** jax-js reads `navigator.hardwareConcurrency` while it sizes its pool: answer `workers` (every read, where stacks show no names). */
function sizePool(workers: () => number | undefined): boolean {
  const n = nav();
  if (!n) return false;
  try {
    Object.defineProperty(n, "hardwareConcurrency", {
      configurable: true,
      enumerable: true,
      get() {
        const w = workers();
        if (w !== undefined && (!state.names || sizingPool(callerStack()))) return w;
        return state.cores();
      },
    });
    return true;
  } catch {
    return false;
  }
}

/**
 * Sets how many threads compute jax-js's wasm kernels; call it before jax-js (or `lossbalance`) is
 * first imported, once or more (the last call counts). Threads need a cross-origin-isolated page; where
 * it is not, the answer is 1 with the reason. `1` in an isolated page: no pool (jax-js would otherwise
 * start one by itself). `N > 1`: a pool of N workers, used by asynchronous reads (`await a.data()`).
 * `"auto"`: see {@link chooseThreads}, with `navigator.hardwareConcurrency` as the cores. Throws on a
 * bad value, and when jax-js's wasm backend already exists.
 */
export function configureThreads(threads: number | "auto", hint?: ThreadsHint): ThreadsInfo {
  const requested = checkThreads(threads);
  const h = checkHint(hint);
  if (state.jax) throw new Error(state.jax.late ? loadedBefore(requested) : tooLate(requested, state.jax.pool, state.jax.workers));
  const cores = state.cores();
  const chosen = chooseThreads(requested, cores, h);
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true && sharedMemory() && state.native !== undefined;
  let info: ThreadsInfo;
  if (!isolated) {
    const why = "this page is not cross-origin isolated (no SharedArrayBuffer; serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)";
    info = { requested, threads: 1, pool: false, reason: chosen.threads > 1 ? `${chosen.reason}, but 1: ${why}` : `${chosen.reason}; no pool: ${why}`, cores };
  } else if (chosen.threads > 1) {
    const sized = sizePool(() => (state.configured?.pool ? state.configured.threads : undefined));
    const note = state.names ? "" : " (function names do not show in stacks here, so every read of navigator.hardwareConcurrency answers that)";
    info = sized
      ? { requested, threads: chosen.threads, pool: true, reason: `${chosen.reason}; jax-js gets a pool of ${chosen.threads} workers${note}`, cores }
      : { requested, threads: cores, pool: true, reason: `${chosen.reason}, but navigator.hardwareConcurrency cannot be overridden here: jax-js's pool gets ${cores} workers`, cores };
  } else if (state.names) {
    info = { requested, threads: 1, pool: false, reason: `${chosen.reason}; no pool: Worker is hidden from jax-js, kernels run on the calling thread`, cores };
  } else {
    // jax-js's reads cannot be recognized: a pool of one worker instead of none.
    const sized = sizePool(() => (state.configured?.threads === 1 ? 1 : undefined));
    info = {
      requested,
      threads: 1,
      pool: sized,
      reason: sized
        ? `${chosen.reason}; function names do not show in stacks here (minified?), so jax-js's reads of Worker cannot be told apart: a pool of 1 worker (kernels on one worker thread) instead of none, and navigator.hardwareConcurrency reads 1`
        : `${chosen.reason}, but jax-js's reads of Worker cannot be recognized here and navigator.hardwareConcurrency cannot be overridden: jax-js starts its own pool of ${cores} workers`,
      cores,
    };
  }
  state.configured = info;
  return info;
}

/** What was configured (null if nothing), with `started`: whether jax-js's wasm backend exists. */
export function threadsInfo(): ThreadsState | null {
  const c = state.configured;
  return c ? { ...c, started: state.jax !== null } : null;
}
