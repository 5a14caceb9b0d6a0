import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import type { Balancer, BalancerState } from "../balancers/types.js";
import type { StepRecord } from "../train/loop.js";
import { checkObservation, nextState, NonFiniteError, parseObserved, statRequest, TrainingError } from "../train/observation.js";
import { analyseModel, evaluate, TfjsModelError, type DenseActivation, type KernelInfo, type ModelGraph } from "./graph.js";
import { lossFor, scalarLoss, sparseLabelClasses, type TfjsLossFn, type TfjsLossName } from "./losses.js";
import { checkClassLabels, DataError } from "../data/errors.js";
import { checkBackend, explainKernelError } from "./backend.js";
import { signDropout } from "./signDropout.js";

export type TfjsLoss = TfjsLossName | TfjsLossFn;

export interface TfjsTrainerOptions {
  /** A functional `tf.LayersModel` whose outputs are the T tasks' outputs. Trained in place. */
  readonly model: LayersModel;
  /** One loss for every output, or one per output (a name `model.compile` knows, or a function). */
  readonly loss: TfjsLoss | readonly TfjsLoss[];
  /** Any balancer of the library: weights from losses, norms or a Gramian; or GradDrop's combination. */
  readonly balancer: Balancer<BalancerState>;
  /** Any `tf.Optimizer` (`tf.train.adam(1e-3)`, …); it applies Σ wᵢ∇Lᵢ. */
  readonly optimizer: tf.Optimizer;
  /**
   * The layer whose output is the shared representation. Default: the last layer every path from the
   * inputs to every output passes through (see {@link analyseModel}).
   */
  readonly sharedLayer?: string;
}

/** The model's inputs for one batch: one tensor per model input. */
export type TfjsInputs = tf.Tensor | readonly tf.Tensor[];

/**
 * A step-level trainer of a multi-output TF.js model with a loss balancer: `await step(x, ys)` runs one
 * training step and returns what it observed (the T unweighted losses, the statistic the balancer asked
 * for) and the weights it applied. Inputs are not consumed (TF.js's convention: the caller disposes them);
 * no tensor is left behind by a step.
 *
 * The per-task statistics, at the modes the balancer names (`needs`), where B is the batch, Tb one
 * backward pass of the whole model (the cost of an equal-weights step, about 3 forward passes):
 * - `representation`: the output of the shared layer is fanned out to T copies (a custom-gradient op),
 *   task t's head reads copy t, and the one backward pass of Σ Lₜ leaves task t's cotangent on copy t;
 *   the body receives Σ wₜ gₜ and each head's gradient is scaled by its weight afterwards. Cost ≈ Tb plus
 *   the T×|rep| copy. Heads that share variables (not disjoint) use the two-pass path below instead.
 * - `lastShared` (GradNorm's W): as above, then for a Dense layer (linear, relu, tanh or sigmoid) whose
 *   output is the representation, ∂Lₜ/∂W = hᵀ(gₜ ⊙ σ'(y)) for every task in one product (the norms as
 *   ⟨hhᵀ, δₜδₜᵀ⟩ when that is cheaper); for other layers, T small backward passes through the chain of
 *   one-input layers that ends at the representation. Cost ≈ Tb + that product (or T × that chain).
 * - `shared` (every variable of the trunk): as above, then T backward passes through the trunk with
 *   cotangent gₜ (TF.js has no vmap; per-task gradients of shared weights need T passes). Cost ≈ (T + 1)·Tb
 *   at worst (plus the T trunk forward passes again: tf.grads re-runs its function).
 * Balancers of timing `current` (MGDA, …) need this step's statistics before its weights: a statistics
 * pass (the trunk forward once without a tape; the heads forward and backward on T copies of the
 * representation, keeping each head's gradient and gₜ), then, with the weights, the trunk forward and
 * backward with cotangent Σ wₜgₜ — one trunk forward more than the fused pass. Heads that share a
 * variable run the whole weighted pass instead.
 * GradDrop (a balancer that declares a gradient combination) runs through the same fan-out: the trunk's
 * cotangent is the sign dropout of the wₜgₜ at the representation ({@link signDropout}), drawn from TF.js's
 * seeded generator.
 * A step is all or nothing: losses, statistics and the balancer's weights are checked (NaN/Inf names the
 * output and the step) before the optimizer touches a variable.
 * Layers run in training mode in every pass, so layers with randomness (Dropout) draw new masks in the
 * statistics passes, and batch normalization updates its moving statistics once per pass.
 */
export function createTfjsTrainer(opts: TfjsTrainerOptions) {
  const { model, balancer, optimizer } = opts;
  if (!balancer || typeof balancer.update !== "function") throw new TfjsModelError("balancer: expected a balancer of the library (gradNorm(), createBalancer('mgda'), …)");
  if (!optimizer || typeof optimizer.applyGradients !== "function") throw new TfjsModelError("optimizer: expected a tf.Optimizer (tf.train.adam(1e-3), …)");
  const graph: ModelGraph = analyseModel(model, opts.sharedLayer);
  const T = graph.numTasks;
  const names = graph.outputNames;
  const lossList = Array.isArray(opts.loss) ? (opts.loss as readonly TfjsLoss[]) : Array.from({ length: T }, () => opts.loss as TfjsLoss);
  if (lossList.length !== T) throw new TfjsModelError(`loss: ${lossList.length} losses for ${T} outputs (${names.join(", ")})`);
  const losses = lossList.map((l, t) => lossFor(l, names[t]!));
  const sparseClasses = sparseLabelClasses(lossList, model.outputs.map((o) => o.shape));
  const combine = balancer.combine;
  if (combine && combine.spec.kind !== "signDropout") throw new TfjsModelError(`${balancer.name}: unknown gradient combination '${(combine.spec as { kind: string }).kind}'`);
  const request = statRequest(balancer.needs);
  if (request?.kind === "ntk") throw new TfjsModelError(`${balancer.name}: the kernel traces (NTK weights) need per-sample outputs of a model in the jax-js contract (kernelTraces, as pinnModel); the TF.js trainer does not compute them`);
  if (combine && (balancer.timing === "current" || (request && !graph.disjointHeads))) {
    throw new TfjsModelError(`${balancer.name}: a gradient combination runs with timing 'next' and, with statistics, heads that share no variable`);
  }
  if (request?.mode === "lastShared" && "problem" in graph.kernel) {
    throw new TfjsModelError(
      `mode lastShared: cannot find GradNorm's W from '${graph.repLayer}': ${graph.kernel.problem}; name a Dense or Conv layer's output with sharedLayer`,
    );
  }
  checkBackend(graph.layerClasses);
  const current = balancer.timing === "current";
  const fused = !current && request !== undefined && graph.disjointHeads;
  const wantNorms = balancer.needs.gradNorms !== undefined;
  let state = balancer.init(T);
  let t = 0;
  let busy = false;

  const inputsOf = (x: TfjsInputs): Map<number, tf.Tensor> => new Map(model.inputs.map((s, i) => [s.id, Array.isArray(x) ? x[i]! : (x as tf.Tensor)]));
  const taskLoss = (i: number, ys: readonly tf.Tensor[], out: tf.Tensor) => scalarLoss(losses[i]!, ys[i]!, out);

  /** Every output from the inputs, then the T losses (training mode), inside the caller's scope. */
  const modelLosses = (x: TfjsInputs, ys: readonly tf.Tensor[], training: boolean): tf.Scalar[] => {
    const known = inputsOf(x);
    return model.outputs.map((o, i) => taskLoss(i, ys, evaluate(model, o, known, training)));
  };

  /** Task t's output from its copy of the representation. */
  const headLosses = (copies: tf.Tensor[], ys: readonly tf.Tensor[]): tf.Scalar[] =>
    model.outputs.map((o, i) => taskLoss(i, ys, evaluate(model, o, new Map([[graph.rep.id, copies[i]!]]), true)));

  /**
   * The statistic (T norms, the T² Gramian flat, or the T largest then the T mean gradient magnitudes) from the unweighted cotangents g [T, …] at the
   * representation `rep` (its value) and, for GradNorm's W, the input of W's layer.
   */
  const statistic = (x: TfjsInputs, g: tf.Tensor, rep: tf.Tensor, chainInput: tf.Tensor | undefined): tf.Tensor => {
    const mode = request!.mode;
    const kernel = graph.kernel as KernelInfo;
    let J: tf.Tensor;
    if (mode === "representation") J = tf.reshape(g, [T, -1]);
    else if (mode === "lastShared" && kernel.dense && request!.kind === "norms") return denseKernelNorms(g, rep, chainInput!, kernel.dense);
    else if (mode === "lastShared" && kernel.dense) J = denseKernelGrads(g, rep, chainInput!, kernel.dense);
    else {
      const target = mode === "lastShared" ? [kernel.variable] : [...graph.sharedVars];
      const perTask = tf.unstack(g).map((gt) => {
        const { value, grads } = tf.engine().gradients(() => {
          const known = mode === "lastShared" ? new Map([[kernel.chainInput.id, chainInput!]]) : inputsOf(x);
          return tf.sum(tf.mul(evaluate(model, graph.rep, known, true), gt));
        }, target, undefined, true);
        value.dispose();
        const flat = tf.concat(target.map((v, i) => tf.reshape(grads[i] ?? tf.zerosLike(v), [-1])));
        tf.dispose(grads);
        return flat;
      });
      J = tf.stack(perTask);
    }
    if (request!.kind === "abs") return tf.concat([tf.max(tf.abs(J), 1), tf.mean(tf.abs(J), 1)]);
    return request!.kind === "norms" ? tf.sqrt(tf.sum(tf.square(J), 1)) : tf.reshape(tf.matMul(J as tf.Tensor2D, J as tf.Tensor2D, false, true), [-1]);
  };

  /**
   * The T copies of the representation as one custom-gradient op. Its backward receives the T cotangents
   * dy [T, …]: each task's own gₜ when the heads were differentiated unweighted (`unweighted`), else wₜgₜ.
   * It keeps gₜ for the statistic when `sink` asks, and returns the trunk's cotangent: Σ wₜgₜ, or the
   * balancer's combination of the wₜgₜ (GradDrop's sign dropout, with the representation as activation).
   */
  const fanOut = (w: readonly number[], unweighted: boolean, sink: { g?: tf.Tensor; capture: boolean }, seed: number) =>
    tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const rep = args[0] as tf.Tensor;
      (args[1] as tf.GradSaveFunc)([rep]);
      return {
        value: tf.stack(Array.from({ length: T }, () => rep)),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          if (sink.capture) sink.g = tf.keep(dy.clone());
          const wT = tf.reshape(tf.tensor1d(w as number[]), [T, ...dy.shape.slice(1).map(() => 1)]);
          const g = unweighted ? tf.mul(dy, wT) : dy;
          if (combine) return signDropout(g, saved[0]!, combine.spec.leak, seed);
          return tf.sum(g, 0);
        },
      };
    });

  /**
   * One backward pass giving Σ wₜ∇Lₜ (or the combination) for every variable and, when `capture`, the
   * observation (losses and the statistic). Returns the gradients and the packed observation, both owned
   * by the caller.
   */
  const gradPass = (x: TfjsInputs, ys: readonly tf.Tensor[], w: readonly number[], capture: boolean, seed = 0) => {
    const fanned = capture || combine !== undefined;
    // Unweighted heads give the fan-out each task's own cotangent; their gradients are weighted afterwards.
    const unweighted = fanned && graph.disjointHeads;
    const sink: { g?: tf.Tensor; capture: boolean } = { capture };
    let lossVec: tf.Tensor | undefined;
    let chainInput: tf.Tensor | undefined;
    let repValue: tf.Tensor | undefined;
    const { value, grads } = tf.engine().gradients(
      () => {
        let ls: tf.Scalar[];
        if (fanned) {
          const known = inputsOf(x);
          const rep = evaluate(model, graph.rep, known, true);
          if (capture && request!.mode === "lastShared") {
            chainInput = tf.keep(tf.clone(known.get((graph.kernel as KernelInfo).chainInput.id)!)); // a clone: it may be the caller's input
            repValue = tf.keep(tf.clone(rep));
          }
          ls = headLosses(tf.unstack(fanOut(w, unweighted, sink, seed)(rep)), ys);
        } else ls = modelLosses(x, ys, true);
        lossVec = tf.keep(tf.stack(ls));
        return tf.addN(unweighted ? ls : ls.map((l, i) => tf.mul(l, w[i]!))) as tf.Scalar;
      },
      [...graph.allVars],
      undefined,
      true,
    );
    value.dispose();
    let weighted = grads;
    if (unweighted) {
      weighted = tf.tidy(() => grads.map((g, i) => (g && graph.ownerTask[i]! >= 0 ? tf.mul(g, w[graph.ownerTask[i]!]!) : g)));
      grads.forEach((g, i) => g && g !== weighted[i] && g.dispose());
    }
    let observed: tf.Tensor;
    if (capture) {
      const g = sink.g!;
      observed = tf.tidy(() => tf.concat([lossVec!, statistic(x, g, repValue!, chainInput)]));
      tf.dispose([g, ...(chainInput ? [chainInput] : []), ...(repValue ? [repValue] : [])]);
      lossVec!.dispose();
    } else observed = lossVec!;
    return { grads: weighted, observed };
  };

  /**
   * Losses and the statistic without touching any variable: the trunk once without a tape, the heads
   * forward and backward on the T copies. With `keepHeads` (heads that share no variable) it also keeps
   * the cotangents g [T, …] and every head variable's unweighted gradient, so that the weighted step
   * needs only the trunk again ({@link trunkPass}).
   */
  const statsPass = (x: TfjsInputs, ys: readonly tf.Tensor[], keepHeads: boolean): { observed: tf.Tensor; g?: tf.Tensor; headGrads?: (tf.Tensor | undefined)[] } =>
    tf.tidy(() => {
      if (!request) return { observed: tf.stack(modelLosses(x, ys, true)) };
      const known = inputsOf(x);
      const rep = evaluate(model, graph.rep, known, true);
      const chainInput = request.mode === "lastShared" ? known.get((graph.kernel as KernelInfo).chainInput.id) : undefined;
      const repT = tf.stack(Array.from({ length: T }, () => rep));
      const heads = keepHeads ? graph.allVars.filter((_, i) => graph.ownerTask[i]! >= 0) : [];
      let lossVec: tf.Tensor | undefined;
      const { value, grads } = tf.engine().gradients(
        () => {
          const ls = headLosses(tf.unstack(repT), ys);
          lossVec = tf.keep(tf.stack(ls));
          return tf.addN(ls) as tf.Scalar;
        },
        [repT, ...heads],
        undefined,
        true,
      );
      value.dispose();
      const observed = tf.concat([lossVec!, statistic(x, grads[0]!, rep, chainInput)]);
      lossVec!.dispose();
      if (!keepHeads) return { observed };
      const byVar = new Map(heads.map((v, k) => [v.id, grads[k + 1]]));
      return { observed, g: grads[0]!, headGrads: graph.allVars.map((v) => byVar.get(v.id)) };
    });

  /**
   * The weighted step after {@link statsPass} kept the heads' gradients: the trunk forward and backward
   * with cotangent Σ wₜgₜ at the representation, the heads' gradients scaled by their task's weight.
   * Returns gradients aligned with `graph.allVars`, owned by the caller.
   */
  const trunkPass = (x: TfjsInputs, w: readonly number[], g: tf.Tensor, headGrads: (tf.Tensor | undefined)[]): (tf.Tensor | undefined)[] => {
    const cot = tf.tidy(() => tf.sum(tf.mul(g, tf.reshape(tf.tensor1d(w as number[]), [T, ...g.shape.slice(1).map(() => 1)])), 0));
    const { value, grads } = tf.engine().gradients(() => evaluate(model, graph.rep, inputsOf(x), true), [...graph.sharedVars], cot, true);
    tf.dispose([value, cot]);
    const shared = new Map(graph.sharedVars.map((v, k) => [v.id, grads[k]]));
    return graph.allVars.map((v, i) => (graph.ownerTask[i]! >= 0 ? tf.mul(headGrads[i]!, w[graph.ownerTask[i]!]!) : shared.get(v.id)));
  };

  const checkBatch = (x: TfjsInputs, ys: readonly tf.Tensor[]) => {
    const xs = Array.isArray(x) ? (x as readonly tf.Tensor[]) : [x as tf.Tensor];
    if (xs.length !== model.inputs.length) throw new TfjsModelError(`${xs.length} input tensors for a model with ${model.inputs.length} inputs`);
    xs.forEach((xi, i) => {
      if (!isTensor(xi)) throw new TfjsModelError(`input '${model.inputs[i]!.name}' is ${xi === null || typeof xi !== "object" ? String(xi) : `a ${(xi as object).constructor?.name ?? "object"}`}, not a tensor`);
    });
    if (!Array.isArray(ys) || ys.length !== T) throw new TfjsModelError(`${Array.isArray(ys) ? ys.length : "no"} target tensors for ${T} outputs (${names.join(", ")})`);
    const B = xs[0]!.shape[0];
    if (!(B! >= 1)) throw new DataError(`input '${model.inputs[0]!.name}' has shape [${xs[0]!.shape}]: an empty batch (0 rows) has no loss to train on`);
    xs.forEach((xi, i) => {
      const want = model.inputs[i]!.shape;
      const ok = xi.shape.length === want.length && want.every((d, k) => k === 0 || d == null || d === xi.shape[k]);
      if (!ok) throw new TfjsModelError(`input '${model.inputs[i]!.name}' has shape [${xi.shape}], the model expects [${want.map((d) => d ?? "batch")}]`);
      if (xi.shape[0] !== B) throw new TfjsModelError(`input '${model.inputs[i]!.name}' has batch ${xi.shape[0]}, the first input ${B}`);
    });
    ys.forEach((y, i) => {
      if (!isTensor(y)) throw new TfjsModelError(`target of output '${names[i]}' is not a tensor`);
      if (y.shape[0] !== B) throw new TfjsModelError(`target of output '${names[i]}' has batch ${y.shape[0]}, the inputs ${B}`);
      const out = model.outputs[i]!.shape;
      if (lossList[i] === "sparseCategoricalCrossentropy") {
        if (y.shape.length > 2 || (y.shape.length === 2 && y.shape[1] !== 1)) throw new TfjsModelError(`target of output '${names[i]}' has shape [${y.shape}]; sparse labels are [batch] or [batch, 1]`);
      } else if (typeof lossList[i] === "string") {
        const ok = y.shape.length === out.length && out.every((d, k) => k === 0 || d == null || d === y.shape[k]);
        if (!ok) throw new TfjsModelError(`target of output '${names[i]}' has shape [${y.shape}], the output is [${out.map((d) => d ?? "batch")}]`);
      }
    });
  };

  /**
   * After output i's loss came out non-finite: if it takes integer labels and one is out of range (which
   * its loss turns into NaN), a DataError naming it. Reads the labels, on this failure path only.
   */
  const explainLabels = async (i: number, ys: readonly tf.Tensor[], when: string) => {
    const classes = sparseClasses[i];
    if (classes === undefined) return;
    checkClassLabels(`target of output '${names[i]}' (sparseCategoricalCrossentropy) ${when}`, (await ys[i]!.data()) as ArrayLike<number>, classes ?? Infinity);
  };

  const observe = async (observed: tf.Tensor, ys: readonly tf.Tensor[]) => {
    const data = (await observed.data()) as Float32Array;
    const obs = parseObserved(data, T, request, wantNorms);
    for (let i = 0; i < T; i++) {
      const l = obs.losses[i]!;
      if (Number.isFinite(l)) continue;
      await explainLabels(i, ys, `at step ${t}`);
      throw new NonFiniteError(`loss of output '${names[i]}' (task ${i}) is ${l}`, t, " (training diverged or the batch holds NaN/Inf)");
    }
    return checkObservation(obs, t);
  };

  const apply = (grads: (tf.Tensor | undefined)[]) => {
    const named = graph.allVars.flatMap((v, i) => (grads[i] ? [{ name: v.name, tensor: grads[i]! }] : []));
    optimizer.applyGradients(named);
  };

  return {
    graph,
    numTasks: T,
    outputNames: names,
    get weights(): readonly number[] {
      return state.weights;
    },
    get balancerState(): BalancerState {
      return state;
    },
    get stepCount(): number {
      return t;
    },
    /** One training step; `x` and `ys` are not consumed. Steps must not overlap: await each before the next. */
    async step(x: TfjsInputs, ys: readonly tf.Tensor[]): Promise<StepRecord> {
      if (busy) throw new TrainingError("a step is already running: await each step before the next");
      busy = true;
      let owned: (tf.Tensor | undefined)[] = [];
      try {
        checkBatch(x, ys);
        let record: StepRecord;
        if (current) {
          const keepHeads = request !== undefined && graph.disjointHeads;
          const { observed, g, headGrads } = statsPass(x, ys, keepHeads);
          owned = [observed, g, ...(headGrads ?? [])];
          const obs = await observe(observed, ys);
          const next = nextState(balancer, obs, state, T, t);
          let grads: (tf.Tensor | undefined)[];
          if (keepHeads) grads = trunkPass(x, next.weights, g!, headGrads!);
          else {
            const out = gradPass(x, ys, next.weights, false);
            out.observed.dispose();
            grads = out.grads;
          }
          owned.push(...grads);
          apply(grads);
          state = next;
          record = { ...obs, weights: next.weights };
        } else {
          const weights = state.weights;
          let observed: tf.Tensor;
          let grads: (tf.Tensor | undefined)[];
          const seed = combine ? combine.seed(state) >>> 0 : 0;
          if (fused || !request) ({ grads, observed } = gradPass(x, ys, weights, fused, seed));
          else {
            observed = statsPass(x, ys, false).observed;
            owned = [observed];
            const out = gradPass(x, ys, weights, false);
            out.observed.dispose();
            grads = out.grads;
          }
          owned = [observed, ...grads];
          const obs = await observe(observed, ys);
          const next = nextState(balancer, obs, state, T, t);
          apply(grads);
          state = next;
          record = { ...obs, weights };
        }
        t++;
        return record;
      } catch (e) {
        throw explainKernelError(e);
      } finally {
        tf.dispose(owned.filter((o): o is tf.Tensor => o !== undefined));
        busy = false;
      }
    },
    /**
     * Per-task losses on a batch in inference mode (no variable changes); inputs are not consumed. A class
     * label out of range for a sparse loss throws a DataError naming it (its loss would be NaN).
     */
    async evaluate(x: TfjsInputs, ys: readonly tf.Tensor[]): Promise<number[]> {
      checkBatch(x, ys);
      const v = tf.tidy(() => tf.stack(modelLosses(x, ys, false)));
      let out: number[];
      try {
        out = Array.from((await v.data()) as Float32Array);
      } finally {
        v.dispose();
      }
      for (let i = 0; i < T; i++) if (!Number.isFinite(out[i]!)) await explainLabels(i, ys, "(evaluation)");
      return out;
    },
    /**
     * Checks inputs and targets against the model without running it (shapes only): the number of input
     * and target tensors, each input's shape, every tensor's rows, each target's shape for a named loss
     * (TfjsModelError naming the input or output). `fit` runs it on the whole data first.
     */
    checkData(x: TfjsInputs, ys: readonly tf.Tensor[]): void {
      checkBatch(x, ys);
    },
    /** Per output: the classes its integer labels must lie in when its loss is sparseCategoricalCrossentropy (null: unknown), else undefined. */
    sparseClasses: sparseClasses as readonly (number | null | undefined)[],
  };
}

export type TfjsTrainer = ReturnType<typeof createTfjsTrainer>;

/** Whether `t` looks like a TF.js tensor (duck-typed: a page may hold two copies of tfjs-core). */
export function isTensor(t: unknown): t is tf.Tensor {
  return t !== null && typeof t === "object" && Array.isArray((t as tf.Tensor).shape) && typeof (t as tf.Tensor).dataSync === "function";
}

/** The cotangents at a Dense layer's pre-activation, δₜ = gₜ ⊙ σ'(y), as [T, N, H], with h as [N, I]. */
function denseDeltas(g: tf.Tensor, y: tf.Tensor, h: tf.Tensor, activation: DenseActivation): { delta: tf.Tensor3D; h2: tf.Tensor2D } {
  const T = g.shape[0]!;
  const H = y.shape[y.shape.length - 1]!;
  const I = h.shape[h.shape.length - 1]!;
  const d = activation === "linear" ? null : activation === "relu" ? tf.cast(tf.greater(y, 0), "float32") : activation === "tanh" ? tf.sub(1, tf.square(y)) : tf.mul(y, tf.sub(1, y));
  const delta = tf.reshape(d ? tf.mul(g, d) : g, [T, -1, H]) as tf.Tensor3D;
  return { delta, h2: tf.reshape(h, [delta.shape[1], I]) };
}

/**
 * Per-task gradients of a Dense layer's kernel W [I, H] whose output y = σ(h W + b) is the representation:
 * ∂Lₜ/∂W = hᵀ (gₜ ⊙ σ'(y)), for all T tasks in one product. g [T, …, H], y [N…, H], h [N…, I]; returns
 * J [T, I·H] (row t is task t's gradient, flattened as W is).
 */
export function denseKernelGrads(g: tf.Tensor, y: tf.Tensor, h: tf.Tensor, activation: DenseActivation): tf.Tensor2D {
  return tf.tidy(() => {
    const { delta, h2 } = denseDeltas(g, y, h, activation);
    const [T, N, H] = delta.shape;
    const I = h2.shape[1];
    const K = tf.matMul(h2, tf.reshape(tf.transpose(delta, [1, 0, 2]), [N, T * H]), true, false); // [I, T·H]
    return tf.reshape(tf.transpose(tf.reshape(K, [I, T, H]), [1, 0, 2]), [T, I * H]);
  });
}

/**
 * ‖∂Lₜ/∂W‖ of a Dense kernel for every task (see {@link denseKernelGrads}), by whichever form costs fewer
 * multiply-adds: the gradients themselves (T·N·I·H), or ‖hᵀδₜ‖² = ⟨h hᵀ, δₜ δₜᵀ⟩ (N²·I + T·N²·H), the
 * cheaper one when the batch N is small against the widths.
 */
export function denseKernelNorms(g: tf.Tensor, y: tf.Tensor, h: tf.Tensor, activation: DenseActivation): tf.Tensor1D {
  return tf.tidy(() => {
    const { delta, h2 } = denseDeltas(g, y, h, activation);
    const [T, N, H] = delta.shape;
    const I = h2.shape[1];
    if (N * N * I + T * N * N * H >= T * N * I * H) return tf.sqrt(tf.sum(tf.square(denseKernelGrads(g, y, h, activation)), 1)) as tf.Tensor1D;
    const M = tf.matMul(h2, h2, false, true); // [N, N]
    const D = tf.matMul(delta, delta, false, true); // [T, N, N]
    return tf.sqrt(tf.relu(tf.sum(tf.mul(D, M), [1, 2]))) as tf.Tensor1D;
  });
}
