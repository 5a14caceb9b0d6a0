import { test } from "node:test";
import assert from "node:assert/strict";
import { build } from "esbuild";

const bundle = (entry: string, external: string[] = []) =>
  build({ entryPoints: [entry], bundle: true, write: false, metafile: true, platform: "browser", format: "esm", external, logLevel: "silent" });

test("the package root bundles for browsers without TF.js; lossbalance/tfjs bundles with TF.js as its only external", async () => {
  const root = await bundle("src/index.ts");
  const rootInputs = Object.keys(root.metafile!.inputs);
  assert.ok(rootInputs.some((p) => p.includes("@jax-js")), "the root bundles jax-js");
  assert.deepEqual(rootInputs.filter((p) => p.includes("@tensorflow") || p.includes("src/tfjs")), []);
  const sub = await bundle("src/tfjs/index.ts", ["@tensorflow/*"]);
  const imports = Object.values(sub.metafile!.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path));
  assert.deepEqual([...new Set(imports)].sort(), ["@tensorflow/tfjs-core", "@tensorflow/tfjs-layers"]);
  assert.ok(!Object.keys(sub.metafile!.inputs).some((p) => p.includes("@jax-js")), "lossbalance/tfjs does not pull jax-js in");
});

test("lossbalance/threads: the browser build bundles for browsers without Node built-ins and without jax-js", async () => {
  const b = await bundle("src/threads/browser.ts");
  const inputs = Object.keys(b.metafile!.inputs);
  assert.ok(inputs.some((p) => p.endsWith("src/threads/browser.ts")));
  assert.deepEqual(inputs.filter((p) => p.includes("@jax-js") || p.startsWith("node:")), []);
});
