import { InvalidArgumentError, Option } from "commander";
import type { MultiEncoder } from "../experiments/multiRun.js";
import type { NonFinitePolicy, SkippedStep } from "../train/modelLoop.js";
import type { z } from "zod";
import * as schema from "./schema.js";

/**
 * A commander argument parser from a field of schema.ts: the field's value, or commander's
 * "option '--x <v>' argument 'v' is invalid. <what the field allows>".
 */
export function fromSchema<T>(field: z.ZodType<T>): (value: string) => T {
  return (value: string) => {
    const r = field.safeParse(value);
    if (!r.success) throw new InvalidArgumentError(schema.fieldMessage(r.error));
    return r.data;
  };
}

/** Commander argument parsers (for commands without a schema: runs, ui, playground, the examples); each rejects bad values with a one-line message. */
export const positiveInt: (value: string) => number = fromSchema(schema.integer(1));

/** `--threads`: a positive integer or `auto`. */
export const threadsArg: (value: string) => number | "auto" = fromSchema(schema.threads());

export const nonNegativeInt: (value: string) => number = fromSchema(schema.integer(0));

export const finiteNumber: (value: string) => number = fromSchema(schema.number());

export const positiveNumber: (value: string) => number = fromSchema(schema.number("positive"));

export const nonNegativeNumber: (value: string) => number = fromSchema(schema.number("nonNegative"));

export const numberList: (value: string) => number[] = fromSchema(schema.numberList());

export const nonNegativeList: (value: string) => number[] = fromSchema(schema.nonNegativeList());

export const intList: (value: string) => number[] = fromSchema(schema.intList());

export function oneOf<T extends string>(choices: readonly T[]): (value: string) => T {
  return fromSchema(schema.oneOf(choices as unknown as readonly [T, ...T[]])) as (value: string) => T;
}

/**
 * `key=value` method options: numbers, comma-separated number lists, true/false, else strings.
 * Accumulates over repeated flags.
 */
export function keyValue(value: string, previous: Record<string, unknown> = {}): Record<string, unknown> {
  const kv = schema.keyValue(value);
  if (kv === null) throw new InvalidArgumentError("must be key=value (e.g. c=0.4)");
  return { ...previous, ...kv };
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
export const outPath: (value: string) => string = fromSchema(schema.path());

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

// The options below belong to the training commands, whose schema (schema.ts, bindSchema in
// config.ts) checks their values.

/** `--store <path>` of the training commands: the run store their runs are recorded in. */
export function storeOption(): Option {
  return new Option("--store <path>", "record the runs in this run store (default: LOSSBALANCE_STORE, else .lossbalance/runs.db)");
}

/** `--record-every <k>`: record only every k-th step of each run (the evaluations and final metrics always). */
export function recordEveryOption(): Option {
  return new Option("--record-every <k>", "record every k-th training step in the run store (default 1: every step)");
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
  ).default("stop");
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
