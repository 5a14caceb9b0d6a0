import { test, before, describe } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numpy as np, tree } from "@jax-js/jax";
import { tanhTask } from "../helpers/tanhTask.js";
import { setupJax, toList } from "../helpers/jax.js";
import { liveBufferCounter } from "../helpers/liveBuffers.js";
import { trainModelLoop, type ModelLoopCheckpoint } from "../../src/train/modelLoop.js";
import { createModelTrainer } from "../../src/train/modelTrainer.js";
import { decodeCheckpoint, encodeCheckpoint, fromJson, toJson, treeFromHost, treeToHost } from "../../src/train/checkpoint.js";
import { decodeSafetensors, encodeSafetensors, hostTensor, SafetensorsError } from "../../src/util/safetensors.js";
import { hasCheckpoint, loadCheckpoint, saveCheckpoint } from "../../src/checkpoint/files.js";
import { createBalancer } from "../../src/balancers/registry.js";
import { adam } from "../../src/optim/adam.js";
import { sgd } from "../../src/optim/sgd.js";
import { initTanhMlp, type RegressionBatch } from "../../examples/models/tanhMlp.js";
import type { ModelParams } from "../../src/model/contract.js";
import { anyModelMethods } from "../../src/cli/methodSets.js";

let counter: { live(): number };
before(async () => {
  await setupJax();
  counter = await liveBufferCounter();
});

describe("safetensors", () => {
  test("the layout the format specifies: u64 header length, JSON header padded to 8 bytes, little-endian data in offset order", () => {
    const bytes = encodeSafetensors({ a: hostTensor(new Float32Array([1, -2]), [2]), b: hostTensor(new Int32Array([7]), []) }, { k: "v" });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal(n % 8, 0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    assert.deepEqual(header, {
      __metadata__: { k: "v" },
      a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
      b: { dtype: "I32", shape: [], data_offsets: [8, 12] },
    });
    const data = new DataView(bytes.buffer, 8 + n);
    assert.equal(data.getFloat32(0, true), 1);
    assert.equal(data.getFloat32(4, true), -2);
    assert.equal(data.getInt32(8, true), 7);
    assert.equal(bytes.length, 8 + n + 12);
  });

  test("round trip keeps every bit (−0, NaN payload-free, subnormals, every dtype)", () => {
    const f32 = new Float32Array([-0, NaN, 1e-45, 3.4e38, -1.5]);
    const f64 = new Float64Array([-0, Math.PI, 5e-324, -Infinity]);
    const u32 = new Uint32Array([0, 4294967295]);
    const { tensors, metadata } = decodeSafetensors(encodeSafetensors({ f32: hostTensor(f32, [5]), f64: hostTensor(f64, [2, 2]), u32: hostTensor(u32, [2, 1]) }));
    assert.deepEqual(metadata, {});
    assert.deepEqual(new Uint8Array(tensors.f32!.data.buffer), new Uint8Array(f32.buffer));
    assert.deepEqual(new Uint8Array(tensors.f64!.data.buffer), new Uint8Array(f64.buffer));
    assert.deepEqual(Array.from(tensors.u32!.data), [0, 4294967295]);
    assert.deepEqual(tensors.f64!.shape, [2, 2]);
  });

  test("damaged files are refused, naming what is wrong", () => {
    const good = encodeSafetensors({ a: hostTensor(new Float32Array([1, 2, 3]), [3]) });
    assert.throws(() => decodeSafetensors(good.subarray(0, 5)), /too short/);
    assert.throws(() => decodeSafetensors(good.subarray(0, good.length - 4)), SafetensorsError);
    const extra = new Uint8Array(good.length + 4);
    extra.set(good);
    assert.throws(() => decodeSafetensors(extra), /4 bytes after the last tensor/);
    const badLen = good.slice();
    new DataView(badLen.buffer).setBigUint64(0, 1n << 40n, true);
    assert.throws(() => decodeSafetensors(badLen), /header length/);
    assert.throws(() => encodeSafetensors({ a: hostTensor(new Float32Array(3), [2, 2]) }), /holds 4 values, the data 3/);
  });
});

describe("checkpoint documents", () => {
  test("toJson/fromJson keep −0, NaN, ±Infinity and typed arrays", () => {
    const v = { a: -0, b: [NaN, Infinity, -Infinity, 1.1], c: new Float64Array([-0, 2.5]), d: null, e: "x" };
    const back = fromJson(toJson(v)) as typeof v;
    assert.ok(Object.is(back.a, -0));
    assert.ok(Number.isNaN(back.b[0]) && back.b[1] === Infinity && back.b[2] === -Infinity && back.b[3] === 1.1);
    assert.ok(back.c instanceof Float64Array && Object.is(back.c[0], -0) && back.c[1] === 2.5);
    assert.equal(back.d, null);
    assert.equal(back.e, "x");
  });

  test("a tree goes to the host and back with structure, dtypes, shapes and values", async () => {
    const t = { w: [np.array(new Float32Array([1, 2, 3, 4])).reshape([2, 2]), np.array(new Int32Array([5, 6]), { dtype: np.int32 })], n: 3, s: np.array(7) };
    const host = await treeToHost(t, "p");
    assert.deepEqual(Object.keys(host.tensors).sort(), ["p/s", "p/w/0", "p/w/1"]);
    const back = treeFromHost(host) as unknown as typeof t;
    assert.equal(back.n, 3);
    assert.deepEqual(back.w[0]!.shape, [2, 2]);
    assert.equal(back.w[1]!.dtype, "int32");
    assert.deepEqual(toList(back.w[0]!), [1, 2, 3, 4]);
    assert.deepEqual(back.s.shape, []);
    tree.dispose([t.w, t.s, back.w, back.s] as never);
  });
});

const { T, B, config, model, data } = tanhTask(5, 60);
const device = (t: number): RegressionBatch => ({ x: np.array(Float32Array.from(data[t]!.x)).reshape([B, 6]), y: np.array(Float32Array.from(data[t]!.y)).reshape([T, B, 2]) });
const flat = (p: ModelParams) => (tree.leaves(p) as np.Array[]).flatMap((a) => toList(a));

/** Options that make every method run here: static needs weights, methods with a grad mode use shared (the hardest path). */
function balancerFor(m: string) {
  return createBalancer(m, m === "static" ? { weights: [1, 2, 3] } : {});
}

async function run(method: string, steps: number, extra: { resume?: ModelLoopCheckpoint; every?: number; saved?: Map<number, ModelLoopCheckpoint>; optimizer?: "adam" | "sgd" } = {}) {
  const r = await trainModelLoop({
    model,
    ...(extra.resume ? { resume: extra.resume } : { params: initTanhMlp(config, 4) }),
    optimizer: extra.optimizer === "sgd" ? sgd({ lr: 1e-2, momentum: 0.9 }) : adam({ lr: 1e-2 }),
    balancer: balancerFor(method),
    steps,
    batch: device,
    evalEvery: 7,
    recordEvery: 3,
    evaluate: async (p) => {
      const f = flat(p);
      return Array.from({ length: T }, (_, i) => f[i]! * f[i]!);
    },
    ...(extra.every
      ? {
          checkpoint: {
            every: extra.every,
            // Through the documents, as a file would: what resumes is what was encoded.
            save: (cp) => void extra.saved!.set(cp.loop.next, decodeCheckpoint<ModelLoopCheckpoint["loop"]>(encodeCheckpoint({ ...cp, config: { method } })) as ModelLoopCheckpoint),
          },
        }
      : {}),
  });
  const params = flat(r.params);
  tree.dispose(r.params);
  return { params, weights: r.finalWeights, history: r.history, skipped: r.skipped };
}

describe("resume with trainModelLoop", () => {
  for (const method of anyModelMethods()) {
    test(`${method}: a run resumed from its checkpoint at step 10 ends bit-identical to the uninterrupted run`, async () => {
      const saved = new Map<number, ModelLoopCheckpoint>();
      const full = await run(method, 24, { every: 5, saved });
      assert.deepEqual([...saved.keys()], [5, 10, 15, 20]);
      const resumed = await run(method, 24, { resume: saved.get(10)! });
      assert.deepEqual(resumed.params, full.params);
      assert.deepEqual(resumed.weights, full.weights);
      assert.deepEqual(resumed.history, full.history);
      // The test can fail: the run from step 15's checkpoint differs from a fresh run's parameters.
      const fresh = await run(method, 14);
      assert.notDeepEqual(fresh.params, full.params);
    });
  }

  test("SGD with momentum resumes bit-identically too (another optimizer state tree)", async () => {
    const saved = new Map<number, ModelLoopCheckpoint>();
    const full = await run("gradnorm", 20, { every: 4, saved, optimizer: "sgd" });
    const resumed = await run("gradnorm", 20, { resume: saved.get(8)!, optimizer: "sgd" });
    assert.deepEqual(resumed.params, full.params);
    assert.deepEqual(resumed.history, full.history);
  });

  test("snapshots and resumes leak no device buffers", async () => {
    const saved = new Map<number, ModelLoopCheckpoint>();
    await run("mgda", 12, { every: 4, saved });
    const before = counter.live();
    await run("mgda", 12, { every: 4, saved: new Map() });
    await run("mgda", 12, { resume: saved.get(4)! });
    assert.equal(counter.live(), before);
  });

  test("a snapshot from another balancer or task count is refused; params and resume together are refused", async () => {
    const saved = new Map<number, ModelLoopCheckpoint>();
    await run("famo", 5, { every: 5, saved });
    const snap = saved.get(5)!.trainer;
    const opt = adam({ lr: 1e-2 });
    assert.throws(() => createModelTrainer({ model, optimizer: opt, balancer: createBalancer("gradnorm"), resume: snap }), /written by balancer 'famo', this trainer runs 'gradnorm'/);
    const wrongT = { ...snap, balancerState: { ...snap.balancerState, weights: [1, 1] } };
    assert.throws(() => createModelTrainer({ model, optimizer: opt, balancer: createBalancer("famo"), resume: wrongT }), /2 weights, the model 3 tasks/);
    assert.throws(() => createModelTrainer({ model, optimizer: opt, balancer: createBalancer("famo"), resume: snap, params: initTanhMlp(config, 1) }), /either params .* or resume/);
    await assert.rejects(run("famo", 4, { resume: saved.get(5)! }), /checkpoint is at step 5, past the run's 4 steps/);
  });
});

describe("checkpoint folders", () => {
  async function snapshotAt(step: number): Promise<ModelLoopCheckpoint> {
    const saved = new Map<number, ModelLoopCheckpoint>();
    await run("uncertainty", step, { every: step, saved });
    return saved.get(step)!;
  }

  test("save and load round trip; the newest two are kept; a leftover temporary folder is ignored and later removed", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "lb-ckpt-")), "run");
    assert.equal(hasCheckpoint(dir), false);
    assert.throws(() => loadCheckpoint(dir), /no folder/);
    const a = await snapshotAt(3);
    saveCheckpoint(dir, { ...a, config: { x: 1 } }, 3);
    mkdirSync(join(dir, "step-000000006.tmp-999999")); // what a process killed mid-save leaves
    const b = await snapshotAt(6);
    saveCheckpoint(dir, { ...b, config: { x: 1 } }, 6);
    const c = await snapshotAt(9);
    saveCheckpoint(dir, { ...c, config: { x: 1 } }, 9);
    assert.deepEqual(readdirSync(dir).sort(), ["latest.json", "step-000000006", "step-000000009"]);
    const back = loadCheckpoint<ModelLoopCheckpoint["loop"]>(dir);
    assert.deepEqual(back.config, { x: 1 });
    assert.equal(back.trainer.step, 9);
    assert.deepEqual(back.loop, c.loop);
    assert.deepEqual(back.trainer.balancerState, c.trainer.balancerState);
    // Readable as plain safetensors, named by tree path.
    const st = decodeSafetensors(new Uint8Array(readFileSync(join(dir, "step-000000009", "tensors.safetensors"))));
    assert.ok(Object.keys(st.tensors).some((k) => k.startsWith("params/shared")) && Object.keys(st.tensors).some((k) => k.startsWith("optState/")));
  });

  test("a damaged checkpoint gives a clear error naming the file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lb-ckpt-"));
    saveCheckpoint(dir, { ...(await snapshotAt(2)), config: {} }, 2);
    writeFileSync(join(dir, "step-000000002", "tensors.safetensors"), "garbage");
    assert.throws(() => loadCheckpoint(dir), /checkpoint .*step-000000002: .*header/);
    writeFileSync(join(dir, "latest.json"), "{");
    assert.throws(() => loadCheckpoint(dir), /latest.json is not valid JSON/);
    assert.ok(existsSync(join(dir, "step-000000002")));
  });
});
