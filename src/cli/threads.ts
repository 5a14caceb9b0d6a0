import { availableParallelism } from "node:os";
import { chooseThreads } from "../threads/common.js";
import { busyCores } from "../threads/node.js";
import { lenetStem, stemShapes } from "../models/conv.js";
import type { MultiEncoder } from "../experiments/multiRun.js";

/** `--threads`: threads per run for jax-js's wasm kernels. Default 1 (jax-js's own single thread). */
export const defaultThreads = 1 as const;

/** Weights of the dense layers input → hidden… → T heads of `outputDim`. */
function denseWeights(inputDim: number, hidden: readonly number[], outputDim: number, T: number): number {
  let w = 0;
  let d = inputDim;
  for (const h of hidden) {
    w += d * h;
    d = h;
  }
  return w + T * d * outputDim;
}

/** ≈ FLOPs of one training step of the toy network (forward and backward: 6 × batch × dense weights). */
export function toyFlopsPerStep(tasks: number, batchSize: number, hidden: readonly number[] = [100, 100, 100, 100], inputDim = 250, outputDim = 100): number {
  return 6 * batchSize * denseWeights(inputDim, hidden, outputDim, tasks);
}

/** ≈ FLOPs of one training step on the 36×36 multi-image canvases (two heads of 10): dense layers, plus LeNet's convolutions. */
export function multiFlopsPerStep(encoder: MultiEncoder, hidden: readonly number[], batchSize: number): number {
  if (encoder === "mlp") return 6 * batchSize * denseWeights(36 * 36, hidden, 10, 2);
  const stem = lenetStem([36, 36, 1]);
  const shapes = stemShapes(stem);
  let macs = 0;
  stem.layers.forEach((layer, i) => {
    const [H, W, C] = shapes[i]!;
    macs += (H - layer.kernel + 1) * (W - layer.kernel + 1) * layer.channels * layer.kernel * layer.kernel * C;
  });
  const [h, w, c] = shapes.at(-1)!;
  return 6 * batchSize * (macs + denseWeights(h * w * c, hidden, 10, 2));
}

export interface ThreadsPlan {
  readonly requested: number | "auto";
  /** Threads per job (1: no pool). */
  readonly threads: number;
  /** Jobs at the same time (worker threads of the run pool, or 1). */
  readonly jobs: number;
  readonly cores: number;
  readonly reason: string;
}

/**
 * Threads per job for `jobs` parallel runs of ≈ `flopsPerStep` per step (see chooseThreads in
 * src/threads/common.ts); `auto` measures the cores busy with other work (0.1 s) where it would use more than one.
 */
export function planThreads(requested: number | "auto", jobs: number, flopsPerStep: number): ThreadsPlan {
  const cores = availableParallelism();
  let { threads, reason } = chooseThreads(requested, cores, { jobs, flopsPerStep });
  if (requested === "auto" && threads > 1) ({ threads, reason } = chooseThreads(requested, cores, { jobs, flopsPerStep, busyCores: busyCores() }));
  return { requested, threads, jobs, cores, reason };
}

/** The line the commands print on stderr before they train. */
export function threadsLine(p: ThreadsPlan): string {
  const what = p.threads > 1 ? `${p.threads} threads (a pool of ${p.threads} workers)` : "1 thread (no pool)";
  return `threads: ${what} per run, ${p.jobs} run${p.jobs > 1 ? "s" : ""} at a time, ${p.cores} cores — ${p.reason}`;
}
