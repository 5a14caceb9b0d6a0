import { existsSync, mkdirSync } from "node:fs";
import { configHash, packageVersion } from "./configHash.js";
import { hostname } from "node:os";
import { dirname, join, resolve } from "node:path";
import { decodeF32, encodeF32, gramianSummary } from "./codec.js";
import { migrate } from "./schema.js";
import { sqlite, type DatabaseSync, type StatementSync } from "./sqlite.js";

/**
 * An embedded run store: one SQLite file (Node's built-in `node:sqlite`) that any number of
 * processes can write at once — WAL mode (readers never block the writer, and a killed writer loses
 * only what it had not committed), a busy timeout (writers queue on the lock instead of failing with
 * SQLITE_BUSY) and every write in a short IMMEDIATE transaction (which takes the write lock up front,
 * so the busy timeout applies; a deferred transaction upgrading its read lock can fail at once).
 * Node-only: the package root (bundled for browsers) does not export it; the CLI imports it.
 */

export type RunStatus = "running" | "finished" | "failed" | "interrupted";
export const runStatuses: readonly RunStatus[] = ["running", "finished", "failed", "interrupted"];

/**
 * Where runs go by default: LOSSBALANCE_STORE, else `.lossbalance/runs.db` in the working
 * directory. Not under `.cache/lossbalance` (LOSSBALANCE_CACHE), the image cache: a cache is
 * something one may delete to free space and gets rebuilt, while runs are results that cannot be.
 */
export function defaultStorePath(): string {
  return process.env.LOSSBALANCE_STORE || join(process.cwd(), ".lossbalance", "runs.db");
}

export interface StoreOptions {
  /** How long a writer waits for the lock before SQLITE_BUSY (default 10 s). */
  busyTimeoutMs?: number;
  /**
   * A `running` run whose heartbeat is older than this is taken as interrupted even when its pid
   * looks alive (a reused pid) or it ran on another host (default 10 min).
   */
  staleMs?: number;
  /** Create the file (and its folder) if missing (default true). */
  create?: boolean;
}

export interface RunInfo {
  name?: string;
  method?: string;
  /** Any JSON-serializable settings of the run. */
  config?: unknown;
  seed?: number;
  /** Number of tasks, if known up front (otherwise taken from the first step). */
  tasks?: number;
}

export interface RecorderOptions {
  /** Commit after this many buffered steps (default 256). */
  flushSteps?: number;
  /**
   * …or when this many ms have passed since the last commit (0: at every recorded step); also the
   * heartbeat period, at least 100 ms (default 1000).
   */
  flushMs?: number;
  /** Record only steps t with t % every === 0 (default 1: every step). */
  every?: number;
}

/** One training step; a `StepRecord` of the trainers fits as is. */
export interface StepInput {
  losses: ArrayLike<number>;
  weights: ArrayLike<number>;
  gradNorms?: ArrayLike<number>;
  /** Summarized on write to gradient norms (√diagonal) and the upper-triangle cosines. */
  gramian?: readonly (readonly number[])[];
  /** Upper-triangle cosines (i < j, row-major), if given directly. */
  cosines?: ArrayLike<number>;
  /** Step time; default: the time since the previous `step(t − 1)` call, if there was one. */
  ms?: number;
}

export interface RunRow {
  id: number;
  name: string | null;
  method: string | null;
  config: unknown;
  seed: number | null;
  version: string | null;
  /** SHA-256 (16 hex) of the run's config in canonical JSON: runs with equal settings share it. */
  configHash: string | null;
  tasks: number | null;
  started: number;
  ended: number | null;
  status: RunStatus;
  pid: number | null;
  host: string | null;
  heartbeat: number | null;
  error: string | null;
  final: unknown;
}

export interface RunSummary extends RunRow {
  steps: number;
  lastStep: number | null;
}

export interface StepRow {
  step: number;
  ms: number | null;
  losses: number[];
  weights: number[];
  gradNorms: number[] | null;
  cosines: number[] | null;
}

export interface EvalRow {
  step: number;
  split: string;
  at: number;
  metrics: unknown;
}

export interface Recorder {
  readonly id: number;
  step(t: number, record: StepInput): void;
  eval(step: number, metrics: unknown, split?: string): void;
  /** Commits the buffered steps now. */
  flush(): void;
  finish(final?: unknown): void;
  fail(err: unknown, final?: unknown): void;
}

function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

const json = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));
const parse = (s: unknown): unknown => (typeof s === "string" ? JSON.parse(s) : null);
const num = (v: unknown): number | null => (v == null ? null : Number(v));

function runRow(r: Record<string, unknown>): RunRow {
  return {
    id: Number(r.id),
    name: (r.name as string | null) ?? null,
    method: (r.method as string | null) ?? null,
    config: parse(r.config),
    seed: num(r.seed),
    version: (r.version as string | null) ?? null,
    configHash: (r.config_hash as string | null) ?? null,
    tasks: num(r.tasks),
    started: Number(r.started),
    ended: num(r.ended),
    status: r.status as RunStatus,
    pid: num(r.pid),
    host: (r.host as string | null) ?? null,
    heartbeat: num(r.heartbeat),
    error: (r.error as string | null) ?? null,
    final: parse(r.final),
  };
}

function stepRow(r: Record<string, unknown>): StepRow {
  return {
    step: Number(r.step),
    ms: num(r.ms),
    losses: decodeF32(r.losses as Uint8Array)!,
    weights: decodeF32(r.weights as Uint8Array)!,
    gradNorms: decodeF32(r.grad_norms as Uint8Array | null),
    cosines: decodeF32(r.cosines as Uint8Array | null),
  };
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  return String(err);
}

type Row = [step: number, ms: number | null, losses: Uint8Array, weights: Uint8Array, gradNorms: Uint8Array | null, cosines: Uint8Array | null];


/** Runs `f`, retrying every 10 ms while SQLite reports the database locked, for at most `ms`. */
function retryWhileLocked(f: () => void, ms: number): void {
  const until = Date.now() + ms;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      return f();
    } catch (e) {
      if (!(e instanceof Error && /database is locked|SQLITE_BUSY/i.test(e.message)) || Date.now() >= until) throw e;
      Atomics.wait(pause, 0, 0, 10);
    }
  }
}

export class RunStore {
  readonly path: string;
  /** Runs this open marked interrupted. */
  readonly interrupted: number[];
  readonly #db: DatabaseSync;
  readonly #staleMs: number;
  readonly #open = new Set<RecorderImpl>();
  readonly #onExit = (code: number) => {
    for (const r of [...this.#open]) r.abandon(`process exited (code ${code}) before finish()`);
  };
  #stmts = new Map<string, StatementSync>();

  constructor(path: string = defaultStorePath(), opts: StoreOptions = {}) {
    const memory = path === ":memory:";
    this.path = memory ? path : resolve(path);
    if (!memory && !existsSync(this.path)) {
      if (opts.create === false) throw new Error(`no run store at ${this.path}`);
      mkdirSync(dirname(this.path), { recursive: true });
    }
    this.#staleMs = opts.staleMs ?? 10 * 60_000;
    const { DatabaseSync } = sqlite();
    this.#db = new DatabaseSync(this.path);
    try {
      // busy_timeout first: the pragmas and the migration below may wait on another writer.
      const busyMs = Math.max(0, Math.round(opts.busyTimeoutMs ?? 10_000));
      this.#db.exec(`PRAGMA busy_timeout = ${busyMs}`);
      // Switching a new file to WAL can return SQLITE_BUSY without calling the busy handler while another
      // process is doing the same (seen with two writers opening a new store at once): retry it here.
      retryWhileLocked(() => this.#db.exec("PRAGMA journal_mode = WAL"), busyMs);
      // In WAL mode NORMAL keeps the database consistent across crashes; only an OS crash or power
      // loss can drop the last commits. No fsync per commit, which is what makes frequent flushes cheap.
      this.#db.exec("PRAGMA synchronous = NORMAL");
      this.#db.exec("PRAGMA foreign_keys = ON");
      migrate(this.#db, this.path);
      this.interrupted = this.markInterrupted();
    } catch (e) {
      this.#db.close();
      throw e;
    }
    process.on("exit", this.#onExit);
  }

  /** A cached prepared statement. */
  stmt(sql: string): StatementSync {
    let s = this.#stmts.get(sql);
    if (!s) this.#stmts.set(sql, (s = this.#db.prepare(sql)));
    return s;
  }

  /** Runs `fn` in an IMMEDIATE transaction (waits for the write lock up to the busy timeout). */
  write<T>(fn: () => T): T {
    this.#db.exec("BEGIN IMMEDIATE");
    let result: T;
    try {
      result = fn();
    } catch (e) {
      this.#db.exec("ROLLBACK");
      throw e;
    }
    this.#db.exec("COMMIT");
    return result;
  }

  /**
   * Marks `interrupted` every `running` run that cannot still be running: on this host with a pid that
   * is not alive, or (any host) with a heartbeat older than `staleMs`. Done on every open.
   */
  markInterrupted(now = Date.now()): number[] {
    const host = hostname();
    const marked: number[] = [];
    const running = this.stmt("SELECT id, pid, host, heartbeat, started FROM runs WHERE status = 'running'").all() as Record<string, unknown>[];
    for (const r of running) {
      const beat = num(r.heartbeat) ?? Number(r.started);
      const dead = r.host === host && r.pid != null && !pidAlive(Number(r.pid));
      if (!dead && now - beat <= this.#staleMs) continue;
      // Only if it has not beaten since we looked (heartbeat unchanged).
      const res = this.stmt("UPDATE runs SET status = 'interrupted', ended = heartbeat, error = COALESCE(error, ?) WHERE id = ? AND status = 'running' AND heartbeat IS ?").run(
        dead ? `process ${r.pid} on ${host} is gone` : `no heartbeat for ${Math.round((now - beat) / 1000)} s`,
        Number(r.id),
        r.heartbeat as number | null,
      );
      if (Number(res.changes) > 0) marked.push(Number(r.id));
    }
    return marked;
  }

  startRun(info: RunInfo = {}, opts: RecorderOptions = {}): Recorder {
    const now = Date.now();
    const config = info.config ?? {};
    const res = this.stmt(
      "INSERT INTO runs (name, method, config, config_hash, seed, version, tasks, started, status, pid, host, heartbeat) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)",
    ).run(info.name ?? null, info.method ?? null, json(config), configHash(config), info.seed ?? null, packageVersion(), info.tasks ?? null, now, process.pid, hostname(), now);
    const rec = new RecorderImpl(this, Number(res.lastInsertRowid), info.tasks ?? null, opts);
    this.#open.add(rec);
    return rec;
  }

  /** @internal */
  released(r: RecorderImpl): void {
    this.#open.delete(r);
  }

  listRuns(filter: { status?: RunStatus; limit?: number } = {}): RunSummary[] {
    const rows = this.stmt(
      `SELECT r.*, (SELECT COUNT(*) FROM steps s WHERE s.run_id = r.id) AS step_count, (SELECT MAX(step) FROM steps s WHERE s.run_id = r.id) AS last_step
       FROM runs r WHERE (?1 IS NULL OR r.status = ?1) ORDER BY r.id DESC LIMIT ?2`,
    ).all(filter.status ?? null, filter.limit ?? -1) as Record<string, unknown>[];
    return rows.map((r) => ({ ...runRow(r), steps: Number(r.step_count), lastStep: num(r.last_step) }));
  }

  getRun(id: number): RunSummary | undefined {
    const r = this.stmt(
      `SELECT r.*, (SELECT COUNT(*) FROM steps s WHERE s.run_id = r.id) AS step_count, (SELECT MAX(step) FROM steps s WHERE s.run_id = r.id) AS last_step FROM runs r WHERE r.id = ?`,
    ).get(id) as Record<string, unknown> | undefined;
    return r && { ...runRow(r), steps: Number(r.step_count), lastStep: num(r.last_step) };
  }

  steps(id: number): StepRow[] {
    return (this.stmt("SELECT * FROM steps WHERE run_id = ? ORDER BY step").all(id) as Record<string, unknown>[]).map(stepRow);
  }

  /** Steps one at a time (for exports of long runs). */
  *iterateSteps(id: number): Generator<StepRow> {
    for (const r of this.#db.prepare("SELECT * FROM steps WHERE run_id = ? ORDER BY step").iterate(id)) yield stepRow(r as Record<string, unknown>);
  }

  lastStep(id: number): StepRow | undefined {
    const r = this.stmt("SELECT * FROM steps WHERE run_id = ? ORDER BY step DESC LIMIT 1").get(id) as Record<string, unknown> | undefined;
    return r && stepRow(r);
  }

  evals(id: number): EvalRow[] {
    return (this.stmt("SELECT step, split, at, metrics FROM evals WHERE run_id = ? ORDER BY step, split").all(id) as Record<string, unknown>[]).map((r) => ({
      step: Number(r.step),
      split: String(r.split),
      at: Number(r.at),
      metrics: parse(r.metrics),
    }));
  }

  /** Deletes a run with its steps and evals; false if there was none. */
  deleteRun(id: number): boolean {
    return this.write(() => Number(this.stmt("DELETE FROM runs WHERE id = ?").run(id).changes) > 0);
  }

  /** The underlying connection, for tests and tools. */
  get db(): DatabaseSync {
    return this.#db;
  }

  close(): void {
    for (const r of [...this.#open]) r.abandon("store closed before finish()");
    process.off("exit", this.#onExit);
    this.#stmts.clear();
    if (this.#db.isOpen) this.#db.close();
  }
}

class RecorderImpl implements Recorder {
  readonly id: number;
  readonly #store: RunStore;
  readonly #flushSteps: number;
  readonly #flushMs: number;
  readonly #every: number;
  #tasks: number | null;
  #buffer: Row[] = [];
  #lastFlush = Date.now();
  #lastT = -Infinity;
  #lastAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #done = false;

  constructor(store: RunStore, id: number, tasks: number | null, opts: RecorderOptions) {
    this.#store = store;
    this.id = id;
    this.#tasks = tasks;
    this.#flushSteps = Math.max(1, Math.floor(opts.flushSteps ?? 256));
    this.#flushMs = Math.max(0, opts.flushMs ?? 1000);
    this.#every = Math.max(1, Math.floor(opts.every ?? 1));
    // Commits what a stalled loop buffered and keeps the heartbeat going; unref'd, so it never
    // keeps the process alive. A failure here (lock held past the busy timeout) keeps the rows for
    // the next flush rather than throwing out of a timer.
    this.#timer = setInterval(() => {
      try {
        this.flush();
      } catch {
        /* retried on the next flush */
      }
    }, Math.max(100, this.#flushMs));
    this.#timer.unref();
  }

  #check(): void {
    if (this.#done) throw new Error(`run ${this.id} is already closed`);
  }

  step(t: number, rec: StepInput): void {
    this.#check();
    const now = performance.now();
    const ms = rec.ms ?? (t === this.#lastT + 1 ? now - this.#lastAt : null);
    this.#lastT = t;
    this.#lastAt = now;
    if (t % this.#every !== 0) return;
    let norms = rec.gradNorms;
    let cosines = rec.cosines;
    if (rec.gramian) {
      const s = gramianSummary(rec.gramian);
      norms ??= s.norms;
      cosines ??= s.cosines;
    }
    if (this.#tasks === null) this.#tasks = rec.losses.length;
    this.#buffer.push([t, ms, encodeF32(rec.losses), encodeF32(rec.weights), norms ? encodeF32(norms) : null, cosines ? encodeF32(cosines) : null]);
    if (this.#buffer.length >= this.#flushSteps || Date.now() - this.#lastFlush >= this.#flushMs) this.flush();
  }

  eval(step: number, metrics: unknown, split = "val"): void {
    this.#check();
    this.#store.write(() => {
      this.#store.stmt("INSERT OR REPLACE INTO evals (run_id, step, split, at, metrics) VALUES (?, ?, ?, ?, ?)").run(this.id, step, split, Date.now(), json(metrics));
    });
  }

  flush(): void {
    if (this.#done) return;
    this.#commit(null);
  }

  /** Writes the buffer and either beats the heartbeat (`end` null) or closes the run. */
  #commit(end: { status: RunStatus; final?: unknown; error?: string } | null): void {
    const rows = this.#buffer;
    const s = this.#store;
    const now = Date.now();
    s.write(() => {
      const insert = s.stmt("INSERT OR REPLACE INTO steps (run_id, step, ms, losses, weights, grad_norms, cosines) VALUES (?, ?, ?, ?, ?, ?, ?)");
      for (const r of rows) insert.run(this.id, ...r);
      if (end) {
        s.stmt("UPDATE runs SET status = ?, ended = ?, heartbeat = ?, final = COALESCE(?, final), error = ?, tasks = COALESCE(tasks, ?) WHERE id = ?").run(
          end.status,
          now,
          now,
          json(end.final),
          end.error ?? null,
          this.#tasks,
          this.id,
        );
      } else {
        // A run another process wrongly took for dead (stale heartbeat) comes back to running.
        s.stmt("UPDATE runs SET heartbeat = ?, status = 'running', ended = NULL, tasks = COALESCE(tasks, ?) WHERE id = ? AND status IN ('running', 'interrupted')").run(now, this.#tasks, this.id);
      }
    });
    this.#buffer = [];
    this.#lastFlush = now;
  }

  #close(end: { status: RunStatus; final?: unknown; error?: string }): void {
    this.#check();
    this.#commit(end);
    this.#release();
  }

  #release(): void {
    this.#done = true;
    clearInterval(this.#timer);
    this.#store.released(this);
  }

  finish(final?: unknown): void {
    this.#close({ status: "finished", final });
  }

  fail(err: unknown, final?: unknown): void {
    this.#close({ status: "failed", final, error: errorText(err) });
  }

  /** @internal The process is exiting or the store closing without finish(): keep what we have. */
  abandon(reason: string): void {
    if (this.#done) return;
    try {
      this.#commit({ status: "interrupted", error: reason });
    } catch {
      /* best effort: the next open detects the run anyway */
    }
    this.#release();
  }
}

export function openStore(path?: string, opts?: StoreOptions): RunStore {
  return new RunStore(path ?? defaultStorePath(), opts);
}
