import { untilSignal } from "../util/localServer.js";
import { Command, Option } from "commander";
import { nonNegativeInt, outPath } from "./options.js";

/**
 * `lossbalance ui [--store path] [--port 8080] [--host 127.0.0.1]`: the live dashboard of a run store
 * (src/ui/server.ts): the run list with filters, selected runs side by side, running runs followed live.
 */
export function uiCommand(): Command {
  return new Command("ui")
    .description("serve the live dashboard of the run store: the runs, their weights, losses, gradient statistics and evaluations side by side, running runs followed live")
    .addOption(new Option("--store <path>", "run store file (default: LOSSBALANCE_STORE or .lossbalance/runs.db)").argParser(outPath))
    .addOption(new Option("--port <n>", "port (0: any free one)").argParser(nonNegativeInt).default(8080))
    .addOption(new Option("--host <address>", "address to listen on").default("127.0.0.1"))
    .action(async (opts: { store?: string; port: number; host: string }) => {
      const { startDashboard } = await import("../ui/server.js");
      const d = await startDashboard({ store: opts.store, port: opts.port, host: opts.host });
      console.log(`dashboard: ${d.url}  (store ${d.store.path}; Ctrl+C stops)`);
      await untilSignal(d.close);
    });
}
