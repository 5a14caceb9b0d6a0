/**
 * lossbalance — adaptive loss balancing for multitask networks.
 * Balancers are engine-free (plain numbers in, plain weights out); the training pieces
 * (MLP with stacked heads, jit step with per-task gradient statistics) run on jax-js.
 */
export * from "./balancers/index.js";
export { vectorOptimizer, type VectorOptimizer, type VectorOptimizerOptions, type VectorOptimizerState } from "./optim/vector.js";
export {
  adam,
  adamw,
  sgd,
  optimizerByName,
  treeOptimizerNames,
  type AdamOptions,
  type AdamState,
  type AdamWOptions,
  type AdamWState,
  type SgdOptions,
  type SgdState,
  type TreeOptimizer,
  type TreeOptimizerName,
  type TreeOptimizerOptionsByName,
  type AnyTreeOptimizerOptions,
  type OptimizerStateKind,
  type OptimizerState,
  type StateOf,
} from "./optim/index.js";
export { ModelContractError, checkModelShape, type ModelParams, type MultitaskModel, type Tree } from "./model/contract.js";
export { checkModel, checkBatch, type BatchAxes, type BatchSignature } from "./model/check.js";
export { DataError } from "./data/errors.js";
export { modelPass, type Combiner, type ModelPassOptions, type ModelPassResult, type ModelStatRequest } from "./model/generic.js";
export { buildModelStep, buildModelTwoPhase, type ModelStepConfig, type ModelStepOutput, type StepOptimizer } from "./train/modelStep.js";
export { createModelTrainer, type ModelTrainerOptions } from "./train/modelTrainer.js";
export { trainModelLoop, nonFinitePolicies, isNonFiniteError, type ModelLoopOptions, type ModelLoopResult, type ModelLoopCheckpoint, type ModelLoopState, type NonFiniteOptions, type NonFinitePolicy, type SkippedStep } from "./train/modelLoop.js";
export { encodeCheckpoint, decodeCheckpoint, treeToHost, treeFromHost, toJson, fromJson, checkpointFormat, type Checkpoint, type CheckpointDocuments, type TrainerSnapshot, type HostTree } from "./train/checkpoint.js";
export { encodeSafetensors, decodeSafetensors, hostTensor, SafetensorsError, type HostTensor, type SafetensorsDtype, type TensorData } from "./util/safetensors.js";
export { combinerFor, signDropout } from "./train/combiners.js";
export { dense, relu, tanh, layerNorm, flatten, reshape, sequential, layerInShapes, type Layer, type Shape, type SequentialParams } from "./model/layers.js";
export { conv2d, maxPool2 } from "./model/convLayers.js";
export { layersModel, initLayersModel, type LayersModelConfig, type LayersModelParams, type LayersBatch } from "./model/layersModel.js";
export { mlpModel, toModelParams, fromModelParams, type MlpModelParams, type MlpBatch } from "./models/mlpModel.js";
export { initParams, forward, type MultiHeadMlpConfig, type Params } from "./models/mlp.js";
export { lenetStem, stemOutputDim, checkStemConfig, convStemLayer, stemModeProblem, type ConvStemConfig, type ConvLayerConfig, type StemParams } from "./models/conv.js";
export { meanSquaredError, crossEntropy, type TaskLoss } from "./train/losses.js";
export { buildTrainStep, buildTwoPhaseStep, buildEvalLosses, lossesAndGrads, forwardWithStats, combinedGrads, parseObserved, type StepConfig, type StepOutput, type StatRequest, type Residuals } from "./train/step.js";
export { trainLoop, createTrainer, statRequest, TrainingError, type LoopOptions, type LoopResult, type LoopHistory, type Batch, type TrainerOptions, type StepRecord } from "./train/loop.js";
export { makeToy, toySigmas, type ToyConfig, type ToyData } from "./data/toy.js";
export { runToy, type ToyRunResult, type ToyTrainConfig } from "./experiments/toyRun.js";
export { symmetricEigen, pinvSym, type Matrix, type Vector } from "./solvers/linalg.js";
export { checkGramian, gramianEigenTolerance, GRAMIAN_ENTRY_TOLERANCE, prepareGramian, type PreparedGramian } from "./solvers/gramian.js";
export { NonFiniteError } from "./train/observation.js";
