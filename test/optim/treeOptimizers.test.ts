import { test, before } from "node:test";
import assert from "node:assert/strict";
import { numpy as np, jit, tree, type JsTree } from "@jax-js/jax";
import { setupJax, toList, maxRelErr } from "../helpers/jax.js";
import { liveBufferCounter } from "../helpers/liveBuffers.js";
import { adam, adamw, sgd, optimizerByName, treeOptimizerNames, type TreeOptimizer, type OptimizerStateKind, type StateOf } from "../../src/optim/index.js";
import { exactBiasCorrection } from "../../src/optim/adam.js";

let counter: { live(): number };
before(async () => {
  await setupJax();
  counter = await liveBufferCounter();
});

/** A small parameter tree: an object holding a [2,3] matrix and a list with one [3] vector. */
type P = { a: np.Array; b: np.Array[] };
const A0 = [0.5, -1.2, 0.3, 2.0, -0.7, 1.1].map(Math.fround);
const B0 = [0.9, -0.4, 1.5].map(Math.fround);
const makeParams = (): P => ({ a: np.array(new Float32Array(A0)).reshape([2, 3]), b: [np.array(new Float32Array(B0))] });

/** The gradient of step k (from 0), deterministic and of varying sign and size. */
const gradA = (k: number) => A0.map((_, i) => Math.fround(Math.sin(1.7 * i + 0.9 * k + 0.2) * (1 + 0.3 * k)));
const gradB = (k: number) => B0.map((_, i) => Math.fround(Math.cos(1.1 * i - 0.6 * k) * (0.5 + 0.2 * k)));
const makeGrads = (k: number): P => ({ a: np.array(new Float32Array(gradA(k))).reshape([2, 3]), b: [np.array(new Float32Array(gradB(k)))] });

/**
 * A larger tree for the leak checks: jax-js keeps arrays under 128 elements inline on the host (no
 * device buffer) until a compiled kernel produces them, so only leaves of ≥ 128 elements make an
 * eager leak visible to the buffer counter.
 */
const bigLeaf = (n: number, k: number, s: number) => np.array(Float32Array.from({ length: n }, (_, i) => Math.sin(0.37 * i + s * k + s)));
const makeBigParams = (): P => ({ a: bigLeaf(192, 0, 0.5).reshape([12, 16]), b: [bigLeaf(160, 0, 1.5)] });
const makeBigGrads = (k: number): P => ({ a: bigLeaf(192, k, 0.9).reshape([12, 16]), b: [bigLeaf(160, k, 1.3)] });

/** Reads a tree (borrowed) as flat leaf lists. */
const read = (p: P) => ({ a: toList(p.a), b: toList(p.b[0]!) });

// ---------------------------------------------------------------------------------------------
// Float64 references, written from PyTorch's documented algorithms (torch.optim.Adam / AdamW / SGD).

type RefKind =
  | { kind: "adam"; lr: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number /* AdamW's decoupled decay */ }
  | { kind: "sgd"; lr: number; momentum?: number; nesterov?: boolean; weightDecay?: number; dampening?: number };

/** Runs `steps` steps of the reference on one flat leaf with gradients grad(k). */
function referenceLeaf(o: RefKind, p0: readonly number[], grad: (k: number) => number[], steps: number): number[] {
  const p = Float64Array.from(p0);
  const n = p.length;
  const m = new Float64Array(n); // Adam's first moment, or SGD's momentum buffer
  const v = new Float64Array(n);
  for (let k = 0; k < steps; k++) {
    const t = k + 1;
    const g = Float64Array.from(grad(k));
    if (o.kind === "adam") {
      const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0 } = o;
      for (let i = 0; i < n; i++) {
        p[i] = p[i]! - lr * weightDecay * p[i]!; // θ ← θ − γλθ
        m[i] = beta1 * m[i]! + (1 - beta1) * g[i]!;
        v[i] = beta2 * v[i]! + (1 - beta2) * g[i]! * g[i]!;
        const mHat = m[i]! / (1 - beta1 ** t);
        const vHat = v[i]! / (1 - beta2 ** t);
        p[i] = p[i]! - (lr * mHat) / (Math.sqrt(vHat) + eps);
      }
    } else {
      const { lr, momentum = 0, nesterov = false, weightDecay = 0, dampening = 0 } = o;
      for (let i = 0; i < n; i++) {
        let gi = g[i]!;
        if (weightDecay !== 0) gi += weightDecay * p[i]!;
        if (momentum !== 0) {
          m[i] = t > 1 ? momentum * m[i]! + (1 - dampening) * gi : gi;
          gi = nesterov ? gi + momentum * m[i]! : m[i]!;
        }
        p[i] = p[i]! - lr * gi;
      }
    }
  }
  return Array.from(p);
}

const reference = (o: RefKind, steps: number) => ({ a: referenceLeaf(o, A0, gradA, steps), b: referenceLeaf(o, B0, gradB, steps) });

// ---------------------------------------------------------------------------------------------

/** The optimizer's update, jit-compiled over (params, grads, state). */
function jitUpdate<K extends OptimizerStateKind>(opt: TreeOptimizer<K>) {
  const f = jit((params: P, grads: P, state: StateOf<K, P>) => opt.update(params, grads, state) as unknown as JsTree<np.Array>);
  return f as unknown as ((params: P, grads: P, state: StateOf<K, P>) => { params: P; state: StateOf<K, P> }) & { dispose(): void };
}

/** Runs `steps` updates, eagerly or jit-compiled; returns the final params and state (owned). */
function run<K extends OptimizerStateKind>(opt: TreeOptimizer<K>, steps: number, compiled: boolean, onStep?: (k: number) => void) {
  const update = compiled ? jitUpdate(opt) : undefined;
  let params = makeParams();
  let state = opt.init(params);
  for (let k = 0; k < steps; k++) {
    ({ params, state } = update ? update(params, makeGrads(k), state) : opt.update(params, makeGrads(k), state));
    onStep?.(k);
  }
  update?.dispose();
  return { params, state };
}

/** Runs and reads back the params and the step count, freeing everything. */
function runRead<K extends OptimizerStateKind>(opt: TreeOptimizer<K>, steps: number, compiled: boolean) {
  const { params, state } = run(opt, steps, compiled);
  const out = { ...read(params), count: (state as { count: np.Array }).count.ref.dataSync()[0], leaves: tree.leaves(state as JsTree<np.Array>).length };
  tree.dispose(params);
  tree.dispose(state as JsTree<np.Array>);
  return out;
}

const cases: { label: string; make: () => TreeOptimizer<OptimizerStateKind>; ref: RefKind; stateLeaves: number }[] = [
  { label: "adam", make: () => adam({ lr: 0.05 }), ref: { kind: "adam", lr: 0.05 }, stateLeaves: 5 },
  { label: "adam (beta1 0.5, beta2 0.9, eps 1e-3)", make: () => adam({ lr: 0.1, beta1: 0.5, beta2: 0.9, eps: 1e-3 }), ref: { kind: "adam", lr: 0.1, beta1: 0.5, beta2: 0.9, eps: 1e-3 }, stateLeaves: 5 },
  { label: "adam (beta1 0: ln β = −∞ in the bias correction)", make: () => adam({ lr: 0.1, beta1: 0, beta2: 0.99 }), ref: { kind: "adam", lr: 0.1, beta1: 0, beta2: 0.99 }, stateLeaves: 5 },
  { label: "adamw (default weightDecay 0.01)", make: () => adamw({ lr: 0.05 }), ref: { kind: "adam", lr: 0.05, weightDecay: 0.01 }, stateLeaves: 5 },
  { label: "adamw (weightDecay 0.5)", make: () => adamw({ lr: 0.05, beta2: 0.99, weightDecay: 0.5 }), ref: { kind: "adam", lr: 0.05, beta2: 0.99, weightDecay: 0.5 }, stateLeaves: 5 },
  { label: "sgd", make: () => sgd({ lr: 0.1 }), ref: { kind: "sgd", lr: 0.1 }, stateLeaves: 1 },
  { label: "sgd (weightDecay 0.2)", make: () => sgd({ lr: 0.1, weightDecay: 0.2 }), ref: { kind: "sgd", lr: 0.1, weightDecay: 0.2 }, stateLeaves: 1 },
  { label: "sgd (momentum 0.9)", make: () => sgd({ lr: 0.05, momentum: 0.9 }), ref: { kind: "sgd", lr: 0.05, momentum: 0.9 }, stateLeaves: 3 },
  { label: "sgd (nesterov, momentum 0.9)", make: () => sgd({ lr: 0.05, momentum: 0.9, nesterov: true }), ref: { kind: "sgd", lr: 0.05, momentum: 0.9, nesterov: true }, stateLeaves: 3 },
  {
    label: "sgd (momentum 0.8, dampening 0.3, weightDecay 0.1)",
    make: () => sgd({ lr: 0.05, momentum: 0.8, dampening: 0.3, weightDecay: 0.1 }),
    ref: { kind: "sgd", lr: 0.05, momentum: 0.8, dampening: 0.3, weightDecay: 0.1 },
    stateLeaves: 3,
  },
];

const STEPS = 6;
const TOL = 1e-6;
/**
 * Adam and AdamW compute the bias corrections 1 − βᵗ through jax-js's float32 power, a documented
 * deviation of about 1% in the corrections (see biasCorrection in src/optim/adam.ts): against the
 * float64 reference they agree to about 5e-4 relative over these steps.
 */
const ADAM_TOL = 2e-3;

for (const c of cases) {
  test(`${c.label}: ${STEPS} steps, eager and jit-compiled, match the float64 reference`, () => {
    const want = reference(c.ref, STEPS);
    for (const compiled of [false, true]) {
      const got = runRead(c.make(), STEPS, compiled);
      const where = compiled ? "jit" : "eager";
      const tol = c.ref.kind === "adam" ? ADAM_TOL : TOL;
      assert.ok(maxRelErr(got.a, want.a) < tol, `${where} a: ${got.a} vs ${want.a}`);
      assert.ok(maxRelErr(got.b, want.b) < tol, `${where} b: ${got.b} vs ${want.b}`);
      assert.equal(got.count, STEPS, `${where}: step count`);
      assert.equal(got.leaves, c.stateLeaves, `${where}: number of state arrays`);
    }
  });
}

test("each optimizer carries its name", () => {
  assert.equal(adam({ lr: 1 }).name, "adam");
  assert.equal(adamw({ lr: 1 }).name, "adamw");
  assert.equal(sgd({ lr: 1 }).name, "sgd");
});

test("adamw with weightDecay 0 is adam, to the bit, eager and jit-compiled", () => {
  for (const compiled of [false, true]) {
    const w = runRead(adamw({ lr: 0.05, weightDecay: 0 }), STEPS, compiled);
    const a = runRead(adam({ lr: 0.05 }), STEPS, compiled);
    assert.deepEqual(w, a);
  }
  // …and weight decay does change the result.
  const decayed = runRead(adamw({ lr: 0.05, weightDecay: 0.1 }), STEPS, false);
  assert.notDeepEqual(decayed.a, runRead(adam({ lr: 0.05 }), STEPS, false).a);
});

test("sgd with momentum 0 is p − lr·g and keeps no buffers", () => {
  const lr = 0.3;
  const opt = sgd({ lr });
  const params = makeParams();
  const state = opt.init(params);
  assert.deepEqual(state.momentum, [], "no momentum buffers");
  const out = opt.update(params, makeGrads(2), state);
  const got = read(out.params);
  const g = { a: gradA(2), b: gradB(2) };
  assert.ok(maxRelErr(got.a, A0.map((p, i) => p - lr * g.a[i]!)) < TOL, `${got.a}`);
  assert.ok(maxRelErr(got.b, B0.map((p, i) => p - lr * g.b[i]!)) < TOL, `${got.b}`);
  assert.deepEqual(out.state.momentum, []);
  tree.dispose(out.params);
  tree.dispose(out.state);
});

test("nesterov momentum differs from plain momentum", () => {
  const plain = runRead(sgd({ lr: 0.05, momentum: 0.9 }), 3, true);
  const nest = runRead(sgd({ lr: 0.05, momentum: 0.9, nesterov: true }), 3, true);
  assert.ok(maxRelErr(nest.a, plain.a) > 1e-3, `${nest.a} vs ${plain.a}`);
  assert.ok(maxRelErr(nest.b, plain.b) > 1e-3, `${nest.b} vs ${plain.b}`);
});

test("dampening leaves the first step alone (b₁ = g) and scales later gradients by 1 − dampening", () => {
  const one = (d: number, steps: number) => runRead(sgd({ lr: 0.1, momentum: 0.5, dampening: d }), steps, true);
  assert.deepEqual(one(0.4, 1), one(0, 1), "one step: dampening has no effect");
  assert.ok(maxRelErr(one(0.4, 2).a, one(0, 2).a) > 1e-3, "two steps: dampening matters");
});

test("bad options throw, naming the optimizer, the option and the allowed range", () => {
  const bad: [() => unknown, RegExp][] = [
    [() => adam({ lr: 0 }), /adam: lr must be a finite number > 0/],
    [() => adam({ lr: -1 }), /adam: lr must be a finite number > 0/],
    [() => adam({ lr: Infinity }), /adam: lr must be a finite number > 0/],
    [() => adam({ lr: NaN }), /adam: lr must be a finite number > 0/],
    [() => adam({ lr: 1, beta1: 1 }), /adam: beta1 must be in \[0, 1\)/],
    [() => adam({ lr: 1, beta2: -0.1 }), /adam: beta2 must be in \[0, 1\)/],
    [() => adam({ lr: 1, eps: 0 }), /adam: eps must be a finite number > 0/],
    [() => adamw({ lr: 0 }), /adamw: lr must be a finite number > 0/],
    [() => adamw({ lr: 1, beta1: 1.5 }), /adamw: beta1 must be in \[0, 1\)/],
    [() => adamw({ lr: 1, eps: -1 }), /adamw: eps must be a finite number > 0/],
    [() => adamw({ lr: 1, weightDecay: -0.01 }), /adamw: weightDecay must be a finite number ≥ 0/],
    [() => adamw({ lr: 1, weightDecay: NaN }), /adamw: weightDecay must be a finite number ≥ 0/],
    [() => sgd({ lr: 0 }), /sgd: lr must be a finite number > 0/],
    [() => sgd({ lr: 1, momentum: -0.5 }), /sgd: momentum must be a finite number ≥ 0/],
    [() => sgd({ lr: 1, weightDecay: -1 }), /sgd: weightDecay must be a finite number ≥ 0/],
    [() => sgd({ lr: 1, momentum: 0.9, dampening: 1.5 }), /sgd: dampening must be in \[0, 1\]/],
    [() => sgd({ lr: 1, nesterov: true }), /sgd: nesterov needs momentum > 0 and dampening = 0/],
    [() => sgd({ lr: 1, momentum: 0.9, dampening: 0.1, nesterov: true }), /sgd: nesterov needs momentum > 0 and dampening = 0/],
  ];
  for (const [f, re] of bad) assert.throws(f, re);
  // The edges of the allowed ranges are accepted.
  adam({ lr: 1e-9, beta1: 0, beta2: 0, eps: 1e-30 });
  sgd({ lr: 1, momentum: 0.9, dampening: 1 });
  sgd({ lr: 1, momentum: 0.9, nesterov: true });
  adamw({ lr: 1, weightDecay: 0 });
});

test("optimizerByName builds each optimizer and rejects unknown names and options", () => {
  assert.deepEqual(treeOptimizerNames, ["adam", "adamw", "sgd"]);
  for (const name of treeOptimizerNames) assert.equal(optimizerByName(name, { lr: 0.1 }).name, name);
  // Same numbers as the direct constructors.
  assert.deepEqual(runRead(optimizerByName("sgd", { lr: 0.05, momentum: 0.9, nesterov: true }), 3, true), runRead(sgd({ lr: 0.05, momentum: 0.9, nesterov: true }), 3, true));
  assert.deepEqual(runRead(optimizerByName("adamw", { lr: 0.05, weightDecay: 0.1 }), 3, false), runRead(adamw({ lr: 0.05, weightDecay: 0.1 }), 3, false));
  // A name from the command line (a plain string), with unset flags left undefined.
  const fromCli: string = "adam";
  assert.equal(optimizerByName(fromCli, { lr: 0.1, momentum: undefined, weightDecay: undefined }).name, "adam");
  assert.throws(() => optimizerByName("rmsprop", { lr: 0.1 }), /unknown optimizer 'rmsprop' \(known: adam, adamw, sgd\)/);
  assert.throws(() => optimizerByName(fromCli, { lr: 0.1, momentum: 0.9 }), /adam: unknown option 'momentum' \(adam takes lr, beta1, beta2, eps\)/);
  assert.throws(() => optimizerByName("sgd", { lr: 0 }), /sgd: lr must be a finite number > 0/);
});

// jax-js dispatches lazily: an array that is never read holds on to the buffers its pending
// computation needs (a jit call's outputs to its inputs, an eager op's result to its operands), so a
// loop that never reads keeps every step's buffers alive and frees them all only when the last
// outputs are disposed. A training loop reads back each step; the steady-state check does the same
// by reading every leaf of the params and state after each step.
// Inside jit the update runs on tracers, so a reference it forgets to drop costs nothing at run
// time; the eager runs are the ones that catch a missing dispose in the update itself.
for (const c of [cases[0]!, cases[3]!, cases[4]!, cases[8]!]) {
  for (const compiled of [true, false]) {
    const steps = compiled ? 200 : 50;
    test(`${c.label}: no device buffers leak over ${steps} ${compiled ? "jit-compiled" : "eager"} steps`, () => {
      const opt = c.make();
      const update = compiled ? jitUpdate(opt) : Object.assign((p: P, g: P, st: StateOf<OptimizerStateKind, P>) => opt.update(p, g, st), { dispose() {} });
      const go = (steps: number, readEachStep: boolean, onStep?: (k: number) => void) => {
        let params = makeBigParams();
        let state = opt.init(params);
        for (let k = 0; k < steps; k++) {
          ({ params, state } = update(params, makeBigGrads(k), state));
          if (readEachStep) for (const leaf of tree.leaves([params, state] as JsTree<np.Array>)) leaf.ref.dataSync();
          onStep?.(k);
        }
        tree.dispose(params);
        tree.dispose(state);
      };
      go(3, true); // compile and warm caches
      const start = counter.live();
      const live: number[] = [];
      go(steps, true, (k) => {
        if (k === 9 || k === steps - 1) live.push(counter.live());
      });
      const end = counter.live();
      go(steps, false);
      const endUnread = counter.live();
      update.dispose();
      assert.ok(live[0]! > start, "the counter must see the params and state of a run in progress");
      assert.equal(live[1], live[0], "live buffers must not grow with the number of steps");
      assert.equal(end, start, `a finished run must free its buffers (grew by ${end - start})`);
      assert.equal(endUnread, start, `a finished run that never read back must free its buffers too (grew by ${endUnread - start})`);
    });
  }
}

test("the bias correction deviation is what adam's documentation says; the exact form is accurate", () => {
  const t = np.array([1, 10, 100, 1000]);
  const viaPower = Array.from(np.power(0.999, t.ref).mul(-1).add(1).dataSync() as Float32Array);
  const exact = Array.from(exactBiasCorrection(0.999, t).dataSync() as Float32Array);
  const truth = [1, 10, 100, 1000].map((k) => 1 - 0.999 ** k);
  assert.ok(maxRelErr(exact, truth) < 1e-6, `exact: ${exact} vs ${truth}`);
  const off = viaPower.map((v, i) => v / truth[i]! - 1);
  assert.ok(off[0]! > 0.005 && off[0]! < 0.02, `power at t = 1 is off by ${off[0]} (documented: about 1.2%)`);
});
