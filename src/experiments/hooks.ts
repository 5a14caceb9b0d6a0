import type { TrainerSnapshot } from "../train/checkpoint.js";
import type { ModelParams } from "../model/contract.js";
import type { ModelLoopCheckpoint, ModelLoopState } from "../train/modelLoop.js";
import type { StepRecord } from "../train/loop.js";

/**
 * Observers of one experiment run (the CLI records runs with them): every training step's record,
 * and each evaluation's metrics with the steps done and the split. They see the run; they change nothing.
 */
export interface RunHooks {
  /** After step t, with what it observed and its wall time in ms. */
  readonly onStep?: (t: number, record: StepRecord, ms: number) => void;
  readonly onEval?: (step: number, metrics: Record<string, unknown>, split: string) => void;
}

/**
 * Checkpoints of one run (L: the run's own loop state): save one every `every` steps with `save`,
 * and/or continue from `resume`, a checkpoint the same run saved. The run's results are then
 * bit-identical to an uninterrupted run's.
 */
export interface RunCheckpoints<L> {
  readonly every?: number | undefined;
  /** Saves the checkpoint taken after `step` run steps. */
  readonly save?: ((cp: { readonly trainer: TrainerSnapshot; readonly loop: L }, step: number) => Promise<void> | void) | undefined;
  readonly resume?: { readonly trainer: TrainerSnapshot; readonly loop: L } | undefined;
}

/** Where a run (of a CLI command) keeps its checkpoints: plain data, so it can cross a worker boundary. */
export interface CheckpointSpec {
  /** The folder the run saves its checkpoints and its result in. */
  readonly dir: string;
  /** Save every `every` run steps (none: no checkpoints saved; the result still is). */
  readonly every?: number | undefined;
  /** Continue from this folder's latest checkpoint (or return its saved result when the run finished). */
  readonly resumeFrom?: string | undefined;
  /** With `resumeFrom`: a missing checkpoint is an error (true) or a fresh start (false: a run that had not begun). */
  readonly required?: boolean | undefined;
}

/**
 * What `trainModelLoop` takes for a run's checkpoints: `resume` (or fresh parameters from `init`, called
 * only for a new run) and `checkpoint` saving every `every` steps, with the caller's `extra` state.
 */
export function loopCheckpointOptions(checkpoints: RunCheckpoints<ModelLoopState> | undefined, init: () => ModelParams, extra?: () => unknown) {
  return {
    ...(checkpoints?.resume ? { resume: checkpoints.resume as ModelLoopCheckpoint } : { params: init() }),
    ...(checkpoints?.save && checkpoints.every
      ? { checkpoint: { every: checkpoints.every, save: (cp: ModelLoopCheckpoint) => checkpoints.save!(cp, cp.loop.next), ...(extra ? { extra } : {}) } }
      : {}),
  };
}
