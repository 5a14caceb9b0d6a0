import type { RunSummary } from "../../src/report/types.js";

/**
 * A two-task run (σ = 1, 100) for report tests: three recorded weight rows and the given evaluations
 * (first = initial losses, last = final losses).
 */
export function reportRun(method: string, evalLosses: number[][], evalSteps: number[], label?: string): RunSummary {
  return {
    method,
    ...(label ? { label } : {}),
    tasks: 2,
    sigma: [1, 100],
    seed: 0,
    testLoss: evalLosses.at(-1)!,
    initialTestLoss: evalLosses[0]!,
    normalizedTestLoss: 1,
    weights: [1.2, 0.8],
    msPerStep: 1,
    wallMs: 1,
    history: { steps: [0, 5, 10], weights: [[1, 1], [1.1, 0.9], [1.2, 0.8]], losses: [], evalSteps, evalLosses },
  };
}
