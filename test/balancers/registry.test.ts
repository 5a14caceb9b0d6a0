import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import * as lb from "../../src/balancers/index.js";
import { createBalancer, methodNames, registry } from "../../src/balancers/registry.js";
import { BalancerInputError } from "../../src/balancers/validate.js";

describe("registry", () => {
  test("lists exactly the documented methods", () => {
    const documented = ["dwa", "equal", "famo", "graddrop", "gradnorm", "rlw", "static", "uncertainty"];
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
      const obs = b.needs.gradNorms ? { losses: [1, 2, 3], gradNorms: [1, 1, 1] } : { losses: [1, 2, 3] };
      const r = b.update(obs, s);
      assert.equal(r.state.step, 1, name);
      assert.deepEqual(r.weights, r.state.weights, name);
      for (const w of r.weights) assert.ok(Number.isFinite(w) && w >= 0, `${name}: ${w}`);
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
            const obs = b.needs.gradNorms ? { losses: l, gradNorms: l.map((x) => 1 / x) } : { losses: l };
            s = b.update(obs, s).state;
            for (const w of s.weights) assert.ok(Number.isFinite(w) && w >= 0, `${name}: ${w}`);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  test("an unknown name throws, listing the known ones", () => {
    assert.throws(
      () => createBalancer("pcgrad"),
      (e: unknown) => e instanceof BalancerInputError && /unknown method 'pcgrad'/.test(e.message) && /gradnorm, equal/.test(e.message),
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
