import { cosinePairs, decodeF32 } from "../store/codec.js";
import type { RunStore } from "../store/store.js";
import type { StatementSync } from "../store/sqlite.js";

/**
 * The dashboard's data: a run's steps as columns (one array per task and kind), downsampled on the
 * server to at most `max` points per series, and the one-number summary of a run's final metrics.
 */

/** A run's steps as columns: `step` is the x axis; every other array has one column per task (or pair), NaN where a row lacks a value. */
export interface StepColumns {
  step: number[];
  ms: (number | null)[];
  losses: Float32Array[];
  weights: Float32Array[];
  gradNorms: Float32Array[] | null;
  cosines: Float32Array[] | null;
}

export interface SeriesResponse {
  run: number;
  tasks: number;
  /** Rows in the store (after `after`). */
  total: number;
  /** Points per series sent (≤ max). */
  points: number;
  /** Whether the rows were bucketed (total > max). */
  downsampled: boolean;
  /** The last recorded step (null: none yet): where a live stream continues. */
  lastStep: number | null;
  /** Losses of the first recorded step: Lᵢ(0), the denominators of `lossRatio`. */
  initialLosses: number[] | null;
  /** Task pairs (i, j), i < j, of the `cosines` columns. */
  pairs: [number, number][];
  step: number[];
  lossRatio: (number | null)[][];
  weights: (number | null)[][];
  gradNorms: (number | null)[][] | null;
  cosines: (number | null)[][] | null;
}

const SELECT = "SELECT step, ms, losses, weights, grad_norms, cosines FROM steps WHERE run_id = ? AND step > ? ORDER BY step LIMIT ?";
const little = new Uint8Array(new Float32Array([1]).buffer)[3] === 0x3f;

/** A float32 blob as a Float32Array (a view when aligned on a little-endian machine, else a copy). */
function f32(blob: Uint8Array): Float32Array {
  if (little && blob.byteOffset % 4 === 0) return new Float32Array(blob.buffer, blob.byteOffset, blob.byteLength >>> 2);
  return Float32Array.from(decodeF32(blob)!);
}

/** Steps of run `id` with step > `after`, at most `limit` (−1: all), as columns. */
export function readColumns(store: RunStore, id: number, after = -1, limit = -1): StepColumns {
  const stmt = store.stmt(SELECT) as StatementSync & { setReturnArrays?: (on: boolean) => void };
  // Rows as arrays, where node:sqlite can (no object per row): ~2× faster on long runs.
  const arrays = typeof stmt.setReturnArrays === "function";
  if (arrays) stmt.setReturnArrays!(true);
  const raw = stmt.all(id, after, limit) as unknown[];
  const rows = (arrays ? raw : (raw as Record<string, unknown>[]).map((r) => [r.step, r.ms, r.losses, r.weights, r.grad_norms, r.cosines])) as [number, number | null, Uint8Array, Uint8Array, Uint8Array | null, Uint8Array | null][];
  const n = rows.length;
  let T = 0;
  let P = 0;
  let hasNorms = false;
  let hasCos = false;
  for (const r of rows) {
    T = Math.max(T, r[2].byteLength >>> 2, r[3].byteLength >>> 2);
    if (r[4]) hasNorms = true;
    if (r[5]) {
      hasCos = true;
      P = Math.max(P, r[5].byteLength >>> 2);
    }
  }
  const cols = (k: number) => Array.from({ length: k }, () => new Float32Array(n).fill(NaN));
  const out: StepColumns = {
    step: new Array<number>(n),
    ms: new Array<number | null>(n),
    losses: cols(T),
    weights: cols(T),
    gradNorms: hasNorms ? cols(T) : null,
    cosines: hasCos ? cols(P) : null,
  };
  const put = (dst: Float32Array[], blob: Uint8Array | null, r: number) => {
    if (!blob) return;
    const v = f32(blob);
    for (let i = 0; i < v.length; i++) dst[i]![r] = v[i]!;
  };
  for (let r = 0; r < n; r++) {
    const row = rows[r]!;
    out.step[r] = Number(row[0]);
    out.ms[r] = row[1] == null ? null : Number(row[1]);
    put(out.losses, row[2], r);
    put(out.weights, row[3], r);
    if (out.gradNorms) put(out.gradNorms, row[4], r);
    if (out.cosines) put(out.cosines, row[5], r);
  }
  return out;
}

/** A value for JSON: float32 precision (7 significant digits: half the text of a double), null if not finite. */
export function short(v: number): number | null {
  return Number.isFinite(v) ? (v === 0 ? 0 : Number(v.toPrecision(7))) : null;
}

/**
 * Bucket bounds for min/max downsampling of n rows to at most `max` points: ⌊max/2⌋ buckets of
 * consecutive rows, each drawn as two points. Null when n ≤ max (every row is sent).
 */
export function buckets(n: number, max: number): Int32Array | null {
  if (n <= max) return null;
  const B = Math.max(1, Math.floor(max / 2));
  const bounds = new Int32Array(B + 1);
  for (let k = 0; k <= B; k++) bounds[k] = Math.floor((k * n) / B);
  return bounds;
}

/** The x values of the buckets: each bucket's first and last step. */
export function bucketSteps(step: readonly number[], bounds: Int32Array | null): number[] {
  if (!bounds) return step.slice();
  const xs: number[] = [];
  for (let k = 0; k + 1 < bounds.length; k++) {
    const a = bounds[k]!;
    const b = bounds[k + 1]! - 1;
    xs.push(step[a]!);
    if (b > a) xs.push(step[b]!);
  }
  return xs;
}

/**
 * One series downsampled with the buckets: per bucket its minimum and maximum, in the order they
 * occur (so the drawn line keeps every spike and dip: the envelope is exact). Non-finite values are
 * skipped; a bucket with none gives nulls (a gap).
 */
export function downsample(ys: ArrayLike<number>, bounds: Int32Array | null): (number | null)[] {
  if (!bounds) return Array.from(ys, short);
  const out: (number | null)[] = [];
  for (let k = 0; k + 1 < bounds.length; k++) {
    const a = bounds[k]!;
    const b = bounds[k + 1]!;
    let lo = Infinity;
    let hi = -Infinity;
    let iLo = -1;
    let iHi = -1;
    for (let r = a; r < b; r++) {
      const v = ys[r]!;
      if (!Number.isFinite(v)) continue;
      if (v < lo) (lo = v), (iLo = r);
      if (v > hi) (hi = v), (iHi = r);
    }
    const two = b - a > 1;
    if (iLo < 0) {
      out.push(null);
      if (two) out.push(null);
    } else if (!two) out.push(short(lo));
    else if (iLo <= iHi) out.push(short(lo), short(hi));
    else out.push(short(hi), short(lo));
  }
  return out;
}

/** Lᵢ(t)/Lᵢ(0) with Lᵢ(0) the first finite, nonzero loss of each task. */
export function lossRatios(losses: readonly Float32Array[]): { initial: number[]; ratio: Float64Array[] } {
  const initial = losses.map((col) => col.find((v) => Number.isFinite(v) && v !== 0) ?? NaN);
  return { initial, ratio: losses.map((col, i) => Float64Array.from(col, (v) => v / initial[i]!)) };
}

/** The steps response: columns of run `id`, downsampled to ≤ `max` points per series. */
export function seriesResponse(store: RunStore, id: number, tasks: number | null, max: number, after = -1): SeriesResponse {
  const c = readColumns(store, id, after);
  const n = c.step.length;
  const bounds = buckets(n, max);
  const { initial, ratio } = lossRatios(c.losses);
  const T = Math.max(tasks ?? 0, c.losses.length);
  const P = c.cosines?.length ?? 0;
  const pairs = cosinePairs(T).slice(0, P);
  while (pairs.length < P) pairs.push([-1, -1]);
  const step = bucketSteps(c.step, bounds);
  return {
    run: id,
    tasks: T,
    total: n,
    points: step.length,
    downsampled: bounds !== null,
    lastStep: n ? c.step[n - 1]! : null,
    initialLosses: n ? initial.map((v) => (Number.isFinite(v) ? v : null)) as number[] : null,
    pairs,
    step,
    lossRatio: ratio.map((col) => downsample(col, bounds)),
    weights: c.weights.map((col) => downsample(col, bounds)),
    gradNorms: c.gradNorms?.map((col) => downsample(col, bounds)) ?? null,
    cosines: c.cosines?.map((col) => downsample(col, bounds)) ?? null,
  };
}

/** A run's final metrics in one number, for the run list: Δm if there, else the usual headline. */
export function finalMetric(final: unknown): { name: string; value: number } | null {
  if (!final || typeof final !== "object" || Array.isArray(final)) return typeof final === "number" && Number.isFinite(final) ? { name: "final", value: final } : null;
  const f = final as Record<string, unknown>;
  const first = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : Array.isArray(v) && typeof v[0] === "number" && Number.isFinite(v[0]) ? v[0] : null);
  const mean = (v: unknown): number | null => {
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === "number" && Number.isFinite(x))) return null;
    return (v as number[]).reduce((a, b) => a + b, 0) / v.length;
  };
  for (const key of ["deltaM", "deltaMPercent", "delta_m"]) {
    const v = first(f[key]);
    if (v !== null) return { name: "Δm %", value: v };
  }
  if (first(f.normalizedTestLoss) !== null) return { name: "Σ test L/L₀", value: first(f.normalizedTestLoss)! };
  const acc = mean(f.testAccuracy);
  if (acc !== null) return { name: "mean test acc", value: acc };
  for (const [k, v] of Object.entries(f)) if (typeof v === "number" && Number.isFinite(v)) return { name: k, value: v };
  return null;
}
