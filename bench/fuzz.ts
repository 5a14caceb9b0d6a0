/**
 * Long fuzz run of every registered balancer: the properties of test/balancers/fuzz.test.ts
 * (test/helpers/balancerFuzz.ts) with many more cases. Per method: `--runs` valid sequences (finite
 * weights within the documented constraints) and `--runs` degenerate ones (finite weights or a
 * BalancerInputError), spread over its option variants; T = 1 for every variant; one T = `--large`
 * update on a random rank-20 Gramian (0 to skip). Each method runs in a child process watched for hangs:
 * a case that does not finish within `--hang` seconds (`--hang-large` for the T = --large case) is a
 * failure and the method is stopped. Prints cases run and failures per method (with the first few
 * failures, reproducible from --seed), an outcome table per degenerate input class, and a summary
 * line; exits 1 on any failure.
 *
 * Usage: npm run fuzz [-- --runs 2000] [-- --seed 1] [-- --methods mgda,upgrad] [-- --large 1000]
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import fc from "fast-check";
import { methodNames } from "../src/balancers/registry.js";
import { badCaseArb, CORRUPTION_NAMES, runCase, runManyTasks, runSingleTask, validCaseArb, variantsOf, type BadCase, type ValidCase } from "../test/helpers/balancerFuzz.js";

/** What a child reports for one method. */
interface MethodReport {
  readonly method: string;
  cases: number;
  calls: number;
  failures: number;
  readonly examples: string[];
  maxMs: number;
  /** Per degenerate input class: how many corrupted steps gave weights / a BalancerInputError. */
  readonly classes: Record<string, { weights: number; error: number }>;
  large?: { T: number; ms: number; failure: string | null };
  hang?: string;
}

type ToParent = { type: "progress"; what: string; large: boolean } | { type: "done"; report: MethodReport };

const SLOW_MS = Infinity; // hangs are caught by the watchdog; slow small cases show in maxMs

function runMethod(method: string, runs: number, seed: number, large: number, send: (m: ToParent) => void): MethodReport {
  const variants = variantsOf(method);
  const report: MethodReport = { method, cases: 0, calls: 0, failures: 0, examples: [], maxMs: 0, classes: {} };
  const record = (r: { failure: string | null; calls: number; maxMs: number }, what: string) => {
    report.cases++;
    report.calls += r.calls;
    report.maxMs = Math.max(report.maxMs, r.maxMs);
    if (r.failure) {
      report.failures++;
      if (report.examples.length < 5) report.examples.push(`${r.failure}\n      case: ${what}`);
    }
  };
  const pick = fc.nat({ max: variants.length - 1 });
  const valid = fc.sample(fc.tuple(pick, validCaseArb), { numRuns: runs, seed });
  valid.forEach(([v, c]: [number, ValidCase], k) => {
    if (k % 50 === 0) send({ type: "progress", what: `valid #${k}`, large: false });
    record(runCase(variants[v]!, c, { slowMs: SLOW_MS }), `valid #${k} [${variants[v]!.label}] ${JSON.stringify(c)}`);
  });
  const bad = fc.sample(fc.tuple(pick, badCaseArb), { numRuns: runs, seed: seed + 1 });
  bad.forEach(([v, c]: [number, BadCase], k) => {
    if (k % 50 === 0) send({ type: "progress", what: `degenerate #${k}`, large: false });
    const r = runCase(variants[v]!, c, { corrupt: { at: c.at, name: c.corruption }, slowMs: SLOW_MS });
    record(r, `degenerate #${k} [${variants[v]!.label}] ${JSON.stringify(c)}`);
    const o = r.outcomes[c.at % c.steps.length];
    const cls = (report.classes[c.corruption] ??= { weights: 0, error: 0 });
    if (o === "weights") cls.weights++;
    else if (o === "error") cls.error++;
  });
  for (const v of variants) record(runSingleTask(v, seed, SLOW_MS), `T = 1 [${v.label}]`);
  if (large > 0) {
    send({ type: "progress", what: `T = ${large}`, large: true });
    const r = runManyTasks(variants[0]!, large, "random", seed, SLOW_MS, 1);
    record(r, `T = ${large}, random rank-20 Gramian`);
    report.large = { T: large, ms: r.maxMs, failure: r.failure };
  }
  return report;
}

function child(method: string, runs: number, seed: number, large: number): void {
  const send = (m: ToParent) => void process.send?.(m);
  const report = runMethod(method, runs, seed, large, send);
  send({ type: "done", report });
  process.disconnect?.();
}

/** Runs one method in a child process; a case running past the limit kills it (a hang). */
function supervise(method: string, argv: string[], hangMs: number, hangLargeMs: number): Promise<MethodReport> {
  return new Promise((resolve) => {
    const proc = fork(fileURLToPath(import.meta.url), [...argv, "--child", method], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    let last = "start";
    let done: MethodReport | undefined;
    let timer: NodeJS.Timeout | undefined;
    const arm = (ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        proc.kill("SIGKILL");
        resolve({ method, cases: 0, calls: 0, failures: 1, examples: [`hang: no progress for ${ms / 1000} s after '${last}'`], maxMs: ms, classes: {}, hang: last });
      }, ms);
    };
    arm(hangMs);
    proc.on("message", (m: ToParent) => {
      if (m.type === "progress") {
        last = m.what;
        arm(m.large ? hangLargeMs : hangMs);
      } else done = m.report;
    });
    proc.on("exit", (code) => {
      clearTimeout(timer);
      resolve(done ?? { method, cases: 0, calls: 0, failures: 1, examples: [`child exited with code ${code} after '${last}'`], maxMs: 0, classes: {} });
    });
  });
}

async function main(): Promise<void> {
  const program = new Command()
    .name("fuzz")
    .description("Fuzz every registered balancer (valid and degenerate update sequences)")
    .option("--runs <n>", "valid and degenerate cases per method (each)", "1000")
    .option("--seed <n>", "base seed (each method adds its index)", "1")
    .option("--methods <list>", "comma-separated method names (default: all registered)")
    .option("--large <T>", "tasks of the one large update per method (0: skip)", "1000")
    .option("--hang <s>", "seconds without progress before a case counts as hung", "60")
    .option("--hang-large <s>", "the same for the large update", "900")
    .option("--jobs <n>", "methods fuzzed in parallel", "2")
    .option("--child <method>", "(internal) run one method and report to the parent");
  program.parse();
  const o = program.opts<{ runs: string; seed: string; methods?: string; large: string; hang: string; hangLarge: string; jobs: string; child?: string }>();
  const int = (s: string, what: string, min: number) => {
    const v = Number(s);
    if (!Number.isInteger(v) || v < min) {
      console.error(`fuzz: --${what} must be an integer ≥ ${min}, got '${s}'`);
      process.exit(2);
    }
    return v;
  };
  const runs = int(o.runs, "runs", 1);
  const seed = int(o.seed, "seed", -(2 ** 31));
  const large = int(o.large, "large", 0);
  const all = methodNames();
  if (o.child) return child(o.child, runs, seed + all.indexOf(o.child), large);
  const methods = o.methods ? o.methods.split(",").map((s) => s.trim()) : all;
  const unknown = methods.filter((m) => !all.includes(m));
  if (unknown.length) {
    console.error(`fuzz: unknown method${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")} (known: ${all.join(", ")})`);
    process.exit(2);
  }
  const jobs = int(o.jobs, "jobs", 1);
  const argv = ["--runs", String(runs), "--seed", String(seed), "--large", String(large)];
  const t0 = performance.now();
  console.log(`fuzz: ${methods.length} methods, ${runs} valid + ${runs} degenerate cases each, seed ${seed}, T = 1 per option set, T = ${large || "—"} once; ${jobs} in parallel`);
  const reports = new Map<string, MethodReport>();
  const queue = [...methods];
  const worker = async () => {
    for (let m = queue.shift(); m !== undefined; m = queue.shift()) {
      const r = await supervise(m, argv, int(o.hang, "hang", 1) * 1000, int(o.hangLarge, "hang-large", 1) * 1000);
      reports.set(m, r);
      const largeNote = r.large ? `, T=${r.large.T}: ${(r.large.ms / 1000).toFixed(1)} s` : "";
      console.log(`${m.padEnd(12)} cases ${String(r.cases).padStart(6)}  updates ${String(r.calls).padStart(7)}  failures ${r.failures}  slowest update ${(r.maxMs / 1000).toFixed(2)} s${largeNote}`);
      for (const e of r.examples) console.log(`    ${e.length > 2000 ? e.slice(0, 2000) + " …" : e}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, methods.length) }, worker));
  // Outcome of the corrupted step, per input class and method: W (always weights), E (always a
  // BalancerInputError), W/E (both, depending on the case), · (not drawn).
  console.log("\nDegenerate input classes (outcome of the corrupted step): W weights, E BalancerInputError, W/E either");
  const width = Math.max(...CORRUPTION_NAMES.map((c) => c.length));
  console.log(`${"".padEnd(width)}  ${methods.map((m) => m.slice(0, 6).padEnd(6)).join(" ")}`);
  for (const c of CORRUPTION_NAMES) {
    const cells = methods.map((m) => {
      const x = reports.get(m)?.classes[c];
      const s = !x || x.weights + x.error === 0 ? "·" : x.error === 0 ? "W" : x.weights === 0 ? "E" : "W/E";
      return s.padEnd(6);
    });
    console.log(`${c.padEnd(width)}  ${cells.join(" ")}`);
  }
  const total = [...reports.values()];
  const failures = total.reduce((s, r) => s + r.failures, 0);
  const cases = total.reduce((s, r) => s + r.cases, 0);
  const updates = total.reduce((s, r) => s + r.calls, 0);
  const failed = total.filter((r) => r.failures > 0).map((r) => r.method);
  console.log(
    `\nfuzz summary: ${methods.length} methods, ${cases} cases, ${updates} updates, ${failures} failures${failed.length ? ` (${failed.join(", ")})` : ""}, seed ${seed}, ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
  process.exitCode = failures > 0 ? 1 : 0;
}

await main();
