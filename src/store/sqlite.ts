import { createRequire } from "node:module";
import type * as Sqlite from "node:sqlite";

/**
 * Loads Node's built-in `node:sqlite` (Node ≥ 22.13 without a flag; no native addon to build).
 * Loading it emits one `ExperimentalWarning: SQLite is an experimental feature…`. That exact warning
 * is dropped: `process.emitWarning` is wrapped only for the synchronous `require` below (the warning
 * is created there, synchronously) and restored right after, and the wrapper drops only an
 * ExperimentalWarning whose message mentions SQLite — every other warning, even one emitted in the
 * same tick, goes through. The module is loaded lazily (not by a static `import`, which would run
 * before any code of ours could install the filter).
 */
let loaded: typeof Sqlite | undefined;

export function sqlite(): typeof Sqlite {
  if (loaded) return loaded;
  const original = process.emitWarning;
  const filtered = function (this: unknown, warning: string | Error, ...rest: unknown[]): void {
    const opt = rest[0];
    const type = typeof opt === "string" ? opt : ((opt as { type?: string } | undefined)?.type ?? (warning instanceof Error ? warning.name : undefined));
    const message = typeof warning === "string" ? warning : warning.message;
    if (type === "ExperimentalWarning" && /\bSQLite\b/.test(message)) return;
    (original as (...a: unknown[]) => void).call(this, warning, ...rest);
  };
  process.emitWarning = filtered as typeof process.emitWarning;
  try {
    loaded = createRequire(import.meta.url)("node:sqlite") as typeof Sqlite;
  } finally {
    if (process.emitWarning === filtered) process.emitWarning = original;
  }
  return loaded;
}

export type DatabaseSync = Sqlite.DatabaseSync;
export type StatementSync = Sqlite.StatementSync;
