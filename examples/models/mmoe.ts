import { numpy as np, nn } from "@jax-js/jax";
import type { ModelParams, MultitaskModel } from "../../src/model/contract.js";
import { Rng } from "../../src/util/rng.js";

/**
 * Multi-gate Mixture-of-Experts (Ma et al., KDD 2018) in the library's model contract — soft sharing:
 * E expert MLPs are shared, and each task has its own softmax gate over the experts (computed from the
 * input) and its own tower, a linear classifier with a cross-entropy loss.
 *
 * trunk (split at the experts' last layer): body x → hₑ = relu(x·W₁ₑ + b₁ₑ) for every expert,
 * [E, B, H₁]; last → repₑ = relu(hₑ·W₂ₑ + b₂ₑ), [E, B, H] (GradNorm's W: the experts' last layers);
 * tasks: gₜ = softmax(x·Gₜ) [B, E], mixedₜ = Σₑ gₜₑ·repTₜ,ₑ [B, H], logitsₜ = mixedₜ·Vₜ + cₜ.
 */
export interface MmoeConfig {
  readonly inputDim: number;
  readonly experts: number;
  /** Widths of each expert's two layers. */
  readonly hidden: readonly [number, number];
  readonly classes: number;
  readonly numTasks: number;
}

export interface ClassificationBatch {
  /** Inputs [B, inputDim]. */
  readonly x: np.Array;
  /** One-hot targets [T, B, classes]. */
  readonly y: np.Array;
  [key: string]: np.Array;
}

export type MmoeParams = ModelParams<
  { body: { W: np.Array; b: np.Array }; last: { W: np.Array; b: np.Array } },
  { gates: np.Array; W: np.Array; b: np.Array }
>;

/** The experts' first layers: hₑ = relu(x·W₁ₑ + b₁ₑ), [E, B, H₁] from x [B, D] (borrows p and x). */
function expertsBody(E: number, p: MmoeParams["shared"]["body"], x: np.Array): np.Array {
  return np.maximum(np.einsum("bd,edh->ebh", x.ref, p.W.ref).add(p.b.ref.reshape([E, 1, -1])), 0);
}

/** The experts' last layers: repₑ = relu(hₑ·W₂ₑ + b₂ₑ), [E, B, H] from h [E, B, H₁] (borrows p and h). */
function expertsLast(E: number, p: MmoeParams["shared"]["last"], h: np.Array): np.Array {
  return np.maximum(np.einsum("ebk,ekh->ebh", h.ref, p.W.ref).add(p.b.ref.reshape([E, 1, -1])), 0);
}

/** The experts' outputs [E, B, H] (borrows params and x). */
function experts(config: MmoeConfig, shared: MmoeParams["shared"], x: np.Array): np.Array {
  const h = expertsBody(config.experts, shared.body, x);
  const rep = expertsLast(config.experts, shared.last, h);
  h.dispose();
  return rep;
}

/** Per-task logits [T, B, C] from the replicated experts' outputs repT [T, E, B, H] (borrows everything). */
function towers(config: MmoeConfig, task: MmoeParams["task"], repT: np.Array, x: np.Array): np.Array {
  const gates = nn.softmax(np.einsum("bd,tde->tbe", x.ref, task.gates.ref), -1); // [T, B, E]
  const mixed = np.einsum("tbe,tebh->tbh", gates, repT.ref); // [T, B, H]
  return np.einsum("tbh,thc->tbc", mixed, task.W.ref).add(task.b.ref.reshape([config.numTasks, 1, -1]));
}

export function mmoe(config: MmoeConfig): MultitaskModel<ClassificationBatch> {
  const T = config.numTasks;
  const E = config.experts;
  return {
    numTasks: T,
    split: {
      body: (params, batch) => expertsBody(E, (params.shared as MmoeParams["shared"]).body, batch.x), // W [E, D, H₁], b [E, H₁]
      last: (params, z) => expertsLast(E, (params.shared as MmoeParams["shared"]).last, z), // W [E, H₁, H], b [E, H]
    },
    tasks(params, repT, batch) {
      const B = batch.x.shape[0]!;
      const logits = towers(config, params.task as MmoeParams["task"], repT, batch.x);
      return nn.logSoftmax(logits, -1).mul(batch.y.ref).sum([1, 2]).mul(-1 / B);
    },
  };
}

/** Per-task logits [T, B, C] for inputs x [B, D] (borrows params and x): for accuracy. */
export function mmoeLogits(config: MmoeConfig, params: MmoeParams, x: np.Array): np.Array {
  const rep = experts(config, params.shared, x);
  const R = rep.shape;
  const repT = np.broadcastTo(rep.reshape([1, ...R]), [config.numTasks, ...R]);
  const logits = towers(config, params.task, repT, x);
  repT.dispose();
  return logits;
}

/** Seeded initial parameters: uniform ±1/√fan_in, gates at zero (uniform mixtures at the start). */
export function initMmoe(config: MmoeConfig, seed: number): MmoeParams {
  const rng = new Rng(seed);
  const { inputDim: D, experts: E, hidden: [H1, H], classes: C, numTasks: T } = config;
  const u = (n: number, fanIn: number) => np.array(rng.uniforms(n, -1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn)));
  return {
    shared: {
      body: { W: u(E * D * H1, D).reshape([E, D, H1]), b: u(E * H1, D).reshape([E, H1]) },
      last: { W: u(E * H1 * H, H1).reshape([E, H1, H]), b: u(E * H, H1).reshape([E, H]) },
    },
    task: { gates: np.zeros([T, D, E]), W: u(T * H * C, H).reshape([T, H, C]), b: u(T * C, H).reshape([T, C]) },
  };
}
