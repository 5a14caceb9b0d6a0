/**
 * lossbalance/tfjs — adaptive loss balancing for multi-output TensorFlow.js models. Needs
 * `@tensorflow/tfjs` (or `@tensorflow/tfjs-core` with `@tensorflow/tfjs-layers`) and any backend; the
 * package root never imports TF.js. Balancers come from the root (`gradNorm`, `createBalancer`, …).
 */
export { createTfjsTrainer, type TfjsTrainer, type TfjsTrainerOptions, type TfjsInputs, type TfjsLoss } from "./trainer.js";
export { fit, evaluateInBatches, targetsInOrder, type FitOptions, type FitCallbacks, type FitHistory, type FitLogs, type TfjsTargets } from "./fit.js";
export { analyseModel, TfjsModelError, type ModelGraph } from "./graph.js";
export { tfjsLossNames, type TfjsLossName, type TfjsLossFn } from "./losses.js";
export { NonFiniteError, TrainingError } from "../train/observation.js";
export { DataError } from "../data/errors.js";
