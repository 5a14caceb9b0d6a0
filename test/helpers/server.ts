import { closeServer, listenLocal } from "../../src/util/localServer.js";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, resolve, sep } from "node:path";

/**
 * A small static HTTP server for browser tests, on 127.0.0.1 only (an ephemeral port by default): it
 * serves in-memory files, a directory, or both (in-memory files first), GET and HEAD only, never cached.
 * With `crossOriginIsolation`, a response carries `Cross-Origin-Opener-Policy: same-origin` and
 * `Cross-Origin-Embedder-Policy: require-corp` (plus `Cross-Origin-Resource-Policy: same-origin`), so a
 * page loaded from it is `crossOriginIsolated` and has `SharedArrayBuffer`; a function chooses per request
 * (e.g. from the page's query string), so one server can serve isolated and non-isolated pages.
 */
export interface TestServerOptions {
  /** In-memory files by URL path ("/index.html"); a string is sent as UTF-8. */
  readonly files?: Readonly<Record<string, string | Uint8Array>>;
  /** A directory served below "/" (paths that leave it are refused). */
  readonly root?: string;
  /** Sends the cross-origin isolation headers (always, or where the function says so). Default: false. */
  readonly crossOriginIsolation?: boolean | ((url: URL) => boolean);
  /** Default: 0 (an ephemeral port). */
  readonly port?: number;
}

export interface TestServer {
  /** "http://127.0.0.1:PORT" (no trailing slash). */
  readonly url: string;
  /** Every request seen, as "METHOD /path?query status". */
  readonly requests: readonly string[];
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".txt": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

export function contentType(path: string): string {
  return TYPES[extname(path).toLowerCase()] ?? "application/octet-stream";
}

/** Starts the server; resolves once it listens. */
export async function startTestServer(opts: TestServerOptions): Promise<TestServer> {
  const files = new Map<string, Uint8Array>();
  for (const [path, body] of Object.entries(opts.files ?? {})) {
    if (!path.startsWith("/")) throw new Error(`test server: in-memory file paths start with "/", got ${JSON.stringify(path)}`);
    files.set(path, typeof body === "string" ? Buffer.from(body, "utf8") : body);
  }
  const root = opts.root === undefined ? undefined : resolve(opts.root);
  if (!root && files.size === 0) throw new Error("test server: nothing to serve (give files, root or both)");
  const isolate = opts.crossOriginIsolation ?? false;
  const requests: string[] = [];

  const find = async (path: string): Promise<Uint8Array | undefined> => {
    const mem = files.get(path);
    if (mem) return mem;
    if (!root) return undefined;
    const file = resolve(root, `.${path}`);
    if (file !== root && !file.startsWith(root + sep)) return undefined;
    try {
      return (await stat(file)).isFile() ? await readFile(file) : undefined;
    } catch {
      return undefined;
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      path = url.pathname;
    }
    if (path.endsWith("/")) path += "index.html";
    const send = (status: number, body: Uint8Array | string, type: string) => {
      requests.push(`${req.method} ${url.pathname}${url.search} ${status}`);
      const headers: Record<string, string | number> = {
        "Content-Type": type,
        "Content-Length": typeof body === "string" ? Buffer.byteLength(body) : body.byteLength,
        "Cache-Control": "no-store",
      };
      if (typeof isolate === "function" ? isolate(url) : isolate) {
        headers["Cross-Origin-Opener-Policy"] = "same-origin";
        headers["Cross-Origin-Embedder-Policy"] = "require-corp";
        headers["Cross-Origin-Resource-Policy"] = "same-origin";
      }
      res.writeHead(status, headers);
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, "method not allowed\n", TYPES[".txt"]!);
    const body = await find(path);
    if (!body) return send(404, `not found: ${path}\n`, TYPES[".txt"]!);
    send(200, body, contentType(path));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "Content-Type": TYPES[".txt"]! });
      res.end(String(e));
    });
  });
  const url = await listenLocal(server, "127.0.0.1", opts.port ?? 0);
  return { url: url.slice(0, -1), requests, close: () => closeServer(server) };
}
