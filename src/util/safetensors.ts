/**
 * The safetensors format (https://github.com/huggingface/safetensors), for checkpoints readable from
 * Python: an 8-byte little-endian header length N, N bytes of JSON (padded with spaces to a multiple
 * of 8) mapping each tensor's name to `{ dtype, shape, data_offsets: [begin, end] }` (offsets into
 * the byte buffer after the header) plus an optional `"__metadata__"` map of strings, then the
 * tensors' bytes, row-major and little-endian, contiguous and in offset order. Pure: no Node APIs.
 */

/** The dtypes written and read here, with their typed arrays. */
export type SafetensorsDtype = "F32" | "F64" | "I32" | "U32" | "U8";

export type TensorData = Float32Array | Float64Array | Int32Array | Uint32Array | Uint8Array;

export interface HostTensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly data: TensorData;
}

const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F64: 8, I32: 4, U32: 4, U8: 1 };

/** A file that is not valid safetensors (or holds a dtype this reader does not take). */
export class SafetensorsError extends Error {
  override readonly name = "SafetensorsError";
}

function dtypeOf(data: TensorData): SafetensorsDtype {
  if (data instanceof Float32Array) return "F32";
  if (data instanceof Float64Array) return "F64";
  if (data instanceof Int32Array) return "I32";
  if (data instanceof Uint32Array) return "U32";
  return "U8";
}

const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Host copy of a tensor: its dtype follows the typed array. */
export function hostTensor(data: TensorData, shape: readonly number[]): HostTensor {
  return { dtype: dtypeOf(data), shape: [...shape], data };
}

/** Typed arrays are in the host's byte order; safetensors is little-endian (every JS engine in use). */
function checkLittleEndian(): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new SafetensorsError("big-endian hosts are not supported");
}

const bytesOf = (t: HostTensor) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

/** Encodes named tensors (in the order given) and string metadata as one safetensors buffer. */
export function encodeSafetensors(tensors: Readonly<Record<string, HostTensor>>, metadata?: Readonly<Record<string, string>>): Uint8Array {
  checkLittleEndian();
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  let offset = 0;
  const parts: Uint8Array[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    if (name === "__metadata__") throw new SafetensorsError("a tensor cannot be named __metadata__");
    if (t.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new SafetensorsError(`tensor '${name}': bad shape [${t.shape.join(", ")}]`);
    if (dtypeOf(t.data) !== t.dtype) throw new SafetensorsError(`tensor '${name}': dtype ${t.dtype} does not match its ${t.data.constructor.name}`);
    if (sizeOf(t.shape) !== t.data.length) throw new SafetensorsError(`tensor '${name}': shape [${t.shape.join(", ")}] holds ${sizeOf(t.shape)} values, the data ${t.data.length}`);
    const bytes = bytesOf(t);
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
    parts.push(bytes);
    offset += bytes.length;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Decodes a safetensors buffer; checks the header, the offsets (contiguous, covering the data) and the sizes. */
export function decodeSafetensors(bytes: Uint8Array): { tensors: Record<string, HostTensor>; metadata: Record<string, string> } {
  checkLittleEndian();
  if (bytes.length < 8) throw new SafetensorsError(`${bytes.length} bytes: too short for a safetensors header`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (n > BigInt(bytes.length - 8)) throw new SafetensorsError(`header length ${n} exceeds the ${bytes.length - 8} bytes after it`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + Number(n))));
  } catch (e) {
    throw new SafetensorsError(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) throw new SafetensorsError("header is not a JSON object");
  const data = bytes.subarray(8 + Number(n));
  const metadata: Record<string, string> = {};
  const entries: [string, HeaderEntry][] = [];
  for (const [name, v] of Object.entries(header)) {
    if (name === "__metadata__") {
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (typeof s !== "string") throw new SafetensorsError(`metadata '${k}' is not a string`);
        metadata[k] = s;
      }
      continue;
    }
    const e = v as HeaderEntry;
    if (!e || !(e.dtype in BYTES)) throw new SafetensorsError(`tensor '${name}': dtype ${JSON.stringify(e?.dtype)} is not one of ${Object.keys(BYTES).join(", ")}`);
    if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new SafetensorsError(`tensor '${name}': bad shape ${JSON.stringify(e.shape)}`);
    if (!Array.isArray(e.data_offsets) || e.data_offsets.length !== 2) throw new SafetensorsError(`tensor '${name}': bad data_offsets`);
    entries.push([name, e]);
  }
  entries.sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
  const tensors: Record<string, HostTensor> = {};
  let expected = 0;
  for (const [name, e] of entries) {
    const [begin, end] = e.data_offsets;
    const dtype = e.dtype as SafetensorsDtype;
    if (begin !== expected) throw new SafetensorsError(`tensor '${name}': data starts at ${begin}, expected ${expected} (offsets must be contiguous)`);
    if (end - begin !== sizeOf(e.shape) * BYTES[dtype]) throw new SafetensorsError(`tensor '${name}': ${end - begin} bytes for shape [${e.shape.join(", ")}] of ${dtype}`);
    if (end > data.length) throw new SafetensorsError(`tensor '${name}': data ends at ${end}, past the ${data.length} bytes of the file`);
    const buf = data.slice(begin, end).buffer;
    const typed: TensorData =
      dtype === "F32" ? new Float32Array(buf) : dtype === "F64" ? new Float64Array(buf) : dtype === "I32" ? new Int32Array(buf) : dtype === "U32" ? new Uint32Array(buf) : new Uint8Array(buf);
    tensors[name] = { dtype, shape: e.shape, data: typed };
    expected = end;
  }
  if (expected !== data.length) throw new SafetensorsError(`${data.length - expected} bytes after the last tensor`);
  return { tensors, metadata };
}
