import { Rng, deriveSeed } from "../util/rng.js";
import { IMAGE_SIZE, type ImageSet } from "./images.js";

/**
 * MultiMNIST as Sener & Koltun (NeurIPS 2018) build it: for each image pick a second one at
 * random; put the first at the top-left of a 36×36 canvas and the second at offset (6, 6); take
 * the pixel-wise max. Two tasks: the left (first) and the right (second) image's class.
 * MultiFashion uses Fashion-MNIST for both; MultiFashion+MNIST one of each (left from the first set).
 */
export const CANVAS = 36;
export const OFFSET = 6;

export interface MultiDataset {
  /** Pixels in [0, 1], [count, 36, 36]. */
  readonly images: Float32Array;
  /** [2, count]: row 0 the left image's class, row 1 the right image's. */
  readonly labels: Uint8Array;
  readonly count: number;
}

/** Draws the pair (a, b) onto a canvas (a at (0, 0), b at (OFFSET, OFFSET), pixel-wise max) into `out` at `at`. */
export function overlay(a: Float32Array, b: Float32Array, out: Float32Array, at = 0): void {
  out.fill(0, at, at + CANVAS * CANVAS);
  for (let r = 0; r < IMAGE_SIZE; r++) {
    for (let c = 0; c < IMAGE_SIZE; c++) {
      out[at + r * CANVAS + c] = a[r * IMAGE_SIZE + c]!;
    }
  }
  for (let r = 0; r < IMAGE_SIZE; r++) {
    for (let c = 0; c < IMAGE_SIZE; c++) {
      const k = at + (r + OFFSET) * CANVAS + c + OFFSET;
      out[k] = Math.max(out[k]!, b[r * IMAGE_SIZE + c]!);
    }
  }
}

/**
 * One multi-image per image of `left`: its partner is a uniformly random image of `right` (another
 * image when both sets are the same). Deterministic given the seed.
 */
export function buildMulti(left: ImageSet, right: ImageSet, seed: number): MultiDataset {
  const n = left.count;
  const px = IMAGE_SIZE * IMAGE_SIZE;
  const rng = new Rng(deriveSeed(seed, "multi-pairs"));
  const images = new Float32Array(n * CANVAS * CANVAS);
  const labels = new Uint8Array(2 * n);
  const same = left === right;
  for (let i = 0; i < n; i++) {
    let j = rng.int(same ? n - 1 : right.count);
    if (same && j >= i) j++;
    overlay(left.images.subarray(i * px, (i + 1) * px), right.images.subarray(j * px, (j + 1) * px), images, i * CANVAS * CANVAS);
    labels[i] = left.labels[i]!;
    labels[n + i] = right.labels[j]!;
  }
  return { images, labels, count: n };
}

export interface Splits {
  readonly train: Int32Array;
  readonly validation: Int32Array;
  readonly test: Int32Array;
}

/** A seeded shuffle of 0..count−1 cut into train / validation / test by fractions. */
export function splitIndices(count: number, seed: number, validation = 0.1, test = 0.2): Splits {
  if (!(validation >= 0 && test >= 0 && validation + test < 1)) {
    throw new Error(`split fractions must be ≥ 0 and sum below 1 (validation ${validation}, test ${test})`);
  }
  const p = new Rng(deriveSeed(seed, "split")).permutation(count);
  const nTest = Math.round(count * test);
  const nVal = Math.round(count * validation);
  return { test: p.slice(0, nTest), validation: p.slice(nTest, nTest + nVal), train: p.slice(nTest + nVal) };
}
