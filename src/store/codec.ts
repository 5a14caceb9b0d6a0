import { endianness } from "node:os";

/**
 * Per-task arrays are stored as little-endian float32 blobs: the values come from float32 device
 * computations (losses, gradient norms) or are sent to the device as float32 (weights), so float32
 * loses nothing training used; encoding is one typed-array copy (no number → text formatting, which
 * is what JSON.stringify spends its time on), and a row is 4 bytes a task rather than ~20.
 */
const little = endianness() === "LE";

export function encodeF32(values: ArrayLike<number>): Uint8Array {
  const f = Float32Array.from(values as ArrayLike<number>);
  if (!little) {
    const view = new DataView(f.buffer);
    for (let i = 0; i < f.length; i++) view.setFloat32(i * 4, values[i]!, true);
  }
  return new Uint8Array(f.buffer);
}

export function decodeF32(blob: Uint8Array | null | undefined): number[] | null {
  if (blob == null) return null;
  const n = blob.byteLength >>> 2;
  const out = new Array<number>(n);
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/**
 * The shortest decimal that reads back (through Math.fround) as the same float32 — what exports and
 * tables print, so 0.1 stored prints as 0.1, not 0.10000000149011612.
 */
export function shortF32(v: number): number {
  if (!Number.isFinite(v) || v === 0) return v;
  const f = Math.fround(v);
  for (let p = 1; p <= 9; p++) {
    const s = Number(f.toPrecision(p));
    if (Math.fround(s) === f) return s;
  }
  return f;
}

/** Upper-triangle cosines (i < j, row-major) of a Gramian, and the gradient norms (√diagonal). */
export function gramianSummary(g: readonly (readonly number[])[]): { norms: number[]; cosines: number[] } {
  const T = g.length;
  const norms = g.map((row, i) => Math.sqrt(Math.max(0, row[i]!)));
  const cosines: number[] = [];
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) {
    const d = norms[i]! * norms[j]!;
    cosines.push(d > 0 ? g[i]![j]! / d : 0);
  }
  return { norms, cosines };
}

/** Names of the cosine columns, in the order `gramianSummary` writes them. */
export function cosinePairs(T: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) out.push([i, j]);
  return out;
}
