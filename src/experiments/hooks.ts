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
