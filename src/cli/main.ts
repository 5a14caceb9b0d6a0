#!/usr/bin/env node
import { Command, Option } from "commander";
import { createBalancer, methodNames } from "../balancers/registry.js";
import { gradModes } from "../balancers/types.js";
import { stemModeProblem } from "../models/conv.js";
import { toyDefaults } from "../data/toy.js";
import { toyTrainDefaults } from "../experiments/toyRun.js";
import { defaultHidden, multiEncoders, multiKinds, multiTrainDefaults } from "../experiments/multiRun.js";
import { datasetList, distinct, finiteNumber, intList, keyValue, nameList, nonNegativeInt, nonNegativeList, nonNegativeNumber, numberList, oneOf, outPath, positiveInt, positiveNumber, threadsArg } from "./options.js";
import { defaultThreads } from "./threads.js";
import { runsCommand } from "./runs.js";
import { uiCommand } from "./ui.js";
import { noStoreOption, onNonFiniteOption, recordEveryOption, storeOption } from "./options.js";
import { setRecordEvery } from "./record.js";

const [major] = process.versions.node.split(".").map(Number);
if ((major ?? 0) < 22) {
  console.error(`lossbalance needs Node.js 22 or newer (this is ${process.version}); run it through npm scripts, which use the project's Node 22.`);
  process.exit(1);
}

/** Settings of the synthetic experiment used by `toy` and `compare` (see README, "The regime"). */
export const experimentDefaults = {
  inputScale: 1,
  trainSize: 2000,
  testSize: 1000,
  steps: toyTrainDefaults.steps,
  batchSize: toyTrainDefaults.batchSize,
  lr: toyTrainDefaults.lr,
};

const program = new Command();
program.name("lossbalance").description("Adaptive loss balancing for multitask networks (GradNorm and peers) on jax-js").showHelpAfterError(false);
// --record-every applies to every run the command records, in this thread and in the pool's workers.
program.hook("preAction", (_program, command) => {
  const k = (command.opts() as { recordEvery?: number }).recordEvery;
  if (k !== undefined) setRecordEvery(k);
});

/** `--threads`, on every command. */
function threadsOption(perRun: boolean): Option {
  return new Option(
    "--threads <n|auto>",
    `threads for jax-js's wasm kernels${perRun ? " per run" : ""}: a number (> 1: a pool of worker threads), or auto (more than one only for big steps, and ${perRun ? "runs × threads ≤ cores" : "at most the cores"})`,
  )
    .argParser(threadsArg)
    .default(defaultThreads);
}

function addDataOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--steps <n>", "training steps").argParser(positiveInt).default(experimentDefaults.steps))
    .addOption(new Option("--batch-size <n>", "batch size").argParser(positiveInt).default(experimentDefaults.batchSize))
    .addOption(new Option("--lr <x>", "Adam learning rate of the network").argParser(positiveNumber).default(experimentDefaults.lr))
    .addOption(new Option("--input-scale <x>", "standard deviation of the inputs x").argParser(positiveNumber).default(experimentDefaults.inputScale))
    .addOption(new Option("--train-size <n>", "training points").argParser(positiveInt).default(experimentDefaults.trainSize))
    .addOption(new Option("--test-size <n>", "test points").argParser(positiveInt).default(experimentDefaults.testSize))
    .addOption(new Option("--data-seed <n>", "seed of B, εᵢ, σᵢ and the inputs").argParser(nonNegativeInt).default(toyDefaults.seed));
}

addDataOptions(
  program
    .command("toy")
    .description("train one network on GradNorm's synthetic task (paper §4) with one method")
    .addOption(new Option("--tasks <T>", "number of tasks (T = 2 uses σ = (1, 100))").argParser(positiveInt).default(2))
    .addOption(new Option("--method <name>", `balancing method: ${methodNames().join(", ")}`).default("gradnorm"))
    .addOption(new Option("--alpha <a>", "GradNorm's α (default 0.12, the paper's value for this task)").argParser(nonNegativeNumber))
    .addOption(new Option("--grad-mode <mode>", "where GradNorm measures gradients").argParser(oneOf(gradModes)))
    .addOption(new Option("--weights <list>", "static weights, comma-separated (method static)").argParser(numberList))
    .addOption(new Option("--temperature <x>", "DWA temperature").argParser(finiteNumber))
    .addOption(new Option("--opt <key=value>", "any method option, repeatable (e.g. --opt c=0.4 for cagrad)").argParser(keyValue))
    .addOption(new Option("--seed <n>", "seed of the initial network and the batch order").argParser(nonNegativeInt).default(0))
    .addOption(new Option("--out <dir>", "write the run (with its history) as JSON into this folder").argParser(outPath))
    .addOption(storeOption())
    .addOption(noStoreOption())
    .addOption(recordEveryOption())
    .addOption(onNonFiniteOption())
    .addOption(threadsOption(false))
    .option("--json", "print one JSON object to stdout"),
).action(async (opts) => (await import("./toy.js")).toyCommand(opts));

addDataOptions(
  program
    .command("compare")
    .description("the main job: GradNorm vs equal, uncertainty and a static grid on T = 2 and T = 10, with an HTML report")
    .addOption(new Option("--tasks <list>", "task counts").argParser(distinct(intList)).default([2, 10]))
    .addOption(new Option("--seeds <list>", "network seeds").argParser(distinct(intList)).default([0, 1]))
    .addOption(new Option("--alpha <list>", "GradNorm's α, one GradNorm run per value (comma-separated)").argParser(distinct(nonNegativeList)).default([0.12]))
    .addOption(new Option("--workers <n>", "worker threads (default: one per core)").argParser(positiveInt))
    .addOption(new Option("--extra-methods <list>", "methods on per-task statistics to add (default: every registered one)").argParser(distinct(nameList)))
    .addOption(new Option("--extra-tasks <list>", "task counts that get the extra methods").argParser(distinct(intList)).default([10]))
    .addOption(new Option("--extra-seeds <list>", "seeds for the extra methods").argParser(distinct(intList)).default([0]))
    .addOption(new Option("--grad-mode <mode>", "gradient mode of the extra methods that take one").argParser(oneOf(gradModes)).default("representation"))
    .addOption(new Option("--out <dir>", "output folder").argParser(outPath).default("out"))
    .addOption(storeOption())
    .addOption(noStoreOption())
    .addOption(recordEveryOption())
    .addOption(onNonFiniteOption())
    .addOption(threadsOption(true))
    .option("--json", "print a JSON summary to stdout"),
).action(async (opts, cmd: Command) => {
  const { compareCommand, comparedMethods, defaultExtraMethods } = await import("./compare.js");
  const given = (name: string) => cmd.getOptionValueSource(name) === "cli";
  for (const m of (opts.extraMethods ?? []) as string[]) {
    if (comparedMethods.includes(m)) throw new Error(`--extra-methods: '${m}' already runs in the main comparison (${comparedMethods.join(", ")}); extra methods are the others`);
    createBalancer(m, {});
  }
  const tasks = opts.tasks as number[];
  for (const T of opts.extraTasks as number[]) {
    if (given("extraTasks") && !tasks.includes(T)) throw new Error(`--extra-tasks ${T} is not among --tasks ${tasks.join(",")}`);
  }
  const extraRun = (opts.extraTasks as number[]).some((T) => tasks.includes(T));
  for (const flag of ["extraMethods", "extraSeeds", "gradMode"]) {
    if (given(flag) && !extraRun && !(flag === "extraMethods" && (opts.extraMethods as string[]).length === 0)) {
      throw new Error(`--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} has no effect: the extra methods run only on --extra-tasks ${(opts.extraTasks as number[]).join(",")}, which --tasks ${tasks.join(",")} does not include`);
    }
  }
  await compareCommand({ ...opts, extraMethods: opts.extraMethods ?? defaultExtraMethods(), command: `lossbalance ${process.argv.slice(2).join(" ")}` });
});

/** Training settings shared by `bench mnist` and `sweep`. */
function addMultiTrainOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--seeds <list>", "network seeds").argParser(distinct(intList)).default([0, 1, 2]))
    .addOption(new Option("--epochs <n>", "maximum epochs (early stopping on validation accuracy)").argParser(positiveInt).default(multiTrainDefaults.epochs))
    .addOption(new Option("--batch-size <n>", "batch size").argParser(positiveInt).default(multiTrainDefaults.batchSize))
    .addOption(new Option("--lr <x>", "Adam learning rate").argParser(positiveNumber).default(multiTrainDefaults.lr))
    .addOption(new Option("--encoder <name>", "shared encoder: mlp, or lenet (Sener & Koltun's convolutions, lowered to matrix products; about 10× slower per step)").argParser(oneOf(multiEncoders)).default(multiTrainDefaults.encoder))
    .addOption(new Option("--hidden <list>", `fully connected widths of the encoder (default: ${defaultHidden.mlp.join(",")} for mlp, ${defaultHidden.lenet.join(",")} for lenet)`).argParser(intList))
    .addOption(new Option("--data-seed <n>", "seed of the pairing and the split").argParser(nonNegativeInt).default(0))
    .addOption(new Option("--workers <n>", "worker threads (default: one per core)").argParser(positiveInt))
    .addOption(storeOption())
    .addOption(noStoreOption())
    .addOption(recordEveryOption())
    .addOption(onNonFiniteOption())
    .addOption(threadsOption(true))
    .option("--json", "print a JSON summary to stdout");
}

addMultiTrainOptions(
  program
    .command("bench")
    .description("benchmarks on real data")
    .command("mnist")
    .description("MultiMNIST / MultiFashion / MultiFashion+MNIST: every method and single-task networks, accuracy and Δm%")
    .addOption(new Option("--datasets <list>", "mnist, fashion, fashion+mnist").argParser(distinct(datasetList)).default(["mnist"]))
    .addOption(new Option("--grad-mode <mode>", "gradient mode of every method that takes one (default: each method's own; with --encoder lenet, representation for those that default to shared)").argParser(oneOf(gradModes)))
    .addOption(new Option("--methods <list>", "methods (default: every registered one but static)").argParser(distinct(nameList)).default(methodNames().filter((m) => m !== "static")))
    .addOption(new Option("--out <dir>", "output folder").argParser(outPath).default("out")),
).action(async (opts) => {
  for (const m of opts.methods as string[]) createBalancer(m, {});
  const problem = opts.encoder === "lenet" ? stemModeProblem(opts.gradMode) : null;
  if (problem) throw new Error(`--grad-mode ${opts.gradMode} with --encoder lenet: ${problem}`);
  await (await import("./benchMnist.js")).benchMnistCommand(opts);
});

addMultiTrainOptions(
  program
    .command("sweep")
    .description("the grid search GradNorm claims to replace: static weights on a grid and GradNorm over α, resumable")
    .addOption(new Option("--dataset <name>", "mnist, fashion or fashion+mnist").argParser(oneOf(multiKinds)).default("mnist"))
    .addOption(new Option("--grid <n>", "static grid points: w_left = 2k/(n+1), w_right = 2 − w_left").argParser(positiveInt).default(9))
    .addOption(new Option("--alpha <list>", "GradNorm's α values (empty: grid only)").argParser(distinct((v: string) => (v.trim() === "" ? [] : nonNegativeList(v)))).default([0.12, 0.5, 1, 1.5, 3]))
    .addOption(new Option("--out <dir>", "output folder; finished runs are saved in <out>/sweep.jsonl and reused on the next run").argParser(outPath).default("out/sweep")),
).action(async (opts) => (await import("./sweep.js")).sweepCommand(opts));

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

try {
  await program.parseAsync(process.argv);
} catch (e) {
  const message = e instanceof Error ? e.message : String(e);
  console.error(message.startsWith("lossbalance") ? message : `lossbalance: ${message}`);
  process.exit(1);
}
