import { test, before, describe } from "node:test";
import assert from "node:assert/strict";
import { numpy as np, tree, grad } from "@jax-js/jax";
import { setupJax, toList, statOfRows } from "../helpers/jax.js";
import { liveBufferCounter } from "../helpers/liveBuffers.js";
import { featureDerivative, initPinnParams, pinnModel, taylorFeatures, type PinnBatch, type PinnParams, type PinnTerm } from "../../src/pinn/model.js";
import { modelPass } from "../../src/model/generic.js";
import { Rng } from "../../src/util/rng.js";

let counter: { live(): number };
before(async () => {
  await setupJax();
  counter = await liveBufferCounter();
});

/** The network on the host in float64, from the parameters read back: u(x) for one point. */
function hostNetwork(p: PinnParams) {
  const layers = p.shared.body.layers.map((l) => ({ W: toList(l.W), b: toList(l.b), inDim: l.W.shape[0]!, outDim: l.W.shape[1]! }));
  const Wout = toList(p.shared.last.W);
  return (x: readonly number[]): number => {
    let h = [...x];
    for (const l of layers) {
      const next = new Array<number>(l.outDim).fill(0);
      for (let o = 0; o < l.outDim; o++) {
        let s = l.b[o]!;
        for (let i = 0; i < l.inDim; i++) s += h[i]! * l.W[i * l.outDim + o]!;
        next[o] = Math.tanh(s);
      }
      h = next;
    }
    let u = Wout[h.length]!; // the bias row
    for (let i = 0; i < h.length; i++) u += h[i]! * Wout[i]!;
    return u;
  };
}

/** Central finite differences in float64 of u along `axes` (up to second order). */
function fd(u: (x: number[]) => number, x: number[], axes: readonly number[], h = 1e-3): number {
  const shift = (k: number, d: number) => x.map((v, i) => (i === k ? v + d : v));
  if (axes.length === 0) return u(x);
  if (axes.length === 1) return (u(shift(axes[0]!, h)) - u(shift(axes[0]!, -h))) / (2 * h);
  const [a, b] = axes as [number, number];
  const at = (da: number, db: number) => u(x.map((v, i) => v + (i === a ? da : 0) + (i === b ? db : 0)));
  if (a === b) return (at(h, 0) - 2 * u(x) + at(-h, 0)) / (h * h);
  return (at(h, h) - at(h, -h) - at(-h, h) + at(-h, -h)) / (4 * h * h);
}

const derivatives = [[], [0], [1], [0, 0], [1, 1], [0, 1], [1, 0]] as const;

describe("input derivatives (nested forward-mode jvp, batched over the points)", () => {
  for (const mode of ["taylor", "jvp"] as const) test(`${mode}: u, ∂u/∂x, ∂u/∂y, ∂²u/∂x², ∂²u/∂y², ∂²u/∂x∂y at 40 random points match float64 finite differences of the same network`, () => {
    const params = initPinnParams({ inputDim: 2, hidden: [12, 10] }, 7);
    const u = hostNetwork(params);
    const rng = new Rng(3);
    const N = 40;
    const pts = rng.uniforms(N * 2, -1, 1);
    const term: PinnTerm = { name: "all", derivatives: derivatives.map((d) => [...d]), residual: (ds) => ds[0]!.ref };
    const model = pinnModel([term], { inputDim: 2, hidden: [12, 10], derivatives: mode });
    const batch: PinnBatch = { points: [np.array(pts).reshape([N, 2])], data: [np.zeros([N])] };
    const z = model.split!.body(params, batch);
    const rep = toList(model.split!.last(params, z));
    z.dispose();
    let worst = 0;
    derivatives.forEach((axes, k) => {
      for (let i = 0; i < N; i++) {
        const x = [pts[2 * i]!, pts[2 * i + 1]!];
        const exact = fd(u, x, axes);
        const got = rep[k * N + i]!;
        worst = Math.max(worst, Math.abs(got - exact) / (1 + Math.abs(exact)));
      }
    });
    assert.ok(worst < 2e-5, `worst relative error ${worst}`);
    tree.dispose([params, batch] as never);
  });

  test("taylor and jvp agree to float32 rounding on a deeper network, for every derivative set the problems use", () => {
    const params = initPinnParams({ inputDim: 2, hidden: [20, 20, 20] }, 9);
    const layers = params.shared.body.layers;
    const x = np.array(new Rng(8).uniforms(30 * 2, -1, 1)).reshape([30, 2]);
    for (const set of [[[0, 0], [1, 1], []], [[1], [0], [0, 0], []], [[]], [[], [1]], [[1, 0], [0]]] as number[][][]) {
      const fast = taylorFeatures(layers, x, set);
      set.forEach((axes, k) => {
        const a = toList(fast[k]!);
        const b = toList(featureDerivative(layers, x, axes));
        const scale = Math.max(1, ...b.map(Math.abs));
        const err = Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
        assert.ok(err < 1e-5 * scale, `[${axes.join(",")}] of [${set.map((s) => `[${s}]`).join(" ")}]: ${err}`);
      });
      fast.forEach((a) => a.dispose());
    }
    tree.dispose([params, x] as never);
  });

  test("the derivative is each point's own: a point's derivative does not change when the other points move", () => {
    const params = initPinnParams({ inputDim: 1, hidden: [6] }, 1);
    const layers = params.shared.body.layers;
    const a = np.array(new Float32Array([0.3, -0.2, 0.9])).reshape([3, 1]);
    const b = np.array(new Float32Array([0.3, 0.5, -0.7])).reshape([3, 1]);
    const da = toList(featureDerivative(layers, a, [0, 0]));
    const db = toList(featureDerivative(layers, b, [0, 0]));
    assert.deepEqual(da.slice(0, 7), db.slice(0, 7)); // row 0: 6 features and the constant's derivative
    assert.equal(da[6], 0, "the constant feature (the output bias) has zero derivative");
    tree.dispose([params, a, b] as never);
  });
});

describe("pinnModel in the contract", () => {
  const terms: PinnTerm[] = [
    { name: "residual", derivatives: [[0, 0], [1, 1]], residual: (ds, _x, f) => ds[0]!.ref.add(ds[1]!.ref).add(f.ref) },
    { name: "boundary", derivatives: [[]], residual: (ds, _x, g) => ds[0]!.ref.sub(g.ref) },
  ];
  const model = pinnModel(terms, { inputDim: 2, hidden: [8, 8] });
  const batchOf = (seed: number): PinnBatch => {
    const rng = new Rng(seed);
    return {
      points: [np.array(rng.uniforms(20 * 2, 0, 1)).reshape([20, 2]), np.array(rng.uniforms(6 * 2, 0, 1)).reshape([6, 2])],
      data: [np.array(rng.normals(20)), np.array(rng.normals(6))],
    };
  };

  test("each term's loss and its gradient over all parameters equal jax-js grad of that term alone; the Gramian's diagonal is their squared norms, the magnitudes their max and sum of |g|", () => {
    const params = initPinnParams({ inputDim: 2, hidden: [8, 8] }, 2);
    const batch = batchOf(4);
    const r = modelPass(model, params, batch, { stat: { mode: "shared", kind: "gramian" } });
    const G = toList(r.stat!);
    const rAbs = modelPass(model, params, batch, { stat: { mode: "shared", kind: "abs" } });
    const A = toList(rAbs.stat!);
    tree.dispose([rAbs.losses, rAbs.stat] as never);
    const losses = toList(r.losses);
    terms.forEach((term, t) => {
      const single = pinnModel([term], { inputDim: 2, hidden: [8, 8] });
      const one: PinnBatch = { points: [batch.points[t]!.ref], data: [batch.data[t]!.ref] };
      const loss = (s: PinnParams["shared"]) => {
        const p = { shared: s, task: {} } as PinnParams;
        const z = single.split!.body(p, one);
        const rep = single.split!.last(p, z);
        z.dispose();
        const l = single.tasks(p, rep.reshape([1, -1]), one).sum();
        return l;
      };
      const g = grad(loss)(tree.ref(params.shared));
      const flat = (tree.leaves(g) as np.Array[]).flatMap((a) => toList(a));
      const sq = flat.reduce((a, v) => a + v * v, 0);
      assert.ok(Math.abs(sq - G[t * 3]!) / sq < 1e-4, `term ${term.name}: ‖∇‖² ${sq} vs Gramian ${G[t * 3]}`);
      const want = statOfRows([flat], "abs");
      [A[t]!, A[2 + t]!, A[4 + t]!].forEach((v, k) => assert.ok(Math.abs(v - want[k]!) <= 1e-4 * want[k]!, `term ${term.name}: |g| statistic ${k} ${v} vs ${want[k]}`));
      tree.dispose([g, one] as never);
      void losses;
    });
    assert.ok(Math.abs(G[1]! - G[2]!) <= 1e-6 * Math.abs(G[1]!) + 1e-12, "symmetric");
    tree.dispose([r.losses, r.stat, params, batch] as never);
  });

  test("kernelTraces: τₜ = (1/Mₜ)·Σⱼ‖∂rₜⱼ/∂θ‖² equals a loop of jax-js grad over every point and residual entry (taylor and jvp derivatives, a term with two entries per point); eager and under modelPass, no leaks", () => {
    // A third term with two residual entries per point (u − g and u_x), as Klein–Gordon's initial term.
    const all: PinnTerm[] = [...terms, { name: "two", derivatives: [[], [0]], residual: (ds, _x, g) => np.concatenate([ds[0]!.ref.sub(g.ref), ds[1]!.ref], 0) }];
    const cfg = { inputDim: 2, hidden: [6, 5] };
    const params = initPinnParams(cfg, 3);
    const rng = new Rng(8);
    const sizes = [7, 4, 5];
    const pts = sizes.map((n) => rng.uniforms(n * 2, 0, 1));
    const dat = sizes.map((n) => rng.normals(n));
    const batch = (): PinnBatch => ({ points: pts.map((p, t) => np.array(p).reshape([sizes[t]!, 2])), data: dat.map((d) => np.array(d)) });
    // Reference: one grad call per term, point and entry.
    const want = all.map((term, t) => {
      let total = 0;
      let entries = 0;
      for (let j = 0; j < sizes[t]!; j++) {
        const K = term.derivatives.length === 2 && term.name === "two" ? 2 : 1;
        for (let k = 0; k < K; k++) {
          const g = grad((s: PinnParams["shared"]) => {
            const x = np.array(pts[t]!.slice(2 * j, 2 * j + 2)).reshape([1, 2]);
            const y = np.array([dat[t]![j]!]);
            const ds = taylorFeatures(s.body.layers, x, term.derivatives).map((f) => np.matmul(f, s.last.W.ref).reshape([1]));
            const r = term.residual(ds, x, y);
            [...ds, x, y].forEach((a) => a.dispose());
            tree.dispose(s);
            return r.slice(k);
          })(tree.ref(params.shared));
          total += (tree.leaves(g) as np.Array[]).flatMap((a) => toList(a)).reduce((a, v) => a + v * v, 0);
          tree.dispose(g);
          entries++;
        }
      }
      return total / entries;
    });
    for (const derivatives of ["taylor", "jvp"] as const) {
      const m = pinnModel(all, { ...cfg, derivatives });
      const b = batch();
      const before = counter.live();
      const eager = m.kernelTraces!(params, b);
      const got = toList(eager);
      eager.dispose();
      assert.equal(counter.live(), before, `${derivatives}: leaked buffers`);
      got.forEach((v, t) => assert.ok(Math.abs(v - want[t]!) <= 1e-4 * want[t]!, `${derivatives} term ${t}: ${v} vs ${want[t]}`));
      const r = modelPass(m, params, b, { stat: { mode: "shared", kind: "ntk" } });
      assert.deepEqual(toList(r.stat!), got);
      assert.throws(() => modelPass(m, params, b, { stat: { mode: "lastShared", kind: "ntk" } }), /over all parameters \(gradient mode 'shared'\)/);
      tree.dispose([r.losses, r.stat, b] as never);
    }
    assert.throws(() => modelPass({ ...model, kernelTraces: undefined }, params, batchOf(1), { stat: { mode: "shared", kind: "ntk" } }), /needs per-sample outputs: the model must define kernelTraces/);
    tree.dispose(params);
  });

  test("bad terms and batches are refused, naming the problem", () => {
    assert.throws(() => pinnModel([], { inputDim: 2 }), /at least one loss term/);
    assert.throws(() => pinnModel([{ name: "r", derivatives: [[2]], residual: (d) => d[0]!.ref }], { inputDim: 2 }), /axis \[2\], outside the 2 inputs/);
    assert.throws(() => pinnModel(terms, { inputDim: 2, hidden: [] }), /hidden must be a non-empty list/);
  });

  test("no device buffers leaked by the statistics pass", () => {
    const params = initPinnParams({ inputDim: 2, hidden: [8, 8] }, 2);
    const batch = batchOf(5);
    const before = counter.live();
    for (let i = 0; i < 3; i++) {
      const r = modelPass(model, params, batch, { stat: { mode: "lastShared", kind: "norms" }, weights: np.array(new Float32Array([1, 2])) });
      tree.dispose([r.losses, r.stat, r.grads] as never);
    }
    assert.equal(counter.live(), before);
    tree.dispose([params, batch] as never);
  });
});
