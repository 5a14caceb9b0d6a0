/**
 * Epoch-time benchmark on the multi-image data (issue target: one MultiMNIST epoch with the
 * default encoder and equal weights under 60 s on one core). Runs in this process, on one core:
 * for each dataset and encoder, one epoch with equal weights (training steps, then the validation
 * and test accuracy passes), timed; the step time is the mean over the epoch's steps.
 * Usage: npm run bench:epoch [-- --datasets mnist,fashion] [-- --encoders mlp,lenet] [-- --json]
 */
import { parseArgs } from "node:util";
import { init, defaultDevice } from "@jax-js/jax";
import { createBalancer } from "../src/balancers/registry.js";
import { multiData, multiEncoders, multiKinds, runMulti, type MultiEncoder, type MultiKind } from "../src/experiments/multiRun.js";

const { values } = parseArgs({
  options: { datasets: { type: "string", default: "mnist,fashion" }, encoders: { type: "string", default: "mlp,lenet" }, json: { type: "boolean", default: false } },
});
const datasets = values.datasets.split(",") as MultiKind[];
const encoders = values.encoders.split(",") as MultiEncoder[];
const fail = (message: string) => {
  console.error(`bench:epoch: ${message}`);
  process.exit(1);
};
for (const d of datasets) if (!(multiKinds as readonly string[]).includes(d)) fail(`unknown dataset '${d}' (${multiKinds.join(", ")})`);
for (const e of encoders) if (!(multiEncoders as readonly string[]).includes(e)) fail(`unknown encoder '${e}' (${multiEncoders.join(", ")})`);

await init("wasm");
defaultDevice("wasm");
const rows = [];
for (const dataset of datasets) {
  const t = performance.now();
  const md = multiData(dataset, 0);
  const loadS = (performance.now() - t) / 1000;
  for (const encoder of encoders) {
    const r = await runMulti(md, "equal", createBalancer("equal"), { epochs: 1, encoder });
    const row = { dataset, encoder, trainCanvases: md.splits.train.length, loadSeconds: loadS, secondsPerEpoch: r.secondsPerEpoch, msPerStep: r.msPerStep, testAccuracy: r.testAccuracy };
    rows.push(row);
    if (!values.json)
      console.log(
        `${dataset.padEnd(13)} ${encoder.padEnd(5)} ${String(row.trainCanvases).padStart(6)} training canvases: epoch ${row.secondsPerEpoch.toFixed(1)} s ` +
          `(${row.msPerStep.toFixed(1)} ms per step of 256, accuracy after one epoch ${r.testAccuracy.map((a) => (100 * a).toFixed(1)).join(" / ")} %; data ready in ${loadS.toFixed(1)} s)`,
      );
  }
}
if (values.json) console.log(JSON.stringify(rows));
