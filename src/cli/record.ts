import { resolve } from "node:path";
import { defaultStorePath, openStore, type Recorder, type RunInfo, type RunStore } from "../store/index.js";
import type { CheckpointSpec, RunCheckpoints, RunHooks } from "../experiments/hooks.js";
import { checkConfig, hasCheckpoint, loadCheckpoint, loadResult, saveCheckpoint, saveResult } from "../checkpoint/files.js";
import { executeToyRun, type ToyRunOutcome, type ToyRunSpec } from "../experiments/toyExperiment.js";
import { executeMultiRun, type MultiRunOutcome, type MultiRunSpec } from "../experiments/multiExperiment.js";
import { resolveTrainConfig, type MultiLoopState } from "../experiments/multiRun.js";
import type { ModelLoopState } from "../train/modelLoop.js";
import { executePinnRun, type PinnRunOutcome, type PinnRunSpec } from "../experiments/pinnExperiment.js";
import { pinnTrainDefaults } from "../experiments/pinnRun.js";
import { pinnProblems } from "../pinn/problems.js";
import type { TrainerSnapshot } from "../train/checkpoint.js";
import { toyTrainDefaults } from "../experiments/toyRun.js";

/**
 * Recording the training commands' runs in the run store (`--store <path>`, `--no-store`).
 *
 * Each run is recorded by the thread that trains it: a pool worker opens the store itself (one
 * connection per worker; WAL mode and the busy timeout let them write at once), and `toy` on one
 * thread records in the main thread. The step records never cross a thread boundary, and a run that
 * throws is marked failed where the error is caught. Recording only observes: the printed numbers are
 * the same with `--no-store`. A store that fails while a run is being recorded (disk full, lock held
 * past the busy timeout) stops that run's recording with one line on stderr; the training goes on.
 */

/** Commander's value of `--store <path>` / `--no-store`: a path, false, or undefined (neither flag). */
export type StoreFlag = string | boolean | undefined;

/** The store file a command records to (absolute), or null with `--no-store`. */
export function storePathFor(flag: StoreFlag): string | null {
  if (flag === false) return null;
  return resolve(typeof flag === "string" ? flag : defaultStorePath());
}

/**
 * Opens the store once before any training (creating and migrating it), so that a path that cannot
 * hold a store fails the command at once, not each worker after it trained. Returns the path.
 */
export function prepareStore(flag: StoreFlag): string | null {
  const path = storePathFor(flag);
  if (path !== null) openStore(path).close();
  return path;
}

let recordEvery = 1;

/** Record only every k-th step of every run of this process (`--record-every`; default 1, every step). */
export function setRecordEvery(k: number): void {
  recordEvery = k;
}

/** The step interval runs are recorded at (see {@link setRecordEvery}). */
export function getRecordEvery(): number {
  return recordEvery;
}

/** A recorder whose writes never throw into the training: the first failure ends the run's recording with one warning. */
function guarded(rec: Recorder, label: string) {
  let broken = false;
  const attempt = (what: string, fn: () => void): void => {
    if (broken) return;
    try {
      fn();
    } catch (e) {
      broken = true;
      console.error(`lossbalance: run store: stopped recording run ${rec.id} (${label}) at ${what}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const hooks: RunHooks = {
    onStep: (t, record, ms) => attempt(`step ${t}`, () => rec.step(t, { ...record, ms })),
    onEval: (step, metrics, split) => attempt(`eval ${step}`, () => rec.eval(step, metrics, split)),
  };
  return {
    id: rec.id,
    hooks,
    /** Whether every write so far went through (a broken recording is not a complete record of the run). */
    intact: () => !broken,
    finish: (final: unknown) => attempt("finish", () => rec.finish(final)),
    fail: (err: unknown) => attempt("fail", () => rec.fail(err)),
  };
}

/** Runs `run` recorded in `store` (none: not recorded); the result carries the run's `storeId` when its record is complete. */
async function recorded<R extends object>(store: RunStore | null, info: RunInfo, run: (hooks?: RunHooks) => Promise<R>, final: (r: R) => unknown): Promise<R & { storeId?: number }> {
  if (!store) return run();
  const rec = guarded(store.startRun(info, { every: recordEvery }), info.name ?? info.method ?? "run");
  let result: R;
  try {
    result = await run(rec.hooks);
  } catch (e) {
    rec.fail(e);
    throw e;
  }
  rec.finish(final(result));
  return rec.intact() ? { ...result, storeId: rec.id } : result;
}

/** What a toy run is recorded with: its label, method, and every setting (method options, data, training). */
export function toyRunInfo(spec: ToyRunSpec): RunInfo {
  const train = { ...toyTrainDefaults, ...spec.train };
  return {
    name: spec.label ?? spec.method,
    method: spec.method,
    seed: train.seed,
    tasks: spec.data.numTasks,
    config: { kind: "toy", label: spec.label ?? spec.method, options: spec.options ?? {}, data: spec.data, train },
  };
}

/** What a multi-image run (bench mnist, sweep) is recorded with. */
export function multiRunInfo(spec: MultiRunSpec): RunInfo {
  const train = resolveTrainConfig(spec.train);
  return {
    name: spec.label ?? spec.method,
    method: spec.method,
    seed: train.seed,
    tasks: 2,
    config: { kind: "multi", label: spec.label ?? spec.method, options: spec.options ?? {}, dataset: spec.dataset, dataSeed: spec.dataSeed, train },
  };
}

/**
 * Runs `run` with the checkpoints `spec` asks for (none: just runs it). With `resumeFrom`, a run whose
 * folder holds a saved result (it finished) returns that result without training; otherwise it
 * continues from the latest checkpoint — checked to have been written with the same `config` — or,
 * when there is none and `required` is false, starts afresh. Checkpoints are saved every `every`
 * steps with `config`, and the result is saved when the run finishes.
 */
export async function withCheckpoints<L, R>(spec: CheckpointSpec | undefined, config: unknown, run: (checkpoints?: RunCheckpoints<L>) => Promise<R>): Promise<R> {
  if (!spec) return run();
  let resume: RunCheckpoints<L>["resume"];
  const from = spec.resumeFrom;
  if (from !== undefined) {
    const done = loadResult(from);
    if (done) {
      checkConfig(from, done.config, config);
      if (from !== spec.dir) saveResult(spec.dir, config, done.result);
      return done.result as R;
    }
    if (hasCheckpoint(from)) {
      const cp = loadCheckpoint<L>(from);
      checkConfig(from, cp.config, config);
      resume = { trainer: cp.trainer, loop: cp.loop };
    } else if (spec.required) loadCheckpoint(from); // throws, naming what is missing
  }
  const ran = await run({
    every: spec.every,
    resume,
    ...(spec.every ? { save: (cp: { trainer: TrainerSnapshot; loop: L }, step: number) => saveCheckpoint(spec.dir, { ...cp, config }, step) } : {}),
  });
  // A resumed run's store record starts at its resume step: not a complete record, so no storeId.
  const result = resume && typeof ran === "object" && ran !== null && "storeId" in ran ? (({ storeId: _, ...rest }) => rest as R)(ran as R & { storeId?: number }) : ran;
  saveResult(spec.dir, config, result);
  return result;
}

/** What a PINN run is recorded with: its label, method, problem and every training setting. */
export function pinnRunInfo(spec: PinnRunSpec): RunInfo {
  const problem = pinnProblems[spec.problem]();
  const train = { ...pinnTrainDefaults, hidden: problem.hidden, ...Object.fromEntries(Object.entries(spec.train).filter(([, v]) => v !== undefined)) };
  return {
    name: spec.label ?? spec.method,
    method: spec.method,
    seed: train.seed,
    tasks: problem.terms.length,
    config: { kind: "pinn", label: spec.label ?? spec.method, options: spec.options ?? {}, problem: spec.problem, train },
  };
}

/** executePinnRun, recorded in `store` (none: not recorded) and checkpointed as `spec.checkpoint` says. Final metrics: the result without its history and prediction. */
export function recordedPinnRun(store: RunStore | null, spec: PinnRunSpec, onStep?: (t: number) => void): Promise<PinnRunOutcome> {
  const info = pinnRunInfo(spec);
  return withCheckpoints<ModelLoopState, PinnRunOutcome>(spec.checkpoint, info.config, (checkpoints) =>
    recorded(
      store,
      info,
      (hooks) => executePinnRun(spec, onStep, hooks, checkpoints),
      ({ history: _h, prediction: _p, ...rest }) => rest,
    ),
  );
}

/** executeToyRun, recorded in `store` (none: not recorded) and checkpointed as `spec.checkpoint` says. Final metrics: the result without its history. */
export function recordedToyRun(store: RunStore | null, spec: ToyRunSpec, onStep?: (t: number) => void): Promise<ToyRunOutcome> {
  const info = toyRunInfo(spec);
  return withCheckpoints<ModelLoopState, ToyRunOutcome>(spec.checkpoint, info.config, (checkpoints) =>
    recorded(
      store,
      info,
      (hooks) => executeToyRun(spec, onStep, hooks, checkpoints),
      ({ history: _history, ...rest }) => rest,
    ),
  );
}

/** executeMultiRun, recorded in `store` (none: not recorded) and checkpointed as `spec.checkpoint` says. Final metrics: the run's result. */
export function recordedMultiRun(store: RunStore | null, spec: MultiRunSpec, onEpoch?: (epoch: number) => void): Promise<MultiRunOutcome> {
  const info = multiRunInfo(spec);
  return withCheckpoints<MultiLoopState, MultiRunOutcome>(spec.checkpoint, info.config, (checkpoints) => recorded(store, info, (hooks) => executeMultiRun(spec, onEpoch, hooks, checkpoints), (r) => r));
}

/**
 * One run of a command, recorded in the store at `storePath` (null: not recorded): in this thread
 * when `threads` is 1 (jax-js here has no pool: main.ts imports it first), else in a worker thread
 * whose jax-js gets a pool of `threads`.
 */
export async function runOne(job: { kind: "toy"; spec: ToyRunSpec }, threads: number, storePath: string | null): Promise<ToyRunOutcome>;
export async function runOne(job: { kind: "pinn"; spec: PinnRunSpec }, threads: number, storePath: string | null): Promise<PinnRunOutcome>;
export async function runOne(job: { kind: "toy"; spec: ToyRunSpec } | { kind: "pinn"; spec: PinnRunSpec }, threads: number, storePath: string | null): Promise<ToyRunOutcome | PinnRunOutcome> {
  if (threads > 1) {
    const { runPool } = await import("./pool.js");
    return job.kind === "toy"
      ? (await runPool([job.spec], "toy", { workers: 1, threads, bareErrors: true, store: storePath }))[0]!
      : (await runPool([job.spec], "pinn", { workers: 1, threads, bareErrors: true, store: storePath }))[0]!;
  }
  const { init, defaultDevice } = await import("@jax-js/jax");
  await init("wasm");
  defaultDevice("wasm");
  const store = storePath === null ? null : openStore(storePath);
  try {
    return job.kind === "toy" ? await recordedToyRun(store, job.spec) : await recordedPinnRun(store, job.spec);
  } finally {
    store?.close();
  }
}
