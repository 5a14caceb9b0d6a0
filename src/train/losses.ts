import { numpy as np, nn } from "@jax-js/jax";

/**
 * A per-task loss on stacked outputs: given outputs [T, B, O] and targets of the same
 * shape, returns the T losses and their (unweighted) gradients with respect to the
 * outputs, [T, B, O]. Written in closed form so the training step never needs a
 * second backward pass for per-task quantities. Both functions consume their inputs.
 */
export interface TaskLoss {
  readonly name: string;
  valueAndGrad(outputs: np.Array, targets: np.Array): { losses: np.Array; grads: np.Array };
  value(outputs: np.Array, targets: np.Array): np.Array;
}

/** Squared error, averaged over the batch and the output dimensions (PyTorch's MSELoss). */
export const meanSquaredError: TaskLoss = {
  name: "mse",
  valueAndGrad(outputs, targets) {
    const [, B, O] = outputs.shape as [number, number, number];
    const r = outputs.sub(targets);
    const losses = np.square(r.ref).mean([1, 2]);
    return { losses, grads: r.mul(2 / (B * O)) };
  },
  value(outputs, targets) {
    return np.square(outputs.sub(targets)).mean([1, 2]);
  },
};

/** Softmax cross-entropy with one-hot targets, averaged over the batch. */
export const crossEntropy: TaskLoss = {
  name: "crossEntropy",
  valueAndGrad(logits, onehot) {
    const B = logits.shape[1]!;
    const logp = nn.logSoftmax(logits, -1);
    const losses = logp.ref.mul(onehot.ref).sum([1, 2]).mul(-1 / B);
    const grads = np.exp(logp).sub(onehot).mul(1 / B);
    return { losses, grads };
  },
  value(logits, onehot) {
    const B = logits.shape[1]!;
    return nn.logSoftmax(logits, -1).mul(onehot).sum([1, 2]).mul(-1 / B);
  },
};
