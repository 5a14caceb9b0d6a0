import { createBalancer, methodNames } from "../balancers/registry.js";

/**
 * The balancers of the PINN literature (SoftAdapt, ReLoBRaLo, learning-rate annealing, NTK weights),
 * which `pinn bench` compares; the multitask commands leave them out of their default method lists
 * (NTK weights need a model with per-sample outputs, annealing a PDE residual as its reference term).
 */
export const pinnBalancers: readonly string[] = ["softadapt", "relobralo", "lra", "ntk"];

/** Every registered method but `static` and the {@link pinnBalancers}: `bench mnist`'s default. */
export function multitaskMethods(): string[] {
  return methodNames().filter((m) => m !== "static" && !pinnBalancers.includes(m));
}

/**
 * Every registered method that can train any model in the contract: all but those that need per-sample
 * outputs (NTK weights' kernel traces, which only models with `kernelTraces`, the PINNs, give).
 */
export function anyModelMethods(): string[] {
  return methodNames().filter((m) => !createBalancer(m, m === "static" ? { weights: [1] } : {}).needs.kernelTraces);
}
