import { numpy as np, grad, jit, tree, vjp } from "@jax-js/jax";
import { checkModelShape, ModelContractError, type ModelParams, type MultitaskModel, type Tree } from "./contract.js";

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

/** Runs `f` under jit once and frees the compiled function: what a model leaks while traced costs no device memory. */
function once<A extends unknown[], R>(f: (...args: A) => R, ...args: A): R {
  const g = jit(f as never) as unknown as ((...a: A) => R) & { dispose(): void };
  try {
    return g(...args);
  } finally {
    g.dispose();
  }
}

/**
 * Checks a model against the contract on one batch and throws a {@link ModelContractError} naming
 * what is wrong (borrows params and batch):
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
    if (e instanceof ModelContractError) throw e;
    throw new ModelContractError(`the model failed on the parameters and batch given (do they match what its functions read?): ${e instanceof Error ? e.message : String(e)}`);
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
  const [fromTrunk, fromTasks] = once((p: ModelParams, b: B) => {
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
  const trunkReads = await nonzero(fromTrunk, "task");
  const taskReads = await nonzero(fromTasks, "shared");
  if (trunkReads.length > 0) throw new ModelContractError(`the representation depends on task parameters (${trunkReads.join(", ")}): the trunk must read params.shared only`);
  if (taskReads.length > 0) throw new ModelContractError(`the task part reads shared parameters (${taskReads.join(", ")}): shared layers belong in the trunk, so that per-task statistics see them`);
}
