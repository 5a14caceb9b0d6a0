import { init, defaultDevice, jit, tree, numpy as np } from "@jax-js/jax";
import type { ModelParams, Tree } from "../../src/model/contract.js";
import type { ModelStatRequest } from "../../src/model/generic.js";

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

/** A model pass (generic or fast tier): losses and, when asked, the statistic. */
type StatPass<B> = (p: ModelParams, b: B, o: { stat: ModelStatRequest }) => { losses: np.Array; stat?: np.Array | undefined };

/** The statistic `pass` computes under jit for `stat`, read back (params and batch borrowed). */
export function jitStat<B extends Tree>(pass: StatPass<B>, params: ModelParams, batch: B, stat: ModelStatRequest): number[] {
  const f = jit((p: ModelParams, b: B) => {
    const r = pass(p, b, { stat });
    tree.dispose(p);
    tree.dispose(b);
    r.losses.dispose();
    return r.stat!;
  });
  const got = toList((f as unknown as (p: ModelParams, b: B) => np.Array)(tree.ref(params), tree.ref(batch)));
  f.dispose();
  return got;
}

/**
 * The raw `abs` statistic of per-task gradient rows, as the kernels lay it out ([3, T] flattened): the
 * largest |entry| per row, the sums of |entries|, the entry counts.
 */
export function absStatOf(rows: readonly (readonly number[])[]): number[] {
  const abs = rows.map((r) => r.map(Math.abs));
  return [...abs.map((r) => Math.max(...r)), ...abs.map((r) => r.reduce((s, v) => s + v, 0)), ...abs.map((r) => r.length)];
}

/** The statistic `kind` of per-task gradient rows as the kernels return it: squared norms, the Gramian (flat), or {@link absStatOf}. */
export function statOfRows(rows: readonly (readonly number[])[], kind: "norms" | "gramian" | "abs"): number[] {
  const dot = (a: readonly number[], b: readonly number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0);
  if (kind === "abs") return absStatOf(rows);
  return kind === "norms" ? rows.map((a) => dot(a, a)) : rows.flatMap((a) => rows.map((b) => dot(a, b)));
}
