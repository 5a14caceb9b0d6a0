import type { Balancer, BalancerState } from "../balancers/types.js";
import type { ModelParams, MultitaskModel, Tree } from "../model/contract.js";
import { loopSchedule, type LoopHistory, type LoopResult, type StepRecord } from "./loop.js";
import type { TrainerSnapshot } from "./checkpoint.js";
import { createModelTrainer } from "./modelTrainer.js";
import type { StepOptimizer } from "./modelStep.js";
import { checkCount, NonFiniteError, TrainingError } from "./checks.js";

/** What a run does with a step whose losses, statistics or weights are not finite (NaN/±Infinity). */
export const nonFinitePolicies = ["stop", "skip"] as const;
export type NonFinitePolicy = (typeof nonFinitePolicies)[number];

/** The policy for non-finite steps of a training run (trainModelLoop, runToy, runMulti). */
export interface NonFiniteOptions {
  /**
   * `"stop"` (default): the step's TrainingError (naming the step, the task and the value) ends the run.
   * `"skip"`: the step is dropped — the trainer is left as it was before it, so the run goes on as if
   * it had never seen that batch — counted, and the run goes on with the next batch; past
   * `maxSkipped` skipped steps in all or `maxSkippedInARow` in a row it stops with a TrainingError
   * saying how many were skipped. Other errors (bad shapes, a bad `evaluate`, …) always stop the run.
   */
  readonly onNonFinite?: NonFinitePolicy | undefined;
  /** `"skip"`: the most steps a run may skip (default max(10, 1 % of its steps)). */
  readonly maxSkipped?: number | undefined;
  /** `"skip"`: the most consecutive steps a run may skip (default 10). */
  readonly maxSkippedInARow?: number | undefined;
}

/** A step skipped under `onNonFinite: "skip"`: its index (the batch it was given) and why. */
export interface SkippedStep {
  readonly step: number;
  readonly reason: string;
}

/** The guard's counts, kept in checkpoints. */
export interface NonFiniteGuardState {
  readonly skipped: readonly SkippedStep[];
  readonly inARow: number;
}

/**
 * Whether `e` is the NonFiniteError a trainer step throws for a non-finite loss, gradient norm,
 * Gramian entry or balancer weight (see checkObservation, checkWeights) — not for a bad shape, a
 * wrong weight count, a bad evaluation or anything else.
 */
export function isNonFiniteError(e: unknown): e is NonFiniteError {
  return e instanceof NonFiniteError;
}

const listSteps = (steps: readonly SkippedStep[], max = 20) =>
  steps.length <= max ? steps.map((s) => s.step).join(", ") : `${steps.slice(0, max).map((s) => s.step).join(", ")}, … (${steps.length - max} more)`;

/**
 * The non-finite policy of a run of `steps` steps. `run(t, step)` runs step t and returns its record,
 * or undefined when the step was skipped; it throws what the policy says to. The trainer's messages
 * count applied steps; the errors and `skipped` here count the run's steps (batches), which differ once
 * a step was skipped ({@link NonFiniteError.atStep}).
 */
export function nonFiniteGuard(opts: NonFiniteOptions, steps: number, resume?: NonFiniteGuardState) {
  const policy = opts.onNonFinite ?? "stop";
  if (!(nonFinitePolicies as readonly string[]).includes(policy)) throw new TrainingError(`onNonFinite must be one of ${nonFinitePolicies.map((p) => `"${p}"`).join(", ")}, got ${JSON.stringify(policy)}`);
  const maxSkipped = opts.maxSkipped === undefined ? Math.max(10, Math.floor(steps / 100)) : checkCount("maxSkipped", opts.maxSkipped, 0);
  const maxInARow = opts.maxSkippedInARow === undefined ? 10 : checkCount("maxSkippedInARow", opts.maxSkippedInARow, 1);
  const skipped: SkippedStep[] = [...(resume?.skipped ?? [])];
  let inARow = resume?.inARow ?? 0;
  return {
    policy,
    maxSkipped,
    maxSkippedInARow: maxInARow,
    /** The steps skipped so far, in order. */
    skipped: skipped as readonly SkippedStep[],
    /** What a checkpoint keeps of the guard, to resume it. */
    state: (): NonFiniteGuardState => ({ skipped: [...skipped], inARow }),
    async run<R>(t: number, step: () => Promise<R>): Promise<R | undefined> {
      try {
        const r = await step();
        inARow = 0;
        return r;
      } catch (e) {
        if (!isNonFiniteError(e)) throw e;
        const reason = e.atStep(t);
        if (policy === "stop") {
          throw Object.assign(new TrainingError(`${reason}; the run stopped (onNonFinite: "stop"; onNonFinite: "skip", on the CLI --on-nonfinite skip, skips such steps and goes on)`), { cause: e });
        }
        skipped.push({ step: t, reason });
        inARow++;
        if (skipped.length > maxSkipped || inARow > maxInARow) {
          const limit = inARow > maxInARow ? `more than the ${maxInARow} allowed in a row` : `more than the ${maxSkipped} allowed in all`;
          throw Object.assign(
            new TrainingError(
              `${skipped.length} steps skipped with non-finite values, ${inARow} of them in a row: ${limit} (onNonFinite: "skip"; limits maxSkipped ${maxSkipped}, maxSkippedInARow ${maxInARow}); the run stopped at step ${t}. ` +
                `Skipped steps: ${listSteps(skipped)}. Last: ${reason}`,
            ),
            { cause: e, skipped: [...skipped] },
          );
        }
        return undefined;
      }
    },
  };
}

/** The loop's own state in a checkpoint of {@link trainModelLoop}. */
export interface ModelLoopState {
  /** The run step to run next (the batch index). */
  readonly next: number;
  readonly history: LoopHistory;
  readonly guard: NonFiniteGuardState;
  /** Wall time of the steps applied so far (ms), for msPerStep. */
  readonly stepMs: number;
  /** The caller's own state (`checkpoint.extra`), e.g. metrics its `evaluate` keeps. */
  readonly extra?: unknown;
}

/** A checkpoint of {@link trainModelLoop} without the run's config (the caller adds it). */
export interface ModelLoopCheckpoint {
  readonly trainer: TrainerSnapshot;
  readonly loop: ModelLoopState;
}

export interface ModelLoopOptions<B extends Tree> extends NonFiniteOptions {
  readonly model: MultitaskModel<B>;
  /** Initial parameters; consumed. Omitted when `resume` is given. */
  readonly params?: ModelParams;
  /**
   * Save a checkpoint after every `every` steps (run steps, skipped ones included): `save` gets the
   * trainer's snapshot and the loop's state, read back between steps, and is awaited before the next
   * step. The checkpoint after step t resumes at step t + 1.
   */
  readonly checkpoint?: {
    readonly every: number;
    readonly save: (cp: ModelLoopCheckpoint) => Promise<void> | void;
    /** Plain data of the caller's to keep in the checkpoint (`loop.extra`), e.g. what its `evaluate` records. */
    readonly extra?: () => unknown;
  };
  /**
   * Resume from a checkpoint this loop saved (same model, balancer, optimizer, steps and schedule):
   * the run continues at its `next` step with its history, and ends bit-identical to a run that was
   * never interrupted. `batch(t)` must give step t's batch for any t (the order a pure function of t).
   */
  readonly resume?: ModelLoopCheckpoint;
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
  /** Called after step t was skipped (onNonFinite: "skip"), with why. */
  readonly onSkip?: (t: number, reason: string) => void;
  /** Called after each evaluation with the steps done and the checked per-task losses `evaluate` returned. */
  readonly onEval?: (step: number, losses: readonly number[]) => void;
}

export interface ModelLoopResult extends LoopResult<ModelParams> {
  /** The steps skipped under onNonFinite "skip" (empty under "stop"): their count is its length. */
  readonly skipped: readonly SkippedStep[];
}

/**
 * Runs `steps` training steps of a model in the contract with evaluation and recording (the async
 * counterpart of `trainLoop`, on {@link createModelTrainer}); each step's results are awaited before
 * the next. The counts and what `evaluate` returns are checked (TrainingError naming them). A step
 * with non-finite losses, statistics or weights stops the run or is skipped, as `onNonFinite` says
 * ({@link NonFiniteOptions}); a skipped step is not recorded and `onStep` does not see it, but the
 * evaluations stay on the schedule of the run's steps. `msPerStep` is over the steps applied.
 */
export async function trainModelLoop<B extends Tree>(opts: ModelLoopOptions<B>): Promise<ModelLoopResult> {
  const schedule = loopSchedule(opts, opts.resume?.loop.history);
  const { steps, history } = schedule;
  const T = opts.model.numTasks;
  const every = opts.checkpoint ? checkCount("checkpoint.every", opts.checkpoint.every, 1) : 0;
  const start = opts.resume ? checkCount("resume: next step", opts.resume.loop.next, 0) : 0;
  if (start > steps) throw new TrainingError(`resume: the checkpoint is at step ${start}, past the run's ${steps} steps`);
  const guard = nonFiniteGuard(opts, steps, opts.resume?.loop.guard);
  const { model, optimizer, balancer } = opts;
  // The trainer refuses params and resume together (and frees the params).
  const trainer = createModelTrainer({ model, optimizer, balancer, ...(opts.params ? { params: opts.params } : {}), ...(opts.resume ? { resume: opts.resume.trainer } : {}) });
  const evaluate = async (t: number) => {
    if (!opts.evaluate) return;
    schedule.evaluated(t, await opts.evaluate(trainer.params), T);
    opts.onEval?.(t, history.evalLosses[history.evalLosses.length - 1]!);
  };
  let stepMs = opts.resume?.loop.stepMs ?? 0;
  const save = async (next: number) => {
    if (!opts.checkpoint || next % every !== 0) return;
    const extra = opts.checkpoint.extra?.();
    await opts.checkpoint.save({ trainer: await trainer.snapshot(), loop: { next, history: structuredClone(history), guard: guard.state(), stepMs, ...(extra !== undefined ? { extra: structuredClone(extra) } : {}) } });
  };
  try {
    if (!opts.resume) await evaluate(0);
    for (let t = start; t < steps; t++) {
      const batch = opts.batch(t);
      const t0 = performance.now();
      const rec = await guard.run(t, () => trainer.step(batch));
      const ms = performance.now() - t0;
      if (rec === undefined) {
        opts.onSkip?.(t, guard.skipped[guard.skipped.length - 1]!.reason);
        if (schedule.evaluateAfter(t)) await evaluate(t + 1);
        await save(t + 1);
        continue;
      }
      stepMs += ms;
      schedule.record(t, rec);
      if (schedule.evaluateAfter(t)) await evaluate(t + 1);
      opts.onStep?.(t, rec, ms);
      await save(t + 1);
    }
  } catch (e) {
    trainer.dispose();
    throw e;
  }
  const finalWeights = [...trainer.weights];
  const params = trainer.finish();
  return { params, finalWeights, history, msPerStep: stepMs / Math.max(1, steps - guard.skipped.length), skipped: [...guard.skipped] };
}
