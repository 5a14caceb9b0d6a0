import cliProgress from "cli-progress";

export interface Progress {
  /** Run `index` has done `units` of its units (steps, epochs). */
  (index: number, units: number): void;
  /** Run `index` is finished (it may stop early, e.g. by early stopping). */
  finish(index: number): void;
  stop(): void;
}

/**
 * Progress on stderr. On a terminal: live bars from cli-progress, a total and (when `perRun`)
 * one per run. Elsewhere (CI logs, pipes), where bars do not draw: one line per finished run.
 */
export function progressReporter(names: readonly string[], unitsPerRun: number, perRun = true): Progress {
  const t0 = performance.now();
  let finished = 0;
  if (!process.stderr.isTTY) {
    const report = () => {};
    return Object.assign(report, {
      finish: (i: number) => console.error(`[${++finished}/${names.length}] ${names[i]} done (${((performance.now() - t0) / 1000).toFixed(0)} s)`),
      stop() {},
    });
  }
  const bars = new cliProgress.MultiBar(
    { format: " {bar} {percentage}% | {label}", hideCursor: true, clearOnComplete: false, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
  const totalLabel = () => `${finished}/${names.length} runs, ${((performance.now() - t0) / 1000).toFixed(0)} s`;
  const total = bars.create(names.length * unitsPerRun, 0, { label: totalLabel() });
  const per = perRun ? names.map((n) => bars.create(unitsPerRun, 0, { label: n })) : [];
  const done = new Array<number>(names.length).fill(0);
  const report = (i: number, units: number) => {
    const u = Math.min(units, unitsPerRun);
    total.increment(u - done[i]!, { label: totalLabel() });
    done[i] = u;
    per[i]?.update(u);
  };
  return Object.assign(report, {
    finish: (i: number) => {
      finished++;
      report(i, unitsPerRun);
    },
    stop: () => bars.stop(),
  });
}
