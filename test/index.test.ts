import { test } from "node:test";
import assert from "node:assert/strict";
import * as lb from "../src/index.js";

test("the package root exports every method under its camelCase paper name, and the Gramian-only functions", () => {
  const factories = ["gradNorm", "equalWeights", "staticWeights", "uncertainty", "dwa", "rlw", "mgda", "pcgrad", "cagrad", "imtlG", "nashMtl", "alignedMtl", "upgrad", "dualProj", "config", "gradVac", "famo", "dbMtl", "gradDrop"];
  for (const f of factories) assert.equal(typeof (lb as Record<string, unknown>)[f], "function", f);
  const G = [[1, 0.2], [0.2, 4]];
  for (const f of ["mgdaWeights", "pcgradWeights", "cagradWeights", "imtlGWeights", "nashMtlWeights", "alignedMtlWeights", "upgradWeights", "dualProjWeights", "configWeights"]) {
    const w = ((lb as Record<string, unknown>)[f] as (g: number[][]) => number[])(G);
    assert.equal(w.length, 2, f);
    assert.ok(w.every(Number.isFinite), `${f}: ${w}`);
  }
  assert.equal(typeof lb.createTrainer, "function");
  assert.equal(typeof lb.buildTwoPhaseStep, "function");
});

test("the package root exports the model contract, its generic step and trainer, and the tree optimizers", () => {
  for (const f of ["createModelTrainer", "modelPass", "checkModel", "buildModelStep", "buildModelTwoPhase", "adam", "adamw", "sgd", "optimizerByName", "signDropout"]) {
    assert.equal(typeof (lb as Record<string, unknown>)[f], "function", f);
  }
  assert.equal(new lb.ModelContractError("x").name, "ModelContractError");
});
