import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { createTfjsTrainer, TfjsModelError, TrainingError } from "../../src/tfjs/index.js";
import type { Balancer, BalancerState, GradStatistic, Observation, Timing } from "../../src/balancers/types.js";
import { createBalancer } from "../../src/balancers/registry.js";
import { signDropout } from "../../src/tfjs/signDropout.js";
import { denseKernelGrads, denseKernelNorms } from "../../src/tfjs/trainer.js";
import { denseActivations, type KernelInfo } from "../../src/tfjs/graph.js";

await tf.setBackend("cpu");

type Sym = tf.SymbolicTensor;
const dense = (units: number, name: string, activation?: "relu" | "tanh" | "softmax", seed = 1) =>
  tf.layers.dense({ units, name, ...(activation ? { activation } : {}), kernelInitializer: tf.initializers.glorotUniform({ seed }), biasInitializer: tf.initializers.randomNormal({ seed: seed + 100, stddev: 0.1 }) });

/**
 * A small two-task model, with its layers kept so the tests can compute the expected quantities with
 * plain tf.grads: trunk x → d1 (relu) → d2 (tanh) = rep; head 0 regression (3), head 1 softmax (4).
 * `sharedHead`: head 1 also reads head 0's hidden layer (a variable used by both tasks' heads).
 */
function twoTask(opts: { sharedHead?: boolean; repActivation?: "tanh" | "elu" } = {}) {
  const d1 = dense(16, "trunk1", "relu", 1);
  const d2 = tf.layers.dense({ units: 12, name: "trunk2", activation: opts.repActivation ?? "tanh", kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }), biasInitializer: tf.initializers.randomNormal({ seed: 102, stddev: 0.1 }) });
  const h0 = dense(6, "h0", "relu", 3);
  const o0 = dense(3, "reg", undefined, 4);
  const o1 = dense(4, "cls", "softmax", 5);
  const inp = tf.input({ shape: [8] });
  const rep = d2.apply(d1.apply(inp)) as Sym;
  const hid = h0.apply(rep) as Sym;
  const out0 = o0.apply(hid) as Sym;
  const in1 = opts.sharedHead ? (tf.layers.concatenate({ name: "mix" }).apply([rep, hid]) as Sym) : rep;
  const out1 = o1.apply(in1) as Sym;
  const model = tf.model({ inputs: inp, outputs: [out0, out1] });
  const x = tf.randomNormal([5, 8], 0, 1, "float32", 7);
  const ys = [tf.randomNormal([5, 3], 0, 1, "float32", 8), tf.oneHot(tf.tensor1d([0, 1, 2, 3, 1], "int32"), 4)];
  const trunk = (t: tf.Tensor) => d2.apply(d1.apply(t)) as tf.Tensor;
  const heads = [
    (r: tf.Tensor) => o0.apply(h0.apply(r)) as tf.Tensor,
    (r: tf.Tensor) => o1.apply(opts.sharedHead ? (tf.layers.concatenate().apply([r, h0.apply(r) as tf.Tensor]) as tf.Tensor) : r) as tf.Tensor,
  ];
  const lossFns = [(p: tf.Tensor) => tf.losses.meanSquaredError(ys[0]!, p), (p: tf.Tensor) => tf.mean(tf.metrics.categoricalCrossentropy(ys[1]!, p))];
  return { model, x, ys, trunk, heads, lossFns, d2, loss: ["meanSquaredError", "categoricalCrossentropy"] as const };
}

/** A balancer that records what it observes and returns fixed weights (timing and mode chosen by the test). */
function probe(mode: GradStatistic, kind: "norms" | "gramian" | "abs", timing: Timing, weights: number[], seen: Observation[]): Balancer<BalancerState> {
  return {
    name: "probe",
    needs: kind === "norms" ? { gradNorms: mode } : kind === "abs" ? { gradAbs: mode } : { gramian: mode },
    timing,
    init: () => ({ weights, step: 0 }),
    update: (obs, s) => {
      seen.push(obs);
      return { weights, state: { weights, step: s.step + 1 } };
    },
  };
}

/** The per-task gradients J (T rows) at a mode, by separate tf.grads / tf.variableGrads calls per task. */
function expectedJacobian(m: ReturnType<typeof twoTask>, mode: GradStatistic): number[][] {
  return tf.tidy(() =>
    m.heads.map((head, t) => {
      if (mode === "representation") {
        const rep = m.trunk(m.x);
        return Array.from(tf.grad((r: tf.Tensor) => m.lossFns[t]!(head(r)) as tf.Scalar)(rep).dataSync());
      }
      const vars = mode === "lastShared" ? [m.d2.trainableWeights[0]!.read() as tf.Variable] : m.model.layers.filter((l) => l.name.startsWith("trunk")).flatMap((l) => l.trainableWeights.map((w) => w.read() as tf.Variable));
      const { grads } = tf.variableGrads(() => m.lossFns[t]!(head(m.trunk(m.x))) as tf.Scalar, vars);
      return vars.flatMap((v) => Array.from(grads[v.name]!.dataSync()));
    }),
  );
}

const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0);
const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

for (const [sharedHead, repActivation] of [[false, "tanh"], [true, "tanh"], [false, "elu"]] as const) {
  for (const timing of ["next", "current"] as const) {
    for (const mode of ["representation", "lastShared", "shared"] as const) {
      test(`statistics equal separate per-task tf.grads (${mode}, timing ${timing}${sharedHead ? ", heads sharing a layer" : ""}, ${repActivation} representation)`, async () => {
        const m = twoTask({ sharedHead, repActivation });
        for (const kind of ["norms", "gramian", "abs"] as const) {
          const seen: Observation[] = [];
          const J = expectedJacobian(m, mode);
          const trainer = createTfjsTrainer({ model: m.model, loss: [...m.loss], balancer: probe(mode, kind, timing, [0.7, 1.3], seen), optimizer: tf.train.sgd(0.05) });
          assert.equal(trainer.graph.repLayer, "trunk2");
          assert.equal(trainer.graph.disjointHeads, !sharedHead);
          // W's per-task gradients: one product for a tanh Dense layer, T backward passes for elu.
          assert.equal((trainer.graph.kernel as KernelInfo).dense, repActivation === "tanh" ? "tanh" : undefined);
          const expectLoss = tf.tidy(() => m.heads.map((h, t) => (m.lossFns[t]!(h(m.trunk(m.x))) as tf.Scalar).dataSync()[0]!));
          const rec = await trainer.step(m.x, m.ys);
          const obs = seen[0]!;
          obs.losses.forEach((l, t) => close(l, expectLoss[t]!, 1e-6, `loss ${t}`));
          if (kind === "norms") obs.gradNorms!.forEach((n, t) => close(n, Math.sqrt(dot(J[t]!, J[t]!)), 1e-5, `norm ${t}`));
          else if (kind === "abs") {
            const a = J.map((r) => r.map(Math.abs));
            obs.gradAbsMax!.forEach((v, t) => close(v, Math.max(...a[t]!), 1e-5, `max |g| ${t}`));
            obs.gradAbsMean!.forEach((v, t) => close(v, a[t]!.reduce((x, y) => x + y, 0) / a[t]!.length, 1e-5, `mean |g| ${t}`));
          }
          else for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) close(obs.gramian![i]![j]!, dot(J[i]!, J[j]!), 1e-5, `G[${i}][${j}]`);
          assert.deepEqual(rec.weights, [0.7, 1.3]);
        }
        m.model.dispose();
      });
    }
  }
}

test("the applied update is the gradient of Σ wᵢLᵢ (fused, two-pass and current-timing paths)", async () => {
  for (const [balancer, sharedHead] of [
    [createBalancer("gradnorm"), false],
    [createBalancer("gradnorm", { gradMode: "shared" }), true],
    [createBalancer("mgda"), false],
    [createBalancer("mgda", { gradMode: "lastShared" }), true],
    [createBalancer("dwa"), false],
  ] as const) {
    const m = twoTask({ sharedHead });
    const lr = 0.1;
    const trainer = createTfjsTrainer({ model: m.model, loss: [...m.loss], balancer, optimizer: tf.train.sgd(lr) });
    await trainer.step(m.x, m.ys); // the weights move away from 1 after the first step
    const vars = m.model.trainableWeights.map((w) => w.read() as tf.Variable);
    const before = vars.map((v) => v.clone());
    const rec = await trainer.step(m.x, m.ys);
    const after = vars.map((v) => v.clone());
    vars.forEach((v, i) => v.assign(before[i]!));
    const { grads } = tf.variableGrads(() => tf.addN(m.heads.map((h, t) => tf.mul(m.lossFns[t]!(h(m.trunk(m.x))), rec.weights[t]!))) as tf.Scalar, vars);
    vars.forEach((v, i) => {
      const step = Array.from(tf.tidy(() => tf.div(tf.sub(before[i]!, after[i]!), lr)).dataSync());
      const want = Array.from(grads[v.name]!.dataSync());
      step.forEach((s, k) => close(s, want[k]!, 2e-4, `${balancer.name}: ${v.name}[${k}]`));
    });
    assert.ok(rec.weights.some((w) => Math.abs(w - 1) > 1e-6) || balancer.name === "dwa", `${balancer.name}: weights moved`);
    tf.dispose([...before, ...after, ...Object.values(grads)]);
    m.model.dispose();
  }
});

test("no tensor is left behind over 300 steps (every path), fit included", async () => {
  const m = twoTask({ sharedHead: true });
  const k = twoTask();
  const start = tf.memory().numTensors;
  for (const [model, balancer] of [
    [k.model, createBalancer("gradnorm")],
    [k.model, createBalancer("upgrad", { gradMode: "shared" })],
    [m.model, createBalancer("gradnorm", { gradMode: "representation" })],
    [k.model, createBalancer("famo")],
  ] as const) {
    const opt = tf.train.adam(1e-3);
    const trainer = createTfjsTrainer({ model, loss: [...k.loss], balancer, optimizer: opt });
    await trainer.step(k.x, k.ys);
    const settled = tf.memory().numTensors; // adam's moments exist after the first step
    for (let i = 0; i < 74; i++) await trainer.step(k.x, k.ys);
    assert.equal(tf.memory().numTensors, settled, `${balancer.name}: tensors after 75 steps`);
    opt.dispose();
  }
  assert.equal(tf.memory().numTensors, start);
  m.model.dispose();
  k.model.dispose();
});

test("the representation is the last layer every path passes through, or the named one", () => {
  const inp = tf.input({ shape: [4] });
  const a = dense(5, "a", "relu").apply(inp) as Sym;
  const b1 = dense(5, "b1", "relu").apply(a) as Sym;
  const b2 = dense(5, "b2", "relu").apply(a) as Sym;
  const merged = tf.layers.add({ name: "merge" }).apply([b1, b2]) as Sym;
  const outs = [dense(2, "o1").apply(merged) as Sym, dense(2, "o2").apply(merged) as Sym];
  const model = tf.model({ inputs: inp, outputs: outs });
  const opt = tf.train.sgd(0.1);
  const make = (balancer: Balancer<BalancerState>, sharedLayer?: string) => createTfjsTrainer({ model, loss: "meanSquaredError", balancer, optimizer: opt, ...(sharedLayer ? { sharedLayer } : {}) });
  assert.equal(make(createBalancer("mgda")).graph.repLayer, "merge");
  assert.equal(make(createBalancer("mgda"), "a").graph.repLayer, "a");
  assert.throws(() => make(createBalancer("mgda"), "b1"), (e: Error) => e instanceof TfjsModelError && /layer 'b1' is not shared by every path: output 'o1' can be reached from the inputs without passing through it/.test(e.message));
  assert.throws(() => make(createBalancer("mgda"), "o2"), /'o2' is not shared: output '.*' does not depend on it|gives an output/);
  assert.throws(() => make(createBalancer("mgda"), "nope"), /no layer 'nope' \(layers: .*merge/);
  // GradNorm's W: the merge layer has no kernel and two inputs.
  assert.throws(() => make(createBalancer("gradnorm")), /lastShared: cannot find GradNorm's W from 'merge': layer 'merge' merges 2 inputs/);
  assert.equal(make(createBalancer("gradnorm"), "a").graph.repLayer, "a");
  assert.throws(() => make(createBalancer("ntk")), (e: Error) => e instanceof TfjsModelError && /ntk: the kernel traces \(NTK weights\) need per-sample outputs/.test(e.message));
  model.dispose();
});

test("bad models and inputs get errors naming the output or layer", async () => {
  const m = twoTask();
  const opt = tf.train.sgd(0.1);
  const make = (over: Record<string, unknown> = {}) => createTfjsTrainer({ model: m.model, loss: [...m.loss], balancer: createBalancer("gradnorm"), optimizer: opt, ...over });
  assert.throws(() => make({ loss: ["meanSquaredError"] }), /1 losses for 2 outputs/);
  assert.throws(() => make({ loss: ["meanSquaredError", "hinged"] }), /loss of output 'cls.*': unknown loss 'hinged'/);
  assert.throws(() => make({ balancer: { ...createBalancer("graddrop"), timing: "current" } }), /graddrop: a gradient combination runs with timing 'next'/);
  const trainer = make();
  await assert.rejects(trainer.step(m.x, [m.ys[0]!]), /1 target tensors for 2 outputs/);
  await assert.rejects(trainer.step(m.x, [m.ys[0]!, tf.zeros([5, 3])]), /target of output 'cls[^']*' has shape \[5,3\], the output is \[batch,4\]/);
  await assert.rejects(trainer.step(tf.zeros([5, 7]), m.ys), /input '.*' has shape \[5,7\], the model expects \[batch,8\]/);
  await assert.rejects(trainer.step(m.x, [tf.zeros([4, 3]), m.ys[1]!]), /target of output 'reg[^']*' has batch 4, the inputs 5/);
  // A NaN target: the step throws naming the output, and no variable changes.
  const vars = m.model.trainableWeights.map((w) => w.read());
  const before = vars.map((v) => Array.from(v.dataSync()));
  const bad = tf.fill([5, 3], NaN);
  await assert.rejects(trainer.step(m.x, [bad, m.ys[1]!]), (e: Error) => e instanceof TrainingError && /loss of output 'reg[^']*' \(task 0\) is NaN at step 0/.test(e.message));
  vars.forEach((v, i) => assert.deepEqual(Array.from(v.dataSync()), before[i]));
  assert.equal(trainer.stepCount, 0);
  const rec = await trainer.step(m.x, m.ys);
  assert.ok(rec.losses.every(Number.isFinite));
  bad.dispose();

  const inp = tf.input({ shape: [3] });
  const one = tf.model({ inputs: inp, outputs: dense(2, "only").apply(inp) as Sym });
  assert.throws(() => createTfjsTrainer({ model: one, loss: "meanSquaredError", balancer: createBalancer("equal"), optimizer: opt }), /has 1 output; a multitask model needs one output per task/);
  // Heads that read the input directly share no trunk.
  const inp2 = tf.input({ shape: [3] });
  const t1 = dense(4, "t1", "relu").apply(inp2) as Sym;
  const skip = tf.model({ inputs: inp2, outputs: [dense(2, "p").apply(t1) as Sym, dense(2, "q").apply(tf.layers.concatenate().apply([t1, inp2]) as Sym) as Sym] });
  assert.throws(() => createTfjsTrainer({ model: skip, loss: "meanSquaredError", balancer: createBalancer("equal"), optimizer: opt }), /share no layer that every path/);
  assert.throws(() => createTfjsTrainer({ model: skip, loss: "meanSquaredError", balancer: createBalancer("equal"), optimizer: opt, sharedLayer: "t1" }), /'t1' is not shared by every path: output '.*' can be reached from the inputs without passing through it/);
  m.model.dispose();
});

test("a convolutional model on the wasm backend is refused, naming the missing kernel and the backends that have it", async () => {
  await import("@tensorflow/tfjs-backend-wasm");
  await tf.setBackend("wasm");
  try {
    const inp = tf.input({ shape: [8, 8, 1] });
    const c = tf.layers.conv2d({ filters: 2, kernelSize: 3, name: "conv" }).apply(inp) as Sym;
    const f = tf.layers.flatten().apply(c) as Sym;
    const model = tf.model({ inputs: inp, outputs: [dense(2, "a").apply(f) as Sym, dense(2, "b").apply(f) as Sym] });
    assert.throws(
      () => createTfjsTrainer({ model, loss: "meanSquaredError", balancer: createBalancer("gradnorm", { gradMode: "representation" }), optimizer: tf.train.sgd(0.1) }),
      /backend 'wasm' has no kernel Conv2DBackpropFilter, which training a Conv2D layer needs; train on a backend that has it: cpu/,
    );
    model.dispose();
  } finally {
    await tf.setBackend("cpu");
  }
});

test("sign dropout: each unit keeps the tasks of one sign; unanimous units keep every task; leak 1 keeps all", () => {
  const T = 3, B = 4, H = 6;
  const g = tf.randomNormal([T, B, H], 0, 1, "float32", 21);
  const act = tf.randomNormal([B, H], 0, 1, "float32", 22);
  const gs = g.arraySync() as number[][][];
  const as = act.arraySync() as number[][];
  const S = gs.map((gt) => Array.from({ length: H }, (_, k) => gt.reduce((a, row, b) => a + row[k]! * Math.sign(as[b]![k]!), 0)));
  const out = signDropout(g, act, 0, 5).arraySync() as number[][];
  for (let k = 0; k < H; k++) {
    const sumOf = (keep: (t: number) => boolean) => Array.from({ length: B }, (_, b) => gs.reduce((a, gt, t) => a + (keep(t) ? gt[b]![k]! : 0), 0));
    const pos = sumOf((t) => S[t]![k]! > 0);
    const neg = sumOf((t) => S[t]![k]! < 0);
    const got = out.map((row) => row[k]!);
    const near = (v: number[]) => v.every((x, b) => Math.abs(x - got[b]!) < 1e-5);
    assert.ok(near(pos) || near(neg), `unit ${k} keeps the positive or the negative tasks`);
  }
  assert.deepEqual(signDropout(g, act, 0, 5).arraySync(), out, "seeded");
  // All gradients of one sign against a positive activation: every task kept, whatever the draw.
  const allPos = tf.abs(g);
  const sum = tf.sum(allPos, 0);
  for (const seed of [1, 2, 3]) assert.ok(tf.max(tf.abs(tf.sub(signDropout(allPos, tf.abs(act), 0, seed), sum))).dataSync()[0]! < 1e-5);
  assert.ok(tf.max(tf.abs(tf.sub(signDropout(g, act, 1, 9), tf.sum(g, 0)))).dataSync()[0]! < 1e-5, "leak 1: the plain sum");
  tf.dispose([g, act, allPos, sum]);
});

test("GradDrop through TF.js: leak 1 trains as equal weights; leak 0 changes only the trunk's update, reproducibly", async () => {
  const run = async (balancer: Balancer<BalancerState>) => {
    const m = twoTask();
    const trainer = createTfjsTrainer({ model: m.model, loss: [...m.loss], balancer, optimizer: tf.train.sgd(0.1) });
    await trainer.step(m.x, m.ys);
    const out = Object.fromEntries(m.model.trainableWeights.map((w) => [w.originalName, Array.from(w.read().dataSync())]));
    m.model.dispose();
    return out;
  };
  const equal = await run(createBalancer("equal"));
  const leak1 = await run(createBalancer("graddrop", { leak: 1 }));
  const drop = await run(createBalancer("graddrop", { seed: 4 }));
  assert.deepEqual(await run(createBalancer("graddrop", { seed: 4 })), drop);
  const maxDiff = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
  for (const name of Object.keys(equal)) {
    assert.ok(maxDiff(leak1[name]!, equal[name]!) < 1e-5, `leak 1: ${name}`);
    if (name.startsWith("trunk")) assert.ok(maxDiff(drop[name]!, equal[name]!) > 1e-4, `leak 0 changes ${name}`);
    else assert.ok(maxDiff(drop[name]!, equal[name]!) < 1e-6, `leak 0 leaves the heads' update: ${name}`);
  }
});

test("inputs are not consumed, also when GradNorm's W reads the model input directly", async () => {
  const inp = tf.input({ shape: [4] });
  const rep = dense(6, "shared", "relu").apply(inp) as Sym;
  const model = tf.model({ inputs: inp, outputs: [dense(2, "a").apply(rep) as Sym, dense(2, "b").apply(rep) as Sym] });
  const x = tf.randomNormal([3, 4], 0, 1, "float32", 1);
  const ys = [tf.zeros([3, 2]), tf.ones([3, 2])];
  for (const name of ["gradnorm", "mgda"]) {
    const trainer = createTfjsTrainer({ model, loss: "meanSquaredError", balancer: createBalancer(name, { gradMode: "lastShared" }), optimizer: tf.train.sgd(0.1) });
    assert.equal((trainer.graph.kernel as { layer: string }).layer, "shared");
    for (let i = 0; i < 2; i++) await trainer.step(x, ys);
    assert.ok(!x.isDisposed && ys.every((y) => !y.isDisposed), name);
  }
  tf.dispose([x, ...ys]);
  model.dispose();
});

test("a Dense kernel's per-task gradients in one product equal T tf.grads calls, for every activation it handles", () => {
  for (const activation of denseActivations) {
    const layer = tf.layers.dense({ units: 5, activation, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }), biasInitializer: tf.initializers.constant({ value: 0.1 }) });
    const h = tf.randomNormal([2, 3, 4], 0, 1, "float32", 4); // rank 3: the kernel applies to the last axis
    const g = tf.randomNormal([3, 2, 3, 5], 0, 1, "float32", 5);
    const y = layer.apply(h) as tf.Tensor;
    const W = layer.trainableWeights[0]!.read() as tf.Variable;
    const J = denseKernelGrads(g, y, h, activation).arraySync();
    tf.unstack(g).forEach((gt, t) => {
      const want = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(h) as tf.Tensor, gt)) as tf.Scalar, [W]).grads[W.name]!.dataSync();
      want.forEach((v, k) => close(J[t]![k]!, v, 1e-5, `${activation}: task ${t}, entry ${k}`));
    });
    tf.dispose([h, g, y]);
    layer.dispose();
  }
});

test("a Dense kernel's per-task gradient norms, directly and in the batch-squared form, equal the norms of T tf.grads calls", () => {
  // [N, I, H]: the first shape takes the direct form (T·N·I·H is smaller), the second ⟨hhᵀ, δδᵀ⟩.
  for (const [N, I, H] of [[6, 4, 5], [4, 50, 40]] as const) {
    for (const activation of denseActivations) {
      const layer = tf.layers.dense({ units: H, activation, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }), biasInitializer: tf.initializers.constant({ value: 0.1 }) });
      const h = tf.randomNormal([N, I], 0, 1, "float32", 4);
      const g = tf.randomNormal([3, N, H], 0, 1, "float32", 5);
      const y = layer.apply(h) as tf.Tensor;
      const W = layer.trainableWeights[0]!.read() as tf.Variable;
      const norms = denseKernelNorms(g, y, h, activation).arraySync();
      tf.unstack(g).forEach((gt, t) => {
        const want = tf.tidy(() => tf.norm(tf.variableGrads(() => tf.sum(tf.mul(layer.apply(h) as tf.Tensor, gt)) as tf.Scalar, [W]).grads[W.name]!).dataSync()[0]!);
        close(norms[t]!, want, 1e-5, `${activation} [${N}, ${I}, ${H}]: task ${t}`);
      });
      tf.dispose([h, g, y]);
      layer.dispose();
    }
  }
});
