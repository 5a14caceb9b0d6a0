import { numpy as np, tree } from "@jax-js/jax";
import type { Balancer, BalancerState } from "../balancers/types.js";
import type { ModelParams, MultitaskModel, Tree } from "../model/contract.js";
import { missingKernelTraces } from "../model/generic.js";
import { batchSignature, checkModel, disposeLive } from "../model/check.js";
import { combinerFor } from "./combiners.js";
import { buildModelStep, buildModelTwoPhase, type StepOptimizer } from "./modelStep.js";
import type { StepRecord } from "./loop.js";
import { checkObservation, freeOnError, nextState, parseObserved, statRequest, TrainingError } from "./checks.js";
import { treeFromHost, treeToHost, type TrainerSnapshot } from "./checkpoint.js";

export interface ModelTrainerOptions<B extends Tree> {
  readonly model: MultitaskModel<B>;
  /** Initial parameters { shared, task }; consumed. Omitted when `resume` is given. */
  readonly params?: ModelParams;
  /**
   * Continue from a {@link TrainerSnapshot} (from `snapshot()`, or a checkpoint): parameters,
   * optimizer state, balancer state and step count are taken from it, so the run goes on bit for bit
   * as if it had not stopped. The balancer must be the one that wrote it (same name, same task count).
   */
  readonly resume?: TrainerSnapshot;
  /** Any optimizer over parameter trees (adam, adamw, sgd from the package, or your own). */
  readonly optimizer: StepOptimizer;
  readonly balancer: Balancer<BalancerState>;
  /**
   * Check the model against the contract on the first batch ({@link checkModel}, through the generic
   * functions). Default: true for models without a fast tier (the library's own fast rules are tested).
   */
  readonly check?: boolean;
}

/**
 * A training run of any model in the contract ({@link MultitaskModel}) with any balancer and
 * optimizer, generic over the model: the per-task statistics the balancer needs come from
 * {@link modelPass}. `await step(batch)` runs one step and reads its results back asynchronously
 * (`await array.data()`), so the same code runs on the wasm worker pool and on WebGPU.
 * - timing `next` (GradNorm, …): one jit call with the current weights, then the observation goes to
 *   the balancer for the next step's weights;
 * - timing `current` (MGDA, …): a jit call computes the losses and statistics, the balancer turns them
 *   into this step's weights, and a second jit call computes the weighted gradients (running the
 *   forward pass again: the generic tier keeps no residuals between compiled calls) and the update.
 * A step is all or nothing, as with {@link createTrainer}: losses, statistics and weights are checked
 * before the new parameters are kept. `step` consumes the batch (a tree of arrays).
 */
export function createModelTrainer<B extends Tree>(opts: ModelTrainerOptions<B>) {
  const { model, balancer, optimizer } = opts;
  const T = model.numTasks;
  const request = statRequest(balancer.needs);
  if (request?.kind === "ntk" && !model.kernelTraces) {
    if (opts.params) tree.dispose(opts.params);
    throw missingKernelTraces(`${balancer.name}: the kernel traces need`);
  }
  const current = balancer.timing === "current";
  if (balancer.combine && current) throw new TrainingError(`${balancer.name}: a gradient combination needs timing 'next'`);
  const combiner = balancer.combine ? combinerFor(balancer.combine.spec) : undefined;
  const config = {
    model,
    optimizer,
    stat: request,
    combine: combiner,
  };
  if ((opts.params === undefined) === (opts.resume === undefined)) {
    if (opts.params) tree.dispose(opts.params);
    throw new TrainingError("createModelTrainer: give either params (a new run) or resume (a snapshot), not both or neither");
  }
  const resumed = opts.resume ? restore(opts.resume, balancer.name, T) : null;
  const single = current ? null : buildModelStep(config);
  // For a balancer that reads its statistic every k-th update only, the steps in between run without it
  // (compiled on first use).
  const every = balancer.needs.every ?? 1;
  let plain: ReturnType<typeof buildModelStep<B>> | null = null;
  const twoPhase = current ? buildModelTwoPhase(config) : null;
  let params: ModelParams | null = resumed ? resumed.params : opts.params!;
  let optState: Tree = resumed ? resumed.optState : optimizer.init(params as unknown as Tree);
  let state = resumed ? resumed.state : balancer.init(T);
  let t = resumed ? resumed.step : 0;
  let checked = !(opts.check ?? model.fast === undefined);
  let busy = false;
  const live = () => {
    if (!params) throw new TrainingError("trainer already disposed");
    return params;
  };
  /** Reads the step's observation back asynchronously, checks it, and gives the balancer's next state. */
  const observe = (observed: np.Array, stat: typeof request) => async () => {
    const obs = checkObservation(parseObserved((await observed.data()) as Float32Array, T, stat, balancer.needs.gradNorms !== undefined), t);
    return { obs, next: nextState(balancer, obs, state, T, t) };
  };
  return {
    get params(): ModelParams {
      return live();
    },
    get weights(): readonly number[] {
      return state.weights;
    },
    get stepCount(): number {
      return t;
    },
    /** One training step on `batch` (consumed). Steps must not overlap: await each before the next. */
    async step(batch: B): Promise<StepRecord> {
      if (busy) {
        disposeLive(batch);
        throw new TrainingError("a step or a snapshot is already running: await each before the next");
      }
      busy = true;
      try {
        try {
          batchSignature(batch);
          if (!checked) await checkModel(model, live(), batch);
        } catch (e) {
          disposeLive(batch);
          throw e;
        }
        checked = true;
        let record: StepRecord;
        if (twoPhase) {
          let first: ReturnType<typeof twoPhase.observe>;
          try {
            first = twoPhase.observe(tree.ref(live()), tree.ref(batch));
          } catch (e) {
            disposeLive(batch);
            throw e;
          }
          const { observed, residuals } = first;
          const { obs, next } = await freeOnError([batch, residuals], observe(observed, request));
          const out = twoPhase.apply(live(), optState, np.array(new Float32Array(next.weights)), batch, residuals);
          params = out.params;
          optState = out.optState;
          state = next;
          record = { ...obs, weights: state.weights };
        } else {
          const weights = state.weights;
          const seed = np.array(balancer.combine ? balancer.combine.seed(state) >>> 0 : 0, { dtype: np.uint32 });
          const withStat = request !== undefined && state.step % every === 0;
          const stepper = withStat || request === undefined ? single! : (plain ??= buildModelStep({ ...config, stat: undefined }));
          const out = stepper.step(tree.ref(live()), tree.ref(optState), np.array(new Float32Array(weights)), batch, seed);
          const { obs, next } = await freeOnError([out.params, out.optState], observe(out.observed, withStat ? request : undefined));
          tree.dispose(live());
          tree.dispose(optState);
          params = out.params;
          optState = out.optState;
          state = next;
          record = { ...obs, weights };
        }
        t++;
        return record;
      } finally {
        busy = false;
      }
    },
    /**
     * The trainer's state on the host, read back asynchronously: what `resume` takes to continue this
     * run bit for bit. Call it between steps (not while one runs).
     */
    async snapshot(): Promise<TrainerSnapshot> {
      if (busy) throw new TrainingError("snapshot while a step is running: await the step first");
      const p = live();
      busy = true; // no step may start (and free these arrays) while they are read back
      try {
        return { step: t, balancer: balancer.name, balancerState: state, params: await treeToHost(p, "params"), optState: await treeToHost(optState, "optState") };
      } finally {
        busy = false;
      }
    },
    /** Frees everything but the parameters, which are returned to the caller. */
    finish(): ModelParams {
      const p = live();
      params = null;
      tree.dispose(optState);
      (single ?? twoPhase)!.dispose();
      plain?.dispose();
      return p;
    },
    /** Frees everything, parameters included. */
    dispose(): void {
      if (params) tree.dispose(this.finish());
    },
  };
}

/** The device state of a snapshot, after checking that it belongs to this balancer and task count. */
function restore(snap: TrainerSnapshot, name: string, T: number) {
  if (snap.balancer !== name) throw new TrainingError(`resume: the snapshot was written by balancer '${snap.balancer}', this trainer runs '${name}'`);
  const w = snap.balancerState?.weights;
  if (!Array.isArray(w) || w.length !== T) throw new TrainingError(`resume: the snapshot's balancer state has ${Array.isArray(w) ? w.length : "no"} weights, the model ${T} tasks`);
  if (!Number.isSafeInteger(snap.step) || snap.step < 0) throw new TrainingError(`resume: bad step count ${snap.step}`);
  const params = treeFromHost(snap.params) as unknown as ModelParams;
  let optState: Tree;
  try {
    optState = treeFromHost(snap.optState);
  } catch (e) {
    tree.dispose(params);
    throw e;
  }
  return { params, optState, state: snap.balancerState, step: snap.step };
}
