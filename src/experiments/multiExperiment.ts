import { createBalancer } from "../balancers/registry.js";
import type { CheckpointSpec, RunCheckpoints, RunHooks } from "./hooks.js";
import { multiData, runMulti, type MultiLoopState, type MultiData, type MultiKind, type MultiRunResult, type MultiTrainConfig } from "./multiRun.js";

/** A fully specified multi-image run: plain data, so it can cross a worker boundary. */
export interface MultiRunSpec {
  readonly method: string;
  readonly label?: string;
  readonly options?: Record<string, unknown>;
  readonly dataset: MultiKind;
  readonly dataSeed: number;
  readonly train: Partial<MultiTrainConfig>;
  /** Checkpoints of the run (CLI: --checkpoint-every, --resume); not part of its settings. */
  readonly checkpoint?: CheckpointSpec;
}

export type MultiRunOutcome = MultiRunResult & { label: string; seed: number; dataset: MultiKind; options: Record<string, unknown> };

const cache = new Map<string, MultiData>();

export async function executeMultiRun(spec: MultiRunSpec, onEpoch?: (epoch: number) => void, hooks?: RunHooks, checkpoints?: RunCheckpoints<MultiLoopState>): Promise<MultiRunOutcome> {
  const key = `${spec.dataset}:${spec.dataSeed}`;
  let md = cache.get(key);
  if (!md) {
    md = multiData(spec.dataset, spec.dataSeed);
    cache.set(key, md);
  }
  const options = spec.options ?? {};
  const r = await runMulti(md, spec.method, createBalancer(spec.method, options), spec.train, onEpoch, hooks, checkpoints);
  return { ...r, label: spec.label ?? spec.method, seed: spec.train.seed ?? 0, dataset: spec.dataset, options };
}
