import { Worker } from "node:worker_threads";
import { availableParallelism } from "node:os";
import type { ToyRunOutcome, ToyRunSpec } from "../tasks/toyExperiment.js";
import type { MultiRunOutcome, MultiRunSpec } from "../tasks/multiExperiment.js";

/**
 * Runs independent runs on a pool of worker threads (one jax-js wasm backend each,
 * single-threaded), so a 2-core machine runs two at once. Results come back in spec order.
 */
export function runPool(specs: readonly ToyRunSpec[], onProgress: (index: number, step: number) => void, workers?: number): Promise<ToyRunOutcome[]>;
export function runPool(specs: readonly MultiRunSpec[], onProgress: (index: number, step: number) => void, workers: number | undefined, kind: "multi"): Promise<MultiRunOutcome[]>;
export async function runPool(
  specs: readonly (ToyRunSpec | MultiRunSpec)[],
  onProgress: (index: number, step: number) => void,
  workers = Math.min(availableParallelism(), specs.length),
  kind: "toy" | "multi" = "toy",
): Promise<unknown[]> {
  const here = new URL(import.meta.url);
  const ext = here.pathname.endsWith(".ts") ? ".ts" : ".js";
  const workerUrl = new URL(`./worker${ext}`, here);
  const execArgv = ext === ".ts" ? ["--import", "tsx"] : [];
  const results: unknown[] = new Array(specs.length);
  let next = 0;
  let failure: Error | null = null;
  const pool = Array.from({ length: Math.max(1, workers) }, () => new Worker(workerUrl, { execArgv }));
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
              if (m.progress !== undefined) onProgress(m.id, m.progress);
              else if (m.error !== undefined) {
                failure = new Error(`run ${m.id} (${specs[m.id]!.label ?? specs[m.id]!.method}): ${m.error}`);
                reject(failure);
              } else {
                results[m.id] = m.result;
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
