import { adam, type AdamOptions, type AdamState, type AdamStateKind } from "./adam.js";
import { adamw, type AdamWOptions, type AdamWState } from "./adamw.js";
import { sgd, type SgdOptions, type SgdState, type SgdStateKind } from "./sgd.js";
import type { OptimizerStateKind, TreeOptimizer } from "./types.js";

export { adam, adamw, sgd };
export type { AdamOptions, AdamState, AdamStateKind, AdamWOptions, AdamWState, SgdOptions, SgdState, SgdStateKind };
export type { Tree, TreeOptimizer, OptimizerStateKind, StateOf, OptimizerState } from "./types.js";

const makers = {
  adam: (o: AdamOptions) => adam(o),
  adamw: (o: AdamWOptions) => adamw(o),
  sgd: (o: SgdOptions) => sgd(o),
};
const knownOptions: Record<TreeOptimizerName, readonly string[]> = {
  adam: ["lr", "beta1", "beta2", "eps"],
  adamw: ["lr", "beta1", "beta2", "eps", "weightDecay"],
  sgd: ["lr", "momentum", "nesterov", "weightDecay", "dampening"],
};

export type TreeOptimizerName = keyof typeof makers;
export const treeOptimizerNames = Object.keys(makers) as TreeOptimizerName[];

/** Each optimizer's options, by name. */
export interface TreeOptimizerOptionsByName {
  adam: AdamOptions;
  adamw: AdamWOptions;
  sgd: SgdOptions;
}
/** The union of every optimizer's options, as a CLI collects them. */
export type AnyTreeOptimizerOptions = AdamOptions & AdamWOptions & SgdOptions;

/**
 * The optimizer called `name` ("adam", "adamw" or "sgd"), for a CLI. An unknown name is an Error
 * listing the known ones; an option the named optimizer does not take (e.g. momentum for adam) is an
 * Error too, so that a flag is never silently ignored (keys whose value is undefined are skipped).
 */
export function optimizerByName<N extends TreeOptimizerName>(name: N, options: TreeOptimizerOptionsByName[N]): ReturnType<(typeof makers)[N]>;
export function optimizerByName(name: string, options: AnyTreeOptimizerOptions): TreeOptimizer;
export function optimizerByName(name: string, options: AnyTreeOptimizerOptions): TreeOptimizer<OptimizerStateKind> {
  if (!Object.hasOwn(makers, name)) {
    throw new Error(`unknown optimizer '${name}' (known: ${treeOptimizerNames.join(", ")})`);
  }
  const known = knownOptions[name as TreeOptimizerName];
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined && !known.includes(key)) {
      throw new Error(`${name}: unknown option '${key}' (${name} takes ${known.join(", ")})`);
    }
  }
  return makers[name as TreeOptimizerName](options);
}
