import type { Tensor, Variable } from "@tensorflow/tfjs-core";
import type { LayersModel, SymbolicTensor } from "@tensorflow/tfjs-layers";

/** A layer of a TF.js model (the type tfjs-layers does not export by name). */
export type TfLayer = LayersModel["layers"][number];

/** A model the library cannot balance, or an option that does not fit it: names the output or layer. */
export class TfjsModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TfjsModelError";
  }
}

/**
 * A functional model's graph between its inputs and its T outputs, split at the shared representation:
 * - `rep`: the representation, the output of the last layer that dominates every output (every path
 *   from the model's inputs to any output passes through it), or of the layer the user names, which must
 *   dominate every output;
 * - `body`: the layers from the inputs to `rep`, whose variables are the shared ones;
 * - `heads[t]`: the layers from `rep` to output t (they may share layers with each other);
 * - `kernel`: GradNorm's W, the kernel of the last layer with a kernel on the chain of one-input layers
 *   that ends at `rep` (for a Dense or Conv layer whose output is `rep`, its own kernel), with `chainInput`
 *   the tensor that chain starts from.
 */
export interface ModelGraph {
  readonly model: LayersModel;
  readonly numTasks: number;
  readonly outputNames: readonly string[];
  readonly rep: SymbolicTensor;
  /** The layer whose output is `rep`. */
  readonly repLayer: string;
  /** Trainable variables of the body (the shared ones). */
  readonly sharedVars: readonly Variable[];
  /** Trainable variables of the heads, per task. */
  readonly headVars: readonly (readonly Variable[])[];
  /** Every trainable variable the outputs depend on, each once. */
  readonly allVars: readonly Variable[];
  /** For each variable of `allVars`, the one task whose head holds it, or -1 (shared, or in several heads). */
  readonly ownerTask: readonly number[];
  /** True when no head variable is used by two tasks' heads (each head's gradient can be weighted alone). */
  readonly disjointHeads: boolean;
  /** GradNorm's W and the chain from `chainInput` to `rep`, or a reason it cannot be found. */
  readonly kernel: KernelInfo | { readonly problem: string };
  /** Layer classes of every layer the outputs depend on (for backend checks). */
  readonly layerClasses: readonly string[];
}

/**
 * GradNorm's W. `dense`: set when W's layer is a Dense layer whose output is the representation and whose
 * activation has a derivative written in terms of its output (then the per-task ∂Lₜ/∂W come from one
 * product, hᵀ·(gₜ ⊙ σ'), instead of T backward passes).
 */
export interface KernelInfo {
  readonly variable: Variable;
  readonly layer: string;
  readonly chainInput: SymbolicTensor;
  readonly dense?: DenseActivation;
}

/** Activations whose derivative is a function of their output y: linear 1, relu [y > 0], tanh 1 − y², sigmoid y(1 − y). */
export const denseActivations = ["linear", "relu", "tanh", "sigmoid"] as const;
export type DenseActivation = (typeof denseActivations)[number];

const ROOT = -1;

/** The node that produced a symbolic tensor. */
function producer(s: SymbolicTensor) {
  const node = s.sourceLayer.inboundNodes[s.nodeIndex];
  if (!node) throw new TfjsModelError(`tensor '${s.name}' has no producing node in layer '${s.sourceLayer.name}'`);
  return node;
}

function isInput(model: LayersModel, s: SymbolicTensor): boolean {
  return model.inputs.some((i) => i.id === s.id);
}

/** Every symbolic tensor the outputs depend on, in topological order, with the ids of each one's inputs. */
function walk(model: LayersModel) {
  const order: SymbolicTensor[] = [];
  const preds = new Map<number, number[]>();
  const state = new Map<number, "open" | "done">();
  const visit = (s: SymbolicTensor) => {
    const st = state.get(s.id);
    if (st === "done") return;
    if (st === "open") throw new TfjsModelError(`the model's graph has a cycle through tensor '${s.name}'`);
    state.set(s.id, "open");
    if (isInput(model, s)) preds.set(s.id, [ROOT]);
    else {
      const ins = producer(s).inputTensors.filter((x): x is SymbolicTensor => x != null);
      if (ins.length === 0) throw new TfjsModelError(`layer '${s.sourceLayer.name}' takes no input from the model's inputs`);
      ins.forEach(visit);
      preds.set(s.id, ins.map((x) => x.id));
    }
    state.set(s.id, "done");
    order.push(s);
  };
  model.outputs.forEach(visit);
  return { order, preds };
}

/** dom(v) = {v} ∪ ⋂ dom(p) over the inputs p of v, in topological order (dom(root) = {root}). */
function dominators(order: readonly SymbolicTensor[], preds: Map<number, number[]>): Map<number, Set<number>> {
  const dom = new Map<number, Set<number>>([[ROOT, new Set([ROOT])]]);
  for (const s of order) {
    const ps = preds.get(s.id)!;
    const acc = new Set<number>(dom.get(ps[0]!)!);
    for (const p of ps.slice(1)) {
      const d = dom.get(p)!;
      for (const x of [...acc]) if (!d.has(x)) acc.delete(x);
    }
    acc.add(s.id);
    dom.set(s.id, acc);
  }
  return dom;
}

/** Ids of every tensor from which `target` can be reached, `target` included, stopping at `stop`. */
function ancestors(target: SymbolicTensor, preds: Map<number, number[]>, stop: number): Set<number> {
  const seen = new Set<number>();
  const stack = [target.id];
  while (stack.length) {
    const id = stack.pop()!;
    if (seen.has(id) || id === ROOT) continue;
    seen.add(id);
    if (id !== stop) stack.push(...preds.get(id)!);
  }
  return seen;
}

/** The trainable variables of a layer, as engine variables. */
function layerVars(layer: TfLayer): Variable[] {
  return layer.trainableWeights.map((w) => w.read() as Variable);
}

function isKernel(name: string): boolean {
  return /(^|\/)kernel(_\d+)?$/.test(name);
}

/**
 * Analyses a functional `tf.LayersModel` with T ≥ 2 outputs and splits it at the shared representation
 * ({@link ModelGraph}); `sharedLayer` names the layer whose output is the representation.
 */
export function analyseModel(model: LayersModel, sharedLayer?: string): ModelGraph {
  if (!model || !Array.isArray(model.outputs) || !Array.isArray(model.inputs)) {
    throw new TfjsModelError("expected a tf.LayersModel built with tf.model({ inputs, outputs }) (a functional model)");
  }
  const T = model.outputs.length;
  if (T < 2) throw new TfjsModelError(`the model has ${T} output; a multitask model needs one output per task (at least 2)`);
  const names = model.outputNames ?? model.outputs.map((o) => o.name);
  const { order, preds } = walk(model);
  const index = new Map(order.map((s, i) => [s.id, i]));
  const byId = new Map(order.map((s) => [s.id, s]));
  const dom = dominators(order, preds);
  const outputIds = model.outputs.map((o) => o.id);
  const common = [...dom.get(outputIds[0]!)!].filter((id) => id !== ROOT && outputIds.every((o) => dom.get(o)!.has(id)));
  const label = (s: SymbolicTensor) => `'${s.sourceLayer.name}'`;

  let rep: SymbolicTensor;
  if (sharedLayer !== undefined) {
    const layer = model.layers.find((l) => l.name === sharedLayer);
    if (!layer) {
      throw new TfjsModelError(`sharedLayer: the model has no layer '${sharedLayer}' (layers: ${model.layers.map((l) => l.name).join(", ")})`);
    }
    const outs = order.filter((s) => s.sourceLayer === layer);
    if (outs.length === 0) throw new TfjsModelError(`sharedLayer: no output of the model depends on layer '${sharedLayer}'`);
    if (outs.length > 1) throw new TfjsModelError(`sharedLayer: layer '${sharedLayer}' gives ${outs.length} tensors in this model; name a layer applied once with one output`);
    rep = outs[0]!;
    for (let t = 0; t < T; t++) {
      const o = model.outputs[t]!;
      if (dom.get(o.id)!.has(rep.id)) continue;
      if (!ancestors(o, preds, ROOT).has(rep.id)) {
        throw new TfjsModelError(`sharedLayer: layer '${sharedLayer}' is not shared: output '${names[t]}' does not depend on it`);
      }
      throw new TfjsModelError(
        `sharedLayer: layer '${sharedLayer}' is not shared by every path: output '${names[t]}' can be reached from the inputs without passing through it`,
      );
    }
    if (outputIds.includes(rep.id)) throw new TfjsModelError(`sharedLayer: layer '${sharedLayer}' gives an output of the model, not a shared representation`);
  } else {
    const candidates = common.filter((id) => !outputIds.includes(id) && !isInput(model, byId.get(id)!));
    if (candidates.length === 0) {
      throw new TfjsModelError(
        "the outputs share no layer that every path from the inputs passes through; build a shared trunk, or name its last layer with `sharedLayer`",
      );
    }
    rep = byId.get(candidates.reduce((a, b) => (index.get(a)! > index.get(b)! ? a : b)))!;
  }

  const bodyIds = ancestors(rep, preds, ROOT);
  const layerOf = (id: number) => byId.get(id)!.sourceLayer;
  const bodyLayers = new Set([...bodyIds].filter((id) => !isInput(model, byId.get(id)!)).map(layerOf));
  const headLayers = model.outputs.map((o) => new Set([...ancestors(o, preds, rep.id)].filter((id) => id !== rep.id).map(layerOf)));
  const unique = (vs: Variable[]) => [...new Map(vs.map((v) => [v.id, v])).values()];
  const sharedVars = unique([...bodyLayers].flatMap(layerVars));
  const headVars = headLayers.map((ls) => unique([...ls].flatMap(layerVars)));
  const allVars = unique([...sharedVars, ...headVars.flat()]);
  const sharedIds = new Set(sharedVars.map((v) => v.id));
  const ownerTask = allVars.map((v) => {
    if (sharedIds.has(v.id)) return -1;
    const owners = headVars.flatMap((vs, t) => (vs.some((u) => u.id === v.id) ? [t] : []));
    return owners.length === 1 ? owners[0]! : -1;
  });
  const disjointHeads = allVars.every((v, i) => sharedIds.has(v.id) || ownerTask[i] !== -1);

  // GradNorm's W: walk back from rep through one-input layers to the first layer with a kernel.
  let kernel: ModelGraph["kernel"];
  for (let s = rep; ; ) {
    const layer = s.sourceLayer;
    const w = layer.trainableWeights.find((v) => isKernel(v.originalName ?? v.name));
    const ins = producer(s).inputTensors;
    if (w) {
      if (ins.length !== 1) {
        kernel = { problem: `layer '${layer.name}' has ${ins.length} inputs` };
      } else {
        const act = layer.getClassName() === "Dense" && s === rep ? String(layer.getConfig().activation) : "";
        const dense = (denseActivations as readonly string[]).includes(act) ? (act as DenseActivation) : undefined;
        kernel = { variable: w.read() as Variable, layer: layer.name, chainInput: ins[0]!, ...(dense ? { dense } : {}) };
      }
      break;
    }
    if (ins.length !== 1 || isInput(model, ins[0]!)) {
      kernel = {
        problem:
          ins.length !== 1
            ? `layer '${layer.name}' merges ${ins.length} inputs before any layer with a kernel`
            : `no layer with a kernel lies between the inputs and ${label(rep)}`,
      };
      break;
    }
    s = ins[0]!;
  }

  const layerClasses = [...new Set([...bodyLayers, ...headLayers.flatMap((ls) => [...ls])].map((l) => l.getClassName()))];
  return { model, numTasks: T, outputNames: names, rep, repLayer: rep.sourceLayer.name, sharedVars, headVars, allVars, ownerTask, disjointHeads, kernel, layerClasses };
}

/**
 * Evaluates `target` eagerly from the concrete tensors in `known` (symbolic tensor id → tensor), layer by
 * layer as the model's own `apply` does, adding what it computes to `known`. Throws if it would need a
 * model input that is not known (the target does not hang from the known tensors alone).
 */
export function evaluate(model: LayersModel, target: SymbolicTensor, known: Map<number, Tensor>, training: boolean): Tensor {
  const hit = known.get(target.id);
  if (hit) return hit;
  if (isInput(model, target)) throw new TfjsModelError(`internal: evaluating '${target.name}' needs the model input, which was not given`);
  const node = producer(target);
  const ins = node.inputTensors.map((s) => evaluate(model, s, known, training));
  const out = target.sourceLayer.apply(ins.length === 1 ? ins[0]! : ins, { ...(node.callArgs ?? {}), training }) as Tensor | Tensor[];
  const outs = Array.isArray(out) ? out : [out];
  node.outputTensors.forEach((s, i) => known.set(s.id, outs[i]!));
  return known.get(target.id)!;
}
