import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";

/** Why a path cannot be used, in a few words: the errno code turned into words where it helps. */
export function reason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === "ENOTDIR") return "a part of the path is a file, not a folder";
  if (code === "EEXIST") return "it exists and is not a folder";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EROFS") return "read-only file system";
  if (code === "ENOSPC") return "no space left on the device";
  return e instanceof Error ? e.message : String(e);
}

/**
 * Checks, before any training starts, that `dir` can take a command's output files: it is created
 * (with its parents) if missing, must be a folder, each of `files` in it must be absent or a regular
 * file, and a probe file must be writable there. Throws an Error with one line naming the path and
 * the problem; returns the folder's absolute path.
 */
export function prepareOutDir(dir: string, files: readonly string[] = []): string {
  if (dir.trim() === "") throw new Error("--out must not be empty");
  const abs = resolve(dir);
  try {
    mkdirSync(abs, { recursive: true });
  } catch (e) {
    throw new Error(`cannot use --out ${dir}: ${reason(e)}`);
  }
  if (!statSync(abs).isDirectory()) throw new Error(`cannot use --out ${dir}: it exists and is not a folder`);
  for (const f of files) {
    const st = statSync(join(abs, f), { throwIfNoEntry: false });
    if (st && !st.isFile()) throw new Error(`cannot write ${join(dir, f)}: it exists and is not a file`);
  }
  const probe = join(abs, `.lossbalance-probe-${randomUUID()}`);
  try {
    writeFileSync(probe, "");
  } catch (e) {
    throw new Error(`cannot write into --out ${dir}: ${reason(e)}`);
  } finally {
    rmSync(probe, { force: true });
  }
  return abs;
}

/** Where a file that could not be written at `path` goes instead: its name in a new folder of the system's temporary folder. */
export function fallbackPath(path: string): string {
  return join(mkdtempSync(join(tmpdir(), "lossbalance-")), basename(path));
}

/**
 * Writes a finished result to `path`. If that fails (the folder was removed, the disk is full, …),
 * the result is not lost: it goes to a new file in the system's temporary folder, and a line on
 * stderr says why and where. Returns the path actually written.
 */
export function saveOutput(path: string, content: string): string {
  try {
    writeFileSync(path, content);
    return resolve(path);
  } catch (e) {
    const fallback = fallbackPath(path);
    writeFileSync(fallback, content);
    console.error(`lossbalance: could not write ${path} (${reason(e)}); saved it to ${fallback} instead`);
    return fallback;
  }
}
