import type { Command } from "commander";
import { buildProgram } from "../../src/cli/program.js";

/** What a training command would have run with: its name and its checked options. */
export interface Call {
  command: "toy" | "compare" | "benchMnist" | "sweep" | "pinn" | "pinnBench";
  options: Record<string, unknown>;
}

function quiet(cmd: Command): void {
  cmd.exitOverride();
  cmd.configureOutput({ writeErr: () => {}, writeOut: () => {} });
  for (const c of cmd.commands) quiet(c);
}

/**
 * Parses `args` (as typed after `lossbalance`) with the real program, in this process, with runners
 * that only record their options. A bad flag or config throws (commander's or the action's error).
 */
export async function parse(...args: string[]): Promise<Call> {
  const calls: Call[] = [];
  const program = buildProgram({
    toy: async (o) => void calls.push({ command: "toy", options: o as unknown as Record<string, unknown> }),
    compare: async (o) => void calls.push({ command: "compare", options: o as unknown as Record<string, unknown> }),
    benchMnist: async (o) => void calls.push({ command: "benchMnist", options: o as unknown as Record<string, unknown> }),
    sweep: async (o) => void calls.push({ command: "sweep", options: o as unknown as Record<string, unknown> }),
    pinn: async (problem, o) => void calls.push({ command: "pinn", options: { problem, ...(o as unknown as Record<string, unknown>) } }),
    pinnBench: async (o) => void calls.push({ command: "pinnBench", options: o as unknown as Record<string, unknown> }),
  });
  quiet(program);
  await program.parseAsync(args, { from: "user" });
  if (calls.length !== 1) throw new Error(`expected one command run, got ${calls.length}`);
  return calls[0]!;
}

/** The message `parse(...args)` fails with (fails the test if it succeeds). */
export async function parseError(...args: string[]): Promise<string> {
  try {
    await parse(...args);
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  throw new Error(`expected lossbalance ${args.join(" ")} to fail`);
}
