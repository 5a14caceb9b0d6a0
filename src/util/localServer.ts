/*
 * The pieces the local HTTP servers share (the playground's static server, the dashboard): listening on
 * an address, closing with the open connections, serving until Ctrl+C or SIGTERM, and where uPlot's
 * built files are. Node only: the package root never imports it.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** Starts `server` listening on host:port (port 0: an ephemeral one); resolves to its "http://HOST:PORT/". */
export async function listenLocal(server: Server, host: string, port: number): Promise<string> {
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(port, host, () => {
      server.off("error", fail);
      ok();
    });
  });
  const { port: bound } = server.address() as AddressInfo;
  return `http://${host.includes(":") ? `[${host}]` : host}:${bound}/`;
}

/** Stops `server`, closing its open connections (keep-alive, event streams) at once. */
export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((ok, fail) => {
    server.close((e) => (e ? fail(e) : ok()));
    server.closeAllConnections();
  });
}

/** Waits for SIGINT or SIGTERM, then runs `close`: what a serving command does until Ctrl+C. */
export function untilSignal(close: () => Promise<void>): Promise<void> {
  return new Promise<void>((ok) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      void close().then(ok, ok);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}

/** The folder of uPlot's built files (`uPlot.min.css`, `uPlot.esm.js`, …). */
export function uplotDist(): string {
  return join(dirname(createRequire(import.meta.url).resolve("uplot/package.json")), "dist");
}
