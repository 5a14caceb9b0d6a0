import { numpy as np, tree, vjp } from "@jax-js/jax";
import { statKernels, type KernelStatKind, type StatRequest } from "../stats/gradNorms.js";
import { ModelContractError, type ModelParams, type MultitaskModel, type Tree } from "./contract.js";

/** A per-task statistic request (the same as the built-in step's {@link StatRequest}). */
export type ModelStatRequest = StatRequest;

/**
 * Combines the T unweighted per-task cotangents at a shared layer, dT [T, B, …], into the one the trunk
 * backpropagates (what replaces Σₜ wₜ·dTₜ), given the loss weights [T], a uint32 seed (scalar array)
 * and optionally the layer's activation [B, …] (borrowed, for sign(A)); consumes dT, weights and seed.
 * The generic tier applies it at the representation; GradDrop's sign dropout is one (src/train/combiners.ts).
 */
export type Combiner = (dT: np.Array, weights: np.Array, seed: np.Array, activation?: np.Array) => np.Array;

export interface ModelPassOptions {
  /** The statistic to compute (none: losses and, with weights, the gradients only). */
  readonly stat?: ModelStatRequest | undefined;
  /** Loss weights [T] (consumed): when given, the gradients of Σ wᵢLᵢ are returned. */
  readonly weights?: np.Array | undefined;
  /** Replaces Σₜ wₜ·dRepTₜ as the trunk's cotangent; needs `weights` and `seed` (consumed). */
  readonly combine?: Combiner | undefined;
  readonly seed?: np.Array | undefined;
}

export interface ModelPassResult {
  /** The T losses [T]. */
  readonly losses: np.Array;
  /** Squared per-task gradient norms [T] or the Gramian [T, T] of the unweighted task gradients. */
  readonly stat?: np.Array;
  /** ∇ of Σ wᵢLᵢ with respect to every parameter (same tree as params), when weights were given. */
  readonly grads?: ModelParams;
}

/**
 * Accumulates a per-task statistic over a parameter tree, leaf by leaf, from T per-task gradient trees
 * (consumed): for each leaf the T gradients are stacked [T, n] and their squared norms or Gramian
 * merged — memory T × the largest leaf, not T × every parameter.
 */
function treeStat(perTask: Tree[], kind: KernelStatKind): np.Array {
  const leaves = perTask.map((g) => tree.leaves(g) as np.Array[]);
  let total: np.Array | null = null;
  for (let j = 0; j < leaves[0]!.length; j++) {
    const F = np.stack(leaves.map((l) => l[j]!.reshape([-1])));
    const s = statKernels[kind].stacked(F);
    total = total === null ? s : statKernels[kind].merge(total, s);
  }
  if (total === null) throw new ModelContractError("the parameters the statistic is taken over are empty");
  return total;
}

/** The error for a model without kernelTraces, after `subject` (what needs them, ending in a verb). */
export function missingKernelTraces(subject: string): ModelContractError {
  return new ModelContractError(`${subject} per-sample outputs: the model must define kernelTraces(params, batch) (pinnModel does)`);
}

/**
 * The `ntk` statistic from the model's own {@link MultitaskModel.kernelTraces} (over all parameters:
 * mode `shared`), its shape checked; a model without it, or another mode, gets a ModelContractError.
 */
export function kernelTraces<B extends Tree>(model: MultitaskModel<B>, params: ModelParams, batch: B, mode: string): np.Array {
  if (!model.kernelTraces) throw missingKernelTraces("the ntk statistic (NTK weights) needs");
  if (mode !== "shared") throw new ModelContractError(`the ntk statistic is over all parameters (gradient mode 'shared'), not '${mode}'`);
  const tr = model.kernelTraces(params, batch);
  if (tr.shape.length !== 1 || tr.shape[0] !== model.numTasks) {
    const shape = `[${tr.shape.join(", ")}]`;
    tr.dispose();
    throw new ModelContractError(`kernelTraces must return one trace per task, shape [${model.numTasks}], got ${shape}`);
  }
  return tr;
}

/** Row t of a stacked array [T, …] as an array […] (borrows x). */
function row(x: np.Array, t: number): np.Array {
  return x.ref.slice(t);
}

/**
 * One pass of a model in the contract ({@link MultitaskModel}) on a batch: forward, the T losses, the
 * requested per-task statistic of the unweighted task gradients and, if weights are given, the
 * gradients of Σ wᵢLᵢ — generically, from the model's functions alone, with jax-js's vjp. Borrows
 * params and batch.
 *
 * How: the trunk runs once under vjp; the task part runs once on the representation replicated T
 * times, so one pullback with cotangent 1 gives every task's own cotangent at the representation,
 * dRepT [T, …rep], and one with cotangent w the weighted task-part gradients and Σ wₜ·dRepTₜ; one
 * trunk pullback then gives the shared gradients. Statistics, by mode:
 * - `representation`: from dRepT directly (one extra task-part pullback);
 * - `lastShared` (needs `split`): T pullbacks of the last shared layer alone, over `params.shared.last`;
 * - `shared`: T pullbacks of the whole trunk (about T backward passes of the trunk, like LibMTL's
 *   per-task backward passes, but with one forward pass).
 */
export function modelPass<B extends Tree>(model: MultitaskModel<B>, params: ModelParams, batch: B, options: ModelPassOptions = {}): ModelPassResult {
  if (options.stat?.kind === "ntk") {
    const traces = kernelTraces(model, params, batch, options.stat.mode);
    try {
      return { ...modelPass(model, params, batch, { ...options, stat: undefined }), stat: traces };
    } catch (e) {
      traces.dispose();
      throw e;
    }
  }
  const T = model.numTasks;
  const { stat, weights, combine, seed } = options;
  if (stat?.mode === "lastShared" && !model.split) {
    throw new ModelContractError("gradient mode 'lastShared' needs the trunk split at its last shared layer (model.split = { body, last }), so that GradNorm's W is known");
  }
  const shared = params.shared as Tree;
  const task = params.task as Tree;
  const withShared = (s: Tree): ModelParams => ({ shared: s, task });
  /** A trunk function of the shared parameters under vjp (its output and pullback). */
  const sharedVjp = (f: (p: ModelParams) => np.Array) =>
    vjp(
      (s: Tree) => {
        const out = f(withShared(s));
        tree.dispose(s);
        return out;
      },
      [tree.ref(shared)],
    );

  // The trunk under vjp: rep, and pullbacks from a cotangent at rep to the shared gradients.
  let rep: np.Array;
  let trunkPull: (dRep: np.Array) => Tree;
  let lastPull: ((dRep: np.Array) => Tree) | null = null;
  const disposers: (() => void)[] = [];
  if (model.split) {
    // Both halves are differentiated with respect to every shared parameter (a layer may keep some of
    // its own, e.g. the last layer's bias, in `body`); `lastShared` statistics are over `last` only.
    const { body, last } = model.split;
    const [z, bodyPb] = sharedVjp((p) => body(p, batch));
    const [r, lastPb] = vjp(
      (s: Tree, zz: np.Array) => {
        const out = last(withShared(s), zz);
        tree.dispose(s);
        zz.dispose();
        return out;
      },
      [tree.ref(shared), z],
    );
    disposers.push(() => bodyPb.dispose(), () => lastPb.dispose());
    rep = r as np.Array;
    lastPull = (dRep) => {
      const [dS, dz] = lastPb(dRep) as [{ body: Tree; last: Tree }, np.Array];
      dz.dispose();
      tree.dispose(dS.body);
      return dS.last;
    };
    trunkPull = (dRep) => {
      const [dS1, dz] = lastPb(dRep) as [Tree, np.Array];
      const [dS2] = bodyPb(dz) as [Tree];
      return tree.map((a: np.Array, b: np.Array) => a.add(b), dS1, dS2) as Tree;
    };
  } else {
    const trunk = model.trunk!;
    const [r, pb] = sharedVjp((p) => trunk(p, batch));
    disposers.push(() => pb.dispose());
    rep = r as np.Array;
    trunkPull = (dRep) => (pb(dRep) as [Tree])[0];
  }

  try {
    const R = rep.shape;
    const repT = np.broadcastTo(rep.ref.reshape([1, ...R]), [T, ...R]);
    const [losses, taskPb] = vjp(
      (k: Tree, r: np.Array) => {
        const out = model.tasks({ shared, task: k }, r, batch);
        tree.dispose(k);
        r.dispose();
        return out;
      },
      [tree.ref(task), repT],
    );
    disposers.push(() => taskPb.dispose());
    const lossArr = losses as np.Array;
    if (lossArr.shape.length !== 1 || lossArr.shape[0] !== T) {
      const shape = `[${lossArr.shape.join(", ")}]`;
      lossArr.dispose();
      throw new ModelContractError(`the task part must return the ${T} task losses as one array of shape [${T}], got shape ${shape}`);
    }

    // Unweighted per-task cotangents at the representation.
    let dRepT: np.Array | null = null;
    if (stat || combine) {
      const [dTask1, d] = taskPb(np.ones([T])) as [Tree, np.Array];
      tree.dispose(dTask1);
      dRepT = d;
    }
    let statValue: np.Array | undefined;
    if (stat) {
      const kind = stat.kind as KernelStatKind; // ntk was handled above
      if (stat.mode === "representation") statValue = statKernels[kind].stacked(dRepT!.ref.reshape([T, -1]));
      else {
        const pull = stat.mode === "lastShared" ? lastPull! : trunkPull;
        statValue = treeStat(
          Array.from({ length: T }, (_, t) => pull(row(dRepT!, t))),
          kind,
        );
      }
    }

    let grads: ModelParams | undefined;
    if (weights) {
      const [dTask, dRepTw] = taskPb(combine ? weights.ref : weights) as [Tree, np.Array];
      let dRep: np.Array;
      if (combine) {
        dRepTw.dispose();
        if (!seed) throw new Error("modelPass: a representation combiner needs a seed");
        dRep = combine(dRepT!.ref, weights, seed, rep);
      } else dRep = dRepTw.sum(0);
      grads = { shared: trunkPull(dRep), task: dTask };
    } else seed?.dispose();
    dRepT?.dispose();
    rep.dispose();
    return statValue ? { losses: lossArr, stat: statValue, ...(grads ? { grads } : {}) } : { losses: lossArr, ...(grads ? { grads } : {}) };
  } finally {
    disposers.forEach((d) => d());
  }
}
