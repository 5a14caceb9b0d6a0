/** Data model of a comparison report (what `renderReport` turns into a page). */
import type { LoopHistory } from "../train/loop.js";

export type { LoopHistory };

/** One training run: a balancing method on one task set with one seed. */
export interface RunSummary {
  /** Balancer name (registry key); runs sharing method (and label) are seeds of one configuration. */
  method: string;
  /** Display name; defaults to `method`. */
  label?: string;
  tasks: number;
  /** Per-task noise scale σᵢ of the toy problem. */
  sigma: number[];
  seed: number;
  /** Final per-task test losses Lᵢ. */
  testLoss: number[];
  /** Per-task test losses of the initial network, Lᵢ(0). */
  initialTestLoss: number[];
  /** Σᵢ Lᵢ / Lᵢ(0). */
  normalizedTestLoss: number;
  /** Final task weights. */
  weights: number[];
  msPerStep: number;
  wallMs: number;
  history: LoopHistory;
}

export interface Experiment {
  title: string;
  tasks: number;
  sigma: number[];
  runs: RunSummary[];
  notes?: string[];
}

export interface ComparisonReport {
  title: string;
  /** ISO timestamp. */
  generatedAt: string;
  /** The command line that produced the report. */
  command: string;
  settings: Record<string, string | number | boolean | number[]>;
  experiments: Experiment[];
}
