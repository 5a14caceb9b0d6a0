import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

/**
 * Counts live device buffers of the jax-js wasm backend by wrapping its malloc/decRef.
 * jax-js does not export its backend, so this reaches into the bundle's internal chunk
 * (the module jax-js itself imports, hence the same instance). If a jax-js release
 * renames things, this fails loudly rather than passing silently.
 */
export async function liveBufferCounter(): Promise<{ live(): number }> {
  const require = createRequire(import.meta.url);
  const dist = dirname(require.resolve("@jax-js/jax")); // …/dist/index.cjs
  const index = readFileSync(join(dist, "index.js"), "utf8");
  const chunk = /from "\.\/(backend-[\w-]+\.js)"/.exec(index)?.[1];
  if (!chunk) throw new Error("liveBufferCounter: cannot find jax-js backend chunk");
  const src = readFileSync(join(dist, chunk), "utf8");
  const alias = /getBackend as (\w+)/.exec(src)?.[1];
  if (!alias) throw new Error("liveBufferCounter: cannot find getBackend export in jax-js backend chunk");
  const mod = (await import(pathToFileURL(join(dist, chunk)).href)) as Record<string, (d: string) => Record<string, unknown>>;
  const backend = mod[alias]!("wasm") as { malloc(...a: unknown[]): number; decRef(slot: number): void; incRef(slot: number): void };
  let live = 0;
  const malloc = backend.malloc.bind(backend);
  const decRef = backend.decRef.bind(backend);
  const incRef = backend.incRef.bind(backend);
  const refs = new Map<number, number>();
  backend.malloc = (...a: unknown[]) => {
    const slot = malloc(...a);
    refs.set(slot, 1);
    live++;
    return slot;
  };
  backend.incRef = (slot: number) => {
    incRef(slot);
    if (refs.has(slot)) refs.set(slot, refs.get(slot)! + 1);
  };
  backend.decRef = (slot: number) => {
    decRef(slot);
    const r = refs.get(slot);
    if (r === undefined) return;
    if (r <= 1) {
      refs.delete(slot);
      live--;
    } else refs.set(slot, r - 1);
  };
  return { live: () => live };
}
