import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

/**
 * Canonical JSON of a value: object keys sorted recursively, `undefined` members dropped (as
 * JSON.stringify drops them), so two configs with the same settings in another key order hash alike.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value)) ?? "null";
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === "object" && !ArrayBuffer.isView(v)) {
    const src = (typeof (v as { toJSON?: unknown }).toJSON === "function" ? (v as { toJSON(): unknown }).toJSON() : v) as Record<string, unknown>;
    if (src === null || typeof src !== "object" || Array.isArray(src)) return sortKeys(src);
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(src).sort()) out[k] = sortKeys(src[k]);
    return out;
  }
  return v;
}

/** SHA-256 of the config's canonical JSON (keys sorted recursively), hex, first 16 characters. Node-only. */
export function configHash(config: unknown): string {
  return createHash("sha256").update(canonicalJson(config)).digest("hex").slice(0, 16);
}

let libraryVersion: string | null | undefined;
/** lossbalance's version from its package.json (null if unreadable). */
export function packageVersion(): string | null {
  if (libraryVersion === undefined) {
    try {
      libraryVersion = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: string }).version ?? null;
    } catch {
      libraryVersion = null;
    }
  }
  return libraryVersion;
}

/**
 * Keys of a command's settings that are not configuration: timings (differ run to run) and where the
 * output goes. Left out of the settings' config hash, so equal settings hash alike wherever they ran to.
 */
export const nonConfigKeys: readonly string[] = ["wallSeconds", "wallMs", "msPerStep", "out", "json", "store", "command", "resumed", "ran"];

/**
 * What every result of a command records about how it was made: the library version and the config
 * hash of the command's settings (less {@link nonConfigKeys}).
 */
export function provenance(settings: Record<string, unknown>): { version: string; configHash: string } {
  const config = Object.fromEntries(Object.entries(settings).filter(([k]) => !nonConfigKeys.includes(k)));
  return { version: packageVersion() ?? "unknown", configHash: configHash(config) };
}
