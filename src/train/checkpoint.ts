import { numpy as np } from "@jax-js/jax";
import type { BalancerState } from "../balancers/types.js";
import type { Tree } from "../model/contract.js";
import { decodeSafetensors, encodeSafetensors, hostTensor, type HostTensor, type SafetensorsDtype, type TensorData } from "../util/safetensors.js";
import { TrainingError } from "./checks.js";

/**
 * Checkpoints: a training run's whole state on the host, as two documents — the tensors (parameters,
 * optimizer state) in safetensors, everything else (balancer state, counters, the loop's history, the
 * run's config) in JSON — so that a run resumed from one continues bit for bit. Pure: the files are
 * written by the Node side (`checkpointFiles`); a browser can keep the two documents anywhere.
 */

/** The format tag of the JSON document; bumped when its layout changes. */
export const checkpointFormat = "lossbalance-checkpoint/1";

/** A tensor leaf in a tree's JSON structure: the name of its entry in the safetensors document. */
interface TensorRef {
  readonly $tensor: string;
}

/** A tree on the host: its structure as JSON with {@link TensorRef} leaves, and the tensors by name. */
export interface HostTree {
  readonly structure: unknown;
  readonly tensors: Readonly<Record<string, HostTensor>>;
}

const SAFE_DTYPE: Record<string, SafetensorsDtype> = { float32: "F32", float64: "F64", int32: "I32", uint32: "U32" };
const JAX_DTYPE: Record<string, np.DType> = { F32: np.float32, F64: np.float64, I32: np.int32, U32: np.uint32 };

/**
 * Reads a tree of device arrays (borrowed) back to the host, asynchronously; tensors are named by
 * their path under `prefix` (`params/shared/0/w`). Non-array leaves (numbers, strings, null) stay in
 * the structure.
 */
export async function treeToHost(t: unknown, prefix: string): Promise<HostTree> {
  const tensors: Record<string, HostTensor> = {};
  const walk = async (v: unknown, path: string): Promise<unknown> => {
    if (v instanceof np.Array) {
      const dtype = SAFE_DTYPE[v.dtype];
      if (!dtype) throw new TrainingError(`checkpoint: ${path} has dtype ${v.dtype}; checkpoints hold ${Object.keys(SAFE_DTYPE).join(", ")}`);
      tensors[path] = hostTensor((await v.ref.data()) as TensorData, v.shape);
      return { $tensor: path } satisfies TensorRef;
    }
    if (Array.isArray(v)) {
      const out: unknown[] = [];
      for (let i = 0; i < v.length; i++) out.push(await walk(v[i], `${path}/${i}`));
      return out;
    }
    if (v !== null && typeof v === "object") {
      if (ArrayBuffer.isView(v)) throw new TrainingError(`checkpoint: ${path} is a host typed array; trees hold device arrays`);
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        if (k.includes("/")) throw new TrainingError(`checkpoint: key '${k}' under ${path} contains '/'`);
        out[k] = await walk(x, `${path}/${k}`);
      }
      return out;
    }
    if (typeof v === "function" || typeof v === "symbol" || typeof v === "bigint") throw new TrainingError(`checkpoint: ${path} is a ${typeof v}`);
    return v;
  };
  return { structure: await walk(t, prefix), tensors };
}

/** Rebuilds a tree of new device arrays from its host form (the caller owns them). */
export function treeFromHost(h: HostTree): Tree {
  const made: np.Array[] = [];
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === "object") {
      const ref = (v as TensorRef).$tensor;
      if (typeof ref === "string" && Object.keys(v).length === 1) {
        const t = h.tensors[ref];
        if (!t) throw new TrainingError(`checkpoint: tensor '${ref}' is missing from the tensor file`);
        const dtype = JAX_DTYPE[t.dtype];
        if (!dtype) throw new TrainingError(`checkpoint: tensor '${ref}' has dtype ${t.dtype}; trees hold ${Object.keys(JAX_DTYPE).join(", ")}`);
        const a = np.array(t.data as Float32Array<ArrayBuffer>, { dtype }).reshape([...t.shape]);
        made.push(a);
        return a;
      }
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  try {
    return walk(h.structure) as Tree;
  } catch (e) {
    made.forEach((a) => a.dispose()); // the arrays built before the failure
    throw e;
  }
}

/** A trainer's state between steps (see `createModelTrainer`'s `snapshot` and `resume`). */
export interface TrainerSnapshot {
  /** Steps applied so far. */
  readonly step: number;
  /** The balancer's name, checked on resume. */
  readonly balancer: string;
  readonly balancerState: BalancerState;
  readonly params: HostTree;
  readonly optState: HostTree;
}

/** What a checkpoint holds: the trainer, the run's own loop state (JSON) and its config (JSON). */
export interface Checkpoint<L = unknown> {
  readonly trainer: TrainerSnapshot;
  /** The loop's state: the next step, history so far, skipped steps, early-stopping state, … */
  readonly loop: L;
  /** The run's settings; a resume checks them against its own. */
  readonly config: unknown;
}

/** A number JSON cannot carry (−0, NaN, ±Infinity) as `{ $number: "…" }` (String(−0) is "0"). */
const special = (x: number) => (Object.is(x, -0) ? { $number: "-0" } : Number.isFinite(x) ? x : { $number: String(x) });

/**
 * JSON with the numbers JSON cannot carry (−0, NaN, ±Infinity) and Float32Array/Float64Array kept
 * exactly (the typed arrays balancer states use); other typed arrays and `undefined` are not.
 */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    function (key, v) {
      const raw = (this as Record<string, unknown>)[key];
      if (typeof raw === "number") return special(raw);
      if (raw instanceof Float64Array) return { $float64: Array.from(raw, special) };
      if (raw instanceof Float32Array) return { $float32: Array.from(raw, special) };
      return v;
    },
  );
}

/** Inverse of {@link toJson}. */
export function fromJson(text: string): unknown {
  const num = (x: unknown) => (x !== null && typeof x === "object" && "$number" in x ? Number((x as { $number: string }).$number) : (x as number));
  return JSON.parse(text, (_key, v) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    const keys = Object.keys(v);
    if (keys.length !== 1) return v;
    if (keys[0] === "$number") return Number(v.$number);
    if (keys[0] === "$float64") return Float64Array.from(v.$float64 as unknown[], num);
    if (keys[0] === "$float32") return Float32Array.from(v.$float32 as unknown[], num);
    return v;
  });
}

/** The two documents of a checkpoint: tensors (safetensors bytes) and state (JSON text). */
export interface CheckpointDocuments {
  readonly tensors: Uint8Array;
  readonly state: string;
}

/** Encodes a checkpoint as its two documents. */
export function encodeCheckpoint(cp: Checkpoint): CheckpointDocuments {
  const { params, optState, ...trainer } = cp.trainer;
  const tensors = { ...params.tensors, ...optState.tensors };
  const state = { format: checkpointFormat, config: cp.config, trainer: { ...trainer, params: params.structure, optState: optState.structure }, loop: cp.loop };
  return { tensors: encodeSafetensors(tensors, { format: checkpointFormat, step: String(cp.trainer.step) }), state: toJson(state) };
}

/** Decodes a checkpoint's two documents, checking its format tag. */
export function decodeCheckpoint<L = unknown>(docs: CheckpointDocuments): Checkpoint<L> {
  const state = fromJson(docs.state) as {
    format?: unknown;
    config: unknown;
    loop: L;
    trainer: Omit<TrainerSnapshot, "params" | "optState"> & { params: unknown; optState: unknown };
  };
  if (state?.format !== checkpointFormat) throw new TrainingError(`checkpoint: format ${JSON.stringify(state?.format)}, this version reads ${checkpointFormat}`);
  const { tensors } = decodeSafetensors(docs.tensors);
  const { params, optState, ...trainer } = state.trainer;
  return {
    config: state.config,
    loop: state.loop,
    trainer: { ...trainer, params: { structure: params, tensors }, optState: { structure: optState, tensors } },
  };
}

/** The first difference between two JSON-like values, as `path: a ≠ b`, or null when equal. */
export function firstDifference(a: unknown, b: unknown, path = ""): string | null {
  if (Object.is(a, b)) return null;
  if (a !== null && b !== null && typeof a === "object" && typeof b === "object") {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    for (const k of keys) {
      const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
      if (d) return d;
    }
    return null;
  }
  return `${path || "(root)"}: ${JSON.stringify(a)} ≠ ${JSON.stringify(b)}`;
}
