import { numpy as np, tree } from "@jax-js/jax";
import type { Balancer, BalancerState } from "../balancers/types.js";
import type { Params } from "../models/mlp.js";
import { buildTrainStep, type StepConfig } from "./step.js";

export class TrainingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TrainingError";
  }
}

export interface Batch {
  readonly x: Float32Array;
  readonly y: Float32Array;
}

export interface LoopOptions {
  readonly step: Omit<StepConfig, "gradNorms">;
  readonly balancer: Balancer<BalancerState>;
  /** Initial parameters; consumed. */
  readonly params: Params;
  readonly steps: number;
  readonly batchSize: number;
  /** The batch for step t. */
  readonly batch: (t: number) => Batch;
  /** Called every `evalEvery` steps and after the last one with borrowed params; returns per-task test losses. */
  readonly evaluate?: (params: Params) => number[];
  readonly evalEvery?: number;
  /** Record weights and losses every `recordEvery` steps (and at the last step). */
  readonly recordEvery?: number;
  readonly onStep?: (t: number) => void;
}

export interface LoopHistory {
  /** Steps at which weights and batch losses were recorded. */
  readonly steps: number[];
  /** Weights used at each recorded step. */
  readonly weights: number[][];
  /** Unweighted batch losses at each recorded step. */
  readonly losses: number[][];
  readonly evalSteps: number[];
  readonly evalLosses: number[][];
}

export interface LoopResult {
  /** Final parameters (owned by the caller). */
  readonly params: Params;
  readonly finalWeights: number[];
  readonly history: LoopHistory;
  /** Mean wall time of a training step, evaluation excluded. */
  readonly msPerStep: number;
}

/**
 * Runs `steps` training steps: each calls the jit-compiled step with the balancer's current
 * weights, reads back the T losses (and gradient norms if the balancer needs them), checks
 * them, and lets the balancer produce the next weights.
 */
export function trainLoop(opts: LoopOptions): LoopResult {
  const { balancer, steps, batchSize } = opts;
  const T = opts.step.model.numTasks;
  const D = opts.step.model.inputDim;
  const O = opts.step.model.outputDim;
  const built = buildTrainStep({ ...opts.step, gradNorms: balancer.needs.gradNorms });
  let params = opts.params;
  let optState = built.initOptState(params);
  let state = balancer.init(T);
  const evalEvery = opts.evalEvery ?? Math.max(1, Math.floor(steps / 20));
  const recordEvery = opts.recordEvery ?? Math.max(1, Math.floor(steps / 200));
  const history: LoopHistory = { steps: [], weights: [], losses: [], evalSteps: [], evalLosses: [] };
  const evaluate = (t: number) => {
    if (!opts.evaluate) return;
    history.evalSteps.push(t);
    history.evalLosses.push(opts.evaluate(params));
  };
  let stepMs = 0;
  try {
    evaluate(0);
    for (let t = 0; t < steps; t++) {
      const { x, y } = opts.batch(t);
      if (x.length !== batchSize * D || y.length !== T * batchSize * O) {
        throw new TrainingError(`batch ${t} has wrong shape: x ${x.length} values (want ${batchSize}×${D}), y ${y.length} (want ${T}×${batchSize}×${O})`);
      }
      const weights = state.weights;
      const t0 = performance.now();
      const out = built.step(
        params,
        optState,
        np.array(new Float32Array(weights)),
        np.array(x).reshape([batchSize, D]),
        np.array(y).reshape([T, batchSize, O]),
      );
      params = out.params;
      optState = out.optState;
      const losses = Array.from(out.losses.dataSync() as Float32Array);
      const gradNorms = out.gradNorms ? Array.from(out.gradNorms.dataSync() as Float32Array) : undefined;
      const bad = losses.findIndex((l) => !Number.isFinite(l));
      if (bad >= 0) throw new TrainingError(`loss of task ${bad} is ${losses[bad]} at step ${t} (training diverged or the data holds NaN/Inf)`);
      const upd = balancer.update(gradNorms ? { losses, gradNorms } : { losses }, state);
      state = upd.state;
      stepMs += performance.now() - t0;
      if (t % recordEvery === 0 || t === steps - 1) {
        history.steps.push(t);
        history.weights.push([...weights]);
        history.losses.push(losses);
      }
      if ((t + 1) % evalEvery === 0 || t === steps - 1) evaluate(t + 1);
      opts.onStep?.(t);
    }
  } catch (e) {
    tree.dispose(params);
    tree.dispose(optState);
    built.dispose();
    throw e;
  }
  tree.dispose(optState);
  built.dispose();
  return { params, finalWeights: [...state.weights], history, msPerStep: stepMs / Math.max(1, steps) };
}
