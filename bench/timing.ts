/** What the step benchmarks share: host batches of the toy task, and alternating (ABBA) timing with medians. */
import { gatherBatch, makeToy } from "../src/data/toy.js";
import type { Batch } from "../src/train/loop.js";
import { Rng } from "../src/util/rng.js";
import { median } from "../src/util/stats.js";

/**
 * `count` host batches of `batchSize` rows drawn (with replacement, from `new Rng(seed)`) from a toy
 * training set of `trainSize` points with T tasks (inputs of scale 1, D = 250, O = 100).
 */
export function toyBatches(T: number, o: { trainSize: number; count: number; seed: number; batchSize: number }): Batch[] {
  const data = makeToy({ numTasks: T, trainSize: o.trainSize, testSize: 1, inputScale: 1 });
  const rng = new Rng(o.seed);
  return Array.from({ length: o.count }, () => gatherBatch(data.train, Array.from({ length: o.batchSize }, () => rng.int(o.trainSize)), T, 250, 100));
}

/**
 * Times two steps in alternation, one each per round in ABBA order (A first in even rounds, B first
 * in odd ones) so that drifts of the machine's speed hit both alike; `step(i)` takes round i's step
 * (sync or async). Returns the medians in ms of A and B over the `measured` rounds after `warmup`.
 */
export async function abba(stepA: (i: number) => unknown, stepB: (i: number) => unknown, warmup: number, measured: number): Promise<[number, number]> {
  const steps = [stepA, stepB];
  const times: number[][] = [[], []];
  for (let i = 0; i < warmup + measured; i++) {
    for (const k of i % 2 === 0 ? [0, 1] : [1, 0]) {
      const t0 = performance.now();
      const r = steps[k]!(i);
      if (r instanceof Promise) await r;
      if (i >= warmup) times[k]!.push(performance.now() - t0);
    }
  }
  return [median(times[0]!), median(times[1]!)];
}

/**
 * The order of the methods in round i: every rotation of 0…n−1, then every rotation of n−1…0. For two
 * methods this is ABBA; for three, each method runs first, second and third equally often and follows
 * each other method equally often over 2n rounds.
 */
export function roundOrder(n: number, i: number): number[] {
  const p = i % (2 * n);
  const base = Array.from({ length: n }, (_, k) => (p < n ? k : n - 1 - k));
  const shift = p % n;
  return base.map((_, k) => base[(k + shift) % n]!);
}

/**
 * Times n steps in alternation (order from {@link roundOrder}); `steps[k](i)` takes round i's step of
 * method k. Returns every measured time per method (ms), after `warmup` rounds. The hooks run around
 * each measured step, outside the timing (e.g. to count live tensors).
 */
export async function interleaved(
  steps: readonly ((i: number) => unknown)[],
  warmup: number,
  measured: number,
  hooks: { before?: (k: number) => void; after?: (k: number) => void } = {},
): Promise<number[][]> {
  const times: number[][] = steps.map(() => []);
  for (let i = 0; i < warmup + measured; i++) {
    for (const k of roundOrder(steps.length, i)) {
      if (i >= warmup) hooks.before?.(k);
      const t0 = performance.now();
      const r = steps[k]!(i);
      if (r instanceof Promise) await r;
      const dt = performance.now() - t0;
      if (i >= warmup) {
        times[k]!.push(dt);
        hooks.after?.(k);
      }
    }
  }
  return times;
}
