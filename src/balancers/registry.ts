import type { Balancer, BalancerState } from "./types.js";
import { BalancerInputError } from "./validate.js";
import { gradNorm } from "./gradNorm.js";
import { equalWeights } from "./equalWeights.js";
import { staticWeights } from "./staticWeights.js";
import { uncertainty } from "./uncertainty.js";
import { dwa } from "./dwa.js";
import { rlw } from "./rlw.js";
import { softAdapt } from "./softAdapt.js";
import { reloBralo } from "./reloBralo.js";
import { learningRateAnnealing } from "./learningRateAnnealing.js";
import { ntkWeights } from "./ntkWeights.js";
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
 * command line or a config) and returns a balancer; it rejects option names it does not read,
 * listed in its `optionNames`. Adding a method adds one line here.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyFactory = ((options?: any) => Balancer<BalancerState>) & { readonly optionNames: readonly string[] };

const factories: Readonly<Record<string, AnyFactory>> = {
  gradnorm: gradNorm as AnyFactory,
  equal: equalWeights as AnyFactory,
  static: staticWeights as AnyFactory,
  uncertainty: uncertainty as AnyFactory,
  dwa: dwa as AnyFactory,
  rlw: rlw as AnyFactory,
  softadapt: softAdapt as AnyFactory,
  relobralo: reloBralo as AnyFactory,
  lra: learningRateAnnealing as AnyFactory,
  ntk: ntkWeights as AnyFactory,
  graddrop: gradDrop as AnyFactory,
  famo: famo as AnyFactory,
  mgda: mgda as AnyFactory,
  upgrad: upgrad as AnyFactory,
  dualproj: dualProj as AnyFactory,
  cagrad: cagrad as AnyFactory,
  nashmtl: nashMtl as AnyFactory,
  pcgrad: pcgrad as AnyFactory,
  gradvac: gradVac as AnyFactory,
  config: config as AnyFactory,
  imtlg: imtlG as AnyFactory,
  alignedmtl: alignedMtl as AnyFactory,
  dbmtl: dbMtl as AnyFactory,
};

export const registry: Readonly<Record<string, AnyFactory>> = factories;

export function methodNames(): string[] {
  return Object.keys(factories);
}

/** The option names a method reads. */
export function methodOptions(name: string): readonly string[] {
  return lookup(name).optionNames;
}

function lookup(name: string): AnyFactory {
  const f = factories[name];
  if (!f) throw new BalancerInputError("lossbalance", `unknown method '${name}' (known: ${methodNames().join(", ")})`);
  return f;
}

/**
 * Builds a balancer by name; an unknown name gets an error listing the known ones, and option names
 * the method does not read get one from its factory. Options set to undefined count as unset.
 */
export function createBalancer(name: string, options: Record<string, unknown> = {}): Balancer<BalancerState> {
  return lookup(name)(options);
}
