import { numpy as np, tree } from "@jax-js/jax";
import type { Balancer, BalancerState, Needs } from "../balancers/types.js";
import type { Params } from "../models/mlp.js";
import { buildTrainStep, buildTwoPhaseStep, type StatRequest, type StepConfig } from "./step.js";
import { combinerFor } from "./combiners.js";
import { checkCount, checkEvaluation, checkObservation, freeOnError, nextState, parseObserved, statRequest, TrainingError } from "./checks.js";
export { statRequest };

export { TrainingError };

export interface Batch {
  readonly x: Float32Array<ArrayBuffer>;
  readonly y: Float32Array<ArrayBuffer>;
}

export interface LoopOptions {
  readonly step: Omit<StepConfig, "stat">;
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

export interface LoopResult<P = Params> {
  /** Final parameters (owned by the caller). */
  readonly params: P;
  readonly finalWeights: number[];
  readonly history: LoopHistory;
  /** Mean wall time of a training step, evaluation excluded. */
  readonly msPerStep: number;
}

export interface TrainerOptions {
  readonly step: Omit<StepConfig, "stat">;
  readonly balancer: Balancer<BalancerState>;
  /** Initial parameters; consumed. */
  readonly params: Params;
  readonly batchSize: number;
}

/** What one training step observed. */
export interface StepRecord {
  /** Weights used at this step. */
  readonly weights: readonly number[];
  readonly losses: number[];
  readonly gradNorms?: number[];
  readonly gramian?: number[][];
  readonly gradAbsMax?: number[];
  readonly gradAbsMean?: number[];
  readonly kernelTraces?: number[];
}


/**
 * One training run's moving parts: the compiled step, the parameters, the optimizer state
 * and the balancer state. `step(batch)` runs one training step:
 * - timing `next` (GradNorm, DWA, …): one jit call with the balancer's current weights, then the
 *   observation (losses, norms or Gramian) goes to the balancer for the next step's weights;
 * - timing `current` (MGDA, PCGrad, …): a jit call computes the losses and statistics, the balancer
 *   turns them into this step's weights, and a second jit call applies the weighted backward pass
 *   to the residuals of the first (no second forward pass).
 * A step is all or nothing: the losses and statistics it observed (NaN/Inf from a bad batch or a
 * diverged network) and the weights the balancer returns are checked before the new parameters,
 * optimizer state and balancer state are kept, so a step that throws leaves the trainer exactly as it
 * was, ready for the next batch. (A gradient that overflows while every loss stays finite is not
 * caught here: the next step's losses show it.)
 */
export function createTrainer(opts: TrainerOptions) {
  const { balancer } = opts;
  const batchSize = checkCount("batchSize", opts.batchSize, 1);
  const { numTasks: T, inputDim: D, outputDim: O } = opts.step.model;
  const request = statRequest(balancer.needs);
  const current = balancer.timing === "current";
  if (balancer.combine && current) throw new TrainingError(`${balancer.name}: a representation combiner needs timing 'next'`);
  const config = { ...opts.step, stat: request, combine: balancer.combine ? combinerFor(balancer.combine.spec) : undefined };
  const single = current ? null : buildTrainStep(config);
  const twoPhase = current ? buildTwoPhaseStep(config) : null;
  let params: Params | null = opts.params;
  let optState = (single ?? twoPhase)!.initOptState(params);
  let state = balancer.init(T);
  let t = 0;
  const live = () => {
    if (!params) throw new TrainingError("trainer already disposed");
    return params;
  };
  /** Reads the step's observation back, checks it, and gives the balancer's next state. */
  const observe = (observed: np.Array) => () => {
    const obs = checkObservation(parseObserved(observed.dataSync() as Float32Array, T, request, balancer.needs.gradNorms !== undefined), t);
    return { obs, next: nextState(balancer, obs, state, T, t) };
  };
  const arrays = (batch: Batch) => {
    const { x, y } = batch;
    if (x.length !== batchSize * D || y.length !== T * batchSize * O) {
      throw new TrainingError(`batch ${t} has wrong shape: x ${x.length} values (want ${batchSize}×${D}), y ${y.length} (want ${T}×${batchSize}×${O})`);
    }
    return { x: np.array(x).reshape([batchSize, D]), y: np.array(y).reshape([T, batchSize, O]) };
  };
  return {
    get params(): Params {
      return live();
    },
    get weights(): readonly number[] {
      return state.weights;
    },
    get stepCount(): number {
      return t;
    },
    step(batch: Batch): StepRecord {
      const { x, y } = arrays(batch);
      let record: StepRecord;
      if (twoPhase) {
        const { observed, residuals } = twoPhase.observe(tree.ref(live()), x, y);
        const { obs, next } = freeOnError(residuals, observe(observed));
        const out = twoPhase.apply(live(), optState, np.array(new Float32Array(next.weights)), residuals);
        state = next;
        params = out.params;
        optState = out.optState;
        record = { ...obs, weights: state.weights };
      } else {
        const weights = state.weights;
        const seed = np.array(balancer.combine ? balancer.combine.seed(state) >>> 0 : 0, { dtype: np.uint32 });
        // The step gets references: the current parameters and optimizer state stay alive until
        // the observation has been checked, and are kept if it fails.
        const out = single!.step(tree.ref(live()), tree.ref(optState), np.array(new Float32Array(weights)), x, y, seed);
        const { obs, next } = freeOnError([out.params, out.optState], observe(out.observed));
        tree.dispose(live());
        tree.dispose(optState);
        params = out.params;
        optState = out.optState;
        state = next;
        record = { ...obs, weights };
      }
      t++;
      return record;
    },
    /** Frees everything but the parameters, which are returned to the caller. */
    finish(): Params {
      const p = live();
      params = null;
      tree.dispose(optState);
      (single ?? twoPhase)!.dispose();
      return p;
    },
    /** Frees everything, parameters included. */
    dispose(): void {
      if (params) tree.dispose(this.finish());
    },
  };
}

/**
 * A loop's schedule from its options, checked (TrainingError naming a bad count): record weights and
 * losses every `recordEvery` steps (default steps/200), evaluate every `evalEvery` (default steps/20),
 * both also at the last step; and the run's empty history.
 */
export function loopSchedule(opts: { readonly steps: number; readonly evalEvery?: number | undefined; readonly recordEvery?: number | undefined }, resumed?: LoopHistory) {
  const steps = checkCount("steps", opts.steps, 0);
  const evalEvery = checkCount("evalEvery", opts.evalEvery ?? Math.max(1, Math.floor(steps / 20)), 1);
  const recordEvery = checkCount("recordEvery", opts.recordEvery ?? Math.max(1, Math.floor(steps / 200)), 1);
  const history: LoopHistory = resumed ? structuredClone(resumed) : { steps: [], weights: [], losses: [], evalSteps: [], evalLosses: [] };
  return {
    steps,
    history,
    /** Records step t's weights and batch losses when it is due. */
    record(t: number, rec: StepRecord): void {
      if (t % recordEvery !== 0 && t !== steps - 1) return;
      history.steps.push(t);
      history.weights.push([...rec.weights]);
      history.losses.push(rec.losses);
    },
    /** Whether to evaluate after step t. */
    evaluateAfter: (t: number) => (t + 1) % evalEvery === 0 || t === steps - 1,
    /** Records what `evaluate` returned after t steps, checked. */
    evaluated(t: number, losses: unknown, T: number): void {
      const checked = checkEvaluation(losses, T, t);
      history.evalSteps.push(t);
      history.evalLosses.push(checked);
    },
  };
}

/** Runs `steps` training steps with evaluation and recording; see {@link createTrainer}. */
export function trainLoop(opts: LoopOptions): LoopResult {
  const schedule = loopSchedule(opts);
  const { steps, history } = schedule;
  const trainer = createTrainer(opts);
  const T = opts.step.model.numTasks;
  const evaluate = (t: number) => {
    if (opts.evaluate) schedule.evaluated(t, opts.evaluate(trainer.params), T);
  };
  let stepMs = 0;
  try {
    evaluate(0);
    for (let t = 0; t < steps; t++) {
      const batch = opts.batch(t);
      const t0 = performance.now();
      const rec = trainer.step(batch);
      stepMs += performance.now() - t0;
      schedule.record(t, rec);
      if (schedule.evaluateAfter(t)) evaluate(t + 1);
      opts.onStep?.(t);
    }
  } catch (e) {
    trainer.dispose();
    throw e;
  }
  const finalWeights = [...trainer.weights];
  return { params: trainer.finish(), finalWeights, history, msPerStep: stepMs / Math.max(1, steps) };
}
