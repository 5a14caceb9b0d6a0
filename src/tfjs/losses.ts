import * as tf from "@tensorflow/tfjs-core";
import { metrics } from "@tensorflow/tfjs-layers";
import { TfjsModelError } from "./graph.js";

/** A per-output loss: TF.js's (yTrue, yPred) convention; any shape returned is averaged to a scalar. */
export type TfjsLossFn = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;

/** The losses known by name, as `model.compile` names them. Each is averaged over the batch. */
export const tfjsLossNames = ["meanSquaredError", "meanAbsoluteError", "binaryCrossentropy", "categoricalCrossentropy", "sparseCategoricalCrossentropy"] as const;
export type TfjsLossName = (typeof tfjsLossNames)[number];

const named: Record<TfjsLossName, TfjsLossFn> = {
  meanSquaredError: (y, p) => metrics.meanSquaredError(y, p),
  meanAbsoluteError: (y, p) => metrics.meanAbsoluteError(y, p),
  binaryCrossentropy: (y, p) => metrics.binaryCrossentropy(y, p),
  categoricalCrossentropy: (y, p) => metrics.categoricalCrossentropy(y, p),
  // Integer class labels [B] or [B, 1] against probabilities [B, C].
  sparseCategoricalCrossentropy: (y, p) => metrics.categoricalCrossentropy(tf.oneHot(tf.cast(tf.reshape(y, [-1]), "int32"), p.shape[p.shape.length - 1]!), p),
};

/** The loss function for a name or a function, naming the output when the name is unknown. */
export function lossFor(loss: TfjsLossName | TfjsLossFn, output: string): TfjsLossFn {
  if (typeof loss === "function") return loss;
  const f = named[loss as TfjsLossName];
  if (!f) throw new TfjsModelError(`loss of output '${output}': unknown loss '${String(loss)}' (known: ${tfjsLossNames.join(", ")}, or a function (yTrue, yPred) => tensor)`);
  return f;
}

/** A scalar loss: the mean of what `f` returns. */
export function scalarLoss(f: TfjsLossFn, yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar {
  return tf.mean(f(yTrue, yPred));
}
