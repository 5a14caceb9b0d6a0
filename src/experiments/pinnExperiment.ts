import { createBalancer } from "../balancers/registry.js";
import type { ModelLoopState } from "../train/modelLoop.js";
import { pinnProblems, type PinnProblemName } from "../pinn/problems.js";
import { runPinn, type PinnRunResult, type PinnTrainConfig } from "./pinnRun.js";
import type { CheckpointSpec, RunCheckpoints, RunHooks } from "./hooks.js";

/** A fully specified PINN run: plain data, so it can cross a worker boundary. */
export interface PinnRunSpec {
  readonly method: string;
  /** Display name; defaults to the method. */
  readonly label?: string;
  readonly options?: Record<string, unknown>;
  readonly problem: PinnProblemName;
  readonly train: Partial<PinnTrainConfig>;
  /** Checkpoints of the run (CLI: --checkpoint-every, --resume); not part of its settings. */
  readonly checkpoint?: CheckpointSpec;
}

export type PinnRunOutcome = PinnRunResult & { label: string; seed: number; options: Record<string, unknown>; storeId?: number };

export async function executePinnRun(spec: PinnRunSpec, onStep?: (t: number) => void, hooks?: RunHooks, checkpoints?: RunCheckpoints<ModelLoopState>): Promise<PinnRunOutcome> {
  const options = spec.options ?? {};
  const r = await runPinn(pinnProblems[spec.problem](), spec.method, createBalancer(spec.method, options), spec.train, onStep, hooks, checkpoints);
  return { ...r, label: spec.label ?? spec.method, seed: spec.train.seed ?? 0, options };
}
