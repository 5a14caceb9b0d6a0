import type { Balancer, BalancerState } from "./types.js";
import { BalancerInputError } from "./validate.js";
import { gradNorm } from "./gradNorm.js";
import { equalWeights } from "./equalWeights.js";
import { staticWeights } from "./staticWeights.js";
import { uncertainty } from "./uncertainty.js";
import { dwa } from "./dwa.js";
import { rlw } from "./rlw.js";
import { gradDrop } from "./gradDrop.js";
import { famo } from "./famo.js";
import { mgda } from "./mgda.js";
import { upgrad } from "./upgrad.js";
import { dualProj } from "./dualProj.js";
import { cagrad } from "./cagrad.js";
import { nashMtl } from "./nashMtl.js";
import { pcgrad } from "./pcgrad.js";
import { gradVac } from "./gradVac.js";
import { config } from "./config.js";
import { imtlG } from "./imtlG.js";
import { alignedMtl } from "./alignedMtl.js";
import { dbMtl } from "./dbMtl.js";

/**
 * Every method by its CLI name. A factory takes a loosely typed options object (from the
 * command line or a config) and returns a balancer; adding a method adds one line here.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyFactory = (options?: any) => Balancer<BalancerState>;

/** A factory and the option names it reads (checked against its options type by the compiler). */
interface Entry {
  readonly factory: AnyFactory;
  readonly options: readonly string[];
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const entry = <O,>(factory: (options: O) => Balancer<any>, options: readonly (keyof NonNullable<O> & string)[]): Entry => ({ factory: factory as AnyFactory, options });

const entries: Readonly<Record<string, Entry>> = {
  gradnorm: entry(gradNorm, ["alpha", "lr", "optimizer", "initialLoss", "gradMode", "minWeight"]),
  equal: { factory: equalWeights as AnyFactory, options: [] },
  static: entry(staticWeights, ["weights"]),
  uncertainty: entry(uncertainty, ["lr", "optimizer", "taskTypes", "initialLogVariance"]),
  dwa: entry(dwa, ["temperature", "epochLength"]),
  rlw: entry(rlw, ["seed"]),
  graddrop: entry(gradDrop, ["leak", "seed"]),
  famo: entry(famo, ["lr", "gamma", "minLoss", "epsilon", "optimizer", "weightSum"]),
  mgda: entry(mgda, ["gradMode", "normalization"]),
  upgrad: entry(upgrad, ["pref", "gradMode"]),
  dualproj: entry(dualProj, ["pref", "gradMode"]),
  cagrad: entry(cagrad, ["c", "rescale", "gradMode"]),
  nashmtl: entry(nashMtl, ["maxIters", "tol", "ridge", "maxNorm", "gradMode"]),
  pcgrad: entry(pcgrad, ["seed", "gradMode"]),
  gradvac: entry(gradVac, ["beta", "seed", "gradMode"]),
  config: entry(config, ["gradMode"]),
  imtlg: entry(imtlG, ["gradMode"]),
  alignedmtl: entry(alignedMtl, ["scale", "eps", "gradMode"]),
  dbmtl: entry(dbMtl, ["beta", "betaSigma", "eps", "gradMode"]),
};

export const registry: Readonly<Record<string, AnyFactory>> = Object.fromEntries(Object.entries(entries).map(([k, e]) => [k, e.factory]));

export function methodNames(): string[] {
  return Object.keys(entries);
}

/** The option names a method reads. */
export function methodOptions(name: string): readonly string[] {
  return lookup(name).options;
}

function lookup(name: string): Entry {
  const e = entries[name];
  if (!e) throw new BalancerInputError("lossbalance", `unknown method '${name}' (known: ${methodNames().join(", ")})`);
  return e;
}

/**
 * Builds a balancer by name; unknown names, and option names the method does not read (a typo would
 * otherwise be ignored silently), get an error listing the known ones. Options set to undefined count as unset.
 */
export function createBalancer(name: string, options: Record<string, unknown> = {}): Balancer<BalancerState> {
  const e = lookup(name);
  const unknown = Object.keys(options).filter((k) => options[k] !== undefined && !e.options.includes(k));
  if (unknown.length > 0) {
    throw new BalancerInputError(name, `unknown option${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `'${k}'`).join(", ")} (${e.options.length ? `known: ${e.options.join(", ")}` : "it takes none"})`);
  }
  return e.factory(options);
}
