import { parentPort, workerData } from "node:worker_threads";
import { writeImageCache } from "../../src/data/images.js";

/** Worker for the cache-race test: writes the same cache file `times` times, then reports any error. */
const { file, times, count } = workerData as { file: string; times: number; count: number };
const bytes = new Uint8Array(count * 28 * 28).fill(7);
const labels = new Uint8Array(count).fill(1);
try {
  for (let i = 0; i < times; i++) writeImageCache(file, bytes, labels);
  parentPort!.postMessage({ ok: true });
} catch (e) {
  parentPort!.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e) });
}
