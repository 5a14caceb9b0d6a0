/**
 * The `lossbalance` command line: its commands and options. The training commands' values are
 * checked by their schemas (schema.ts) and may come from a `--config` file (config.ts).
 */
import { Command, Option } from "commander";
import { createBalancer, methodNames } from "../balancers/registry.js";
import { stemModeProblem } from "../models/conv.js";
import { toyDefaults } from "../data/toy.js";
import { toyTrainDefaults } from "../experiments/toyRun.js";
import { defaultHidden, multiTrainDefaults } from "../experiments/multiRun.js";
import { nonNegativeInt, outPath } from "./options.js";
import { defaultThreads } from "./threads.js";
import { runsCommand } from "./runs.js";
import { uiCommand } from "./ui.js";
import { noStoreOption, onNonFiniteOption, recordEveryOption, storeOption } from "./options.js";
import { setRecordEvery } from "./record.js";
import { benchMnistSchema, compareSchema, pinnBenchSchema, pinnSchema, sweepSchema, toySchema, type BenchMnistCliOptions, type CompareCliOptions, type CommandSchema, type PinnBenchCliOptions, type PinnCliOptions, type SweepCliOptions, type ToyOptions } from "./schema.js";
import { pinnProblemNames, pinnProblems, type PinnProblemName } from "../pinn/problems.js";
import { pinnTrainDefaults } from "../experiments/pinnRun.js";
import { bindSchema, checkCheckpointOptions, configOption, resolveOptions, type Resolved } from "./config.js";
import type { CompareOptions } from "./compare.js";
import { multitaskMethods } from "./methodSets.js";

/** Settings of the synthetic experiment used by `toy` and `compare` (see README, "The regime"). */
export const experimentDefaults = {
  inputScale: 1,
  trainSize: 2000,
  testSize: 1000,
  steps: toyTrainDefaults.steps,
  batchSize: toyTrainDefaults.batchSize,
  lr: toyTrainDefaults.lr,
};

/** What the training commands run, given their checked options (tests pass their own). */
export interface Runners {
  toy(o: ToyOptions): Promise<void>;
  compare(o: CompareOptions): Promise<void>;
  benchMnist(o: BenchMnistCliOptions): Promise<void>;
  sweep(o: SweepCliOptions): Promise<void>;
  pinn(problem: PinnProblemName, o: PinnCliOptions): Promise<void>;
  pinnBench(o: PinnBenchCliOptions): Promise<void>;
}

export const defaultRunners: Runners = {
  toy: async (o) => (await import("./toy.js")).toyCommand(o),
  compare: async (o) => (await import("./compare.js")).compareCommand(o),
  benchMnist: async (o) => (await import("./benchMnist.js")).benchMnistCommand(o),
  sweep: async (o) => (await import("./sweep.js")).sweepCommand(o),
  pinn: async (problem, o) => (await import("./pinn.js")).pinnCommand(problem, o),
  pinnBench: async (o) => (await import("./pinn.js")).pinnBenchCommand(o),
};

/** The training settings of `pinn <problem>` and `pinn bench`. */
function addPinnTrainOptions(cmd: Command, steps: number): Command {
  return addCheckpointOptions(
    cmd
      .addOption(new Option("--steps <n>", "training steps").default(steps))
      .addOption(new Option("--lr <x>", "Adam learning rate").default(pinnTrainDefaults.lr))
      .addOption(new Option("--hidden <list>", "hidden widths of the tanh network (default: each problem's own: helmholtz 50,50,50, kleingordon 50,50,50,50,50, poisson and burgers 50,50,50,50)"))
      .addOption(new Option("--points <n>", "points per loss term, drawn afresh each step").default(pinnTrainDefaults.points))
      .addOption(new Option("--grid <n>", "grid points per axis for the relative L2 error").default(pinnTrainDefaults.grid))
      .addOption(new Option("--derivatives <how>", "input derivatives: taylor (propagated through the tanh layers) or jvp (nested jax-js jvps; slower)").default("taylor"))
      .addOption(storeOption())
      .addOption(noStoreOption())
      .addOption(recordEveryOption())
      .addOption(onNonFiniteOption()),
  );
}

/** `--threads`, on every command. */
function threadsOption(perRun: boolean): Option {
  return new Option(
    "--threads <n|auto>",
    `threads for jax-js's wasm kernels${perRun ? " per run" : ""}: a number (> 1: a pool of worker threads), or auto (more than one only for big steps, and ${perRun ? "runs × threads ≤ cores" : "at most the cores"})`,
  ).default(defaultThreads);
}

function addDataOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--steps <n>", "training steps").default(experimentDefaults.steps))
    .addOption(new Option("--batch-size <n>", "batch size").default(experimentDefaults.batchSize))
    .addOption(new Option("--lr <x>", "Adam learning rate of the network").default(experimentDefaults.lr))
    .addOption(new Option("--input-scale <x>", "standard deviation of the inputs x").default(experimentDefaults.inputScale))
    .addOption(new Option("--train-size <n>", "training points").default(experimentDefaults.trainSize))
    .addOption(new Option("--test-size <n>", "test points").default(experimentDefaults.testSize))
    .addOption(new Option("--data-seed <n>", "seed of B, εᵢ, σᵢ and the inputs").default(toyDefaults.seed));
}

/** `--checkpoint-every`, `--checkpoint-dir`, `--resume` (toy, compare and bench mnist). */
function addCheckpointOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--checkpoint-every <n>", "save a checkpoint every n steps into --checkpoint-dir (atomic; keeps the last two)"))
    .addOption(new Option("--checkpoint-dir <dir>", "folder for checkpoints (default: the --resume folder)"))
    .addOption(new Option("--resume <dir>", "resume an interrupted run from the latest checkpoint in this folder (run the same command again with --resume; the settings must match)"));
}

/**
 * A training command's action: its options merged (defaults < --config < flags) and checked by
 * `schema`, `--record-every` applied, then `run`.
 */
function trainingAction<T>(cmd: Command, schema: CommandSchema, run: (r: Resolved<T>, cmd: Command) => Promise<void>): Command {
  bindSchema(cmd, schema);
  return cmd.action(async (_opts, command: Command) => {
    const r = resolveOptions<T>(command, schema);
    // --record-every applies to every run the command records, in this thread and in the pool's workers.
    const k = (r.options as { recordEvery?: number }).recordEvery;
    if (k !== undefined) setRecordEvery(k);
    await run(r, command);
  });
}

/** The `lossbalance` program; `runners` run the training commands. */
export function buildProgram(runners: Runners = defaultRunners): Command {
  const program = new Command();
  program.name("lossbalance").description("Adaptive loss balancing for multitask networks (GradNorm and peers) on jax-js").showHelpAfterError(false);

  trainingAction<ToyOptions>(
    addCheckpointOptions(addDataOptions(
      program
        .command("toy")
        .description("train one network on GradNorm's synthetic task (paper §4) with one method")
        .addOption(new Option("--tasks <T>", "number of tasks (T = 2 uses σ = (1, 100))").default(2))
        .addOption(new Option("--method <name>", `balancing method: ${methodNames().join(", ")}`).default("gradnorm"))
        .addOption(new Option("--alpha <a>", "GradNorm's α (default 0.12, the paper's value for this task)"))
        .addOption(new Option("--grad-mode <mode>", "where GradNorm measures gradients"))
        .addOption(new Option("--weights <list>", "static weights, comma-separated (method static)"))
        .addOption(new Option("--temperature <x>", "DWA temperature"))
        .addOption(new Option("--opt <key=value>", "any method option, repeatable (e.g. --opt c=0.4 for cagrad)"))
        .addOption(new Option("--seed <n>", "seed of the initial network and the batch order").default(0))
        .addOption(new Option("--out <dir>", "write the run (with its history) as JSON into this folder"))
        .addOption(storeOption())
        .addOption(noStoreOption())
        .addOption(recordEveryOption())
        .addOption(onNonFiniteOption())
        .addOption(threadsOption(false))
        .option("--json", "print one JSON object to stdout"),
    )).addOption(configOption()),
    toySchema(),
    async (r) => {
      checkCheckpointOptions(r);
      await runners.toy(r.options);
    },
  );

  trainingAction<CompareCliOptions>(
    addCheckpointOptions(addDataOptions(
      program
        .command("compare")
        .description("the main job: GradNorm vs equal, uncertainty and a static grid on T = 2 and T = 10, with an HTML report")
        .addOption(new Option("--tasks <list>", "task counts").default([2, 10]))
        .addOption(new Option("--seeds <list>", "network seeds").default([0, 1]))
        .addOption(new Option("--alpha <list>", "GradNorm's α, one GradNorm run per value (comma-separated)").default([0.12]))
        .addOption(new Option("--workers <n>", "worker threads (default: one per core)"))
        .addOption(new Option("--extra-methods <list>", "methods on per-task statistics to add (default: every registered one)"))
        .addOption(new Option("--extra-tasks <list>", "task counts that get the extra methods").default([10]))
        .addOption(new Option("--extra-seeds <list>", "seeds for the extra methods").default([0]))
        .addOption(new Option("--grad-mode <mode>", "gradient mode of the extra methods that take one").default("representation"))
        .addOption(new Option("--out <dir>", "output folder").default("out"))
        .addOption(storeOption())
        .addOption(noStoreOption())
        .addOption(recordEveryOption())
        .addOption(onNonFiniteOption())
        .addOption(threadsOption(true))
        .option("--json", "print a JSON summary to stdout"),
    )).addOption(configOption()),
    compareSchema(),
    async (r) => {
      const { comparedMethods, defaultExtraMethods } = await import("./compare.js");
      const opts = r.options;
      for (const m of opts.extraMethods ?? []) {
        if (comparedMethods.includes(m)) throw new Error(`${r.label("extraMethods")}: '${m}' already runs in the main comparison (${comparedMethods.join(", ")}); extra methods are the others`);
        createBalancer(m, {});
      }
      const tasks = opts.tasks;
      for (const T of opts.extraTasks) {
        if (r.given("extraTasks") && !tasks.includes(T)) throw new Error(`${r.label("extraTasks")} ${T} is not among ${r.label("tasks")} ${tasks.join(",")}`);
      }
      const extraRun = opts.extraTasks.some((T) => tasks.includes(T));
      for (const key of ["extraMethods", "extraSeeds", "gradMode"] as const) {
        if (r.given(key) && !extraRun && !(key === "extraMethods" && opts.extraMethods!.length === 0)) {
          throw new Error(`${r.label(key)} has no effect: the extra methods run only on ${r.label("extraTasks")} ${opts.extraTasks.join(",")}, which ${r.label("tasks")} ${tasks.join(",")} does not include`);
        }
      }
      checkCheckpointOptions(r);
      await runners.compare({ ...opts, extraMethods: opts.extraMethods ?? defaultExtraMethods(), command: `lossbalance ${process.argv.slice(2).join(" ")}` });
    },
  );

  /** Training settings shared by `bench mnist` and `sweep`. */
  function addMultiTrainOptions(cmd: Command): Command {
    return cmd
      .addOption(new Option("--seeds <list>", "network seeds").default([0, 1, 2]))
      .addOption(new Option("--epochs <n>", "maximum epochs (early stopping on validation accuracy)").default(multiTrainDefaults.epochs))
      .addOption(new Option("--batch-size <n>", "batch size").default(multiTrainDefaults.batchSize))
      .addOption(new Option("--lr <x>", "Adam learning rate").default(multiTrainDefaults.lr))
      .addOption(new Option("--encoder <name>", "shared encoder: mlp, or lenet (Sener & Koltun's convolutions, lowered to matrix products; about 10× slower per step)").default(multiTrainDefaults.encoder))
      .addOption(new Option("--hidden <list>", `fully connected widths of the encoder (default: ${defaultHidden.mlp.join(",")} for mlp, ${defaultHidden.lenet.join(",")} for lenet)`))
      .addOption(new Option("--data-seed <n>", "seed of the pairing and the split").default(0))
      .addOption(new Option("--workers <n>", "worker threads (default: one per core)"))
      .addOption(storeOption())
      .addOption(noStoreOption())
      .addOption(recordEveryOption())
      .addOption(onNonFiniteOption())
      .addOption(threadsOption(true))
      .option("--json", "print a JSON summary to stdout");
  }

  trainingAction<BenchMnistCliOptions>(
    addCheckpointOptions(addMultiTrainOptions(
      program
        .command("bench")
        .description("benchmarks on real data")
        .command("mnist")
        .description("MultiMNIST / MultiFashion / MultiFashion+MNIST: every method and single-task networks, accuracy and Δm%")
        .addOption(new Option("--datasets <list>", "mnist, fashion, fashion+mnist").default(["mnist"]))
        .addOption(new Option("--grad-mode <mode>", "gradient mode of every method that takes one (default: each method's own; with --encoder lenet, representation for those that default to shared)"))
        .addOption(new Option("--methods <list>", "methods (default: every registered one but static and the PINN balancers softadapt, relobralo, lra, ntk)").default(multitaskMethods()))
        .addOption(new Option("--out <dir>", "output folder").default("out")),
    )).addOption(configOption()),
    benchMnistSchema(),
    async (r) => {
      const opts = r.options;
      for (const m of opts.methods) createBalancer(m, {});
      const problem = opts.encoder === "lenet" ? stemModeProblem(opts.gradMode) : null;
      if (problem) throw new Error(`${r.label("gradMode")} ${opts.gradMode} with ${r.label("encoder")} lenet: ${problem}`);
      checkCheckpointOptions(r);
      await runners.benchMnist(opts);
    },
  );

  trainingAction<SweepCliOptions>(
    addMultiTrainOptions(
      program
        .command("sweep")
        .description("the grid search GradNorm claims to replace: static weights on a grid and GradNorm over α, resumable")
        .addOption(new Option("--dataset <name>", "mnist, fashion or fashion+mnist").default("mnist"))
        .addOption(new Option("--grid <n>", "static grid points: w_left = 2k/(n+1), w_right = 2 − w_left").default(9))
        .addOption(new Option("--alpha <list>", "GradNorm's α values (empty: grid only)").default([0.12, 0.5, 1, 1.5, 3]))
        .addOption(new Option("--out <dir>", "output folder; finished runs are saved in <out>/sweep.jsonl and reused on the next run").default("out/sweep")),
    ).addOption(configOption()),
    sweepSchema(),
    async (r) => runners.sweep(r.options),
  );

  const pinn = program.command("pinn").description("physics-informed networks: composite PDE losses (residual, boundary, initial conditions) balanced by any method");
  for (const name of pinnProblemNames) {
    const problem = pinnProblems[name]();
    trainingAction<PinnCliOptions>(
      addPinnTrainOptions(
        pinn
          .command(name)
          .description(`${problem.title}: ${problem.equation}`)
          .addOption(new Option("--method <name>", `balancing method: ${methodNames().join(", ")}`).default("gradnorm"))
          .addOption(new Option("--alpha <a>", "GradNorm's α"))
          .addOption(new Option("--grad-mode <mode>", "where a method measures gradients (shared: every parameter; lastShared: the output layer; representation: the derivative values)"))
          .addOption(new Option("--opt <key=value>", "any method option, repeatable"))
          .addOption(new Option("--seed <n>", "seed of the network and the sampled points").default(0))
          .addOption(new Option("--out <dir>", "write the run (history, error curve, prediction on the grid) as JSON into this folder"))
          .addOption(threadsOption(false))
          .option("--json", "print one JSON object to stdout"),
        pinnTrainDefaults.steps,
      ).addOption(configOption()),
      pinnSchema(),
      async (r) => {
        checkCheckpointOptions(r);
        await runners.pinn(name, r.options);
      },
    );
  }
  trainingAction<PinnBenchCliOptions>(
    addPinnTrainOptions(
      pinn
        .command("bench")
        .description("every problem × method × seed: relative L2 error (mean ± std), ms/step")
        .addOption(new Option("--problems <list>", pinnProblemNames.join(", ")).default(["poisson", "helmholtz", "kleingordon", "burgers"]))
        .addOption(new Option("--methods <list>", "methods").default(["equal", "gradnorm", "uncertainty", "dwa", "softadapt", "relobralo", "lra", "ntk", "famo", "mgda", "pcgrad", "cagrad"]))
        .addOption(new Option("--seeds <list>", "network and sampling seeds").default([0, 1]))
        .addOption(new Option("--workers <n>", "worker threads (default: one per core)"))
        .addOption(new Option("--out <dir>", "output folder").default("out/pinn"))
        .addOption(threadsOption(true))
        .option("--json", "print a JSON summary to stdout"),
      1000,
    ).addOption(configOption()),
    pinnBenchSchema(),
    async (r) => {
      checkCheckpointOptions(r);
      await runners.pinnBench(r.options);
    },
  );

  program
    .command("playground")
    .description("build and serve the in-browser playground: GradNorm's synthetic task trained in a Web Worker, weights and losses plotted live")
    .addOption(new Option("--port <n>", "port (0: any free one)").argParser(nonNegativeInt).default(8080))
    .addOption(new Option("--host <address>", "address to listen on").default("127.0.0.1"))
    .addOption(new Option("--out <dir>", "folder of the built page (static files; default: dist/playground in the package)").argParser(outPath))
    .option("--build-only", "build the folder and exit")
    .action(async (opts) => (await import("./playground.js")).playgroundCommand(opts));

  program.addCommand(runsCommand());
  program.addCommand(uiCommand());
  return program;
}
