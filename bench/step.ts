/**
 * Step-time benchmark: equal weights vs GradNorm (α = 0.12, gradients at the last shared layer)
 * on the synthetic task, T = 10 and T = 2, same model and batches, on the async trainer with the
 * built-in MLP's fast tier (the commands' step).
 *
 * The two trainers advance in alternation, one step each and in ABBA order (so neither always
 * runs first), so that drifts of the machine's speed hit both alike; each figure is the median
 * over the measured steps, and the ratio is taken between medians of the same run. Then (unless
 * --gradnorm-only) every method that needs per-task statistics, in each gradient mode, for
 * T ∈ {2, 10, 50} (bench/methods.ts), and the generic tier: the same network written as plain jax-js
 * functions in the model contract, every mode against generic equal weights (bench/generic.ts).
 * Usage: npm run bench [-- --json] [-- --steps N] [-- --method-steps N] [-- --gradnorm-only] [-- --generic-only]
 */
import { init, defaultDevice } from "@jax-js/jax";
import { equalWeights } from "../src/balancers/equalWeights.js";
import { gradNorm } from "../src/balancers/gradNorm.js";
import type { Balancer, BalancerState } from "../src/balancers/types.js";
import { toyTrainDefaults } from "../src/experiments/toyRun.js";
import { benchMethods, toyStep, toyTrainer } from "./methods.js";
import { benchAsyncCost, benchGeneric } from "./generic.js";
import { abba, toyBatches } from "./timing.js";

const args = process.argv.slice(2);
const json = args.includes("--json");
const stepsArg = args.indexOf("--steps");
const measured = stepsArg >= 0 ? Number(args[stepsArg + 1]) : 600;
if (!Number.isInteger(measured) || measured <= 0) {
  console.error("bench: --steps must be a positive integer");
  process.exit(1);
}
const warmup = 30;
const msArg = args.indexOf("--method-steps");
const methodSteps = msArg >= 0 ? Number(args[msArg + 1]) : 40;
if (!Number.isInteger(methodSteps) || methodSteps <= 0) {
  console.error("bench: --method-steps must be a positive integer");
  process.exit(1);
}
const gradnormOnly = args.includes("--gradnorm-only");
const genericOnly = args.includes("--generic-only");

await init("wasm");
defaultDevice("wasm");

/** Prints a table row unless --json. */
const onRow = json ? undefined : (line: string) => console.log(line);

async function measure(T: number) {
  const batches = toyBatches(T, { trainSize: 1024, count: 32, seed: 1, batchSize: toyTrainDefaults.batchSize });
  const model = { inputDim: 250, hidden: toyTrainDefaults.hidden, outputDim: 100, numTasks: T };
  const equal = toyTrainer(model, equalWeights() as Balancer<BalancerState>);
  const gradnorm = toyTrainer(model, gradNorm({ alpha: 0.12 }) as Balancer<BalancerState>);
  const [eq, gn] = await abba(toyStep(equal, batches, model), toyStep(gradnorm, batches, model), warmup, measured);
  equal.dispose();
  gradnorm.dispose();
  return { equal: { msPerStep: eq }, gradnorm: { msPerStep: gn, ratioToEqual: gn / eq } };
}

/** The generic tier against generic equal weights, then the async step's cost; rows printed unless --json. */
async function genericAndAsyncCost() {
  const generic = await benchGeneric([2, 10], methodSteps, 5, onRow);
  if (!json) console.log("\nThe async step's cost (same model, same numbers):");
  const asyncCost = await benchAsyncCost([2, 10], 4 * methodSteps, 20, onRow);
  return { generic, asyncCost };
}

if (genericOnly) {
  const { generic, asyncCost } = await genericAndAsyncCost();
  if (json) process.stdout.write(JSON.stringify({ generic, asyncCost, methodSteps, node: process.version }) + "\n");
  process.exit(0);
}
const t10 = await measure(10);
const t2 = await measure(2);
const result: Record<string, unknown> = { ...t10, t2, steps: measured, batchSize: toyTrainDefaults.batchSize, node: process.version };
if (!json) {
  for (const [T, r] of [[10, t10], [2, t2]] as const) {
    console.log(
      `T=${String(T).padStart(2)}  equal ${r.equal.msPerStep.toFixed(2)} ms/step   gradnorm ${r.gradnorm.msPerStep.toFixed(2)} ms/step   ratio ${r.gradnorm.ratioToEqual.toFixed(3)}`,
    );
  }
  console.log(`(median of ${measured} alternating steps each, batch ${toyTrainDefaults.batchSize}, after ${warmup} warm-up steps)`);
}
if (!gradnormOnly) {
  if (!json) console.log(`\nMethods with per-task statistics, each against equal weights (median of ${methodSteps} alternating steps, 5 warm-up):`);
  result.methods = await benchMethods([2, 10, 50], methodSteps, 5, onRow);
  result.methodSteps = methodSteps;
  if (!json) console.log(`\nThe generic tier (the toy network as plain jax-js functions, async trainer), each against generic equal weights (median of ${methodSteps} alternating steps, 5 warm-up):`);
  Object.assign(result, await genericAndAsyncCost());
}
if (json) process.stdout.write(JSON.stringify(result) + "\n");
