/**
 * `--config <file.json>` and the flags of the training commands, checked by one schema (schema.ts):
 * bindSchema makes commander check each flag's value with its field's schema; resolveOptions
 * merges defaults < config file < flags given on the command line and checks the result with the
 * same schema.
 */
import { readFileSync } from "node:fs";
import { Option, type Command } from "commander";
import type { z } from "zod";
import { fieldIssues, flagName, repeatable, withValue, type CommandSchema } from "./schema.js";
import { reason } from "./output.js";
import { fromSchema } from "./options.js";

/** The `--config` option of the training commands. */
export function configOption(): Option {
  return new Option(
    "--config <file.json>",
    'read options from a JSON object whose keys are the options\' camelCase names (e.g. {"steps": 500, "seeds": [0, 1], "opt": {"c": 0.4}}); flags given on the command line override it',
  );
}

/** The schema key of an option (`--no-store` shares `store` with `--store`). */
const keyOf = (o: Option): string => o.attributeName();

/**
 * Makes commander check every value-taking option of `cmd` with its field of `schema` (a bad one:
 * commander's `option '--steps <n>' argument '-3' is invalid. must be a positive integer`).
 * Throws (a programming error) if an option has no field or a field no option.
 */
export function bindSchema(cmd: Command, schema: CommandSchema): Command {
  const shape = schema.shape;
  const keys = new Set<string>();
  for (const option of cmd.options as Option[]) {
    const key = keyOf(option);
    keys.add(key);
    if (key === "config") continue;
    const field = shape[key];
    if (field === undefined) throw new Error(`${cmd.name()}: option ${option.long} has no field in the schema`);
    if (option.negate || option.isBoolean()) continue; // --json, --no-store: commander's true/false
    const parse = fromSchema(field);
    option.argParser(
      repeatable.has(key)
        ? (value: string, previous: unknown) => ({ ...(previous as Record<string, unknown> | undefined), ...(parse(value) as Record<string, unknown>) })
        : parse,
    );
  }
  for (const key of Object.keys(shape)) if (!keys.has(key)) throw new Error(`${cmd.name()}: schema field ${key} has no option`);
  return cmd;
}

/** A config file's object, read and parsed (not yet checked against a schema). */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`cannot read --config ${file}: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a folder" : reason(e)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`${file}: must be a JSON object of option names to values (e.g. {"steps": 500}), got ${value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`}`);
  }
  return value as Record<string, unknown>;
}

/** Suggestion for an unknown key: its camelCase (`batch-size` → `batchSize`), or the key in another case. */
function suggestion(key: string, accepted: readonly string[]): string {
  const camel = key.replace(/^-+/, "").replace(/[-_]+([a-zA-Z0-9])/g, (_, c: string) => c.toUpperCase());
  const hit = accepted.find((k) => k === camel || k.toLowerCase() === camel.toLowerCase());
  return hit === undefined ? "" : ` (did you mean "${hit}"?)`;
}

/**
 * A config file's values, checked by the command's schema (every field optional); the errors name
 * the file and the field, with the value it got and what is allowed.
 */
export function checkConfig(file: string, raw: Record<string, unknown>, schema: CommandSchema, command?: string): Record<string, unknown> {
  const accepted = Object.keys(schema.shape);
  const unknown = Object.keys(raw).filter((k) => !accepted.includes(k));
  if (unknown.length > 0) {
    const list = unknown.map((k) => `"${k}"${suggestion(k, accepted)}`).join(", ");
    throw new Error(`${file}: unknown option${unknown.length > 1 ? "s" : ""} ${list}; ${command === undefined ? "accepted" : `${command} accepts`}: ${accepted.join(", ")}`);
  }
  const r = schema.partial().safeParse(raw);
  if (!r.success) throw new Error(`${file}: ${describeErrors(r.error, (key) => `"${key}"`, raw)}`);
  return r.data as Record<string, unknown>;
}

/** One line for a failed parse: each bad field's label and message (with the value it got), in the order of `values`. */
function describeErrors(error: z.ZodError, label: (key: string) => string, values: Record<string, unknown>): string {
  const order = Object.keys(values);
  const at = (key: string | null) => (key === null ? -1 : order.indexOf(key));
  return fieldIssues(error)
    .sort((a, b) => at(a.key) - at(b.key))
    .map(({ key, issue }) => (key === null ? issue.message : `${label(key)}: ${withValue(issue.message, values[key])}`))
    .join("; ");
}

/** `toy`, `bench mnist`: the command's words after the program's name. */
function commandPath(cmd: Command): string {
  const words: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) words.unshift(c.name());
  return words.join(" ");
}

/** Where each option's value came from, after resolveOptions. */
export type Source = "default" | "config" | "cli";

export interface Resolved<T> {
  options: T;
  /** Where each set option's value came from. */
  source: (key: string) => Source | undefined;
  /** How an error names an option: its flag, and the config file it came from if it did (`--grad-mode (gradMode in c.json)`). */
  label: (key: string) => string;
  /** True where the option was set by a flag or the config file (not a default). */
  given: (key: string) => boolean;
}

/**
 * The options of `cmd` after parsing: defaults, overridden by the `--config` file's values, overridden by
 * the flags given on the command line (`--opt` merges key by key), checked by `schema`. Without
 * `--config`, the flags' values (already checked) and the defaults.
 */
export function resolveOptions<T>(cmd: Command, schema: CommandSchema): Resolved<T> {
  const opts = cmd.opts() as Record<string, unknown>;
  const file = opts.config as string | undefined;
  if (file !== undefined && file.trim() === "") throw new Error("--config: must not be empty");
  const config = file === undefined ? {} : checkConfig(file, readConfigFile(file), schema, commandPath(cmd));
  const merged: Record<string, unknown> = {};
  const sources = new Map<string, Source>();
  for (const key of Object.keys(schema.shape)) {
    const fromCli = cmd.getOptionValueSource(key) === "cli";
    const value = opts[key];
    if (!fromCli && key in config) {
      merged[key] = config[key];
      sources.set(key, "config");
    } else if (fromCli && repeatable.has(key) && key in config) {
      merged[key] = { ...(config[key] as object), ...(value as object) };
      sources.set(key, "cli");
    } else if (value !== undefined) {
      merged[key] = value;
      sources.set(key, fromCli ? "cli" : "default");
    }
  }
  const label = (key: string) => (sources.get(key) === "config" ? `${flagName(key)} ("${key}" in ${file})` : flagName(key));
  const r = schema.safeParse(merged);
  if (!r.success) throw new Error(describeErrors(r.error, label, merged));
  return {
    options: r.data as T,
    source: (key) => sources.get(key),
    label,
    given: (key) => sources.get(key) === "cli" || sources.get(key) === "config",
  };
}

/** Cross-field rules of `--checkpoint-every`, `--checkpoint-dir` and `--resume` (toy, bench mnist). */
export function checkCheckpointOptions(r: Resolved<{ checkpointEvery?: number; checkpointDir?: string; resume?: string }>): void {
  const o = r.options;
  if (o.checkpointEvery !== undefined && o.checkpointDir === undefined && o.resume === undefined) {
    throw new Error(`${r.label("checkpointEvery")} needs --checkpoint-dir <dir> (or --resume <dir>, whose folder it then uses)`);
  }
  if (o.checkpointDir !== undefined && o.checkpointEvery === undefined) {
    throw new Error(`${r.label("checkpointDir")} has no effect without --checkpoint-every <n>`);
  }
}
