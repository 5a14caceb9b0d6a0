import { tanhMlp } from "../../examples/models/tanhMlp.js";
import { Rng } from "../../src/util/rng.js";

/**
 * The small regression task the trainer tests share: the example tanh MLP (6 inputs, layers of 8 and 7,
 * T = 3 heads of 2 outputs) and `count` host batches of B = 5 rows drawn from `new Rng(seed)`.
 */
export function tanhTask(seed: number, count: number) {
  const T = 3;
  const B = 5;
  const config = { inputDim: 6, hidden: [8, 7], outputDim: 2, numTasks: T };
  const rng = new Rng(seed);
  const data = Array.from({ length: count }, () => ({ x: rng.normals(B * 6), y: rng.normals(T * B * 2) }));
  return { T, B, config, model: tanhMlp(config), data };
}
