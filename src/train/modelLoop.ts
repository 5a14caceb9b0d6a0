import type { Balancer, BalancerState } from "../balancers/types.js";
import type { ModelParams, MultitaskModel, Tree } from "../model/contract.js";
import { loopSchedule, type LoopResult, type StepRecord } from "./loop.js";
import { createModelTrainer } from "./modelTrainer.js";
import type { StepOptimizer } from "./modelStep.js";

export interface ModelLoopOptions<B extends Tree> {
  readonly model: MultitaskModel<B>;
  /** Initial parameters; consumed. */
  readonly params: ModelParams;
  readonly optimizer: StepOptimizer;
  readonly balancer: Balancer<BalancerState>;
  readonly steps: number;
  /** The batch for step t (consumed by the step). */
  readonly batch: (t: number) => B;
  /** Called every `evalEvery` steps and after the last one with borrowed params; returns per-task test losses. */
  readonly evaluate?: (params: ModelParams) => Promise<number[]> | number[];
  readonly evalEvery?: number;
  /** Record weights and losses every `recordEvery` steps (and at the last step). */
  readonly recordEvery?: number;
  /** Called after step t (and its evaluation, if one was due) with what the step observed and its wall time (ms, evaluation excluded). */
  readonly onStep?: (t: number, record: StepRecord, ms: number) => void;
  /** Called after each evaluation with the steps done and the checked per-task losses `evaluate` returned. */
  readonly onEval?: (step: number, losses: readonly number[]) => void;
}

export type ModelLoopResult = LoopResult<ModelParams>;

/**
 * Runs `steps` training steps of a model in the contract with evaluation and recording (the async
 * counterpart of `trainLoop`, on {@link createModelTrainer}); each step's results are awaited before
 * the next. The counts and what `evaluate` returns are checked (TrainingError naming them).
 */
export async function trainModelLoop<B extends Tree>(opts: ModelLoopOptions<B>): Promise<ModelLoopResult> {
  const schedule = loopSchedule(opts);
  const { steps, history } = schedule;
  const T = opts.model.numTasks;
  const trainer = createModelTrainer(opts);
  const evaluate = async (t: number) => {
    if (!opts.evaluate) return;
    schedule.evaluated(t, await opts.evaluate(trainer.params), T);
    opts.onEval?.(t, history.evalLosses[history.evalLosses.length - 1]!);
  };
  let stepMs = 0;
  try {
    await evaluate(0);
    for (let t = 0; t < steps; t++) {
      const batch = opts.batch(t);
      const t0 = performance.now();
      const rec = await trainer.step(batch);
      const ms = performance.now() - t0;
      stepMs += ms;
      schedule.record(t, rec);
      if (schedule.evaluateAfter(t)) await evaluate(t + 1);
      opts.onStep?.(t, rec, ms);
    }
  } catch (e) {
    trainer.dispose();
    throw e;
  }
  const finalWeights = [...trainer.weights];
  const params = trainer.finish();
  return { params, finalWeights, history, msPerStep: stepMs / Math.max(1, steps) };
}
