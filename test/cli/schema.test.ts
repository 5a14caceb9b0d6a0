import { test } from "node:test";
import assert from "node:assert/strict";
import { Command, Option } from "commander";
import { methodNames } from "../../src/balancers/registry.js";
import { benchMnistSchema, compareSchema, sweepSchema, toySchema, type CommandSchema } from "../../src/cli/schema.js";
import { bindSchema, checkConfig } from "../../src/cli/config.js";
import { intList, outPath, positiveInt } from "../../src/cli/options.js";
import { parse, parseError } from "./helpers.js";

const schemas: Record<string, () => CommandSchema> = { toy: toySchema, compare: compareSchema, "bench mnist": benchMnistSchema, sweep: sweepSchema };
const argsOf = (command: string) => command.split(" ");

test("the defaults of every training command pass its schema, unchanged, with the keys the command functions took before", async () => {
  const expected: Record<string, Record<string, unknown>> = {
    toy: { steps: 2000, batchSize: 32, lr: 0.001, inputScale: 1, trainSize: 2000, testSize: 1000, dataSeed: 0, tasks: 2, method: "gradnorm", seed: 0, onNonfinite: "stop", threads: 1 },
    sweep: { seeds: [0, 1, 2], epochs: 10, batchSize: 256, lr: 0.001, encoder: "mlp", dataSeed: 0, onNonfinite: "stop", threads: 1, dataset: "mnist", grid: 9, alpha: [0.12, 0.5, 1, 1.5, 3], out: "out/sweep" },
    "bench mnist": { seeds: [0, 1, 2], epochs: 10, batchSize: 256, lr: 0.001, encoder: "mlp", dataSeed: 0, onNonfinite: "stop", threads: 1, datasets: ["mnist"], methods: ["gradnorm", "equal", "uncertainty", "dwa", "rlw", "graddrop", "famo", "mgda", "upgrad", "dualproj", "cagrad", "nashmtl", "pcgrad", "gradvac", "config", "imtlg", "alignedmtl", "dbmtl"], out: "out" },
  };
  for (const [command, want] of Object.entries(expected)) {
    const { options } = await parse(...argsOf(command));
    assert.deepEqual(options, want, command);
    assert.deepEqual(schemas[command]!().parse(want), want, `${command}: the schema takes its own output`);
  }
  const compare = (await parse("compare")).options;
  assert.deepEqual(
    { ...compare, extraMethods: undefined, command: undefined },
    { steps: 2000, batchSize: 32, lr: 0.001, inputScale: 1, trainSize: 2000, testSize: 1000, dataSeed: 0, tasks: [2, 10], seeds: [0, 1], alpha: [0.12], extraTasks: [10], extraSeeds: [0], gradMode: "representation", out: "out", onNonfinite: "stop", threads: 1, extraMethods: undefined, command: undefined },
  );
  assert.ok((compare.extraMethods as string[]).includes("mgda"), "default extra methods");
});

test("flags are parsed by the schema: numbers, lists, names, key=value, auto", async () => {
  const toy = (await parse("toy", "--steps", "7", "--lr", "1e-2", "--method", "cagrad", "--opt", "c=0.4", "--opt", "rescale=0", "--threads", "auto", "--no-store", "--json")).options;
  assert.equal(toy.steps, 7);
  assert.equal(toy.lr, 0.01);
  assert.equal(toy.method, "cagrad");
  assert.deepEqual(toy.opt, { c: 0.4, rescale: 0 });
  assert.equal(toy.threads, "auto");
  assert.equal(toy.store, false);
  assert.equal(toy.json, true);
  const sweep = (await parse("sweep", "--alpha", "", "--seeds", "3,1", "--hidden", "16,8", "--dataset", "fashion")).options;
  assert.deepEqual(sweep.alpha, []);
  assert.deepEqual(sweep.seeds, [3, 1]);
  assert.deepEqual(sweep.hidden, [16, 8]);
  assert.equal(sweep.dataset, "fashion");
  const bench = (await parse("bench", "mnist", "--datasets", "fashion,mnist", "--methods", "equal, mgda", "--checkpoint-every", "5", "--checkpoint-dir", "ck")).options;
  assert.deepEqual(bench.datasets, ["fashion", "mnist"]);
  assert.deepEqual(bench.methods, ["equal", "mgda"]);
  assert.equal(bench.checkpointEvery, 5);
  assert.equal(bench.checkpointDir, "ck");
  assert.equal((await parse("toy", "--resume", "ck")).options.resume, "ck");
});

test("a bad flag value: the error names the flag, the value and what is allowed", async () => {
  for (const [args, message] of [
    [["toy", "--steps", "-3"], "option '--steps <n>' argument '-3' is invalid. must be a positive integer"],
    [["toy", "--steps", "1.5"], "option '--steps <n>' argument '1.5' is invalid. must be a positive integer"],
    [["toy", "--seed", "x"], "option '--seed <n>' argument 'x' is invalid. must be an integer from 0 to 4294967295"],
    [["toy", "--seed", "4294967296"], "option '--seed <n>' argument '4294967296' is invalid. must be an integer from 0 to 4294967295"],
    [["toy", "--lr", "0"], "option '--lr <x>' argument '0' is invalid. must be > 0"],
    [["toy", "--lr", "Infinity"], "option '--lr <x>' argument 'Infinity' is invalid. must be a finite number"],
    [["toy", "--alpha", "-1"], "option '--alpha <a>' argument '-1' is invalid. must be ≥ 0"],
    [["toy", "--method", "gradnrom"], `option '--method <name>' argument 'gradnrom' is invalid. unknown method 'gradnrom'; allowed: ${methodNames().join(", ")}`],
    [["toy", "--grad-mode", "all"], "option '--grad-mode <mode>' argument 'all' is invalid. must be one of representation, lastShared, shared"],
    [["toy", "--threads", "0"], "option '--threads <n|auto>' argument '0' is invalid. must be a positive integer or auto"],
    [["toy", "--opt", "c"], "option '--opt <key=value>' argument 'c' is invalid. must be key=value (e.g. c=0.4)"],
    [["toy", "--weights", "1,,2"], "option '--weights <list>' argument '1,,2' is invalid. must be a comma-separated list of finite numbers"],
    [["toy", "--out", " "], "option '--out <dir>' argument ' ' is invalid. must not be empty"],
    [["toy", "--checkpoint-every", "0"], "option '--checkpoint-every <n>' argument '0' is invalid. must be a positive integer"],
    [["toy", "--resume", ""], "option '--resume <dir>' argument '' is invalid. must not be empty"],
    [["toy", "--on-nonfinite", "ignore"], "option '--on-nonfinite <policy>' argument 'ignore' is invalid. must be one of stop, skip"],
    [["compare", "--seeds", "0,1,0"], "option '--seeds <list>' argument '0,1,0' is invalid. must not repeat a value (0 appears more than once)"],
    [["compare", "--tasks", "2,x"], "option '--tasks <list>' argument '2,x' is invalid. must be comma-separated non-negative integers"],
    [["compare", "--extra-methods", "mgda,nope"], `option '--extra-methods <list>' argument 'mgda,nope' is invalid. unknown method 'nope'; allowed: ${methodNames().join(", ")}`],
    [["bench", "mnist", "--datasets", "cifar"], "option '--datasets <list>' argument 'cifar' is invalid. unknown dataset 'cifar'; allowed: mnist, fashion, fashion+mnist"],
    [["bench", "mnist", "--encoder", "resnet"], "option '--encoder <name>' argument 'resnet' is invalid. must be one of mlp, lenet"],
    [["bench", "mnist", "--hidden", "16,-1"], "option '--hidden <list>' argument '16,-1' is invalid. must be comma-separated non-negative integers"],
    [["sweep", "--alpha", "0.5,-1"], "option '--alpha <list>' argument '0.5,-1' is invalid. must be comma-separated numbers ≥ 0"],
    [["sweep", "--dataset", "cifar"], "option '--dataset <name>' argument 'cifar' is invalid. must be one of mnist, fashion, fashion+mnist"],
  ] as const) {
    assert.equal(await parseError(...args), `error: ${message}`, args.join(" "));
  }
});

test("a bad config value: the error names the file, the field, the value it got and what is allowed", () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ["toy", { steps: -3 }, `"steps": must be a positive integer, got -3`],
    ["toy", { steps: "many" }, `"steps": must be a positive integer, got "many"`],
    ["toy", { steps: true }, `"steps": must be a positive integer, got true`],
    ["toy", { lr: [1] }, `"lr": must be a finite number, got [1]`],
    ["toy", { method: "gradnrom" }, `"method": unknown method 'gradnrom'; allowed: ${methodNames().join(", ")}`],
    ["toy", { method: 3 }, `"method": must be a method name; allowed: ${methodNames().join(", ")}, got 3`],
    ["toy", { gradMode: "all" }, `"gradMode": must be one of representation, lastShared, shared, got "all"`],
    ["toy", { onNonfinite: "ignore" }, `"onNonfinite": must be one of stop, skip, got "ignore"`],
    ["toy", { opt: { c: { deep: 1 } } }, `"opt": must be method options: key=value (e.g. c=0.4), or an object of numbers, number lists, true/false or strings such as {"c": 0.4}, got {"c":{"deep":1}}`],
    ["toy", { opt: "c" }, `"opt": must be key=value (e.g. c=0.4), got "c"`],
    ["toy", { json: "yes" }, `"json": must be true or false, got "yes"`],
    ["toy", { store: "" }, `"store": must be a run store path, or false for no store, got ""`],
    ["toy", { threads: "many" }, `"threads": must be a positive integer or auto, got "many"`],
    ["compare", { seeds: [0, -1] }, `"seeds": must be comma-separated integers from 0 to 4294967295, got [0,-1]`],
    ["compare", { seeds: [0, 4294967296] }, `"seeds": must be comma-separated integers from 0 to 4294967295, got [0,4294967296]`],
    ["compare", { seeds: [1, 1] }, `"seeds": must not repeat a value (1 appears more than once), got [1,1]`],
    ["compare", { tasks: 2 }, `"tasks": must be comma-separated non-negative integers, got 2`],
    ["bench mnist", { datasets: ["mnist", "cifar"] }, `"datasets": unknown dataset 'cifar'; allowed: mnist, fashion, fashion+mnist`],
    ["sweep", { grid: 0, encoder: "resnet" }, `"grid": must be a positive integer, got 0; "encoder": must be one of mlp, lenet, got "resnet"`],
  ];
  for (const [command, raw, message] of cases) {
    assert.throws(() => checkConfig("c.json", raw, schemas[command]!(), command), (e: Error) => {
      assert.equal(e.message, `c.json: ${message}`, `${command} ${JSON.stringify(raw)}`);
      return true;
    });
  }
});

test("config values in either form: JSON values, or the strings the flags take", () => {
  const schema = compareSchema();
  assert.deepEqual(checkConfig("c.json", { seeds: "0,1", tasks: [2], steps: "5", alpha: [0, 0.5], threads: "auto" }, schema), { seeds: [0, 1], tasks: [2], steps: 5, alpha: [0, 0.5], threads: "auto" });
  assert.deepEqual(checkConfig("c.json", { opt: ["c=0.4", "rescale=1"] }, toySchema()), { opt: { c: 0.4, rescale: 1 } });
  assert.deepEqual(checkConfig("c.json", { opt: { c: 0.4, w: [1, 2], on: true } }, toySchema()), { opt: { c: 0.4, w: [1, 2], on: true } });
});

test("every option of a training command has a schema field, and every field an option", () => {
  const cmd = new Command("demo").addOption(new Option("--steps <n>")).addOption(new Option("--nope <x>"));
  assert.throws(() => bindSchema(cmd, toySchema()), /demo: option --nope has no field in the schema/);
  const few = new Command("demo").addOption(new Option("--steps <n>"));
  assert.throws(() => bindSchema(few, toySchema()), /demo: schema field \w+ has no option/);
});

test("the argument parsers of the other commands (runs, ui, examples) are the schema's fields", () => {
  assert.equal(positiveInt("12"), 12);
  assert.throws(() => positiveInt("0"), /must be a positive integer/);
  assert.deepEqual(intList("1,2"), [1, 2]);
  assert.throws(() => intList("1,-2"), /must be comma-separated non-negative integers/);
  assert.throws(() => outPath(""), /must not be empty/);
});
