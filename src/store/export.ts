import { cosinePairs, shortF32 } from "./codec.js";
import type { RunStore, StepRow } from "./store.js";

/**
 * Exports of a run's steps. Per-task values print as the shortest decimal that reads back as the
 * stored float32 (see `shortF32`), so an export parsed again gives the stored numbers exactly.
 */

function layout(store: RunStore, id: number) {
  const run = store.getRun(id);
  if (!run) throw new Error(`no run ${id} in ${store.path}`);
  const has = store.stmt("SELECT MAX(grad_norms IS NOT NULL) AS n, MAX(cosines IS NOT NULL) AS c FROM steps WHERE run_id = ?").get(id) as { n: number | null; c: number | null };
  const T = run.tasks ?? store.lastStep(id)?.losses.length ?? 0;
  const pairs = has.c ? cosinePairs(T) : [];
  const header = [
    "step",
    "ms",
    ...Array.from({ length: T }, (_, i) => `loss_${i}`),
    ...Array.from({ length: T }, (_, i) => `weight_${i}`),
    ...(has.n ? Array.from({ length: T }, (_, i) => `grad_norm_${i}`) : []),
    ...pairs.map(([i, j]) => `cos_${i}_${j}`),
  ];
  return { run, T, norms: !!has.n, pairs: pairs.length, header };
}

/** Step times print to 0.1 µs. */
const roundMs = (ms: number) => Math.round(ms * 1e4) / 1e4;

const cells = (values: number[] | null, n: number) => Array.from({ length: n }, (_, i) => (values && i < values.length ? String(shortF32(values[i]!)) : ""));

/** CSV lines (header first, one row per step, a column per task and quantity), each without its newline. */
export function* exportCsv(store: RunStore, id: number): Generator<string> {
  const { T, norms, pairs, header } = layout(store, id);
  yield header.join(",");
  for (const s of store.iterateSteps(id)) {
    yield [String(s.step), s.ms == null ? "" : String(roundMs(s.ms)), ...cells(s.losses, T), ...cells(s.weights, T), ...(norms ? cells(s.gradNorms, T) : []), ...(pairs ? cells(s.cosines, pairs) : [])].join(",");
  }
}

/** The run (its row, steps and evals) as one JSON document. */
export function exportJson(store: RunStore, id: number): string {
  const { run } = layout(store, id);
  const short = (v: number[] | null) => v && v.map(shortF32);
  const steps = store.steps(id).map((s) => ({ step: s.step, ms: s.ms == null ? null : roundMs(s.ms), losses: short(s.losses), weights: short(s.weights), gradNorms: short(s.gradNorms), cosines: short(s.cosines) }));
  return JSON.stringify({ run, steps, evals: store.evals(id) }, null, 1);
}

/** Reads `exportCsv`'s output back into step rows. */
export function parseCsv(text: string): StepRow[] {
  const lines = text.split(/\r?\n/).filter((l) => l !== "");
  const header = lines[0]!.split(",");
  const cols = (prefix: string) => header.flatMap((h, c) => (h.startsWith(prefix) ? [c] : []));
  const groups = { losses: cols("loss_"), weights: cols("weight_"), gradNorms: cols("grad_norm_"), cosines: cols("cos_") };
  return lines.slice(1).map((line) => {
    const v = line.split(",");
    const pick = (c: number[]) => (c.length === 0 || c.every((k) => v[k] === "") ? null : c.map((k) => Number(v[k])));
    return { step: Number(v[0]), ms: v[1] === "" ? null : Number(v[1]), losses: pick(groups.losses)!, weights: pick(groups.weights)!, gradNorms: pick(groups.gradNorms), cosines: pick(groups.cosines) };
  });
}
