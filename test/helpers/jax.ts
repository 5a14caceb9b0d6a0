import { init, defaultDevice, numpy as np } from "@jax-js/jax";

/** Initializes the wasm backend once per test file. */
export async function setupJax(): Promise<void> {
  await init("wasm");
  defaultDevice("wasm");
}

/** Reads an array (borrowed) to a plain number[]. */
export function toList(a: np.Array): number[] {
  return Array.from(a.ref.dataSync() as Float32Array);
}

export function maxRelErr(a: readonly number[], b: readonly number[]): number {
  let worst = 0;
  const scale = Math.max(1e-12, ...b.map(Math.abs));
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / scale);
  return worst;
}
