/**
 * `lossbalance playground`: builds the in-browser playground (playground/: a page that trains GradNorm's
 * synthetic task in a Web Worker with jax-js and plots weights and losses live) into a static folder and
 * serves it with the cross-origin isolation headers (so jax-js may start its wasm worker pool).
 *
 * Build: with esbuild (a devDependency) and the playground's source (in a checkout of the repository),
 * the folder is built on every start; where either is missing (an installed package), an already built
 * folder is served as it is (build one with `lossbalance playground --build-only` before packing: the
 * default folder, dist/playground, ships with the package). The folder is plain static files: any static
 * host serves it (without COOP/COEP it runs on one thread).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { dirname, extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { methodOptions } from "../balancers/registry.js";
import { anyModelMethods } from "./methodSets.js";
import { closeServer, listenLocal, untilSignal, uplotDist } from "../util/localServer.js";

/** The package root (this file is src/cli/playground.ts or dist/cli/playground.js). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The playground's source folder (present in a checkout, not in the published package). */
export const PLAYGROUND_SOURCE = join(PACKAGE_ROOT, "playground");
export const DEFAULT_PLAYGROUND_OUT = join(PACKAGE_ROOT, "dist", "playground");

export interface BuildResult {
  readonly outDir: string;
  readonly files: string[];
  readonly ms: number;
}

/** esbuild, if installed (it is a devDependency). */
async function loadEsbuild(): Promise<typeof import("esbuild") | null> {
  try {
    return await import("esbuild");
  } catch {
    return null;
  }
}

/** Whether this installation can build the playground (its source and esbuild are present). */
export async function canBuildPlayground(source = PLAYGROUND_SOURCE): Promise<boolean> {
  return existsSync(join(source, "main.ts")) && (await loadEsbuild()) !== null;
}

/**
 * Bundles playground/main.ts and playground/worker.ts (ES modules, shared chunks split out) into
 * `outDir` with index.html and uPlot's CSS. Not minified: src/threads/browser.ts recognizes jax-js's
 * reads by function names in stacks.
 */
export async function buildPlayground(outDir = DEFAULT_PLAYGROUND_OUT, source = PLAYGROUND_SOURCE): Promise<BuildResult> {
  const esbuild = await loadEsbuild();
  if (!esbuild) throw new Error("building the playground needs esbuild (a devDependency of lossbalance): npm install --save-dev esbuild");
  if (!existsSync(join(source, "main.ts"))) throw new Error(`no playground source at ${source}`);
  const t0 = performance.now();
  const out = resolve(outDir);
  mkdirSync(out, { recursive: true });
  const methods = anyModelMethods().map((name) => ({ name, options: [...methodOptions(name)] }));
  const r = await esbuild.build({
    entryPoints: { main: join(source, "main.ts"), worker: join(source, "worker.ts") },
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    outdir: out,
    entryNames: "[name]",
    chunkNames: "chunk-[hash]",
    sourcemap: "linked",
    define: { __PLAYGROUND_METHODS__: JSON.stringify(methods) },
    logLevel: "silent",
    metafile: true,
  });
  copyFileSync(join(source, "index.html"), join(out, "index.html"));
  const uplot = uplotDist();
  copyFileSync(join(uplot, "uPlot.min.css"), join(out, "uPlot.min.css"));
  // Static hosts that honour _headers (Netlify, Cloudflare Pages) get cross-origin isolation too.
  writeFileSync(join(out, "_headers"), "/*\n  Cross-Origin-Opener-Policy: same-origin\n  Cross-Origin-Embedder-Policy: require-corp\n");
  const files = [...Object.keys(r.metafile.outputs).map((f) => resolve(f)), join(out, "index.html"), join(out, "uPlot.min.css")];
  return { outDir: out, files, ms: performance.now() - t0 };
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
};

export interface PlaygroundServer {
  /** "http://HOST:PORT/" */
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

/**
 * Serves a folder (GET and HEAD, no caching) on `host` (default 127.0.0.1; port 0: an ephemeral one),
 * with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp unless
 * `isolate` is false.
 */
export async function servePlayground(root: string, opts: { host?: string; port?: number; isolate?: boolean } = {}): Promise<PlaygroundServer> {
  const dir = resolve(root);
  const host = opts.host ?? "127.0.0.1";
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const headers: Record<string, string> = { "Cache-Control": "no-store" };
    if (opts.isolate ?? true) {
      headers["Cross-Origin-Opener-Policy"] = "same-origin";
      headers["Cross-Origin-Embedder-Policy"] = "require-corp";
      headers["Cross-Origin-Resource-Policy"] = "same-origin";
    }
    const send = (status: number, body: string | Uint8Array, type: string) => {
      res.writeHead(status, { ...headers, "Content-Type": type, "Content-Length": typeof body === "string" ? Buffer.byteLength(body) : body.byteLength });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, "method not allowed\n", "text/plain; charset=utf-8");
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    } catch {
      return send(400, "bad path\n", "text/plain; charset=utf-8");
    }
    if (path.endsWith("/")) path += "index.html";
    const file = resolve(dir, `.${path}`);
    if (!file.startsWith(dir + sep)) return send(404, "not found\n", "text/plain; charset=utf-8");
    try {
      if (!(await stat(file)).isFile()) return send(404, "not found\n", "text/plain; charset=utf-8");
    } catch {
      return send(404, `not found: ${path}\n`, "text/plain; charset=utf-8");
    }
    send(200, await readFile(file), TYPES[extname(file).toLowerCase()] ?? "application/octet-stream");
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(String(e));
    });
  });
  return { url: await listenLocal(server, host, opts.port ?? 0), server, close: () => closeServer(server) };
}

export interface PlaygroundCommandOptions {
  port: number;
  host: string;
  out?: string;
  buildOnly?: boolean;
}

export async function playgroundCommand(o: PlaygroundCommandOptions): Promise<void> {
  const out = resolve(o.out ?? DEFAULT_PLAYGROUND_OUT);
  if (await canBuildPlayground()) {
    const b = await buildPlayground(out);
    console.error(`built the playground into ${b.outDir} (${b.files.length} files, ${b.ms.toFixed(0)} ms)`);
  } else if (existsSync(join(out, "index.html"))) {
    if (o.buildOnly) throw new Error("cannot build the playground here (needs the repository's playground/ folder and esbuild)");
    console.error(`serving the prebuilt playground in ${out} (esbuild or the playground source is not installed here)`);
  } else {
    throw new Error(`no playground to serve: ${out} has no index.html, and building one needs the repository's playground/ folder and esbuild`);
  }
  if (o.buildOnly) return;
  const s = await servePlayground(out, { host: o.host, port: o.port });
  console.log(`playground: ${s.url}  (cross-origin isolated; Ctrl+C stops)`);
  await untilSignal(s.close);
}
