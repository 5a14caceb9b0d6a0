import { numpy as np, grad, jit, tree, vjp, type JsTree } from "@jax-js/jax";
import { checkModelShape, ModelContractError, type ModelParams, type MultitaskModel, type Tree } from "./contract.js";
import { DataError, formatShape } from "../data/errors.js";

/** One array of a batch as the host knows it without reading it: its path (`batch.x`), shape and dtype. */
export interface BatchLeaf {
  readonly path: string;
  readonly shape: readonly number[];
  readonly dtype: string;
}

/** The arrays of a batch, in tree order: what {@link checkBatch} compares from batch to batch. */
export type BatchSignature = readonly BatchLeaf[];

/**
 * Where the rows (examples) of each array of a batch are: a tree shaped like the batch with the axis of
 * each array's rows, or null for an array without rows (e.g. `{ x: 0, y: 1 }` for x [B, D] and y
 * [T, B, O]). A model may carry it as `batchAxes`; layer models (`layersModel`, `mlpModel`) have it
 * built in, with their exact shapes.
 */
export type BatchAxes = JsTree<number | null>;

/** The exact batch layout of a layer model: x [B, …inputShape], y [T, B, outputDim]. */
interface LayersLayout {
  readonly inputShape: readonly number[];
  readonly numTasks: number;
  readonly outputDim: number;
}

const describeValue = (v: unknown): string =>
  v === null || v === undefined ? String(v) : typeof v === "object" || typeof v === "function" ? `a ${(v as object).constructor?.name ?? "object"}` : `a ${typeof v} (${String(v)})`;

/** A batch's shapes for messages: `batch.x [4, 5], batch.y [2, 4, 3]`. */
export function describeBatch(sig: BatchSignature): string {
  return sig.map((l) => `${l.path} ${formatShape(l.shape)}`).join(", ");
}

/**
 * The signature of a batch (borrowed, not read): each leaf must be a live jax-js array (or a JS number or
 * boolean, a scalar) — a {@link DataError} names the leaf otherwise: a typed array or other value, an
 * array already freed (a step consumes its batch), no arrays at all.
 */
export function batchSignature(batch: unknown, root = "batch"): BatchSignature {
  const out: BatchLeaf[] = [];
  const walk = (node: unknown, path: string) => {
    if (Array.isArray(node)) node.forEach((c, i) => walk(c, `${path}[${i}]`));
    else if (node instanceof np.Array) {
      if (node.refCount < 1) throw new DataError(`${path} was already freed: a training step consumes its batch (keep an array with .ref, or a whole batch with tree.ref(batch), to use it again)`);
      out.push({ path, shape: node.shape.slice(), dtype: String(node.dtype) });
    } else if (node !== null && typeof node === "object" && (node as object).constructor === Object) {
      for (const [k, c] of Object.entries(node)) walk(c, `${path}.${k}`);
    } else if (typeof node === "number" || typeof node === "boolean") out.push({ path, shape: [], dtype: typeof node });
    else throw new DataError(`${path} is ${describeValue(node)}, not a jax-js array: a batch is a tree (objects, lists) of jax-js arrays (np.array(values).reshape(shape) makes one from host data)`);
  };
  walk(batch, root);
  if (out.length === 0) throw new DataError(`${root} holds no arrays (got ${describeValue(batch)})`);
  return out;
}

/** Row axes by leaf path, from a {@link BatchAxes} tree. */
function axesByPath(axes: BatchAxes, root: string): Map<string, number | null> {
  const out = new Map<string, number | null>();
  const walk = (node: unknown, path: string) => {
    if (Array.isArray(node)) node.forEach((c, i) => walk(c, `${path}[${i}]`));
    else if (node !== null && typeof node === "object") for (const [k, c] of Object.entries(node)) walk(c, `${path}.${k}`);
    else out.set(path, node as number | null);
  };
  walk(axes, root);
  return out;
}

/** The exact layout of a layer model (its `config`), or undefined for any other model. */
function layersLayout(model: unknown): LayersLayout | undefined {
  const c = (model as { config?: Partial<LayersLayout> & { trunk?: unknown } } | null)?.config;
  if (!c || typeof c !== "object" || !Array.isArray(c.inputShape) || !Array.isArray(c.trunk) || !Number.isInteger(c.numTasks) || !Number.isInteger(c.outputDim)) return undefined;
  return c as LayersLayout;
}

/** The row axes of a model's batches: its `batchAxes`, a layer model's { x: 0, y: 1 }, or undefined (unknown). */
function rowAxesOf(model: unknown, root: string): Map<string, number | null> | undefined {
  const declared = (model as { batchAxes?: BatchAxes } | null)?.batchAxes;
  if (declared !== undefined) return axesByPath(declared, root);
  if (layersLayout(model)) return new Map([[`${root}.x`, 0], [`${root}.y`, 1]]);
  return undefined;
}

/**
 * Checks a batch before a step uses it (borrowed; only shapes are looked at, no data is read, so the
 * cost is a walk over the batch tree), throwing a {@link DataError} that names the array, the shape
 * expected and the shape found:
 * - every leaf a live jax-js array ({@link batchSignature}), none without elements (an empty batch has
 *   no loss: a mean over 0 rows is NaN);
 * - with known row axes (a model's `batchAxes`; a layer model's x [B, …inputShape] and y [T, B, O],
 *   checked exactly), every array the same number of rows;
 * - against the first batch (`first`, the signature this returned for it): the same arrays (paths),
 *   dtypes and ranks, and sizes that differ only in the number of rows — on the known row axes, or,
 *   when they are unknown, one size changed the same way in every array (32 → 16 rows); a different
 *   feature size, or x and y cut to different row counts, is named.
 * Returns the batch's signature.
 */
export function checkBatch<B extends Tree>(model: MultitaskModel<B>, batch: B, first?: BatchSignature, root = "batch"): BatchSignature {
  const sig = batchSignature(batch, root);
  for (const l of sig) {
    if (l.shape.includes(0)) throw new DataError(`${l.path} has shape ${formatShape(l.shape)}, no elements: an empty batch (0 rows) has no loss to train on (a mean over 0 rows is NaN)`);
  }
  const byPath = new Map(sig.map((l) => [l.path, l]));
  const layout = layersLayout(model);
  if (layout) {
    const x = byPath.get(`${root}.x`);
    const y = byPath.get(`${root}.y`);
    const T = layout.numTasks;
    const O = layout.outputDim;
    if (!x || !y) throw new DataError(`${root}.${x ? "y" : "x"} is missing: a layer model's batch is { x [B, ${layout.inputShape.join(", ")}], y [${T}, B, ${O}] }`);
    const B = x.shape[0]!;
    if (x.shape.length !== layout.inputShape.length + 1 || layout.inputShape.some((d, k) => x.shape[k + 1] !== d)) {
      throw new DataError(`${x.path} has shape ${formatShape(x.shape)}, expected [B, ${layout.inputShape.join(", ")}]: B rows of the model's input shape ${formatShape(layout.inputShape)}`);
    }
    if (y.shape.length !== 3 || y.shape[0] !== T || y.shape[1] !== B || y.shape[2] !== O) {
      throw new DataError(`${y.path} has shape ${formatShape(y.shape)}, expected ${formatShape([T, B, O])}: ${T} tasks × the ${B} rows of ${x.path} × ${O} outputs (targets [T, B, outputDim])`);
    }
  }
  const axes = rowAxesOf(model, root);
  const rowsOf = (l: BatchLeaf): number | undefined => {
    const a = axes?.get(l.path);
    if (a === undefined || a === null) return undefined;
    if (!Number.isInteger(a) || a < 0 || a >= l.shape.length) throw new DataError(`batchAxes puts the rows of ${l.path} on axis ${a}, but it has shape ${formatShape(l.shape)}`);
    return l.shape[a]!;
  };
  if (axes) {
    const withRows = sig.flatMap((l) => {
      const r = rowsOf(l);
      return r === undefined ? [] : [{ l, r }];
    });
    const odd = withRows.find((e) => e.r !== withRows[0]!.r);
    if (odd) {
      const a = withRows[0]!;
      throw new DataError(
        `${odd.l.path} has ${odd.r} row${odd.r === 1 ? "" : "s"} (axis ${axes.get(odd.l.path)} of ${formatShape(odd.l.shape)}), ${a.l.path} ${a.r} (axis ${axes.get(a.l.path)} of ${formatShape(a.l.shape)}): every array of a batch needs the same number of rows`,
      );
    }
  }
  if (!first) return sig;
  const before = new Map(first.map((l) => [l.path, l]));
  const was = describeBatch(first);
  for (const l of first) if (!byPath.has(l.path)) throw new DataError(`${l.path} is missing from this batch; the first batch had ${was} (every batch needs the same arrays)`);
  const changes: { path: string; axis: number; from: number; to: number }[] = [];
  for (const l of sig) {
    const f = before.get(l.path);
    if (!f) throw new DataError(`${l.path} ${formatShape(l.shape)} is not in the first batch, which had ${was} (every batch needs the same arrays)`);
    if (f.dtype !== l.dtype) throw new DataError(`${l.path} has dtype ${l.dtype}, the first batch's ${f.dtype}`);
    if (f.shape.length !== l.shape.length) throw new DataError(`${l.path} has shape ${formatShape(l.shape)}, the first batch's ${formatShape(f.shape)} (rank ${l.shape.length}, not ${f.shape.length})`);
    // undefined: where this array's rows are is not known (then only the rule below applies to it).
    const rowAxis = axes?.get(l.path);
    l.shape.forEach((d, k) => {
      if (d === f.shape[k]) return;
      if (rowAxis !== undefined && k !== rowAxis) {
        throw new DataError(
          `${l.path} has shape ${formatShape(l.shape)}, the first batch's ${formatShape(f.shape)}: only the rows (${rowAxis === undefined || rowAxis === null ? "it has none" : `axis ${rowAxis}`}) may change between batches`,
        );
      }
      changes.push({ path: l.path, axis: k, from: f.shape[k]!, to: d });
    });
  }
  if (changes.length > 1) {
    const c0 = changes[0]!;
    const odd = changes.find((c) => c.from !== c0.from || c.to !== c0.to);
    if (odd) {
      throw new DataError(
        `this batch has ${describeBatch(sig)}, the first batch had ${was}: between batches only the number of rows may change, the same way in every array, ` +
          `but ${c0.path} went from ${c0.from} to ${c0.to} (axis ${c0.axis}) and ${odd.path} from ${odd.from} to ${odd.to} (axis ${odd.axis})`,
      );
    }
  }
  return sig;
}

/** Frees every live array of `t` (arrays already freed, and non-array leaves, are skipped): cleanup on an error path. */
export function disposeLive(t: unknown): void {
  for (const leaf of tree.leaves(t as JsTree<unknown>)) if (leaf instanceof np.Array && leaf.refCount > 0) leaf.dispose();
}

/** The representation of `params` on `batch` (borrows both). */
function representation<B extends Tree>(model: MultitaskModel<B>, params: ModelParams, batch: B): np.Array {
  if (!model.split) return model.trunk!(params, batch);
  const z = model.split.body(params, batch);
  const rep = model.split.last(params, z);
  z.dispose();
  return rep;
}

/** Dotted paths of the leaves of a tree (best effort, for messages). */
function leafPaths(t: Tree, prefix: string): string[] {
  const out: string[] = [];
  const walk = (node: unknown, path: string) => {
    if (Array.isArray(node)) node.forEach((c, i) => walk(c, `${path}[${i}]`));
    else if (node && typeof node === "object" && !("shape" in node)) for (const [k, c] of Object.entries(node)) walk(c, `${path}.${k}`);
    else out.push(path);
  };
  walk(t, prefix);
  return out;
}

/** The paths of the leaves of `grads` (consumed, read back asynchronously) that are not all zero. */
async function nonzero(grads: Tree, prefix: string): Promise<string[]> {
  const paths = leafPaths(grads, prefix);
  const values = await Promise.all((tree.leaves(grads) as np.Array[]).map((a) => a.data() as Promise<Float32Array>));
  return values.flatMap((v, i) => (v.some((x) => x !== 0) ? [paths[i]!] : []));
}

/**
 * Runs `f` under jit once and frees the compiled function: what a model leaks while traced costs no
 * device memory. Consumes `args`, also when `f` throws while traced (then nothing ran on the device).
 */
function once<A extends unknown[], R>(f: (...args: A) => R, ...args: A): R {
  let traceFailed = false;
  const g = jit(((...a: A) => {
    try {
      return f(...a);
    } catch (e) {
      traceFailed = true;
      throw e;
    }
  }) as never) as unknown as ((...a: A) => R) & { dispose(): void };
  try {
    return g(...args);
  } catch (e) {
    if (traceFailed) disposeLive(args);
    throw e;
  } finally {
    g.dispose();
  }
}

/**
 * Checks a model against the contract on one batch and throws a {@link ModelContractError} naming
 * what is wrong (borrows params and batch); the batch itself is checked first ({@link checkBatch}: a
 * {@link DataError} for an empty batch, a freed or non-array leaf, shapes that do not fit the model's
 * known layout), and a model that fails on it is reported with the batch's shapes:
 * - the parameters are `{ shared, task }` (`{ body, last }` shared with a split trunk) and the model's
 *   functions can read them (a failure is reported with the function that failed);
 * - the task part returns the T losses as one [T] array;
 * - task t reads only copy t of the replicated representation (T pullbacks of the task part);
 * - the representation does not depend on task parameters, and the task part does not read shared
 *   parameters (otherwise per-task statistics and updates would miss terms).
 * The trainers run it on their first batch: a few compiled forward and backward passes, once. Results are
 * read back asynchronously (`await data()`), so it runs on every backend, WebGPU included.
 */
export async function checkModel<B extends Tree>(model: MultitaskModel<B>, params: ModelParams, batch: B): Promise<void> {
  checkModelShape(model as MultitaskModel<never>, params);
  const sig = checkBatch(model, batch);
  const failed = (e: unknown): never => {
    if (e instanceof ModelContractError || e instanceof DataError) throw e;
    throw Object.assign(
      new ModelContractError(
        `the model failed on the parameters and batch given (batch: ${describeBatch(sig)}; do they match what its functions read?): ${e instanceof Error ? e.message : String(e)}`,
      ),
      { cause: e },
    );
  };
  const T = model.numTasks;
  // Task part: the losses' shape, and the cotangent of loss t in copy t only: [T (loss), T (copy), n].
  let shape: number[];
  let cross: np.Array;
  try {
    [shape, cross] = (() => {
      let lossShape: number[] = [];
      const out = once((p: ModelParams, b: B) => {
        const rep = representation(model, p, b);
        const R = rep.shape;
        const repT = np.broadcastTo(rep.reshape([1, ...R]), [T, ...R]);
        const [losses, pb] = vjp((r: np.Array) => {
          const l = model.tasks(p, r, b);
          r.dispose();
          return l;
        }, [repT]) as unknown as [np.Array, ((ct: np.Array) => [np.Array]) & { dispose(): void }];
        lossShape = losses.shape.slice();
        const rows: np.Array[] = [];
        if (lossShape.length === 1 && lossShape[0] === T) {
          for (let t = 0; t < T; t++) rows.push(pb(np.array(Float32Array.from({ length: T }, (_, k) => (k === t ? 1 : 0))))[0].reshape([T, -1]));
        }
        pb.dispose();
        losses.dispose();
        tree.dispose(p);
        tree.dispose(b);
        return rows.length ? np.stack(rows) : np.zeros([0]);
      }, tree.ref(params), tree.ref(batch));
      return [lossShape, out as np.Array];
    })();
  } catch (e) {
    return failed(e);
  }
  if (shape.length !== 1 || shape[0] !== T) {
    cross.dispose();
    throw new ModelContractError(`the task part must return the ${T} task losses as one array of shape [${T}], got shape [${shape.join(", ")}]`);
  }
  const n = cross.shape[2]!;
  const c = (await cross.data()) as Float32Array;
  for (let t = 0; t < T; t++)
    for (let s = 0; s < T; s++) {
      if (s === t) continue;
      for (let k = 0; k < n; k++) {
        if (c[(t * T + s) * n + k] !== 0) throw new ModelContractError(`task ${t}'s loss depends on copy ${s} of the replicated representation: task t must read repT[t] only`);
      }
    }
  // The trunk must not read task parameters, nor the task part shared ones.
  let reads: [Tree, Tree];
  try {
    reads = readsOf(model, params, batch);
  } catch (e) {
    return failed(e);
  }
  const [fromTrunk, fromTasks] = reads;
  const trunkReads = await nonzero(fromTrunk, "task");
  const taskReads = await nonzero(fromTasks, "shared");
  if (trunkReads.length > 0) throw new ModelContractError(`the representation depends on task parameters (${trunkReads.join(", ")}): the trunk must read params.shared only`);
  if (taskReads.length > 0) throw new ModelContractError(`the task part reads shared parameters (${taskReads.join(", ")}): shared layers belong in the trunk, so that per-task statistics see them`);
}

/** The gradients of the representation with respect to the task parameters, and of the losses with respect to the shared ones (borrows params and batch). */
function readsOf<B extends Tree>(model: MultitaskModel<B>, params: ModelParams, batch: B): [Tree, Tree] {
  const T = model.numTasks;
  return once((p: ModelParams, b: B) => {
    const dTask = grad((k: Tree) => {
      const r = representation(model, { shared: p.shared, task: k }, b).sum();
      tree.dispose(k);
      return r;
    })(tree.ref(p.task as Tree)) as Tree;
    const rep = representation(model, p, b);
    const R = rep.shape;
    const dShared = grad((s: Tree) => {
      const repT = np.broadcastTo(rep.ref.reshape([1, ...R]), [T, ...R]);
      const l = model.tasks({ shared: s, task: p.task }, repT, b).sum();
      repT.dispose();
      tree.dispose(s);
      return l;
    })(tree.ref(p.shared as Tree)) as Tree;
    rep.dispose();
    tree.dispose(p);
    tree.dispose(b);
    return [dTask, dShared] as unknown as Tree;
  }, tree.ref(params), tree.ref(batch)) as unknown as [Tree, Tree];
}
