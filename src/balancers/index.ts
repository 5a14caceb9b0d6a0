export type { Balancer, BalancerState, CombinationRequest, GradientCombination, Gramian, GradStatistic, Needs, Observation, Timing, UpdateResult } from "./types.js";
export { BalancerInputError } from "./validate.js";
export { registry, methodNames, methodOptions, createBalancer, type AnyFactory } from "./registry.js";
export { gradNorm, gradNormStep, renormalize, type GradNormInfo, type GradNormOptions, type GradNormState } from "./gradNorm.js";
export { equalWeights, type EqualWeightsState } from "./equalWeights.js";
export { staticWeights, type StaticWeightsOptions, type StaticWeightsState } from "./staticWeights.js";
export {
  uncertainty,
  uncertaintyFactors,
  uncertaintyGrad,
  type UncertaintyOptions,
  type UncertaintyState,
  type UncertaintyTaskType,
} from "./uncertainty.js";
export { dwa, dwaWeights, type DwaOptions, type DwaState } from "./dwa.js";
export { rlw, rlwDraw, type RlwOptions, type RlwState } from "./rlw.js";
export { softAdapt, softAdaptWeights, type SoftAdaptOptions, type SoftAdaptState, type SoftAdaptVariant } from "./softAdapt.js";
export { reloBralo, reloBraloBalance, type ReLoBRaLoOptions, type ReLoBRaLoState } from "./reloBralo.js";
export { learningRateAnnealing, type LearningRateAnnealingOptions, type LearningRateAnnealingState } from "./learningRateAnnealing.js";
export { ntkWeights, type NtkWeightsOptions, type NtkWeightsState } from "./ntkWeights.js";
export { gradDrop, type GradDropOptions, type GradDropState } from "./gradDrop.js";
export { famo, famoSoftmax, famoLogitGrad, famoWeights, type FamoOptions, type FamoState } from "./famo.js";
export { mgda, mgdaWeights, mgdaSolve } from "./mgda.js";
export { upgrad, upgradWeights, upgradSolve } from "./upgrad.js";
export { dualProj, dualProjWeights, dualProjSolve } from "./dualProj.js";
export { cagrad, cagradWeights, cagradSolve } from "./cagrad.js";
export { nashMtl, nashMtlWeights, nashMtlSolve } from "./nashMtl.js";
export { pcgrad, pcgradWeights, pcgradProject, pcgradOrders } from "./pcgrad.js";
export { gradVac, gradVacWeights, gradVacStep } from "./gradVac.js";
export { config, configWeights, configSolve } from "./config.js";
export { imtlG, imtlGWeights, imtlGSolve } from "./imtlG.js";
export { alignedMtl, alignedMtlWeights, alignedMtlMatrix } from "./alignedMtl.js";
export { dbMtl, dbMtlWeights, dbMtlStep } from "./dbMtl.js";
