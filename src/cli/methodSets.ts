import { methodNames } from "../balancers/registry.js";

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
