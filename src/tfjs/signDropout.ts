import * as tf from "@tensorflow/tfjs-core";

/**
 * GradDrop's sign dropout (Chen et al., NeurIPS 2020, Algorithm 1) on TF.js tensors, the rule of the
 * jax-js combiner (src/train/combiners.ts): with gₜ = wₜ·dTₜ [T, B, …] and the layer's activation A
 * [B, …], per unit k the sign purity of Sₜₖ = Σ_b gₜ,b,k·sign(A_b,k) is Pₖ = ½(1 + Σₜ Sₜₖ / Σₜ |Sₜₖ|);
 * with Uₖ ~ Uniform(0, 1), task t keeps unit k if Pₖ > Uₖ and Sₜₖ > 0, or Pₖ < Uₖ and Sₜₖ < 0; the result
 * is Σₜ (ℓ + (1 − ℓ)·Mₜₖ)·gₜ. The draws come from TF.js's seeded generator (`seed`), not jax-js's: the
 * same rule, other random numbers. Nothing is consumed.
 */
export function signDropout(g: tf.Tensor, activation: tf.Tensor, leak: number, seed: number): tf.Tensor {
  return tf.tidy(() => {
    const [T, B] = g.shape as [number, number];
    const H = g.size / (T * B);
    const g3 = tf.reshape(g, [T, B, H]);
    const S = tf.sum(tf.mul(g3, tf.sign(tf.reshape(activation, [1, B, H]))), 1); // [T, H]
    const P = tf.mul(tf.add(tf.div(tf.sum(S, 0), tf.add(tf.sum(tf.abs(S), 0), 1e-30)), 1), 0.5); // [H]
    const U = tf.randomUniform([H], 0, 1, "float32", seed);
    const keep = tf.logicalOr(tf.logicalAnd(tf.greater(S, 0), tf.greater(P, U)), tf.logicalAnd(tf.less(S, 0), tf.less(P, U)));
    const factor = tf.reshape(tf.add(tf.mul(tf.cast(keep, "float32"), 1 - leak), leak), [T, 1, H]);
    return tf.reshape(tf.sum(tf.mul(g3, factor), 0), activation.shape);
  });
}
