/**
 * Δm% — the mean over tasks (and metrics) of the relative change of each metric against the
 * single-task baseline, signed so that positive means better (Maninis et al. 2019; Liu et al. 2021):
 *
 *   Δm = (100 / K) · Σₖ sₖ · (Mₖ − Bₖ) / Bₖ,   sₖ = +1 if higher is better, −1 if lower is better,
 *
 * over the K metrics Mₖ of the method and Bₖ of the single-task networks. Papers differ on the sign
 * convention (some report the negative); here positive = better than single-task.
 */
export interface Metric {
  readonly value: number;
  readonly baseline: number;
  readonly higherIsBetter: boolean;
}

export function deltaM(metrics: readonly Metric[]): number {
  if (metrics.length === 0) throw new Error("deltaM: no metrics");
  let sum = 0;
  metrics.forEach((m, k) => {
    if (!Number.isFinite(m.value) || !Number.isFinite(m.baseline) || m.baseline === 0) {
      throw new Error(`deltaM: metric ${k} needs a finite value and a finite, non-zero baseline (got ${m.value} vs ${m.baseline})`);
    }
    sum += ((m.higherIsBetter ? 1 : -1) * (m.value - m.baseline)) / Math.abs(m.baseline);
  });
  return (100 * sum) / metrics.length;
}
