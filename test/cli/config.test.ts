import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, parseError } from "./helpers.js";

// The training commands record their runs in the run store: a temporary one, not the working directory's.
process.env.LOSSBALANCE_STORE ??= join(mkdtempSync(join(tmpdir(), "lb-store-")), "runs.db");

const dir = mkdtempSync(join(tmpdir(), "lb-config-"));
let n = 0;
/** A config file holding `content` (a value to write as JSON, or raw text). */
function config(content: unknown, raw = false): string {
  const file = join(dir, `c${n++}.json`);
  writeFileSync(file, raw ? String(content) : JSON.stringify(content));
  return file;
}

test("a config file sets options; what it does not set keeps its default", async () => {
  const file = config({ steps: 500, method: "cagrad", opt: { c: 0.4 }, seed: 3, store: false, json: true });
  const { options } = await parse("toy", "--config", file);
  assert.equal(options.steps, 500);
  assert.equal(options.method, "cagrad");
  assert.deepEqual(options.opt, { c: 0.4 });
  assert.equal(options.seed, 3);
  assert.equal(options.store, false);
  assert.equal(options.json, true);
  assert.equal(options.batchSize, 32, "default");
  assert.equal(options.lr, 0.001, "default");
  assert.ok(!("config" in options), "the command gets the options, not the file's name");
  const sweep = (await parse("sweep", "--config", config({ seeds: [0, 1], alpha: "0.5,1", hidden: [16], grid: 3 }))).options;
  assert.deepEqual([sweep.seeds, sweep.alpha, sweep.hidden, sweep.grid, sweep.epochs], [[0, 1], [0.5, 1], [16], 3, 10]);
});

test("flags given on the command line override the config file (--opt key by key); defaults do not", async () => {
  const file = config({ steps: 500, lr: 0.01, method: "cagrad", opt: { c: 0.4, rescale: 1 }, store: "a.db" });
  const { options } = await parse("toy", "--config", file, "--steps", "9", "--opt", "rescale=0", "--no-store", "--batch-size", "32");
  assert.equal(options.steps, 9, "flag over file");
  assert.equal(options.lr, 0.01, "file over default");
  assert.deepEqual(options.opt, { c: 0.4, rescale: 0 });
  assert.equal(options.store, false);
  assert.equal(options.batchSize, 32);
  // A flag before --config overrides it too.
  assert.equal((await parse("toy", "--steps", "9", "--config", file)).options.steps, 9);
  const bench = (await parse("bench", "mnist", "--config", config({ seeds: [4], methods: ["equal"], datasets: "fashion" }), "--seeds", "5,6")).options;
  assert.deepEqual([bench.seeds, bench.methods, bench.datasets], [[5, 6], ["equal"], ["fashion"]]);
});

test("config file errors name the file and the field, with what is allowed", async () => {
  const bad = config({ steps: -3 });
  assert.equal(await parseError("toy", "--config", bad), `${bad}: "steps": must be a positive integer, got -3`);
  const method = config({ method: "gradnrom" });
  assert.match(await parseError("toy", "--config", method), new RegExp(`^${method}: "method": unknown method 'gradnrom'; allowed: gradnorm, equal, static, .*cagrad`));
  const types = config({ seeds: [0, "x"], json: "yes" });
  assert.equal(await parseError("sweep", "--config", types), `${types}: "seeds": must be comma-separated integers from 0 to 4294967295, got [0,"x"]; "json": must be true or false, got "yes"`);
});

test("unknown keys are rejected, naming them and listing the accepted ones", async () => {
  const file = config({ stpes: 3, "batch-size": 8, steps: 2 });
  const err = await parseError("toy", "--config", file);
  assert.match(err, new RegExp(`^${file}: unknown options "stpes", "batch-size" \\(did you mean "batchSize"\\?\\); toy accepts: steps, batchSize, lr, .*checkpointEvery, checkpointDir, resume, .*json$`));
  // An option of another command is unknown here (toy has --seed, compare --seeds).
  assert.match(await parseError("toy", "--config", config({ seeds: [0] })), /unknown option "seeds"; toy accepts: .*\bseed\b/);
  assert.match(await parseError("bench", "mnist", "--config", config({ config: "x.json" })), /unknown option "config"; bench mnist accepts: /);
});

test("a missing file, a folder, bad JSON or JSON that is not an object: a clear error", async () => {
  assert.equal(await parseError("toy", "--config", join(dir, "missing.json")), `cannot read --config ${join(dir, "missing.json")}: no such file`);
  const folder = join(dir, "folder.json");
  mkdirSync(folder);
  assert.equal(await parseError("toy", "--config", folder), `cannot read --config ${folder}: it is a folder`);
  const broken = config('{"steps": 2,', true);
  assert.match(await parseError("toy", "--config", broken), new RegExp(`^${broken}: not valid JSON \\(.+\\)$`));
  for (const [content, what] of [["[1, 2]", "an array"], ["3", "a number"], ["null", "null"], ['"steps"', "a string"]]) {
    const file = config(content, true);
    assert.equal(await parseError("toy", "--config", file), `${file}: must be a JSON object of option names to values (e.g. {"steps": 500}), got ${what}`);
  }
  assert.equal(await parseError("toy", "--config", ""), "--config: must not be empty");
});

test("the cross-field checks run on the merged options, naming the config file where a value came from it", async () => {
  const lenet = config({ encoder: "lenet", gradMode: "shared" });
  assert.match(await parseError("bench", "mnist", "--config", lenet), new RegExp(`^--grad-mode \\("gradMode" in ${lenet}\\) shared with --encoder \\("encoder" in ${lenet}\\) lenet: gradient mode 'shared' does not support`));
  assert.match(await parseError("bench", "mnist", "--config", config({ encoder: "lenet" }), "--grad-mode", "shared"), /^--grad-mode shared with --encoder \(.*\) lenet/);
  const tasks = config({ tasks: [2] });
  assert.equal(await parseError("compare", "--config", tasks, "--extra-tasks", "3"), `--extra-tasks 3 is not among --tasks ("tasks" in ${tasks}) 2`);
  assert.match(await parseError("compare", "--config", config({ tasks: [2], extraMethods: ["mgda"] })), /^--extra-methods \(.*\) has no effect: the extra methods run only on --extra-tasks 10, which --tasks \(.*\) 2 does not include/);
  assert.match(await parseError("compare", "--config", config({ extraMethods: "mgda,equal" })), /^--extra-methods \(.*\): 'equal' already runs in the main comparison/);
  // A default is not "given": extra tasks 10 with --tasks 2 is fine unless the file sets them.
  assert.deepEqual((await parse("compare", "--config", config({ tasks: [2] }))).options.tasks, [2]);
});

test("--checkpoint-every needs --checkpoint-dir or --resume; --checkpoint-dir needs --checkpoint-every", async () => {
  for (const cmd of [["toy"], ["compare"], ["bench", "mnist"]]) {
    assert.equal(await parseError(...cmd, "--checkpoint-every", "5"), "--checkpoint-every needs --checkpoint-dir <dir> (or --resume <dir>, whose folder it then uses)", cmd.join(" "));
    assert.equal(await parseError(...cmd, "--checkpoint-dir", "ck"), "--checkpoint-dir has no effect without --checkpoint-every <n>", cmd.join(" "));
    const ok = (await parse(...cmd, "--checkpoint-every", "5", "--resume", "ck")).options;
    assert.deepEqual([ok.checkpointEvery, ok.resume, ok.checkpointDir], [5, "ck", undefined]);
    const file = config({ checkpointEvery: 2 });
    assert.equal(await parseError(...cmd, "--config", file), `--checkpoint-every ("checkpointEvery" in ${file}) needs --checkpoint-dir <dir> (or --resume <dir>, whose folder it then uses)`);
    assert.equal((await parse(...cmd, "--config", file, "--checkpoint-dir", "ck")).options.checkpointEvery, 2);
  }
  assert.match(await parseError("sweep", "--checkpoint-every", "5"), /unknown option '--checkpoint-every'/);
});

const cli = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { encoding: "utf8", timeout: 120_000 });

test("the real CLI: toy runs with a config file, a flag overriding it", () => {
  const file = config({ steps: 500, trainSize: 50, testSize: 20, batchSize: 8, store: false, method: "cagrad", opt: { c: 0.4 }, seed: 1 });
  const r = cli("toy", "--config", file, "--steps", "2", "--json");
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  assert.equal(o.steps, 2, "--steps over the file's 500");
  assert.equal(o.method, "cagrad");
  assert.equal(o.options.c, 0.4);
  assert.equal(o.seed, 1);
});

test("the real CLI: a bad config file is a one-line error and exit status 1, before any work", () => {
  const file = config({ steps: 2, method: "gradnrom" });
  const r = cli("toy", "--config", file);
  assert.equal(r.status, 1);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, new RegExp(`^lossbalance: ${file}: "method": unknown method 'gradnrom'; allowed: .*\\n$`));
  const flag = cli("toy", "--steps", "-3");
  assert.equal(flag.status, 1);
  assert.equal(flag.stderr, "error: option '--steps <n>' argument '-3' is invalid. must be a positive integer\n");
});
