/**
 * A child process that records runs into a store, for the store tests.
 * argv: <store> <mode> [runs] [steps] [tasks] [sync]
 * - mode `runs`: records `runs` runs of `steps` steps each (flush every 20 steps), an eval per run,
 *   finishes them and prints their ids and the time span it wrote in as JSON; with `sync`, it
 *   prints `waiting` and opens the store only when a line arrives on stdin.
 * - mode `kill`: records steps forever (flush every 10 steps, 2 ms apart) and prints `ready <id>` once
 *   50 steps are committed, to be SIGKILLed.
 * - mode `exit`: records 15 steps (flush every 10) and exits without finish().
 */
import { openStore } from "../../src/store/index.js";

const [path, mode, runsArg = "1", stepsArg = "100", tasksArg = "3"] = process.argv.slice(2);
const runs = Number(runsArg);
const steps = Number(stepsArg);
const T = Number(tasksArg);
if (process.argv[7] === "sync") {
  // Wait for the parent's go (one line on stdin), so that concurrent writers really overlap.
  console.log("waiting");
  await new Promise<void>((resolve) => process.stdin.once("data", () => resolve()));
  process.stdin.pause();
}
const store = openStore(path!, { busyTimeoutMs: 20_000 });
const record = (t: number, run: number) => ({
  losses: Array.from({ length: T }, (_, i) => 1 / (1 + t + i + run)),
  weights: Array.from({ length: T }, (_, i) => (i + 1) / T),
  gradNorms: Array.from({ length: T }, (_, i) => t + i),
  ms: 1,
});

if (mode === "runs") {
  const ids: number[] = [];
  const t0 = Date.now();
  for (let r = 0; r < runs; r++) {
    const rec = store.startRun({ name: `child-${process.pid}-${r}`, method: "equal", seed: r, tasks: T, config: { pid: process.pid } }, { flushSteps: 5, flushMs: 60_000 });
    for (let t = 0; t < steps; t++) rec.step(t, record(t, r));
    rec.eval(steps - 1, { acc: [0.5, 0.6] });
    rec.finish({ loss: 0.25 });
    ids.push(rec.id);
  }
  store.close();
  console.log(JSON.stringify({ ids, from: t0, to: Date.now() }));
} else if (mode === "kill") {
  const rec = store.startRun({ name: "doomed", method: "equal", tasks: T }, { flushSteps: 10, flushMs: 600_000 });
  for (let t = 0; ; t++) {
    rec.step(t, record(t, 0));
    if (t === 49) console.log(`ready ${rec.id}`);
    await new Promise((r) => setTimeout(r, 2));
  }
} else if (mode === "exit") {
  const rec = store.startRun({ name: "quitter", tasks: T }, { flushSteps: 10, flushMs: 600_000 });
  for (let t = 0; t < 15; t++) rec.step(t, record(t, 0));
  console.log(`id ${rec.id}`);
  process.exit(3);
}
