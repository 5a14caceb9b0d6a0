import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { CheckpointSpec } from "../experiments/hooks.js";

/** `--checkpoint-every`, `--checkpoint-dir`, `--resume` (commander's attribute names). */
export interface CheckpointFlags {
  checkpointEvery?: number | undefined;
  checkpointDir?: string | undefined;
  resume?: string | undefined;
}

/**
 * Checks the checkpoint folders before any training (the flags' combinations are the schema's
 * cross-field checks, config.ts): `--resume` needs an existing folder; a `--checkpoint-dir` that already holds files (an earlier run's
 * checkpoints) is written to only with `--resume`, so nothing saved is overwritten by a new run.
 */
export function checkCheckpointFlags(o: CheckpointFlags): void {
  if (o.resume !== undefined && !(existsSync(o.resume) && statSync(o.resume).isDirectory())) throw new Error(`--resume ${o.resume}: no such folder`);
  const dir = o.checkpointDir;
  if (dir !== undefined && existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new Error(`--checkpoint-dir ${dir} is a file, not a folder`);
    // What a run killed during its first save leaves (step folders, temporary names, no latest.json) counts as empty.
    const kept = readdirSync(dir).filter((e) => !/^step-\d+(\.tmp-\d+)?$/.test(e) && !/\.tmp-\d+$/.test(e));
    const leftoversOnly = kept.length === 0;
    if (o.resume === undefined && !leftoversOnly) throw new Error(`--checkpoint-dir ${dir} is not empty (an earlier run's checkpoints?): continue that run with --resume ${dir}, or choose an empty folder`);
  }
}

/**
 * The checkpoint settings of one run of a command, or undefined without the flags. `sub`: the run's
 * subfolder (commands with several runs); `required`: whether `--resume` must find a checkpoint (one
 * run) or may start runs that had not begun (several).
 */
export function checkpointSpec(o: CheckpointFlags, sub?: string, required = true): CheckpointSpec | undefined {
  if (o.checkpointEvery === undefined && o.resume === undefined) return undefined;
  const at = (d: string) => (sub === undefined ? resolve(d) : join(resolve(d), sub));
  return { dir: at(o.checkpointDir ?? o.resume!), every: o.checkpointEvery, ...(o.resume !== undefined ? { resumeFrom: at(o.resume) } : {}), required };
}

/** A run's checkpoint subfolder name from its parts, with what a file name cannot hold replaced by "_". */
export function runFolderName(...parts: (string | number)[]): string {
  return parts.map((p) => String(p).replace(/[^A-Za-z0-9.+-]+/g, "_")).join("-");
}

/** Adds each run's checkpoint settings (subfolder `folder(spec)`) when the flags ask for them; two runs never share a folder. */
export function withRunCheckpoints<S extends object>(o: CheckpointFlags, specs: S[], folder: (spec: S) => string): S[] {
  const names = specs.map(folder);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new Error(`two runs would share the checkpoint folder '${dup}'`);
  return specs.map((spec, i) => {
    const checkpoint = checkpointSpec(o, names[i], false);
    return checkpoint ? { ...spec, checkpoint } : spec;
  });
}
