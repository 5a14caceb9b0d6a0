import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { checkpointFormat, decodeCheckpoint, encodeCheckpoint, firstDifference, fromJson, toJson, type Checkpoint } from "../train/checkpoint.js";
import { TrainingError } from "../train/checks.js";

/**
 * Checkpoint folders in Node. A folder holds one subfolder per saved checkpoint,
 * `step-<k>/{tensors.safetensors, state.json}`, and `latest.json` naming the newest. A save writes the
 * new subfolder under a temporary name (each file written and fsynced), renames it into place, fsyncs
 * the folder, then replaces `latest.json` the same way (write, fsync, rename); only then are older
 * subfolders removed, keeping the newest two. A process killed at any point (SIGKILL included) leaves
 * `latest.json` naming a complete checkpoint — the previous one or the new one.
 */

const LATEST = "latest.json";
const TENSORS = "tensors.safetensors";
const STATE = "state.json";
const RESULT = "result.json";

function writeFileSynced(path: string, data: string | Uint8Array): void {
  const fd = openSync(path, "w");
  try {
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `data` to `path` atomically: a temporary file in the same folder, fsynced, renamed over it, and the folder fsynced. */
export function writeAtomic(path: string, data: string | Uint8Array, dir: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSynced(tmp, data);
  renameSync(tmp, path);
  fsyncDir(dir);
}

const stepFolder = (step: number) => `step-${String(step).padStart(9, "0")}`;

/** Saves a checkpoint (taken after `step` run steps) into `dir` atomically; keeps the newest two. */
export function saveCheckpoint(dir: string, cp: Checkpoint, step: number): void {
  mkdirSync(dir, { recursive: true });
  const docs = encodeCheckpoint(cp);
  const name = stepFolder(step);
  const tmp = join(dir, `${name}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  writeFileSynced(join(tmp, TENSORS), docs.tensors);
  writeFileSynced(join(tmp, STATE), docs.state);
  fsyncDir(tmp);
  const final = join(dir, name);
  const previous = readLatest(dir);
  if (previous !== name) rmSync(final, { recursive: true, force: true }); // a leftover of a run killed before its latest.json
  else throw new TrainingError(`checkpoint: ${final} is the latest checkpoint already`);
  renameSync(tmp, final);
  fsyncDir(dir);
  writeAtomic(join(dir, LATEST), JSON.stringify({ format: checkpointFormat, step, folder: name }) + "\n", dir);
  const keep = new Set([name, previous]);
  for (const entry of readdirSync(dir)) {
    if (/^step-\d+(\.tmp-\d+)?$/.test(entry) && !keep.has(entry) && !entry.endsWith(`.tmp-${process.pid}`)) rmSync(join(dir, entry), { recursive: true, force: true });
  }
}

/** The subfolder `latest.json` names, or undefined when there is none. */
function readLatest(dir: string): string | undefined {
  const file = join(dir, LATEST);
  if (!existsSync(file)) return undefined;
  let latest: { format?: unknown; folder?: unknown };
  try {
    latest = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new TrainingError(`checkpoint: ${file} is not valid JSON (${(e as Error).message})`);
  }
  if (latest.format !== checkpointFormat || typeof latest.folder !== "string" || !/^step-\d+$/.test(latest.folder)) {
    throw new TrainingError(`checkpoint: ${file} is not a ${checkpointFormat} pointer`);
  }
  return latest.folder;
}

/** Whether `dir` holds a checkpoint (a `latest.json`). */
export function hasCheckpoint(dir: string): boolean {
  return existsSync(join(dir, LATEST));
}

/** Loads the latest checkpoint in `dir`; a clear error when there is none or it is damaged. */
export function loadCheckpoint<L = unknown>(dir: string): Checkpoint<L> {
  if (!existsSync(dir)) throw new TrainingError(`checkpoint: no folder ${dir}`);
  const folder = readLatest(dir);
  if (folder === undefined) throw new TrainingError(`checkpoint: ${dir} holds no checkpoint (no ${LATEST})`);
  const at = join(dir, folder);
  try {
    return decodeCheckpoint<L>({ tensors: new Uint8Array(readFileSync(join(at, TENSORS))), state: readFileSync(join(at, STATE), "utf8") });
  } catch (e) {
    throw Object.assign(new TrainingError(`checkpoint ${at}: ${(e as Error).message}`), { cause: e });
  }
}

/** Throws when a checkpoint's config differs from the run's, naming the first difference. */
export function checkConfig(dir: string, saved: unknown, config: unknown): void {
  const diff = firstDifference(JSON.parse(JSON.stringify(saved)), JSON.parse(JSON.stringify(config)));
  if (diff) throw new TrainingError(`--resume ${dir}: the checkpoint was written by a run with other settings (${diff.replace(" ≠ ", " there, ")} here); resume with the command that wrote it`);
}

/** Saves a finished run's result next to its checkpoints (atomically), with its config. */
export function saveResult(dir: string, config: unknown, result: unknown): void {
  mkdirSync(dir, { recursive: true });
  writeAtomic(join(dir, RESULT), toJson({ format: checkpointFormat, config, result }), dir);
}

/** A finished run's saved result, or undefined when the run did not finish. */
export function loadResult(dir: string): { config: unknown; result: unknown } | undefined {
  const file = join(dir, RESULT);
  if (!existsSync(file)) return undefined;
  const saved = fromJson(readFileSync(file, "utf8")) as { format?: unknown; config: unknown; result: unknown };
  if (saved?.format !== checkpointFormat) throw new TrainingError(`checkpoint: ${file} is not a ${checkpointFormat} result`);
  return saved;
}
