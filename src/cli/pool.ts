import { getRecordEvery } from "./record.js";
import { Worker } from "node:worker_threads";
import { availableParallelism } from "node:os";
import type { ToyRunOutcome, ToyRunSpec } from "../experiments/toyExperiment.js";
import type { MultiRunOutcome, MultiRunSpec } from "../experiments/multiExperiment.js";
import type { PinnRunOutcome, PinnRunSpec } from "../experiments/pinnExperiment.js";

export interface PoolOptions<R> {
  /** Progress of run `index` (toy, pinn: steps done; multi: epochs done). */
  readonly onProgress?: (index: number, units: number) => void;
  /** Called as each run finishes, in completion order (the sweep saves it at once). */
  readonly onResult?: (index: number, result: R) => void;
  /** Worker threads; default one per core, at most one per run. */
  readonly workers?: number | undefined;
  /** Threads of each worker's jax-js (configureThreads before its first jax-js use); default 1. */
  readonly threads?: number | undefined;
  /** Run store file each worker records its runs in (see record.ts); none (default): not recorded. */
  readonly store?: string | null | undefined;
  /** Report a run's error as is (default: prefixed with the run's index and label). */
  readonly bareErrors?: boolean;
}

/** Worker threads runPool starts for `runs` runs: `workers` (default one per core), at most one per run, at least one. */
export function poolJobs(runs: number, workers?: number): number {
  return Math.max(1, Math.min(workers ?? availableParallelism(), runs));
}

/**
 * Runs independent runs on a pool of worker threads (one jax-js wasm backend each, on `threads`
 * threads: single-threaded by default), so a 2-core machine runs two at once. Results come back in
 * spec order.
 */
export function runPool(specs: readonly ToyRunSpec[], kind: "toy", options?: PoolOptions<ToyRunOutcome>): Promise<ToyRunOutcome[]>;
export function runPool(specs: readonly MultiRunSpec[], kind: "multi", options?: PoolOptions<MultiRunOutcome>): Promise<MultiRunOutcome[]>;
export function runPool(specs: readonly PinnRunSpec[], kind: "pinn", options?: PoolOptions<PinnRunOutcome>): Promise<PinnRunOutcome[]>;
export async function runPool(specs: readonly (ToyRunSpec | MultiRunSpec | PinnRunSpec)[], kind: "toy" | "multi" | "pinn", options: PoolOptions<never> = {}): Promise<unknown[]> {
  const { onProgress, onResult } = options as PoolOptions<unknown>;
  const here = new URL(import.meta.url);
  const ext = here.pathname.endsWith(".ts") ? ".ts" : ".js";
  const workerUrl = new URL(`./worker${ext}`, here);
  const execArgv = ext === ".ts" ? ["--import", "tsx"] : [];
  const results: unknown[] = new Array(specs.length);
  let next = 0;
  let failure: Error | null = null;
  const workerData = { threads: options.threads ?? 1, store: options.store ?? null, recordEvery: getRecordEvery() };
  const pool = Array.from({ length: poolJobs(specs.length, options.workers) }, () => new Worker(workerUrl, { execArgv, workerData }));
  try {
    await Promise.all(
      pool.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const take = () => {
              if (failure || next >= specs.length) return resolve();
              const id = next++;
              w.postMessage({ id, job: { kind, spec: specs[id] } });
            };
            w.on("message", (m: { id: number; progress?: number; result?: unknown; error?: string }) => {
              if (m.progress !== undefined) onProgress?.(m.id, m.progress);
              else if (m.error !== undefined) {
                failure = new Error(options.bareErrors ? m.error : `run ${m.id} (${specs[m.id]!.label ?? specs[m.id]!.method}): ${m.error}`);
                reject(failure);
              } else {
                results[m.id] = m.result;
                try {
                  onResult?.(m.id, m.result);
                } catch (e) {
                  failure = e instanceof Error ? e : new Error(String(e));
                  return reject(failure);
                }
                take();
              }
            });
            w.on("error", (e) => reject(e));
            take();
          }),
      ),
    );
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
  return results;
}
