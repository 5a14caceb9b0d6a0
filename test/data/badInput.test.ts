import { test, before, describe } from "node:test";
import assert from "node:assert/strict";
import { setupJax } from "../helpers/jax.js";
import { DataError, checkClassLabels, checkRowIndices } from "../../src/data/errors.js";
import { TrainingError } from "../../src/train/observation.js";
import { gatherBatch, makeToy, toyArrays, type Split } from "../../src/data/toy.js";
import { IMAGE_SIZE, checkImageSet, type ImageSet } from "../../src/data/images.js";
import { CANVAS, buildMulti, checkMultiDataset, checkMultiRows, checkSplits, splitIndices, type MultiDataset } from "../../src/data/multiMnist.js";

before(setupJax);

const isData = (pattern: RegExp) => (e: unknown) => {
  assert.ok(e instanceof DataError, `a DataError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  assert.ok(e instanceof TrainingError);
  assert.match(e.message, pattern);
  return true;
};

describe("toy data", () => {
  test("makeToy: empty splits, zero widths and bad scales are named (an empty test split would make every test loss 0/0)", () => {
    const base = { numTasks: 2, inputDim: 3, outputDim: 2, trainSize: 5, testSize: 2 };
    assert.throws(() => makeToy({ ...base, trainSize: 0 }), isData(/^toy: trainSize must be an integer ≥ 1, got 0$/));
    assert.throws(() => makeToy({ ...base, testSize: 0 }), isData(/^toy: testSize must be an integer ≥ 1, got 0$/));
    assert.throws(() => makeToy({ ...base, inputDim: 0 }), isData(/^toy: inputDim must be an integer ≥ 1, got 0$/));
    assert.throws(() => makeToy({ ...base, outputDim: 2.5 }), isData(/^toy: outputDim must be an integer ≥ 1, got 2\.5$/));
    assert.throws(() => makeToy({ ...base, inputScale: Number.NaN }), isData(/^toy: inputScale must be a finite number ≥ 0, got NaN$/));
    assert.throws(() => makeToy({ ...base, numTasks: 0 }), isData(/^toy: numTasks must be a positive integer, got 0$/));
    assert.throws(() => makeToy({ ...base, sigmas: [1] }), isData(/^toy: need 2 finite sigmas, got \[1\]$/));
    // An option left undefined takes its default (as toyData's cache key, JSON, already assumed).
    const withUndefined = makeToy({ ...base, inputScale: undefined, seed: undefined });
    const plain = makeToy(base);
    assert.deepEqual(withUndefined.train.x, plain.train.x);
    assert.equal(withUndefined.config.inputScale, 0.01);
  });

  test("gatherBatch and toyArrays: row indices past the split, an empty batch, a split of other sizes", () => {
    const d = makeToy({ numTasks: 2, inputDim: 3, outputDim: 2, trainSize: 5, testSize: 2 });
    const ok = gatherBatch(d.train, [0, 4], 2, 3, 2);
    assert.equal(ok.x.length, 6);
    assert.throws(() => gatherBatch(d.train, [0, 5], 2, 3, 2), isData(/^toy batch: row index 5 \(position 1 of the batch\) is outside the data's rows 0\.\.4$/));
    assert.throws(() => gatherBatch(d.train, [-1], 2, 3, 2), isData(/row index -1 /));
    assert.throws(() => gatherBatch(d.train, [1.5], 2, 3, 2), isData(/row index 1\.5 /));
    assert.throws(() => gatherBatch(d.train, [], 2, 3, 2), isData(/^toy batch: an empty batch \(no row indices\)/));
    assert.throws(() => gatherBatch(d.train, [0], 3, 3, 2), isData(/^toy split: y holds 20 values, expected 3 tasks × 5 rows × 2 outputs = 30$/));
    assert.throws(() => gatherBatch(d.train, [0], 2, 4, 2), isData(/^toy split: x holds 15 values, expected 5 rows × 4 inputs = 20$/));
    const emptySplit: Split = { x: new Float32Array(0), y: new Float32Array(0), size: 0 };
    assert.throws(() => gatherBatch(emptySplit, [0], 2, 3, 2), isData(/^toy split: size \(rows\) must be an integer ≥ 1, got 0$/));
    const dims = { numTasks: 2, inputDim: 3, outputDim: 2 };
    assert.throws(() => toyArrays({ x: new Float32Array(0), y: new Float32Array(0) }, dims), isData(/^toy batch: x holds 0 values, not a whole number ≥ 1 of rows of 3 inputs \(an empty batch\)$/));
    assert.throws(() => toyArrays({ x: new Float32Array(7), y: new Float32Array(8) }, dims), isData(/x holds 7 values, not a whole number/));
    assert.throws(() => toyArrays({ x: new Float32Array(6), y: new Float32Array(6) }, dims), isData(/^toy batch: y holds 6 values, expected 2 tasks × 2 rows \(x's\) × 2 outputs = 8$/));
    const arrays = toyArrays(ok, dims);
    assert.deepEqual([arrays.x.shape, arrays.y.shape], [[2, 3], [2, 2, 2]]);
    arrays.x.dispose();
    arrays.y.dispose();
  });
});

describe("multi-image data", () => {
  const px = IMAGE_SIZE * IMAGE_SIZE;
  const set = (n: number, label = (i: number) => i % 10): ImageSet => ({ source: "mnist", images: new Float32Array(n * px), labels: Uint8Array.from({ length: n }, (_, i) => label(i)), count: n });

  test("buildMulti: a label out of 0..9 is named (its one-hot 1 would land in another class or row)", () => {
    assert.throws(() => buildMulti(set(12, (i) => (i === 7 ? 10 : i % 10)), set(12), 0), isData(/^buildMulti: left set: labels: class label 10 at row 7 is outside 0\.\.9 \(10 classes\)$/));
    assert.throws(() => buildMulti(set(12), set(12, (i) => (i === 3 ? 255 : 0)), 0), isData(/^buildMulti: right set: labels: class label 255 at row 3 is outside 0\.\.9/));
    assert.throws(() => buildMulti(set(0), set(3), 0), isData(/^buildMulti: left set: count must be an integer ≥ 1 \(an empty set has no images\), got 0$/));
    const one = set(1);
    assert.throws(() => buildMulti(one, one, 0), isData(/^buildMulti: a set paired with itself needs at least 2 images/));
    assert.throws(() => buildMulti({ ...set(4), labels: new Uint8Array(3) }, set(3), 0), isData(/^buildMulti: left set: 3 labels for 4 images$/));
    assert.throws(() => buildMulti({ ...set(4), images: new Float32Array(5) }, set(3), 0), isData(/^buildMulti: left set: images hold 5 values, expected 4 images × 28×28 = 3136$/));
    assert.throws(() => checkImageSet({ ...set(2), count: 2.5 } as ImageSet), isData(/count must be an integer ≥ 1/));
    const m = buildMulti(set(12), set(12), 1);
    checkMultiDataset(m);
  });

  test("splitIndices: splits that would come out empty are named", () => {
    assert.throws(() => splitIndices(3, 0), isData(/^splitIndices: 3 examples leave the validation \(fraction 0\.1\) split empty$/));
    assert.throws(() => splitIndices(2, 0, 0.1, 0.2), isData(/^splitIndices: 2 examples leave the test \(fraction 0\.2\) and the validation \(fraction 0\.1\) splits empty$/));
    assert.throws(() => splitIndices(0, 0, 0, 0), isData(/^splitIndices: 0 examples leave the train split empty$/));
    assert.throws(() => splitIndices(1, 0, 0, 0.5), isData(/leave the train split empty/));
    assert.throws(() => splitIndices(-1, 0), isData(/^splitIndices: count must be an integer ≥ 0, got -1$/));
    assert.throws(() => splitIndices(10, 0, 0.6, 0.5), isData(/fractions/));
    const s = splitIndices(5, 0, 0, 0);
    assert.deepEqual([s.train.length, s.validation.length, s.test.length], [5, 0, 0], "fractions of 0 ask for no rows");
    const t = splitIndices(10, 0);
    assert.deepEqual([t.train.length, t.validation.length, t.test.length], [7, 1, 2]);
  });

  test("checkMultiRows, checkSplits, checkMultiDataset: rows past the data, labels out of range, splits too small for a batch", () => {
    const d: MultiDataset = { images: new Float32Array(3 * CANVAS * CANVAS), labels: Uint8Array.from([1, 2, 3, 4, 12, 6]), count: 3 };
    checkMultiRows(d, [0, 2]);
    assert.throws(() => checkMultiRows(d, [0, 1]), isData(/^multi-image batch: task 1's class label of row 1 is 12, outside 0\.\.9$/));
    assert.throws(() => checkMultiRows(d, [3]), isData(/^multi-image batch: row index 3 \(position 0 of the batch\) is outside the data's rows 0\.\.2$/));
    assert.throws(() => checkMultiRows(d, []), isData(/an empty batch/));
    assert.throws(() => checkMultiDataset(d), isData(/^multi-image dataset: task 1's labels: class label 12 at row 1 is outside 0\.\.9/));
    assert.throws(() => checkMultiDataset({ ...d, labels: new Uint8Array(3) }), isData(/^multi-image dataset: labels hold 3 values, expected 2 tasks × 3 images = 6$/));
    const splits = { train: Int32Array.from([0, 1]), validation: Int32Array.from([2]), test: Int32Array.from([2]) };
    checkSplits(splits, 2, 3);
    assert.throws(() => checkSplits(splits, 3), isData(/^the training split has 2 rows, fewer than one batch of 3: no step would run \(use a batch size ≤ 2\)$/));
    assert.throws(() => checkSplits({ ...splits, validation: new Int32Array(0) }, 2), isData(/^the validation split is empty/));
    assert.throws(() => checkSplits({ ...splits, test: new Int32Array(0) }, 2), isData(/^the test split is empty/));
    assert.throws(() => checkSplits({ ...splits, test: Int32Array.from([3]) }, 2, 3), isData(/^test split: row index 3 /));
  });

  test("checkRowIndices and checkClassLabels on their own", () => {
    checkRowIndices("rows", [0, 1, 2], 3);
    assert.throws(() => checkRowIndices("rows", [Number.NaN], 3), isData(/^rows: row index NaN /));
    checkClassLabels("labels", [0, 3], 4);
    assert.throws(() => checkClassLabels("labels", [0, 1.5], 4), isData(/^labels: class label 1\.5 at row 1 is outside 0\.\.3 \(4 classes\); labels must be integers$/));
    assert.throws(() => checkClassLabels("labels", [-1], 4), isData(/^labels: class label -1 at row 0 is outside 0\.\.3 \(4 classes\)$/));
    assert.throws(() => checkClassLabels("labels", [-1], Infinity), isData(/^labels: class label -1 at row 0 is not an integer ≥ 0$/));
  });
});
