import { createBalancer } from "../balancers/registry.js";
import { makeToy, type ToyConfig, type ToyData } from "../data/toy.js";
import { runToy, type ToyRunResult, type ToyTrainConfig } from "./toyRun.js";
import type { CheckpointSpec, RunCheckpoints, RunHooks } from "./hooks.js";
import type { ModelLoopState } from "../train/modelLoop.js";

/** A fully specified toy run: plain data, so it can cross a worker boundary. */
export interface ToyRunSpec {
  readonly method: string;
  /** Display name (e.g. `static 1:100`); defaults to the method. */
  readonly label?: string;
  readonly options?: Record<string, unknown>;
  readonly data: ToyConfig;
  readonly train: Partial<ToyTrainConfig>;
  /** Checkpoints of the run (CLI: --checkpoint-every, --resume); not part of its settings. */
  readonly checkpoint?: CheckpointSpec;
}

/** A toy run's result with its label, seed and options; `storeId`: its id in the run store, when recorded. */
export type ToyRunOutcome = ToyRunResult & { label: string; seed: number; options: Record<string, unknown>; storeId?: number };

const cache = new Map<string, ToyData>();

/** The toy data for a config, built once per process. */
export function toyData(config: ToyConfig): ToyData {
  const key = JSON.stringify(config);
  let d = cache.get(key);
  if (!d) {
    d = makeToy(config);
    cache.set(key, d);
  }
  return d;
}

export async function executeToyRun(spec: ToyRunSpec, onStep?: (t: number) => void, hooks?: RunHooks, checkpoints?: RunCheckpoints<ModelLoopState>): Promise<ToyRunOutcome> {
  const data = toyData(spec.data);
  const options = spec.options ?? {};
  const balancer = createBalancer(spec.method, options);
  const r = await runToy(data, spec.method, balancer, spec.train, onStep, hooks, checkpoints);
  return { ...r, label: spec.label ?? spec.method, seed: spec.train.seed ?? 0, options };
}
