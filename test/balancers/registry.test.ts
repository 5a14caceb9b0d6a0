import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import * as lb from "../../src/balancers/index.js";
import { createBalancer, methodNames, methodOptions, registry } from "../../src/balancers/registry.js";
import { BalancerInputError } from "../../src/balancers/validate.js";

/**
 * An observation with whatever statistics the balancer needs: norms 1/L, a Gramian with those norms and
 * cosines 0.3, gradient magnitudes 2/L (largest) and 1/L (mean), kernel traces 1/L.
 */
function observation(b: { needs: { gradNorms?: unknown; gramian?: unknown; gradAbs?: unknown; kernelTraces?: unknown } }, losses: number[]) {
  const n = losses.map((x) => 1 / x);
  const gramian = n.map((a, i) => n.map((c, j) => (i === j ? a * a : 0.3 * a * c)));
  const abs = b.needs.gradAbs ? { gradAbsMax: n.map((v) => 2 * v), gradAbsMean: n } : {};
  return { losses, ...(b.needs.gradNorms ? { gradNorms: n } : {}), ...(b.needs.gramian ? { gramian } : {}), ...abs, ...(b.needs.kernelTraces ? { kernelTraces: n } : {}) };
}

describe("registry", () => {
  test("lists exactly the documented methods", () => {
    const documented = ["dwa", "equal", "famo", "graddrop", "gradnorm", "rlw", "static", "uncertainty", "mgda", "upgrad", "dualproj", "cagrad", "nashmtl", "pcgrad", "gradvac", "config", "imtlg", "alignedmtl", "dbmtl", "softadapt", "relobralo", "lra", "ntk"];
    assert.deepEqual([...methodNames()].sort(), documented.sort());
  });

  test("each name builds a balancer whose name is the registry key", () => {
    const options: Record<string, Record<string, unknown>> = { static: { weights: [1, 2, 3] } };
    for (const name of methodNames()) {
      const b = createBalancer(name, options[name] ?? {});
      assert.equal(b.name, name);
      const s = b.init(3);
      assert.equal(s.weights.length, 3);
      assert.equal(s.step, 0);
      const r = b.update(observation(b, [1, 2, 3]), s);
      assert.equal(r.state.step, 1, name);
      assert.deepEqual(r.weights, r.state.weights, name);
      for (const w of r.weights) assert.ok(Number.isFinite(w) && (b.needs.gramian !== undefined || w >= 0), `${name}: ${w}`);
    }
  });

  test("options are passed through to the factory", () => {
    assert.deepEqual(createBalancer("static", { weights: [3, 1] }).init(2).weights, [3, 1]);
    const b = createBalancer("uncertainty", { taskTypes: ["classification", "regression"] });
    assert.deepEqual(b.init(2).weights, [1, 0.5]);
    assert.throws(() => createBalancer("dwa", { temperature: -1 }), /dwa: option temperature/);
  });

  test("property: a random sequence of finite positive losses gives finite weights for every method", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...methodNames()),
        fc.array(fc.array(fc.double({ min: 1e-3, max: 1e3, noNaN: true }), { minLength: 3, maxLength: 3 }), {
          minLength: 1,
          maxLength: 20,
        }),
        (name, seq) => {
          const b = createBalancer(name, name === "static" ? { weights: [1, 2, 3] } : {});
          let s = b.init(3);
          for (const l of seq) {
            s = b.update(observation(b, l), s).state;
            for (const w of s.weights) assert.ok(Number.isFinite(w) && (b.needs.gramian !== undefined || w >= 0), `${name}: ${w}`);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  test("an unknown name throws, listing the known ones", () => {
    assert.throws(
      () => createBalancer("nope"),
      (e: unknown) => e instanceof BalancerInputError && /unknown method 'nope'/.test(e.message) && /gradnorm, equal/.test(e.message),
    );
  });

  test("index re-exports every factory, helper and the registry", () => {
    assert.equal(lb.registry, registry);
    assert.equal(lb.createBalancer, createBalancer);
    assert.equal(lb.methodNames, methodNames);
    assert.equal(lb.BalancerInputError, BalancerInputError);
    for (const f of ["gradNorm", "gradNormStep", "renormalize", "equalWeights", "staticWeights", "uncertainty", "dwa", "rlw"] as const) {
      assert.equal(typeof lb[f], "function", f);
    }
    assert.equal(lb.equalWeights().name, "equal");
  });
});

test("each method's listed options are exactly the option names its factory reads", () => {
  for (const [name, factory] of Object.entries(registry)) {
    const read = new Set<string>();
    const base: Record<string, unknown> = name === "static" ? { weights: [1, 1] } : {};
    const spy = new Proxy(base, {
      get(target, key) {
        if (typeof key === "string") read.add(key);
        return target[key as string];
      },
    });
    factory(spy).init(2);
    assert.deepEqual([...read].sort(), [...methodOptions(name)].sort(), name);
  }
});

test("createBalancer rejects option names the method does not read, naming them and the known ones", () => {
  assert.throws(() => createBalancer("gradnorm", { alpah: 1 }), /gradnorm: unknown option 'alpah' \(known: alpha, lr, optimizer, initialLoss, gradMode, minWeight\)/);
  assert.throws(() => createBalancer("equal", { alpha: 1, c: 2 }), /equal: unknown options 'alpha', 'c' \(it takes none\)/);
  assert.throws(() => methodOptions("nope"), /unknown method 'nope'/);
  assert.equal(createBalancer("cagrad", { c: 0.2, gradMode: undefined }).name, "cagrad", "undefined means unset");
});

test("every factory called directly rejects option names it does not read, and non-object options", () => {
  for (const [name, factory] of Object.entries(registry)) {
    const base: Record<string, unknown> = name === "static" ? { weights: [1, 1] } : {};
    assert.throws(() => factory({ ...base, alpah: 1 }), (e: unknown) => e instanceof BalancerInputError && new RegExp(`^${name}: unknown option 'alpah'`).test(e.message), name);
    assert.throws(() => factory(42), (e: unknown) => e instanceof BalancerInputError && /options must be an object, got 42/.test(e.message), name);
    assert.deepEqual(factory.optionNames, methodOptions(name));
  }
  assert.throws(() => lb.gradNorm({ alpah: 1 } as never), /gradnorm: unknown option 'alpah' \(known: alpha, lr, optimizer, initialLoss, gradMode, minWeight\)/);
  assert.throws(() => lb.equalWeights({ alpha: 1 } as never), /equal: unknown option 'alpha' \(it takes none\)/);
});
