import { mean, stdOrZero } from "../util/stats.js";
import { resolveTrainConfig, type MultiKind, type MultiTrainConfig } from "./multiRun.js";
import type { MultiRunOutcome, MultiRunSpec } from "./multiExperiment.js";

/**
 * The grid search GradNorm claims to replace (Chen et al. 2018, §5.4): static weights over a grid,
 * and GradNorm over a range of α, on one dataset, each point with the same seeds.
 */
export interface SweepSettings {
  readonly dataset: MultiKind;
  /** Number of static grid points: w_left = 2k/(n+1), w_right = 2 − w_left, k = 1…n (Σw = T = 2, like GradNorm). */
  readonly grid: number;
  /** GradNorm's α values, one point each. */
  readonly alphas: readonly number[];
  readonly seeds: readonly number[];
  readonly dataSeed: number;
  readonly train: Omit<Partial<MultiTrainConfig>, "seed">;
}

export interface SweepPoint {
  /** Identifies the run: every setting that changes its result (see {@link pointKey}). */
  readonly key: string;
  readonly group: "static" | "gradnorm";
  readonly label: string;
  readonly spec: MultiRunSpec;
}

/** Static weights (w_left, w_right) for an n-point grid on the segment w_left + w_right = 2, ends excluded. */
export function staticWeightGrid(n: number): [number, number][] {
  if (!Number.isInteger(n) || n < 1) throw new Error(`the static grid needs at least one point (got ${n})`);
  return Array.from({ length: n }, (_, i) => {
    const w = (2 * (i + 1)) / (n + 1);
    return [w, 2 - w];
  });
}

/** JSON with object keys sorted at every level, so equal settings give equal strings. */
export function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(",")}]`;
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

/** A run's identity: method, options, dataset, data seed and every training setting (defaults resolved, seed included). */
export function pointKey(spec: MultiRunSpec): string {
  const train = resolveTrainConfig(spec.train);
  return stableStringify({ method: spec.method, options: spec.options ?? {}, dataset: spec.dataset, dataSeed: spec.dataSeed, train });
}

export function sweepPoints(s: SweepSettings): SweepPoint[] {
  const points: SweepPoint[] = [];
  const add = (group: SweepPoint["group"], label: string, method: string, options: Record<string, unknown>) => {
    for (const seed of s.seeds) {
      const spec: MultiRunSpec = { method, label, options, dataset: s.dataset, dataSeed: s.dataSeed, train: { ...s.train, seed } };
      points.push({ key: pointKey(spec), group, label, spec });
    }
  };
  for (const w of staticWeightGrid(s.grid)) add("static", `static ${w[0].toFixed(3)}:${w[1].toFixed(3)}`, "static", { weights: w });
  for (const alpha of s.alphas) add("gradnorm", `gradnorm α=${alpha}`, "gradnorm", { alpha });
  return points;
}

export interface SweepRow {
  readonly label: string;
  readonly group: SweepPoint["group"];
  readonly seeds: number;
  /** Mean over tasks of test accuracy, then mean ± std over seeds. */
  readonly test: [number, number];
  /** The same for validation accuracy (what a grid search would select on). */
  readonly validation: [number, number];
  /** Final weights, averaged over seeds. */
  readonly weights: number[];
}

export interface GradNormPlacement {
  readonly label: string;
  readonly test: number;
  /** Static grid points with a lower mean test accuracy than this GradNorm point. */
  readonly beats: number;
  /** Of this many grid points. */
  readonly of: number;
  /** Share of the grid it beats, in [0, 1] (ties count half). */
  readonly percentile: number;
}

export interface SweepSummary {
  readonly rows: SweepRow[];
  /** The grid point a grid search would pick (best mean validation accuracy) and its test accuracy. */
  readonly selected: SweepRow | undefined;
  readonly bestTest: SweepRow | undefined;
  readonly gradnorm: GradNormPlacement[];
}

const taskMean = (a: readonly number[]) => mean([...a]);

/** Groups finished runs by point label and places each GradNorm α in the distribution of the static grid. */
export function summarizeSweep(points: readonly SweepPoint[], outcomes: ReadonlyMap<string, MultiRunOutcome>): SweepSummary {
  const labels = [...new Set(points.map((p) => p.label))];
  const rows: SweepRow[] = [];
  for (const label of labels) {
    const ps = points.filter((p) => p.label === label);
    const rs = ps.map((p) => outcomes.get(p.key)).filter((r): r is MultiRunOutcome => r !== undefined);
    if (rs.length === 0) continue;
    const test = rs.map((r) => taskMean(r.testAccuracy));
    const val = rs.map((r) => taskMean(r.validationAccuracy));
    const T = rs[0]!.weights.length;
    rows.push({
      label,
      group: ps[0]!.group,
      seeds: rs.length,
      test: [mean(test), stdOrZero(test)],
      validation: [mean(val), stdOrZero(val)],
      weights: Array.from({ length: T }, (_, t) => mean(rs.map((r) => r.weights[t]!))),
    });
  }
  const grid = rows.filter((r) => r.group === "static");
  const best = (key: "test" | "validation") => grid.reduce<SweepRow | undefined>((b, r) => (!b || r[key][0] > b[key][0] ? r : b), undefined);
  const gradnorm = rows
    .filter((r) => r.group === "gradnorm")
    .map((r) => {
      const beats = grid.filter((g) => g.test[0] < r.test[0]).length;
      const ties = grid.filter((g) => g.test[0] === r.test[0]).length;
      return { label: r.label, test: r.test[0], beats, of: grid.length, percentile: grid.length ? (beats + ties / 2) / grid.length : Number.NaN };
    });
  return { rows, selected: best("validation"), bestTest: best("test"), gradnorm };
}
