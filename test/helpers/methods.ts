import { createBalancer, methodNames } from "../../src/balancers/registry.js";

/**
 * Every registered method that trains any model in the contract: all but those needing per-sample
 * outputs (NTK weights' kernel traces: PINNs only, tested in test/experiments/pinnRun.test.ts).
 */
export function anyModelMethods(): string[] {
  return methodNames().filter((m) => !createBalancer(m, m === "static" ? { weights: [1] } : {}).needs.kernelTraces);
}
