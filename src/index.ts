/**
 * lossbalance — adaptive loss balancing for multitask networks.
 * Balancers are engine-free (plain numbers in, plain weights out); the training pieces
 * (MLP with stacked heads, jit step with per-task gradient statistics) run on jax-js.
 */
export * from "./balancers/index.js";
export { vectorOptimizer, type VectorOptimizer, type VectorOptimizerOptions, type VectorOptimizerState } from "./optim/vector.js";
export { adam, type AdamOptions, type AdamState } from "./optim/adam.js";
export { initParams, forward, type MultiHeadMlpConfig, type Params } from "./models/mlp.js";
export { lenetStem, stemOutputDim, checkStemConfig, type ConvStemConfig, type ConvLayerConfig, type StemParams } from "./models/conv.js";
export { meanSquaredError, crossEntropy, type TaskLoss } from "./train/losses.js";
export { buildTrainStep, buildTwoPhaseStep, buildEvalLosses, lossesAndGrads, forwardWithStats, combinedGrads, parseObserved, type StepConfig, type StepOutput, type StatRequest, type Residuals } from "./train/step.js";
export { trainLoop, createTrainer, statRequest, TrainingError, type LoopOptions, type LoopResult, type LoopHistory, type Batch, type TrainerOptions, type StepRecord } from "./train/loop.js";
export { makeToy, toySigmas, type ToyConfig, type ToyData } from "./tasks/toy.js";
export { runToy, type ToyRunResult, type ToyTrainConfig } from "./tasks/toyRun.js";
export { symmetricEigen, pinvSym, checkGramian, type Matrix, type Vector } from "./solvers/linalg.js";
