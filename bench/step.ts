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
import { gatherBatch, makeToy } from "../src/data/toy.js";
import { toyTrainDefaults } from "../src/experiments/toyRun.js";
import { Rng } from "../src/util/rng.js";
import { median } from "../src/util/stats.js";
import { benchMethods, toyArrays, toyTrainer } from "./methods.js";
import { benchAsyncCost, benchGeneric } from "./generic.js";

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


async function measure(T: number) {
  const batchSize = toyTrainDefaults.batchSize;
  const data = makeToy({ numTasks: T, trainSize: 1024, testSize: 1, inputScale: 1 });
  const model = { inputDim: 250, hidden: toyTrainDefaults.hidden, outputDim: 100, numTasks: T };
  const rng = new Rng(1);
  const batches = Array.from({ length: 32 }, () => gatherBatch(data.train, Array.from({ length: batchSize }, () => rng.int(1024)), T, 250, 100));
  const methods: [string, Balancer<BalancerState>][] = [
    ["equal", equalWeights() as Balancer<BalancerState>],
    ["gradnorm", gradNorm({ alpha: 0.12 }) as Balancer<BalancerState>],
  ];
  const trainers = methods.map(([, b]) => toyTrainer(model, b));
  const times = methods.map(() => [] as number[]);
  for (let i = 0; i < warmup + measured; i++) {
    const order = i % 2 === 0 ? [0, 1] : [1, 0];
    for (const k of order) {
      const t0 = performance.now();
      await trainers[k]!.step(toyArrays(batches[i % batches.length]!, model));
      if (i >= warmup) times[k]!.push(performance.now() - t0);
    }
  }
  trainers.forEach((t) => t.dispose());
  const eq = median(times[0]!);
  const gn = median(times[1]!);
  return { equal: { msPerStep: eq }, gradnorm: { msPerStep: gn, ratioToEqual: gn / eq } };
}

if (genericOnly) {
  const generic = await benchGeneric([2, 10], methodSteps, 5, json ? undefined : (line) => console.log(line));
  if (!json) console.log("\nThe async step's cost (same model, same numbers):");
  const asyncCost = await benchAsyncCost([2, 10], 4 * methodSteps, 20, json ? undefined : (line) => console.log(line));
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
  result.methods = await benchMethods([2, 10, 50], methodSteps, 5, json ? undefined : (line) => console.log(line));
  result.methodSteps = methodSteps;
  if (!json) console.log(`\nThe generic tier (the toy network as plain jax-js functions, async trainer), each against generic equal weights (median of ${methodSteps} alternating steps, 5 warm-up):`);
  result.generic = await benchGeneric([2, 10], methodSteps, 5, json ? undefined : (line) => console.log(line));
  if (!json) console.log("\nThe async step's cost (same model, same numbers):");
  result.asyncCost = await benchAsyncCost([2, 10], 4 * methodSteps, 20, json ? undefined : (line) => console.log(line));
}
if (json) process.stdout.write(JSON.stringify(result) + "\n");
