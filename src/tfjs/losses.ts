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
  sparseCategoricalCrossentropy: (y, p) => sparseCrossentropy(y, p),
};

/**
 * Sparse categorical cross-entropy: integer labels [B] or [B, 1] against probabilities [B, C]. A label
 * outside 0..C−1, or not an integer, has no (or the wrong) one-hot row, so its example would silently
 * add 0 (or train the wrong class): such an example's loss is NaN instead (0 · log 0 added, exactly 0
 * for a good label), so that the step stops before any update, and the trainer names the label
 * ({@link sparseLabelClasses}).
 */
function sparseCrossentropy(y: tf.Tensor, p: tf.Tensor): tf.Tensor {
  const labels = tf.cast(tf.reshape(y, [-1]), "float32");
  const onehot = tf.oneHot(tf.cast(labels, "int32"), p.shape[p.shape.length - 1]!);
  const valid = tf.mul(tf.sum(onehot, -1), tf.cast(tf.equal(labels, tf.round(labels)), "float32"));
  return tf.add(metrics.categoricalCrossentropy(onehot, p), tf.mul(0, tf.log(valid)));
}

/**
 * For each output, the number of classes its integer labels must lie in when its loss is
 * `sparseCategoricalCrossentropy` (the output's last dimension; null when the model leaves it unknown),
 * undefined for any other loss.
 */
export function sparseLabelClasses(losses: readonly (TfjsLossName | TfjsLossFn)[], outputShapes: readonly (readonly (number | null)[])[]): (number | null | undefined)[] {
  return losses.map((l, i) => (l === "sparseCategoricalCrossentropy" ? (outputShapes[i]![outputShapes[i]!.length - 1] ?? null) : undefined));
}

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
