/** The playground's settings and messages (no imports: the page's own bundle uses them without jax-js). */

export type Backend = "wasm" | "webgpu";

export interface PlaygroundSettings {
  /** Number of tasks T. */
  readonly tasks: number;
  /** Task scales σᵢ; empty: the default ((1, 100) for T = 2, else |N(0, 50²)| draws from dataSeed). */
  readonly sigmas: readonly number[];
  /** Standard deviation of the inputs x. */
  readonly inputScale: number;
  /** Seed of B, εᵢ, σᵢ and the inputs. */
  readonly dataSeed: number;
  readonly trainSize: number;
  readonly steps: number;
  readonly batchSize: number;
  readonly lr: number;
  /** Widths of the shared trunk. */
  readonly hidden: readonly number[];
  /** Seed of the initial network and the batch order. */
  readonly seed: number;
  /** A method of the registry (src/balancers/registry.ts). */
  readonly method: string;
  /** Its options (e.g. { alpha: 0.12 } for gradnorm). */
  readonly options: Record<string, unknown>;
  readonly backend: Backend;
  /** jax-js's wasm threads (configured by the worker before it loads jax-js); ignored by runPlayground itself. */
  readonly threads: number | "auto";
  /** Post progress every this many steps. */
  readonly reportEvery: number;
}

export const playgroundDefaults: PlaygroundSettings = {
  tasks: 2,
  sigmas: [],
  inputScale: 0.01,
  dataSeed: 0,
  trainSize: 2000,
  steps: 500,
  batchSize: 32,
  lr: 1e-3,
  hidden: [100, 100, 100, 100],
  seed: 0,
  method: "gradnorm",
  options: { alpha: 0.12 },
  backend: "wasm",
  threads: 1,
  reportEvery: 5,
};

export type PlaygroundMessage =
  | { type: "ready"; sigmas: number[]; saturation: number; device: string; dataMs: number; threads?: unknown }
  | { type: "progress"; steps: number[]; weights: number[][]; losses: number[][] }
  | { type: "done"; steps: number; stopped: boolean; weights: number[]; losses: number[]; msPerStep: number; wallMs: number }
  | { type: "error"; message: string };

/** What the page posts to the worker. */
export type ToWorker = { type: "start"; settings: PlaygroundSettings } | { type: "stop" };
