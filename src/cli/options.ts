import { InvalidArgumentError, Option } from "commander";
import { multiKinds, type MultiEncoder, type MultiKind } from "../experiments/multiRun.js";
import { nonFinitePolicies, type NonFinitePolicy, type SkippedStep } from "../train/modelLoop.js";

/** Commander argument parsers: each rejects bad values with a one-line message. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError("must be a positive integer");
  return n;
}

/** `--threads`: a positive integer or `auto`. */
export function threadsArg(value: string): number | "auto" {
  if (value.trim() === "auto") return "auto";
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError("must be a positive integer or auto");
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError("must be a non-negative integer");
  return n;
}

export function finiteNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError("must be a finite number");
  return n;
}

export function positiveNumber(value: string): number {
  const n = finiteNumber(value);
  if (n <= 0) throw new InvalidArgumentError("must be > 0");
  return n;
}

export function nonNegativeNumber(value: string): number {
  const n = finiteNumber(value);
  if (n < 0) throw new InvalidArgumentError("must be ≥ 0");
  return n;
}

export function numberList(value: string): number[] {
  const parts = value.split(",");
  const out = parts.map((p) => Number(p));
  if (parts.some((p) => p.trim() === "") || !out.every(Number.isFinite)) {
    throw new InvalidArgumentError("must be a comma-separated list of finite numbers");
  }
  return out;
}

export function nonNegativeList(value: string): number[] {
  const out = numberList(value);
  if (!out.every((n) => n >= 0)) throw new InvalidArgumentError("must be comma-separated numbers ≥ 0");
  return out;
}

export function intList(value: string): number[] {
  const out = numberList(value);
  if (!out.every((n) => Number.isSafeInteger(n) && n >= 0)) throw new InvalidArgumentError("must be comma-separated non-negative integers");
  return out;
}

export function oneOf<T extends string>(choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) throw new InvalidArgumentError(`must be one of ${choices.join(", ")}`);
    return value as T;
  };
}

/**
 * `key=value` method options: numbers, comma-separated number lists, true/false, else strings.
 * Accumulates over repeated flags.
 */
export function keyValue(value: string, previous: Record<string, unknown> = {}): Record<string, unknown> {
  const m = /^([A-Za-z][A-Za-z0-9]*)=(.+)$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError("must be key=value (e.g. c=0.4)");
  const [, key, raw] = m as unknown as [string, string, string];
  let v: unknown = raw;
  if (raw === "true" || raw === "false") v = raw === "true";
  else if (raw.split(",").every((p) => p.trim() !== "" && Number.isFinite(Number(p)))) {
    v = raw.includes(",") ? raw.split(",").map(Number) : Number(raw);
  }
  return { ...previous, [key]: v };
}

/**
 * A list parser that also rejects repeated values (`--seeds 0,0` would run the same seed twice and
 * count it twice in every mean ± std).
 */
export function distinct<T>(parse: (value: string) => T[]): (value: string) => T[] {
  return (value: string) => {
    const out = parse(value);
    const seen = new Set<T>();
    for (const v of out) {
      if (seen.has(v)) throw new InvalidArgumentError(`must not repeat a value (${String(v)} appears more than once)`);
      seen.add(v);
    }
    return out;
  };
}

/** An output folder: any path but the empty one. */
export function outPath(value: string): string {
  if (value.trim() === "") throw new InvalidArgumentError("must not be empty");
  return value;
}

/** Comma-separated names; an empty string is an empty list. */
export function nameList(value: string): string[] {
  if (value.trim() === "") return [];
  const out = value.split(",").map((v) => v.trim());
  if (out.some((v) => !/^[A-Za-z][\w-]*$/.test(v))) throw new InvalidArgumentError("must be comma-separated method names");
  return out;
}

/** Comma-separated multi-image datasets. */
export function datasetList(value: string): MultiKind[] {
  const out = value.split(",").map((v) => v.trim());
  if (!out.every((v) => (multiKinds as readonly string[]).includes(v))) {
    throw new InvalidArgumentError(`must be comma-separated: ${multiKinds.join(", ")}`);
  }
  return out as MultiKind[];
}

/** The training options `bench mnist` and `sweep` share (see addMultiTrainOptions in main.ts). */
export interface MultiTrainCliOptions {
  seeds: number[];
  epochs: number;
  batchSize: number;
  lr: number;
  encoder: MultiEncoder;
  hidden?: number[];
  dataSeed: number;
  workers?: number;
  threads: number | "auto";
  json?: boolean;
  /** `--store <path>` (a path) or `--no-store` (false); undefined: the default store. */
  store?: string | boolean;
  /** `--on-nonfinite` (commander's attribute name): stop (default) or skip steps with non-finite values. */
  onNonfinite?: NonFinitePolicy;
}

/** `--store <path>` of the training commands: the run store their runs are recorded in. */
export function storeOption(): Option {
  return new Option("--store <path>", "record the runs in this run store (default: LOSSBALANCE_STORE, else .lossbalance/runs.db)").argParser(outPath);
}

/** `--record-every <k>`: record only every k-th step of each run (the evaluations and final metrics always). */
export function recordEveryOption(): Option {
  return new Option("--record-every <k>", "record every k-th training step in the run store (default 1: every step)").argParser(positiveInt);
}

/** `--no-store`: record nothing. */
export function noStoreOption(): Option {
  return new Option("--no-store", "do not record the runs in the run store");
}

/** `--on-nonfinite stop|skip`: what a training step with non-finite losses, statistics or weights does. */
export function onNonFiniteOption(): Option {
  return new Option(
    "--on-nonfinite <policy>",
    "a training step whose losses, gradient statistics or weights are NaN/Infinity: stop (end the run with an error naming the step, task and value) or skip (drop the step and go on with the next batch; the run stops once more than max(10, 1 % of its steps) are skipped, or more than 10 in a row)",
  )
    .argParser(oneOf(nonFinitePolicies))
    .default("stop");
}

/** The training setting for `--on-nonfinite`: nothing for the default (so run settings and sweep keys stay as they were), else the policy. */
export function nonFiniteSetting(policy: NonFinitePolicy | undefined): { onNonFinite?: NonFinitePolicy } {
  return policy === undefined || policy === "stop" ? {} : { onNonFinite: policy };
}

/** One stderr line per run that skipped steps (under --on-nonfinite skip): how many and which. */
export function reportSkipped(runs: readonly { readonly label?: string; readonly method: string; readonly seed?: number; readonly skipped?: readonly SkippedStep[] }[]): void {
  for (const r of runs) {
    const n = r.skipped?.length ?? 0;
    if (n === 0) continue;
    const steps = r.skipped!.slice(0, 20).map((s) => s.step).join(", ") + (n > 20 ? `, … (${n - 20} more)` : "");
    console.error(`${r.label ?? r.method}${r.seed === undefined ? "" : ` seed ${r.seed}`}: skipped ${n} step${n === 1 ? "" : "s"} with non-finite values (--on-nonfinite skip): ${steps}`);
  }
}
