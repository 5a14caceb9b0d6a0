import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Checkpoints through the CLI: a run killed with SIGKILL mid-run and resumed with --resume ends with
 * the same output as a run that was never interrupted (timings aside), on the toy task and on
 * MultiMNIST, for GradNorm, uncertainty weighting, FAMO, PCGrad and MGDA (a QP method).
 */

const cacheDir = mkdtempSync(join(tmpdir(), "lb-resume-cache-"));
const env = { ...process.env, LOSSBALANCE_CACHE: cacheDir };

interface Child {
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  kill(): void;
}

function cli(args: string[]): Child {
  const p = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args, "--no-store"], { env });
  let stdout = "";
  let stderr = "";
  p.stdout.on("data", (d) => (stdout += d));
  p.stderr.on("data", (d) => (stderr += d));
  return {
    done: new Promise((resolve) => p.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }))),
    kill: () => p.kill("SIGKILL"),
  };
}

async function ok(args: string[]): Promise<string> {
  const r = await cli(args).done;
  assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

const latestStep = (dir: string): number | undefined => {
  try {
    return JSON.parse(readFileSync(join(dir, "latest.json"), "utf8")).step;
  } catch {
    return undefined;
  }
};

/**
 * Starts `args` and kills it with SIGKILL once `watch()` names a run folder whose latest checkpoint
 * is at step ≥ `atLeast` and that has no result yet (the run is under way); returns that folder.
 */
async function killMidRun(args: string[], watch: () => string[], atLeast: number): Promise<string> {
  const child = cli(args);
  let exited = false;
  void child.done.then(() => (exited = true));
  for (;;) {
    for (const dir of watch()) {
      const step = latestStep(dir);
      if (step !== undefined && step >= atLeast && !existsSync(join(dir, "result.json"))) {
        child.kill();
        const r = await child.done;
        assert.equal(r.signal, "SIGKILL");
        assert.ok(!existsSync(join(dir, "result.json")), `${dir}: the run finished before it was killed`);
        return dir;
      }
    }
    if (exited) {
      const r = await child.done;
      assert.fail(`the run ended (code ${r.code}) before a mid-run checkpoint at step ≥ ${atLeast} was seen: ${r.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The output without wall-clock timings. */
function untimed(text: string): unknown {
  return JSON.parse(text, (k, v) => (["msPerStep", "wallMs", "secondsPerEpoch", "wallSeconds", "storeId"].includes(k) ? undefined : v));
}

describe("--checkpoint-every and --resume: killed with SIGKILL, resumed, identical", () => {
  const toyArgs = ["toy", "--tasks", "3", "--steps", "1500", "--batch-size", "32", "--train-size", "500", "--test-size", "100", "--json"];
  for (const method of ["gradnorm", "uncertainty", "famo", "pcgrad", "mgda"]) {
    test(`toy, ${method}`, async () => {
      const args = [...toyArgs, "--method", method];
      const dir = join(mkdtempSync(join(tmpdir(), "lb-resume-")), "ckpt");
      const [plain] = await Promise.all([ok(args), killMidRun([...args, "--checkpoint-every", "100", "--checkpoint-dir", dir], () => [dir], 300)]);
      const killedAt = latestStep(dir)!;
      const resumed = await ok([...args, "--checkpoint-every", "100", "--resume", dir]);
      assert.deepEqual(untimed(resumed), untimed(plain));
      assert.ok(existsSync(join(dir, "result.json")));
      assert.ok(latestStep(dir)! > killedAt, "the resumed run went on saving checkpoints");
      // Resuming a finished run prints its saved result again, without training.
      assert.deepEqual(untimed(await ok([...args, "--resume", dir])), untimed(plain));
    });
  }

  test("toy: a resume with other settings is refused, naming the setting", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "lb-resume-")), "ckpt");
    const args = ["toy", "--steps", "20", "--train-size", "64", "--test-size", "16", "--checkpoint-every", "10", "--json"];
    await ok([...args, "--checkpoint-dir", dir]);
    const r = await cli([...args.map((a) => (a === "20" ? "30" : a)), "--resume", dir]).done;
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--resume .*other settings \(train\.steps: 20 there, 30 here\)/);
    const again = await cli([...args, "--checkpoint-dir", dir]).done;
    assert.match(again.stderr, /--checkpoint-dir .* is not empty .*--resume/);
    const none = await cli(["toy", "--resume", join(dir, "nope")]).done;
    assert.match(none.stderr, /--resume .*nope: no such folder/);
    // What a run killed during its first save leaves (no latest.json) does not block a new run there.
    const killedEarly = join(mkdtempSync(join(tmpdir(), "lb-resume-")), "ckpt");
    mkdirSync(join(killedEarly, "step-000000010.tmp-4242"), { recursive: true });
    mkdirSync(join(killedEarly, "step-000000010"));
    await ok([...args, "--checkpoint-dir", killedEarly]);
    assert.deepEqual(readdirSync(killedEarly).sort(), ["latest.json", "result.json", "step-000000010", "step-000000020"]);
  });

  test("compare: killed while its runs are under way, resumed; the same results as an uninterrupted comparison", async () => {
    const base = mkdtempSync(join(tmpdir(), "lb-resume-cmp-"));
    const args = (out: string) => ["compare", "--tasks", "3", "--seeds", "0", "--extra-methods", "", "--steps", "600", "--train-size", "300", "--test-size", "50", "--workers", "2", "--out", join(base, out), "--json"];
    const dir = join(base, "ckpt");
    const runDirs = () => (existsSync(dir) ? readdirSync(dir).map((d) => join(dir, d)) : []);
    const [plain] = await Promise.all([ok(args("plain")), killMidRun([...args("cut"), "--checkpoint-every", "50", "--checkpoint-dir", dir], runDirs, 100)]);
    const resumed = untimed(await ok([...args("cut"), "--checkpoint-every", "50", "--resume", dir])) as { experiments: unknown };
    assert.deepEqual(resumed.experiments, (untimed(plain) as { experiments: unknown }).experiments);
    assert.ok(readdirSync(dir).includes("T3-seed0-gradnorm_0.12"), readdirSync(dir).join(", "));
  });

  test("bench mnist: each of GradNorm, uncertainty, FAMO, PCGrad and MGDA killed mid-run in turn, resumed each time; same results as one uninterrupted run", async () => {
    const methods = ["gradnorm", "uncertainty", "famo", "pcgrad", "mgda"];
    const base = join(mkdtempSync(join(tmpdir(), "lb-resume-mm-")));
    const args = (out: string) => ["bench", "mnist", "--methods", methods.join(","), "--seeds", "0", "--epochs", "2", "--batch-size", "64", "--hidden", "16", "--workers", "1", "--out", out, "--json"];
    const plain = ok(args(join(base, "plain")));
    const dir = join(base, "ckpt");
    const flags = (first: boolean) => [...args(join(base, "cut")), "--checkpoint-every", "40", ...(first ? ["--checkpoint-dir", dir] : ["--resume", dir])];
    const runDirs = () => (existsSync(dir) ? readdirSync(dir).filter((d) => methods.some((m) => d.endsWith(`-${m}`))).map((d) => join(dir, d)) : []);
    const killed: string[] = [];
    for (let i = 0; i < methods.length; i++) {
      killed.push(await killMidRun(flags(i === 0), () => runDirs().filter((d) => !killed.includes(d)), 80));
    }
    assert.deepEqual(killed.map((d) => d.slice(dir.length + 1)).sort(), methods.map((m) => `mnist-seed0-${m}`).sort());
    const resumed = untimed(await ok(flags(false))) as { summary: unknown };
    assert.deepEqual(resumed.summary, (untimed(await plain) as { summary: unknown }).summary);
    const runs = (out: string) => (untimed(readFileSync(join(base, out, "bench-mnist.json"), "utf8")) as { runs: unknown[] }).runs;
    assert.equal(runs("cut").length, 7);
    assert.deepEqual(runs("cut"), runs("plain"));
  });
});
