/**
 * The playground's Web Worker (a module worker): one run per worker. The page posts
 * { type: "start", settings }, then maybe { type: "stop" }; the worker configures jax-js's wasm threads
 * (src/threads/browser.ts: before jax-js is loaded, hence the dynamic import of the training module),
 * trains, and posts PlaygroundMessage's: ready, progress…, done or error.
 */
import { configureThreads } from "../src/threads/browser.js";
import type { PlaygroundMessage, PlaygroundSettings, ToWorker } from "./settings.js";

const scope = self as unknown as {
  postMessage(message: PlaygroundMessage): void;
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
};
const post = (m: PlaygroundMessage) => scope.postMessage(m);
let stop = false;
let started = false;

async function start(settings: PlaygroundSettings): Promise<void> {
  // A pool needs a cross-origin-isolated page; configureThreads says 1 (with the reason) elsewhere.
  const threads = configureThreads(settings.threads);
  const { runPlayground } = await import("./train.js");
  await runPlayground(settings, {
    post: (m) => post(m.type === "ready" ? { ...m, threads } : m),
    stopRequested: () => stop,
  });
}

scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === "stop") {
    stop = true;
  } else if (m.type === "start") {
    if (started) return post({ type: "error", message: "this worker already ran; start a new one" });
    started = true;
    start(m.settings).catch((err: unknown) => post({ type: "error", message: err instanceof Error ? err.message : String(err) }));
  }
};
