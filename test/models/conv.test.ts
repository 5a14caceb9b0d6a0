import { test, before } from "node:test";
import assert from "node:assert/strict";
import { numpy as np, grad, tree } from "@jax-js/jax";
import { setupJax, toList, maxRelErr } from "../helpers/jax.js";
import { liveBufferCounter } from "../helpers/liveBuffers.js";
import { checkStemConfig, initStem, lenetStem, stemForward, stemOutputDim, type ConvStemConfig } from "../../src/models/conv.js";
import { checkConfig, forward, initParams, type MultiHeadMlpConfig, type Params } from "../../src/models/mlp.js";
import { buildEvalLosses, buildTrainStep, buildTwoPhaseStep, combinedGrads, forwardWithStats, lossesAndGrads } from "../../src/train/step.js";
import { createTrainer } from "../../src/train/loop.js";
import { crossEntropy, meanSquaredError, type TaskLoss } from "../../src/train/losses.js";
import { equalWeights } from "../../src/balancers/equalWeights.js";
import { gradNorm } from "../../src/balancers/gradNorm.js";
import { mgda } from "../../src/balancers/mgda.js";
import type { Balancer, BalancerState } from "../../src/balancers/types.js";
import { Rng } from "../../src/util/rng.js";

let counter: { live(): number };
before(async () => {
  await setupJax();
  counter = await liveBufferCounter();
});

/** Naive reference: valid conv (stride 1) → optional 2×2 max pool (floor) → ReLU, NHWC, plain loops in float64. */
function naiveStem(x: Float32Array, B: number, config: ConvStemConfig, kernels: number[][], biases: number[][]): number[] {
  let [H, W, C] = config.inputShape;
  let h: number[] = Array.from(x);
  config.layers.forEach((layer, l) => {
    const k = layer.kernel;
    const Co = layer.channels;
    const Ho = H - k + 1;
    const Wo = W - k + 1;
    const K = kernels[l]!;
    const z = new Array<number>(B * Ho * Wo * Co).fill(0);
    for (let b = 0; b < B; b++)
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++)
          for (let o = 0; o < Co; o++) {
            let s = biases[l]![o]!;
            for (let di = 0; di < k; di++)
              for (let dj = 0; dj < k; dj++)
                for (let c = 0; c < C; c++) s += h[((b * H + i + di) * W + j + dj) * C + c]! * K[((di * k + dj) * C + c) * Co + o]!;
            z[((b * Ho + i) * Wo + j) * Co + o] = s;
          }
    let [Hn, Wn] = [Ho, Wo];
    let p = z;
    if (layer.pool) {
      Hn = Math.floor(Ho / 2);
      Wn = Math.floor(Wo / 2);
      p = new Array<number>(B * Hn * Wn * Co);
      for (let b = 0; b < B; b++)
        for (let i = 0; i < Hn; i++)
          for (let j = 0; j < Wn; j++)
            for (let o = 0; o < Co; o++) {
              const at = (di: number, dj: number) => z[((b * Ho + 2 * i + di) * Wo + 2 * j + dj) * Co + o]!;
              p[((b * Hn + i) * Wn + j) * Co + o] = Math.max(at(0, 0), at(0, 1), at(1, 0), at(1, 1));
            }
    }
    h = p.map((v) => Math.max(v, 0));
    [H, W, C] = [Hn, Wn, Co];
  });
  return h;
}

const small: ConvStemConfig = {
  inputShape: [10, 10, 2],
  layers: [
    { channels: 3, kernel: 3, pool: true }, // 8×8 → 4×4
    { channels: 4, kernel: 2, pool: false }, // 3×3
  ],
};
/** Odd conv outputs (7×9, then 5×5) that pooling must floor, a 1×1 kernel and non-square images. */
const odd: ConvStemConfig = {
  inputShape: [9, 13, 1],
  layers: [
    { channels: 3, kernel: 3, pool: true }, // 7×11 → 3×5
    { channels: 2, kernel: 1, pool: false }, // 3×5
    { channels: 3, kernel: 2, pool: true }, // 2×4 → 1×2
  ],
};

test("stem output sizes: LeNet on 36×36×1 gives 6·6·20 = 720 features, on 28×28×1 4·4·20 = 320", () => {
  assert.equal(stemOutputDim(lenetStem([36, 36, 1])), 720);
  assert.equal(stemOutputDim(lenetStem([28, 28, 1])), 320);
  assert.equal(stemOutputDim(small), 3 * 3 * 4);
  assert.equal(stemOutputDim(odd), 1 * 2 * 3);
});

for (const config of [small, odd]) {
  test(`stem forward equals a naive loop convolution + pool + ReLU (${JSON.stringify(config.inputShape)})`, () => {
    const B = 2;
    const [H, W, C] = config.inputShape;
    const x = new Rng(5).normals(B * H * W * C);
    const stem = initStem(config, 12);
    const kernels = stem.kernels.map(toList);
    const biases = stem.biases.map(toList);
    const want = naiveStem(x, B, config, kernels, biases);
    const { features, residuals } = stemForward(stem, config, np.array(x).reshape([B, H * W * C]), false);
    assert.deepEqual(features.shape, [B, stemOutputDim(config)]);
    assert.equal(residuals.length, 0);
    const got = toList(features);
    features.dispose();
    assert.ok(want.some((v) => v > 0) && want.some((v) => v === 0), `the reference must exercise both sides of the ReLU: ${want}`);
    assert.ok(maxRelErr(got, want) < 1e-5, `max rel err ${maxRelErr(got, want)}`);
    tree.dispose(stem);
  });
}

test("initStem is seeded, deterministic and bounded by 1/√(Cin·k²)", () => {
  const a = initStem(lenetStem([36, 36, 1]), 3);
  const b = initStem(lenetStem([36, 36, 1]), 3);
  const c = initStem(lenetStem([36, 36, 1]), 4);
  assert.deepEqual(a.kernels.map((k) => k.shape), [[5, 5, 1, 10], [5, 5, 10, 20]]);
  assert.deepEqual(a.biases.map((k) => k.shape), [[10], [20]]);
  const fa = tree.leaves(a).flatMap((v) => toList(v as np.Array));
  assert.deepEqual(fa, tree.leaves(b).flatMap((v) => toList(v as np.Array)));
  assert.notDeepEqual(fa, tree.leaves(c).flatMap((v) => toList(v as np.Array)));
  const k2 = toList(a.kernels[1]!);
  assert.ok(Math.max(...k2.map(Math.abs)) <= 1 / Math.sqrt(250) && Math.max(...k2.map(Math.abs)) > 0.8 / Math.sqrt(250));
  [a, b, c].forEach((p) => tree.dispose(p));
});

// ---------------------------------------------------------------------------------------------
// Gradients against autodiff.

const T = 2;
function model(stem: ConvStemConfig, outputDim = 3): MultiHeadMlpConfig {
  const [H, W, C] = stem.inputShape;
  return { inputDim: H * W * C, hidden: [6, 5], outputDim, numTasks: T, stem };
}

function batch(cfg: MultiHeadMlpConfig, B: number, seed: number, onehot: boolean, zeroImage = false) {
  const rng = new Rng(seed);
  const xs = rng.normals(B * cfg.inputDim);
  // An all-zero image makes every pooling window a tie (conv output = bias): the gradient is split like autodiff's.
  if (zeroImage) xs.fill(0, 0, cfg.inputDim);
  let y: Float32Array<ArrayBuffer>;
  if (onehot) {
    y = new Float32Array(T * B * cfg.outputDim);
    for (let i = 0; i < T * B; i++) y[i * cfg.outputDim + rng.int(cfg.outputDim)] = 1;
  } else y = rng.normals(T * B * cfg.outputDim);
  return { x: np.array(xs).reshape([B, cfg.inputDim]), y: np.array(y).reshape([T, B, cfg.outputDim]) };
}

function autodiffGrads(cfg: MultiHeadMlpConfig, p: Params, w: number[], loss: TaskLoss, x: np.Array, y: np.Array): Params {
  return grad((q: Params) => loss.value(forward(q, x.ref, cfg.stem), y.ref).mul(np.array(w)).sum())(tree.ref(p)) as Params;
}

const leavesOf = (g: Params) => tree.leaves(g).map((a) => toList(a as np.Array));

for (const [loss, onehot] of [[meanSquaredError, false], [crossEntropy, true]] as const) {
  for (const [name, stem] of [["small", small], ["odd", odd]] as const) {
    test(`${loss.name}, ${name} stem: combinedGrads match autodiff for every parameter, stem included`, () => {
      const cfg = model(stem);
      const p = initParams(cfg, 1);
      const w = [0.4, 1.7];
      for (const zeroImage of [false, true]) {
        const { x, y } = batch(cfg, 3, 2, onehot, zeroImage);
        const ref = leavesOf(autodiffGrads(cfg, p, w, loss, x, y));
        for (const stat of [undefined, "lastShared", "representation"] as const) {
          const r = lossesAndGrads(p, np.array(w), x.ref, y.ref, loss, stat, stem);
          assert.deepEqual(tree.structure(r.grads).toString(), tree.structure(p).toString(), "grads must have the params' tree shape");
          const got = leavesOf(r.grads);
          assert.equal(got.length, ref.length);
          got.forEach((g, i) => {
            assert.ok(ref[i]!.some((v) => v !== 0), `leaf ${i}: the reference gradient must not vanish`);
            assert.ok(maxRelErr(g, ref[i]!) < 1e-4, `zeroImage=${zeroImage} stat=${stat} leaf ${i}: max rel err ${maxRelErr(g, ref[i]!)}`);
          });
          tree.dispose(r.grads);
          r.losses.dispose();
          r.gradNorms?.dispose();
        }
        x.dispose();
        y.dispose();
      }
      tree.dispose(p);
    });
  }
}

test("with a stem, 'lastShared' norms are the trunk's last layer's (match autodiff)", () => {
  const cfg = model(small);
  const p = initParams(cfg, 7);
  const { x, y } = batch(cfg, 4, 8, false);
  const L = cfg.hidden.length;
  const want = [0, 1].map((i) => {
    const g = autodiffGrads(cfg, p, [i === 0 ? 1 : 0, i === 1 ? 1 : 0], meanSquaredError, x, y);
    const n = Math.hypot(...toList(g.trunk.W[L - 1]!));
    tree.dispose(g);
    return n;
  });
  const r = lossesAndGrads(p, np.array([2, 0.5]), x.ref, y.ref, meanSquaredError, "lastShared", small);
  assert.ok(maxRelErr(toList(r.gradNorms!), want) < 1e-4, `${toList(r.gradNorms!)} vs ${want}`);
  tree.dispose(r.grads);
  r.losses.dispose();
  r.gradNorms!.dispose();
  tree.dispose(p);
  x.dispose();
  y.dispose();
});

// ---------------------------------------------------------------------------------------------
// Training with the jit step.

/** Tiny synthetic task on 8×8×1 images: a bright 2×2 blob; task 0 = top or bottom half, task 1 = left or right half. */
function blobs(B: number, seed: number) {
  const rng = new Rng(seed);
  const x = rng.normals(B * 64, 0.1);
  const y = new Float32Array(T * B * 2);
  for (let b = 0; b < B; b++) {
    const i = rng.int(7);
    const j = rng.int(7);
    for (const [di, dj] of [[0, 0], [0, 1], [1, 0], [1, 1]]) x[b * 64 + (i + di!) * 8 + j + dj!]! += 1;
    y[(0 * B + b) * 2 + (i < 3.5 ? 0 : 1)] = 1;
    y[(1 * B + b) * 2 + (j < 3.5 ? 0 : 1)] = 1;
  }
  return { x, y };
}
const blobStem: ConvStemConfig = {
  inputShape: [8, 8, 1],
  layers: [
    { channels: 4, kernel: 3, pool: true }, // 6×6 → 3×3
    { channels: 4, kernel: 2, pool: false }, // 2×2
  ],
};
const blobModel: MultiHeadMlpConfig = { inputDim: 64, hidden: [16], outputDim: 2, numTasks: T, stem: blobStem };

function runSteps(balancer: Balancer<BalancerState>, steps: number, B: number, data: { x: Float32Array<ArrayBuffer>; y: Float32Array<ArrayBuffer> }[]) {
  const trainer = createTrainer({ step: { model: blobModel, loss: crossEntropy, optimizer: { lr: 1e-2 } }, balancer, params: initParams(blobModel, 1), batchSize: B });
  const losses: number[][] = [];
  for (let t = 0; t < steps; t++) losses.push(trainer.step(data[t % data.length]!).losses);
  return { losses, params: trainer.finish() };
}

for (const [name, make] of [
  ["equal weights (single jit step)", () => equalWeights()],
  ["MGDA-UB (two-phase step, representation Gramian)", () => mgda({ gradMode: "representation" })],
  ["GradNorm (lastShared norms)", () => gradNorm({ alpha: 0.5 })],
] as const) {
  test(`${name} with a stem: no device buffers leak across 200 steps`, () => {
    const B = 4;
    const data = Array.from({ length: 8 }, (_, i) => blobs(B, 100 + i));
    const b = () => make() as unknown as Balancer<BalancerState>;
    tree.dispose(runSteps(b(), 3, B, data).params); // compile and warm caches
    const before = counter.live();
    tree.dispose(runSteps(b(), 20, B, data).params);
    const after20 = counter.live();
    tree.dispose(runSteps(b(), 200, B, data).params);
    const after = counter.live();
    assert.equal(after20 - before, after - before, "live buffers must not grow with the number of steps");
    assert.ok(after - before <= 0, `a finished run must free its buffers (grew by ${after - before})`);
  });
}

test("eager forward/backward with a stem frees every intermediate", () => {
  const p = initParams(model(small), 3);
  const once = () => {
    const { x, y } = batch(model(small), 3, 4, false, true);
    const r = lossesAndGrads(p, np.array([1, 2]), x, y, meanSquaredError, "lastShared", small);
    tree.dispose(r);
    const b = batch(model(small), 3, 4, false);
    b.y.dispose();
    forward(p, b.x, small).dispose();
  };
  once();
  const before = counter.live();
  for (let i = 0; i < 3; i++) once();
  assert.equal(counter.live(), before);
  tree.dispose(p);
});

test("a few dozen steps with a stem lower the loss on a tiny synthetic task", () => {
  const B = 32;
  const data = Array.from({ length: 8 }, (_, i) => blobs(B, 200 + i));
  const test_ = blobs(256, 999);
  const evalLosses = buildEvalLosses(crossEntropy, blobStem);
  const lossOf = (p: Params) => toList(evalLosses(tree.ref(p), np.array(test_.x).reshape([256, 64]), np.array(test_.y).reshape([T, 256, 2])));
  const p0 = initParams(blobModel, 1);
  const before = lossOf(p0);
  tree.dispose(p0);
  const { params, losses } = runSteps(equalWeights() as unknown as Balancer<BalancerState>, 40, B, data);
  const after = lossOf(params);
  // The stem must learn too (its kernels move).
  const k0 = initParams(blobModel, 1);
  const moved = maxRelErr(toList(params.stem!.kernels[0]!), toList(k0.stem!.kernels[0]!));
  tree.dispose(k0);
  tree.dispose(params);
  evalLosses.dispose();
  assert.ok(before.every((l) => Math.abs(l - Math.log(2)) < 0.2), `initial losses near log 2: ${before}`);
  after.forEach((l, i) => assert.ok(l < 0.6 * before[i]!, `task ${i}: test loss ${before[i]} → ${l} (train ${losses.at(-1)})`));
  assert.ok(moved > 0.01, `stem kernels barely moved (${moved})`);
});

// ---------------------------------------------------------------------------------------------
// Errors.

test("bad stem configs throw clear errors", () => {
  const base = { inputDim: 100, hidden: [4], outputDim: 2, numTasks: 2 };
  const cases: [unknown, RegExp][] = [
    [{ inputShape: [10, 10, 1], layers: [{ channels: 3, kernel: 11, pool: false }] }, /layer 1: kernel 11×11 is larger than its 10×10 input/],
    [{ inputShape: [10, 10, 1], layers: [{ channels: 3, kernel: 5, pool: true }, { channels: 3, kernel: 4, pool: false }] }, /layer 2: kernel 4×4 is larger than its 3×3 input/],
    [{ inputShape: [10, 10, 1], layers: [{ channels: 0, kernel: 3, pool: false }] }, /layer 1: channels must be a positive integer, got 0/],
    [{ inputShape: [10, 10, 1], layers: [{ channels: -2, kernel: 3, pool: false }] }, /channels must be a positive integer/],
    [{ inputShape: [10, 10, 1], layers: [{ channels: 2.5, kernel: 3, pool: false }] }, /channels must be a positive integer/],
    [{ inputShape: [10, 10, 1], layers: [{ channels: 2, kernel: 0, pool: false }] }, /kernel must be a positive integer/],
    [{ inputShape: [10, 10, 1], layers: [{ channels: 2, kernel: 10, pool: true }] }, /pooling needs a conv output of at least 2×2, got 1×1/],
    [{ inputShape: [10, 10, 1], layers: [] }, /at least one layer/],
    [{ inputShape: [10, 10], layers: [{ channels: 2, kernel: 3, pool: false }] }, /inputShape must be \[H, W, C\]/],
  ];
  for (const [stem, pattern] of cases) {
    assert.throws(() => checkStemConfig(stem as ConvStemConfig), pattern);
    assert.throws(() => initParams({ ...base, stem: stem as ConvStemConfig }, 1), pattern);
  }
  assert.throws(
    () => checkConfig({ ...base, inputDim: 99, stem: { inputShape: [10, 10, 1], layers: [{ channels: 2, kernel: 3, pool: true }] } }),
    /inputDim 99 must equal the conv stem's input H·W·C = 10·10·1 = 100/,
  );
  assert.throws(() => initParams({ ...base, inputDim: 200, stem: lenetStem([28, 28, 1]) }, 1), /inputDim 200 must equal the conv stem.s input H·W·C = 28·28·1 = 784/);
});

test("'shared' statistics with a stem throw at build time; a stem's params need its config", () => {
  const msg = /gradient mode 'shared' does not support a convolutional stem \(per-task gradients are not propagated through the convolutions\); use 'representation' or 'lastShared'/;
  const step = { model: blobModel, loss: crossEntropy, optimizer: { lr: 1e-3 } };
  assert.throws(() => buildTrainStep({ ...step, stat: { mode: "shared", kind: "norms" } }), msg);
  assert.throws(() => buildTwoPhaseStep({ ...step, stat: { mode: "shared", kind: "gramian" } }), msg);
  // MGDA's default gradient mode is 'shared'.
  const p = initParams(blobModel, 1);
  assert.throws(() => createTrainer({ step, balancer: mgda() as unknown as Balancer<BalancerState>, params: p, batchSize: 4 }), msg);
  const { x, y } = batch(blobModel, 2, 3, true);
  assert.throws(() => forwardWithStats(p, x.ref, y.ref, crossEntropy, { mode: "shared", kind: "norms" }, false, blobStem), msg);
  assert.throws(() => forward(p, x.ref), /params have a convolutional stem: pass its ConvStemConfig/);
  const f = forwardWithStats(p, x, y, crossEntropy, undefined, false, blobStem);
  const noStem = { trunk: p.trunk, heads: p.heads };
  const w = np.ones([T]);
  assert.throws(() => combinedGrads(noStem, w.ref, f.residuals), /disagree on the convolutional stem/);
  w.dispose();
  tree.dispose(f);
  tree.dispose(p);
});
