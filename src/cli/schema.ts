/**
 * One zod schema per training command (toy, compare, bench mnist, sweep): the value checks of its
 * command-line flags and of its `--config` file. Every field takes the string a flag gives
 * (`"500"`, `"0,1,2"`, `"c=0.4"`) and the JSON value a config file gives (`500`, `[0, 1, 2]`,
 * `{"c": 0.4}`), and yields the typed value the command functions receive; its error message
 * says what is allowed (`must be a positive integer`, `unknown method 'x'; allowed: …`).
 * Commander tokenizes the flags and calls these schemas per flag (see bindSchema in config.ts);
 * a config file is checked by the same command schema, strict (unknown keys are errors).
 */
import { z } from "zod";
import { methodNames } from "../balancers/registry.js";
import { gradModes, type GradStatistic } from "../balancers/types.js";
import { multiEncoders, multiKinds, type MultiEncoder, type MultiKind } from "../experiments/multiRun.js";
import { nonFinitePolicies, type NonFinitePolicy } from "../train/modelLoop.js";
import type { ToyCommandOptions } from "./toy.js";
import type { CompareOptions } from "./compare.js";
import type { BenchMnistOptions } from "./benchMnist.js";
import type { SweepOptions } from "./sweep.js";
import type { PinnBenchOptions, PinnCommandOptions } from "./pinn.js";
import { pinnProblemNames } from "../pinn/problems.js";

/** A string of decimal digits (what `--steps 500` gives), else the value unchanged. */
const digits = (v: unknown): unknown => (typeof v === "string" && /^\s*\d+\s*$/.test(v) ? Number(v) : v);
/** A non-empty numeric string (`"0.12"`, `"1e-3"`) as a number, else the value unchanged. */
const numeric = (v: unknown): unknown => (typeof v === "string" && v.trim() !== "" ? Number(v) : v);

/** An integer ≥ `min`; a string must be plain digits. */
export function integer(min: 0 | 1, message = min === 1 ? "must be a positive integer" : "must be a non-negative integer") {
  return z.preprocess(digits, z.int({ error: message }).min(min, { error: message }));
}

/** A finite number (and > 0 or ≥ 0). */
export function number(kind: "finite" | "positive" | "nonNegative" = "finite") {
  const base = z.number({ error: "must be a finite number" });
  return z.preprocess(numeric, kind === "positive" ? base.gt(0, { error: "must be > 0" }) : kind === "nonNegative" ? base.min(0, { error: "must be ≥ 0" }) : base);
}

/** One of `values` (`must be one of a, b, c`). */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `must be one of ${values.join(", ")}` });
}

/** A name from `values`; the error names the bad one: `unknown method 'x'; allowed: a, b`. */
export function named<T extends string>(noun: string, values: readonly T[]) {
  const allowed = `allowed: ${values.join(", ")}`;
  return z.enum(values as unknown as readonly [T, ...T[]], {
    error: (iss) => (typeof iss.input === "string" ? `unknown ${noun} '${iss.input}'; ${allowed}` : `must be a ${noun} name; ${allowed}`),
  });
}

/** The names `methodNames()` registers, at the time the schema is built. */
export const methodName = () => named("method", methodNames());

/**
 * A list: a JSON array, or a comma-separated string (a flag's value) whose parts `part` turns
 * into elements. `emptyOk`: the empty string is the empty list. `distinct`: no value twice
 * (`--seeds 0,0` would run the same seed twice and count it twice in every mean ± std).
 */
export function list<E extends z.ZodType>(element: E, message: string, o: { part?: (s: string) => unknown; emptyOk?: boolean; distinct?: boolean } = {}) {
  const part = o.part ?? numeric;
  const split = (v: unknown) => (typeof v !== "string" ? v : o.emptyOk && v.trim() === "" ? [] : v.split(",").map((p) => (p.trim() === "" ? p : part(p))));
  const array = z.array(element, { error: message });
  return z.preprocess(
    split,
    o.distinct
      ? array.superRefine((xs, ctx) => {
          const seen = new Set<unknown>();
          for (const x of xs) {
            if (seen.has(x)) {
              ctx.addIssue({ code: "custom", message: `must not repeat a value (${String(x)} appears more than once)`, input: xs });
              return;
            }
            seen.add(x);
          }
        })
      : array,
  );
}

/** Seeds are used modulo 2³² (deriveSeed takes seed | 0): larger ones would alias smaller ones. */
const SEED_MAX = 2 ** 32 - 1;
const seedMessage = `must be an integer from 0 to ${SEED_MAX}`;
/** A seed: an integer in 0 … 2³² − 1. */
export const seed = () => z.preprocess(digits, z.int({ error: seedMessage }).min(0, { error: seedMessage }).max(SEED_MAX, { error: seedMessage }));
const seedsMessage = `must be comma-separated integers from 0 to ${SEED_MAX}`;
/** Distinct seeds. */
export const seedList = () => list(z.int({ error: seedsMessage }).min(0, { error: seedsMessage }).max(SEED_MAX, { error: seedsMessage }), seedsMessage, { distinct: true });

const intsMessage = "must be comma-separated non-negative integers";
/** Non-negative integers (seeds, task counts, widths). */
export const intList = (o: { distinct?: boolean } = {}) => list(z.int({ error: intsMessage }).min(0, { error: intsMessage }), intsMessage, o);
/** Finite numbers (static weights). */
export const numberList = () => list(z.number({ error: "must be a comma-separated list of finite numbers" }), "must be a comma-separated list of finite numbers");
/** Numbers ≥ 0 (GradNorm's α values). */
export const nonNegativeList = (o: { distinct?: boolean; emptyOk?: boolean } = {}) => {
  const m = "must be comma-separated numbers ≥ 0";
  return list(z.number({ error: m }).min(0, { error: m }), m, o);
};
/** Names from `values`, comma-separated; the error names the unknown one. */
export const nameList = <T extends string>(noun: string, values: readonly T[], o: { distinct?: boolean; emptyOk?: boolean } = {}) =>
  list(named(noun, values), `must be comma-separated ${noun} names; allowed: ${values.join(", ")}`, { ...o, part: (s) => s.trim() });

/** A file or folder path: any string but the empty one. */
export const path = (message?: string) => z.string({ error: message ?? "must be a path (a string)" }).refine((s) => s.trim() !== "", { error: message ?? "must not be empty" });

/** `--threads`: a positive integer or `auto`. */
export const threads = () => {
  const message = "must be a positive integer or auto";
  return z.preprocess((v) => (typeof v === "string" && v.trim() === "auto" ? "auto" : v), z.union([z.literal("auto"), integer(1, message)], { error: message }));
};

/** A flag without a value (`--json`): true or false in a config file. */
export const flag = () => z.boolean({ error: "must be true or false" });

/** `--store <path>` or `--no-store` (false); in a config file `"store": "runs.db"` or `"store": false`. */
export const store = () => {
  const message = "must be a run store path, or false for no store";
  return z.union([path(message), z.boolean()], { error: message });
};

/** `--opt key=value` parsed: numbers, comma-separated number lists, true/false, else strings. Null: not key=value. */
export function keyValue(value: string): Record<string, unknown> | null {
  const m = /^([A-Za-z][A-Za-z0-9]*)=(.+)$/.exec(value.trim());
  if (!m) return null;
  const [, key, raw] = m as unknown as [string, string, string];
  let v: unknown = raw;
  if (raw === "true" || raw === "false") v = raw === "true";
  else if (raw.split(",").every((p) => p.trim() !== "" && Number.isFinite(Number(p)))) v = raw.includes(",") ? raw.split(",").map(Number) : Number(raw);
  return { [key]: v };
}

/**
 * Method options: `key=value` (a flag; repeated flags accumulate, see bindSchema), a list of such
 * strings, or a JSON object (`{"c": 0.4, "rescale": 1}`). The method checks the names it knows.
 */
export const methodOpts = () =>
  z.preprocess(
    (v, ctx) => {
      const strings = typeof v === "string" ? [v] : Array.isArray(v) && v.every((s) => typeof s === "string") ? (v as string[]) : null;
      if (strings === null) return v;
      const out: Record<string, unknown> = {};
      for (const s of strings) {
        const kv = keyValue(s);
        if (kv === null) {
          ctx.addIssue({ code: "custom", message: "must be key=value (e.g. c=0.4)", input: s });
          return z.NEVER;
        }
        Object.assign(out, kv);
      }
      return out;
    },
    z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9]*$/, { error: optsMessage }), z.union([z.number(), z.boolean(), z.string(), z.array(z.number())], { error: optsMessage }), { error: optsMessage }),
  );
const optsMessage = 'must be method options: key=value (e.g. c=0.4), or an object of numbers, number lists, true/false or strings such as {"c": 0.4}';

/** Keys whose flag may be repeated, each value adding to the earlier ones (`--opt a=1 --opt b=2`). */
export const repeatable: ReadonlySet<string> = new Set(["opt"]);

/** `--checkpoint-every`, `--checkpoint-dir`, `--resume` (toy and bench mnist). */
const checkpointFields = () => ({ checkpointEvery: integer(1).optional(), checkpointDir: path().optional(), resume: path().optional() });

/** `--store`, `--record-every`, `--on-nonfinite`, `--threads`, `--json`: on every training command. */
const runFields = () => ({
  store: store().optional(),
  recordEvery: integer(1).optional(),
  onNonfinite: oneOf(nonFinitePolicies as unknown as readonly [NonFinitePolicy, ...NonFinitePolicy[]]),
  threads: threads(),
  json: flag().optional(),
});

/** The synthetic task's data and training settings (toy and compare). */
const dataFields = () => ({
  steps: integer(1),
  batchSize: integer(1),
  lr: number("positive"),
  inputScale: number("positive"),
  trainSize: integer(1),
  testSize: integer(1),
  dataSeed: seed(),
});

const gradMode = () => oneOf(gradModes as unknown as readonly [GradStatistic, ...GradStatistic[]]);

export function toySchema() {
  return z.strictObject({
    ...dataFields(),
    tasks: integer(1),
    method: methodName(),
    alpha: number("nonNegative").optional(),
    gradMode: gradMode().optional(),
    weights: numberList().optional(),
    temperature: number().optional(),
    opt: methodOpts().optional(),
    seed: seed(),
    out: path().optional(),
    ...checkpointFields(),
    ...runFields(),
  });
}

export function compareSchema() {
  return z.strictObject({
    ...dataFields(),
    tasks: intList({ distinct: true }),
    seeds: seedList(),
    alpha: nonNegativeList({ distinct: true }),
    workers: integer(1).optional(),
    extraMethods: nameList("method", methodNames(), { distinct: true, emptyOk: true }).optional(),
    extraTasks: intList({ distinct: true }),
    extraSeeds: seedList(),
    gradMode: gradMode(),
    out: path(),
    ...checkpointFields(),
    ...runFields(),
  });
}

/** The training settings `bench mnist` and `sweep` share. */
const multiTrainFields = () => ({
  seeds: seedList(),
  epochs: integer(1),
  batchSize: integer(1),
  lr: number("positive"),
  encoder: oneOf(multiEncoders as unknown as readonly [MultiEncoder, ...MultiEncoder[]]),
  hidden: intList().optional(),
  dataSeed: seed(),
  workers: integer(1).optional(),
  ...runFields(),
});

export function benchMnistSchema() {
  return z.strictObject({
    ...multiTrainFields(),
    datasets: nameList("dataset", multiKinds, { distinct: true }),
    gradMode: gradMode().optional(),
    methods: nameList("method", methodNames(), { distinct: true, emptyOk: true }),
    out: path(),
    ...checkpointFields(),
  });
}

export function sweepSchema() {
  return z.strictObject({
    ...multiTrainFields(),
    dataset: oneOf(multiKinds as unknown as readonly [MultiKind, ...MultiKind[]]),
    grid: integer(1),
    alpha: nonNegativeList({ distinct: true, emptyOk: true }),
    out: path(),
  });
}

/** The PINN training settings (`pinn <problem>` and `pinn bench`). */
const pinnTrainFields = () => ({
  steps: integer(1),
  lr: number("positive"),
  hidden: list(z.int({ error: "must be comma-separated positive integers" }).min(1, { error: "must be comma-separated positive integers" }), "must be comma-separated positive integers").optional(),
  points: integer(1),
  grid: integer(1).refine((n) => n >= 2, { error: "must be an integer ≥ 2" }),
  derivatives: oneOf(["taylor", "jvp"] as const),
  ...checkpointFields(),
  ...runFields(),
});

export function pinnSchema() {
  return z.strictObject({
    ...pinnTrainFields(),
    method: methodName(),
    alpha: number("nonNegative").optional(),
    gradMode: gradMode().optional(),
    opt: methodOpts().optional(),
    seed: seed(),
    out: path().optional(),
  });
}

export function pinnBenchSchema() {
  return z.strictObject({
    ...pinnTrainFields(),
    problems: nameList("problem", pinnProblemNames, { distinct: true }),
    methods: nameList("method", methodNames(), { distinct: true }),
    seeds: seedList(),
    workers: integer(1).optional(),
    out: path(),
  });
}

/** A command's schema: a strict object of field schemas. */
export type CommandSchema = z.ZodObject<Record<string, z.ZodType>, z.core.$strict>;

// The validated options are what the command functions take (checked by the compiler; compare's
// `command` line and default extra methods are added by its action).
type Assignable<A extends B, B> = A;
export type ToyOptions = Assignable<z.output<ReturnType<typeof toySchema>>, ToyCommandOptions>;
export type CompareCliOptions = Assignable<z.output<ReturnType<typeof compareSchema>>, Omit<CompareOptions, "command">>;
export type BenchMnistCliOptions = Assignable<z.output<ReturnType<typeof benchMnistSchema>>, BenchMnistOptions>;
export type SweepCliOptions = Assignable<z.output<ReturnType<typeof sweepSchema>>, SweepOptions>;
export type PinnCliOptions = Assignable<z.output<ReturnType<typeof pinnSchema>>, PinnCommandOptions>;
export type PinnBenchCliOptions = Assignable<z.output<ReturnType<typeof pinnBenchSchema>>, PinnBenchOptions>;

/** `"steps"` → `--steps`, `"onNonfinite"` → `--on-nonfinite`. */
export const flagName = (key: string): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** A value as a config file shows it: JSON, cut short if long. */
export function show(value: unknown): string {
  const s = JSON.stringify(value) ?? String(value);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** The first issue of each field, with the field's key (the top-level one for a list's element). */
export function fieldIssues(error: z.ZodError): { key: string | null; issue: z.core.$ZodIssue }[] {
  const seen = new Set<string>();
  const out: { key: string | null; issue: z.core.$ZodIssue }[] = [];
  for (const issue of error.issues) {
    const key = issue.path.length > 0 ? String(issue.path[0]) : null;
    if (key !== null && seen.has(key)) continue;
    if (key !== null) seen.add(key);
    out.push({ key, issue });
  }
  return out;
}

/** A field's message with the value it got (unless the message already quotes it). */
export function withValue(message: string, value: unknown): string {
  return /'[^']*'/.test(message) ? message : `${message}, got ${show(value)}`;
}

/** The message of one failed parse of a single field (a flag's value). */
export function fieldMessage(error: z.ZodError): string {
  return error.issues[0]?.message ?? "invalid value";
}
