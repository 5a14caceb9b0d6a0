import type { Balancer, BalancerState, Observation, UpdateResult } from "./types.js";
import { BalancerInputError, checkLosses, checkNonNegativeVector, checkNumTasks, checkOption, checkOptionNames } from "./validate.js";

export interface NtkWeightsOptions {
  /** Recompute the weights every this many steps (the authors' wave-equation code: 100; the paper's text: 1,000). Default 100. */
  readonly every?: number;
}

export type NtkWeightsState = BalancerState;

/**
 * NTK weights — Wang, Yu & Perdikaris, "When and why PINNs fail to train: a neural tangent kernel
 * perspective", J. Comput. Phys. 449, 2022, Algorithm 1: every `every` steps,
 *
 *   λᵢ = Σₖ τₖ / τᵢ,   τᵢ = Tr Kᵢᵢ / Mᵢ = (1/Mᵢ)·Σⱼ‖∂rᵢ(xⱼ)/∂θ‖²,
 *
 * where Kᵢᵢ is the neural tangent kernel block of term i (its Mᵢ pointwise residuals rᵢ(xⱼ)) over all
 * parameters θ: each term's weight is the total kernel trace over its own, so the terms' average
 * convergence rates (the kernel's eigenvalues) are equalized. Needs `needs.kernelTraces`, which only
 * models with per-sample outputs give (`pinnModel`'s `kernelTraces`). Weights are assigned, with no
 * moving average, as in the paper and the official code; they start at 1 and change at steps 0,
 * `every`, 2·`every`, … (timing `next`: step t's traces give the weights from step t + 1). A term with a
 * zero trace (no gradient) keeps its weight.
 *
 * Options (defaults): `every` 100 (the official code, PINNsNTK_Wave1D.ipynb; the paper's wave
 * example says 1,000).
 *
 * Difference from the paper and code: traces per residual entry (Tr Kᵢᵢ / Mᵢ) rather than sums: every
 * loss term here is a mean over its entries, and the terms may have different numbers of them (a
 * Klein–Gordon initial term has two per point); with equal sizes, as in all the paper's experiments,
 * the weights are the same.
 */
export function ntkWeights(options: NtkWeightsOptions = {}): Balancer<NtkWeightsState> {
  const name = "ntk";
  checkOptionNames(name, options, ntkWeights.optionNames);
  const every = checkOption(name, "every", options.every ?? 100, (v) => Number.isInteger(v) && v >= 1, "an integer ≥ 1");
  return {
    name,
    needs: { kernelTraces: true, every },
    init(numTasks) {
      checkNumTasks(name, numTasks, 1);
      return { weights: new Array<number>(numTasks).fill(1), step: 0 };
    },
    update(obs: Observation, state: NtkWeightsState): UpdateResult<NtkWeightsState> {
      const T = state.weights.length;
      checkLosses(name, obs, T);
      const step = state.step + 1;
      if (state.step % every !== 0) return { weights: state.weights, state: { weights: state.weights, step } };
      const traces = checkNonNegativeVector(name, "kernel traces", "kernel trace", obs.kernelTraces, T);
      const total = traces.reduce((a, b) => a + b, 0);
      if (!Number.isFinite(total)) throw new BalancerInputError(name, `the kernel traces' sum overflows (${traces.join(", ")})`);
      const weights = state.weights.map((w, i) => {
        if (!(traces[i]! > 0)) return w; // no gradient: nothing to balance against
        const next = total / traces[i]!;
        if (!Number.isFinite(next)) throw new BalancerInputError(name, `weight of task ${i} overflows: ${total} / ${traces[i]}`);
        return next;
      });
      return { weights, state: { weights, step }, info: { traces: [...traces] } };
    },
  };
}

/** The option names {@link ntkWeights} reads; any other name is rejected. */
ntkWeights.optionNames = ["every"] as const satisfies readonly (keyof NtkWeightsOptions)[];
