import { Rng, deriveSeed } from "../util/rng.js";
import { IMAGE_SIZE, NUM_CLASSES, checkImageSet, type ImageSet } from "./images.js";
import { DataError, checkClassLabels, checkRowIndices } from "./errors.js";

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
 * image when both sets are the same). Deterministic given the seed. Both sets are checked first
 * ({@link checkImageSet}: sizes, labels 0..9 — the one-hot targets are written by label, so a label
 * out of range would silently mark a wrong class or none), and each needs an image (two when `left`
 * and `right` are the same set, whose partners are other images).
 */
export function buildMulti(left: ImageSet, right: ImageSet, seed: number): MultiDataset {
  checkImageSet(left, "buildMulti: left set");
  if (right !== left) checkImageSet(right, "buildMulti: right set");
  if (left === right && left.count < 2) throw new DataError(`buildMulti: a set paired with itself needs at least 2 images (each partner is another image), got ${left.count}`);
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

/**
 * A seeded shuffle of 0..count−1 cut into train / validation / test by fractions. Every split with a
 * positive fraction must come out non-empty, and train always (a {@link DataError} otherwise: an empty
 * split's accuracy is 0/0, and an empty training split trains nothing).
 */
export function splitIndices(count: number, seed: number, validation = 0.1, test = 0.2): Splits {
  if (!(validation >= 0 && test >= 0 && validation + test < 1)) {
    throw new DataError(`split fractions must be ≥ 0 and sum below 1 (validation ${validation}, test ${test})`);
  }
  if (!Number.isInteger(count) || count < 0) throw new DataError(`splitIndices: count must be an integer ≥ 0, got ${count}`);
  const nTest = Math.round(count * test);
  const nVal = Math.round(count * validation);
  const empty = [...(test > 0 && nTest === 0 ? [`test (fraction ${test})`] : []), ...(validation > 0 && nVal === 0 ? [`validation (fraction ${validation})`] : []), ...(count - nTest - nVal < 1 ? ["train"] : [])];
  if (empty.length > 0) throw new DataError(`splitIndices: ${count} examples leave the ${empty.join(" and the ")} split${empty.length > 1 ? "s" : ""} empty`);
  const p = new Rng(deriveSeed(seed, "split")).permutation(count);
  return { test: p.slice(0, nTest), validation: p.slice(nTest, nTest + nVal), train: p.slice(nTest + nVal) };
}

/**
 * Checks a multi-image dataset's sizes and labels: images hold count canvases of 36×36, labels [2, count]
 * each in 0..9 (what one-hot targets are written from). A hand-built dataset goes through this before
 * training; {@link buildMulti}'s output passes by construction.
 */
export function checkMultiDataset(d: MultiDataset, what = "multi-image dataset"): void {
  if (!Number.isInteger(d.count) || d.count < 1) throw new DataError(`${what}: count must be an integer ≥ 1 (no images), got ${d.count}`);
  if (d.images.length !== d.count * CANVAS * CANVAS) throw new DataError(`${what}: images hold ${d.images.length} values, expected ${d.count} canvases × ${CANVAS}×${CANVAS} = ${d.count * CANVAS * CANVAS}`);
  if (d.labels.length !== 2 * d.count) throw new DataError(`${what}: labels hold ${d.labels.length} values, expected 2 tasks × ${d.count} images = ${2 * d.count}`);
  for (let t = 0; t < 2; t++) checkClassLabels(`${what}: task ${t}'s labels`, d.labels.subarray(t * d.count, (t + 1) * d.count), NUM_CLASSES);
}

/**
 * Checks the rows `idx` of a multi-image dataset before they are copied into a batch: indices in
 * 0..count−1, at least one, and their two labels in 0..9 (O(batch); a label out of range would write its
 * one-hot 1 into another row or class silently).
 */
export function checkMultiRows(d: MultiDataset, idx: ArrayLike<number>): void {
  checkRowIndices("multi-image batch", idx, d.count);
  for (let b = 0; b < idx.length; b++) {
    for (let t = 0; t < 2; t++) {
      const label = d.labels[t * d.count + idx[b]!];
      if (!(label !== undefined && Number.isInteger(label) && label >= 0 && label < NUM_CLASSES)) {
        throw new DataError(`multi-image batch: task ${t}'s class label of row ${idx[b]} is ${label}, outside 0..${NUM_CLASSES - 1}`);
      }
    }
  }
}

/**
 * Checks the splits a multi-image run trains and evaluates on against the batch size: training needs at
 * least one whole batch (a run takes ⌊train / batchSize⌋ steps per epoch: with fewer rows it would train
 * nothing and still report accuracies), validation and test at least one row each (an empty split's
 * accuracy is 0/0).
 */
export function checkSplits(splits: Splits, batchSize: number, count?: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new DataError(`batch size must be an integer ≥ 1, got ${batchSize}`);
  if (splits.train.length < batchSize) {
    throw new DataError(`the training split has ${splits.train.length} rows, fewer than one batch of ${batchSize}: no step would run (use a batch size ≤ ${splits.train.length}${splits.train.length === 0 ? ", after adding training rows" : ""})`);
  }
  if (splits.validation.length < 1) throw new DataError("the validation split is empty: validation accuracy would be 0/0 (NaN)");
  if (splits.test.length < 1) throw new DataError("the test split is empty: test accuracy would be 0/0 (NaN)");
  if (count !== undefined) {
    for (const [name, idx] of Object.entries(splits) as [string, Int32Array][]) checkRowIndices(`${name} split`, idx, count);
  }
}
