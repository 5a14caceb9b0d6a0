import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { openStore, exportCsv, exportJson, parseCsv, SCHEMA_VERSION, configHash, canonicalJson, type StepRow } from "../../src/store/index.js";
import { sqlite } from "../../src/store/sqlite.js";

const tmp = () => mkdtempSync(join(tmpdir(), "lb-store-"));
const node = process.execPath;
const f32 = (xs: number[]) => xs.map(Math.fround);

function child(args: string[]) {
  return spawn(node, ["--import", "tsx", "test/store/writer.ts", ...args], { stdio: ["pipe", "pipe", "pipe"] });
}

function waitFor(p: ReturnType<typeof child>, pattern: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = "";
    const onData = (d: Buffer) => {
      out += d;
      const m = pattern.exec(out);
      if (m) {
        p.stdout!.off("data", onData);
        resolve(m);
      }
    };
    p.stdout!.on("data", onData);
    p.on("close", () => reject(new Error(`writer exited before printing ${pattern}`)));
  });
}

function collect(p: ReturnType<typeof child>): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  p.stdout!.on("data", (d) => (stdout += d));
  p.stderr!.on("data", (d) => (stderr += d));
  return new Promise((resolve) => p.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
}

const cli = (...args: string[]) => spawnSync(node, ["--import", "tsx", "src/cli/main.ts", "runs", ...args], { encoding: "utf8", timeout: 60_000 });

test("records steps, evals and the final result, and reads them back", () => {
  const store = openStore(join(tmp(), "sub", "runs.db"));
  const rec = store.startRun({ name: "a", method: "gradnorm", seed: 7, config: { alpha: 0.12, hidden: [64] } }, { flushSteps: 4, flushMs: 60_000 });
  const gram = [
    [4, 2, 0],
    [2, 9, -3],
    [0, -3, 1],
  ];
  for (let t = 0; t < 10; t++) rec.step(t, { losses: [0.1 * t, 1 / 3, 2], weights: [0.5, 1, 1.5], gramian: gram, ms: 3 + t });
  // Buffered steps are not visible before a flush; 8 are committed (two batches of 4).
  assert.equal(store.steps(rec.id).length, 8);
  rec.eval(9, { acc: [0.9, 0.8, 0.7] }, "test");
  rec.finish({ deltaM: -1.5, acc: [0.9, 0.8, 0.7] });
  const run = store.getRun(rec.id)!;
  assert.equal(run.status, "finished");
  assert.equal(run.name, "a");
  assert.equal(run.method, "gradnorm");
  assert.equal(run.seed, 7);
  assert.equal(run.tasks, 3);
  assert.equal(run.pid, process.pid);
  assert.equal(run.host, hostname());
  assert.equal(run.version, JSON.parse(readFileSync("package.json", "utf8")).version);
  assert.deepEqual(run.config, { alpha: 0.12, hidden: [64] });
  assert.deepEqual(run.final, { deltaM: -1.5, acc: [0.9, 0.8, 0.7] });
  assert.ok(run.ended! >= run.started);
  assert.equal(run.steps, 10);
  assert.equal(run.lastStep, 9);
  const steps = store.steps(rec.id);
  assert.deepEqual(steps.map((s) => s.step), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(steps[5]!.losses, f32([0.5, 1 / 3, 2]));
  assert.deepEqual(steps[5]!.weights, [0.5, 1, 1.5]);
  assert.deepEqual(steps[5]!.gradNorms, [2, 3, 1]);
  assert.deepEqual(steps[5]!.cosines, f32([2 / 6, 0, -3 / 3]));
  assert.equal(steps[5]!.ms, 8);
  assert.deepEqual(store.evals(rec.id), [{ step: 9, split: "test", at: store.evals(rec.id)[0]!.at, metrics: { acc: [0.9, 0.8, 0.7] } }]);
  assert.throws(() => rec.step(10, { losses: [1, 1, 1], weights: [1, 1, 1] }), /already closed/);

  // `every`, a time-based flush, step times measured by the recorder, and fail().
  const sparse = store.startRun({ method: "equal" }, { every: 5, flushSteps: 1000, flushMs: 0 });
  for (let t = 0; t < 12; t++) sparse.step(t, { losses: [1, 2], weights: [1, 1] });
  assert.deepEqual(store.steps(sparse.id).map((s) => s.step), [0, 5, 10], "flushMs 0 commits at every recorded step");
  assert.equal(store.steps(sparse.id)[0]!.ms, null);
  assert.ok(store.steps(sparse.id)[1]!.ms! >= 0);
  sparse.fail(new Error("diverged"), { lastLoss: NaN });
  const failed = store.getRun(sparse.id)!;
  assert.equal(failed.status, "failed");
  assert.match(failed.error!, /diverged/);
  assert.equal(failed.tasks, 2);
  assert.deepEqual(store.listRuns().map((r) => r.id), [sparse.id, rec.id]);
  assert.deepEqual(store.listRuns({ status: "failed" }).map((r) => r.id), [sparse.id]);
  assert.equal(store.deleteRun(rec.id), true);
  assert.equal(store.deleteRun(rec.id), false);
  assert.equal(store.steps(rec.id).length, 0, "steps go with their run");
  assert.equal(store.evals(rec.id).length, 0);
  store.close();
});

test("the store is in WAL mode with a busy timeout and the current schema version", () => {
  const store = openStore(join(tmp(), "runs.db"), { busyTimeoutMs: 1234 });
  assert.equal((store.db.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode, "wal");
  assert.equal((store.db.prepare("PRAGMA busy_timeout").get() as { timeout: number }).timeout, 1234);
  assert.equal((store.db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version, SCHEMA_VERSION);
  store.close();
});

test("two processes writing runs to one new store at once lose no rows and hit no SQLITE_BUSY", async () => {
  const path = join(tmp(), "runs.db");
  // Both open the (not yet existing) store and start writing only once both are up; each commits
  // every 5 steps, so that the two contend for the write lock hundreds of times.
  const kids = [child([path, "runs", "3", "1000", "3", "sync"]), child([path, "runs", "3", "1000", "3", "sync"])];
  const results = kids.map(collect);
  await Promise.all(kids.map((k) => waitFor(k, /waiting/)));
  for (const k of kids) k.stdin!.end("go\n");
  const [a, b] = await Promise.all(results);
  for (const r of [a!, b!]) {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "", "nothing on stderr: no errors, and no ExperimentalWarning");
  }
  const [ra, rb] = [a!, b!].map((r) => JSON.parse(r.stdout.split("\n").find((l) => l.startsWith("{"))!) as { ids: number[]; from: number; to: number });
  assert.ok(ra!.from < rb!.to && rb!.from < ra!.to, `the writers overlapped in time (${JSON.stringify([ra, rb])})`);
  const ids = [...ra!.ids, ...rb!.ids];
  assert.equal(new Set(ids).size, 6);
  const store = openStore(path);
  const runs = store.listRuns();
  assert.equal(runs.length, 6);
  for (const r of runs) {
    assert.equal(r.status, "finished");
    assert.equal(r.steps, 1000);
    assert.equal(r.lastStep, 999);
    assert.equal(store.evals(r.id).length, 1);
  }
  assert.equal((store.db.prepare("SELECT COUNT(*) AS n FROM steps").get() as { n: number }).n, 6000);
  store.close();
});

test("a writer killed mid-run keeps its committed steps, and the next open marks the run interrupted", async () => {
  const path = join(tmp(), "runs.db");
  const p = child([path, "kill"]);
  const done = collect(p);
  const id = Number((await waitFor(p, /ready (\d+)/))[1]);
  await new Promise((r) => setTimeout(r, 60));
  // The run is live: opening the store now leaves it running.
  const live = openStore(path);
  assert.deepEqual(live.interrupted, []);
  assert.equal(live.getRun(id)!.status, "running");
  live.close();
  p.kill("SIGKILL");
  const r = await done; // reaped: its pid is no longer alive
  assert.equal(r.signal, "SIGKILL");
  const store = openStore(path);
  assert.deepEqual(store.interrupted, [id]);
  const run = store.getRun(id)!;
  assert.equal(run.status, "interrupted");
  assert.match(run.error!, /is gone/);
  const steps = store.steps(id).map((s) => s.step);
  assert.ok(steps.length >= 50 && steps.length % 10 === 0, `committed whole batches of 10 (got ${steps.length})`);
  assert.deepEqual(steps, steps.map((_, i) => i));
  store.close();
});

test("a process that exits without finish() commits what it buffered and is marked interrupted", async () => {
  const path = join(tmp(), "runs.db");
  const r = await collect(child([path, "exit"]));
  assert.equal(r.code, 3);
  const id = Number(/id (\d+)/.exec(r.stdout)![1]);
  const store = openStore(path);
  const run = store.getRun(id)!;
  assert.equal(run.status, "interrupted");
  assert.match(run.error!, /exited \(code 3\)/);
  assert.equal(store.steps(id).length, 15);
  store.close();
});

test("a running run with a stale heartbeat (another host, or a reused pid) is marked interrupted", () => {
  const path = join(tmp(), "runs.db");
  const s = openStore(path);
  const now = Date.now();
  s.db.prepare("INSERT INTO runs (started, status, pid, host, heartbeat) VALUES (?, 'running', 1, 'elsewhere', ?)").run(now - 3_600_000, now - 3_600_000);
  s.db.prepare("INSERT INTO runs (started, status, pid, host, heartbeat) VALUES (?, 'running', 1, 'elsewhere', ?)").run(now, now);
  s.db.prepare("INSERT INTO runs (started, status, pid, host, heartbeat) VALUES (?, 'running', ?, ?, ?)").run(now - 3_600_000, process.pid, hostname(), now - 3_600_000);
  s.close();
  const t = openStore(path, { staleMs: 60_000 });
  assert.deepEqual(t.interrupted.sort(), [1, 3]);
  assert.equal(t.getRun(2)!.status, "running", "a fresh heartbeat from another host is left alone");
  t.close();
});

test("CSV and JSON exports read back to the stored numbers", () => {
  const store = openStore(join(tmp(), "runs.db"));
  const rec = store.startRun({ method: "mgda", tasks: 3 });
  const gram = (t: number) => [
    [1 + t, 0.3, -0.2],
    [0.3, 2, 0.1 * t],
    [-0.2, 0.1 * t, 3],
  ];
  for (let t = 0; t < 50; t++) rec.step(t, { losses: [Math.PI / (t + 1), 1e-7 * t, 12345.678], weights: [1 / 3, 1 / 7, 2 - 10 / 21], gramian: gram(t), ms: 2.5 + t / 7 });
  rec.finish();
  const stored = store.steps(rec.id);
  const same = (got: StepRow[]) => {
    assert.equal(got.length, stored.length);
    got.forEach((g, k) => {
      const s = stored[k]!;
      assert.equal(g.step, s.step);
      assert.ok(Math.abs(g.ms! - s.ms!) < 1e-4);
      for (const key of ["losses", "weights", "gradNorms", "cosines"] as const) assert.deepEqual(g[key]!.map(Math.fround), s[key], `${key} at step ${s.step}`);
    });
  };
  const csv = [...exportCsv(store, rec.id)].join("\n");
  assert.equal(csv.split("\n")[0], "step,ms,loss_0,loss_1,loss_2,weight_0,weight_1,weight_2,grad_norm_0,grad_norm_1,grad_norm_2,cos_0_1,cos_0_2,cos_1_2");
  same(parseCsv(csv));
  const doc = JSON.parse(exportJson(store, rec.id));
  assert.equal(doc.run.id, rec.id);
  same(doc.steps);
  assert.ok(csv.includes(",0.33333334,"), "values print in their shortest float32 form");
  store.close();
});

test("an older store (schema v1, written by hand) migrates to the current version on open", () => {
  const path = join(tmp(), "runs.db");
  const { DatabaseSync } = sqlite();
  const db = new DatabaseSync(path);
  const now = Date.now();
  db.exec(`
    CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, method TEXT, config TEXT NOT NULL DEFAULT '{}', seed INTEGER, version TEXT, tasks INTEGER,
      started INTEGER NOT NULL, ended INTEGER, status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'interrupted')), pid INTEGER, error TEXT, final TEXT);
    CREATE TABLE steps (run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, step INTEGER NOT NULL, ms REAL, losses BLOB NOT NULL, weights BLOB NOT NULL,
      grad_norms BLOB, cosines BLOB, PRIMARY KEY (run_id, step)) WITHOUT ROWID;
    CREATE TABLE evals (run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, step INTEGER NOT NULL, split TEXT NOT NULL DEFAULT 'val', at INTEGER NOT NULL,
      metrics TEXT NOT NULL, PRIMARY KEY (run_id, step, split)) WITHOUT ROWID;
    PRAGMA user_version = 1;
  `);
  db.prepare("INSERT INTO runs (name, method, config, started, ended, status, pid, final) VALUES ('old', 'equal', '{\"b\":[1,2],\"a\":{\"y\":1,\"x\":0}}', ?, ?, 'finished', 1, '{\"loss\":0.5}')").run(now - 7_200_000, now - 3_600_000);
  db.prepare("INSERT INTO runs (name, started, status, pid) VALUES ('old-running', ?, 'running', 1)").run(now - 7_200_000);
  db.prepare("INSERT INTO steps (run_id, step, losses, weights) VALUES (1, 0, ?, ?)").run(new Uint8Array(new Float32Array([0.25, 0.5]).buffer), new Uint8Array(new Float32Array([1, 1]).buffer));
  db.close();

  const store = openStore(path, { staleMs: 60_000 });
  assert.equal(SCHEMA_VERSION, 3);
  assert.equal((store.db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version, 3);
  const cols = (store.db.prepare("PRAGMA table_info(runs)").all() as { name: string }[]).map((c) => c.name);
  assert.ok(cols.includes("host") && cols.includes("heartbeat") && cols.includes("config_hash"));
  const old = store.getRun(1)!;
  assert.equal(old.configHash, configHash({ a: { x: 0, y: 1 }, b: [1, 2] }), "config hash backfilled (v3) from the stored config, key order aside");
  assert.equal(store.getRun(2)!.configHash, configHash({}));
  assert.equal(old.status, "finished");
  assert.equal(old.heartbeat, now - 3_600_000, "heartbeat backfilled from the end time");
  assert.deepEqual(old.final, { loss: 0.5 });
  assert.deepEqual(store.steps(1)[0]!.losses, [0.25, 0.5]);
  assert.deepEqual(store.interrupted, [2], "the v1 run left running hours ago is stale");
  // New runs go in after the old ones.
  const rec = store.startRun({ name: "new", config: { lr: 0.1, seed: 3 } });
  assert.equal(rec.id, 3);
  assert.equal(store.getRun(3)!.configHash, configHash({ seed: 3, lr: 0.1 }));
  assert.match(store.getRun(3)!.configHash!, /^[0-9a-f]{16}$/);
  rec.finish();
  store.close();

  // A store from a newer lossbalance is refused, not touched.
  const newer = new DatabaseSync(path);
  newer.exec("PRAGMA user_version = 99");
  newer.close();
  assert.throws(() => openStore(path), /schema version 99, newer than this lossbalance understands \(3\)/);
});

test("the package root does not bundle the store (Node-only)", async () => {
  const root = await build({ entryPoints: ["src/index.ts"], bundle: true, write: false, metafile: true, platform: "browser", format: "esm", logLevel: "silent" });
  assert.deepEqual(Object.keys(root.metafile!.inputs).filter((p) => p.includes("src/store") || p.includes("sqlite")), []);
});

test("CLI: runs list, show, compare, export and rm", () => {
  const dir = tmp();
  const path = join(dir, "runs.db");
  const store = openStore(path);
  const a = store.startRun({ name: "gn", method: "gradnorm", seed: 0, config: { alpha: 0.12 } });
  const b = store.startRun({ name: "eq", method: "equal", seed: 1 });
  for (let t = 0; t < 5; t++) {
    a.step(t, { losses: [1 / (t + 1), 2], weights: [0.25, 1.75], gradNorms: [0.5, 2] });
    b.step(t, { losses: [1, 2], weights: [1, 1] });
  }
  a.eval(4, { acc: [0.91, 0.85] });
  a.finish({ acc: [0.91, 0.85], deltaM: -0.5 });
  b.finish({ acc: [0.9, 0.8] });
  store.close();

  const list = cli("list", "--store", path);
  assert.equal(list.status, 0, list.stderr);
  assert.equal(list.stderr, "");
  const lines = list.stdout.trim().split("\n");
  assert.match(lines[0]!, /id\s+name\s+method\s+seed\s+tasks\s+status\s+started\s+time\s+steps\s+last step/);
  assert.match(lines[2]!, /^\s*2\s+eq\s+equal\s+1\s+2\s+finished\s.*\s5\s+4$/);
  assert.match(lines[3]!, /^\s*1\s+gn\s+gradnorm\s+0\s+2\s+finished/);

  const show = cli("show", String(a.id), "--store", path);
  assert.equal(show.status, 0, show.stderr);
  assert.match(show.stdout, /status\s+finished/);
  assert.match(show.stdout, /"alpha": 0.12/);
  assert.match(show.stdout, /version\s+lossbalance \d+\.\d+\.\d+/);
  assert.match(show.stdout, new RegExp(`config #\\s+${configHash({ alpha: 0.12 })}`));
  assert.match(show.stdout, /last step \(4/);
  assert.match(show.stdout, /^\s*0\s+0\.2\s+0\.25\s+0\.5$/m);
  assert.match(show.stdout, /deltaM\s+-0\.5/);

  const cmp = cli("compare", String(a.id), String(b.id), "--store", path);
  assert.equal(cmp.status, 0, cmp.stderr);
  assert.match(cmp.stdout, /run 1 gn\s+run 2 eq/);
  assert.match(cmp.stdout, /acc\[0\]\s+0\.91\s+0\.9$/m);
  assert.match(cmp.stdout, /deltaM\s+-0\.5\s*$/m);
  assert.match(cmp.stdout, /weight\[1\]\s+1\.75\s+1$/m);

  const csv = cli("export", String(a.id), "--store", path);
  assert.equal(csv.status, 0, csv.stderr);
  assert.equal(csv.stdout.split("\n")[0], "step,ms,loss_0,loss_1,weight_0,weight_1,grad_norm_0,grad_norm_1");
  assert.deepEqual(parseCsv(csv.stdout).map((s) => s.losses[0]), [1, 0.5, 0.33333334, 0.25, 0.2]);
  const out = join(dir, "a.json");
  const json = cli("export", String(a.id), "--format", "json", "--out", out, "--store", path);
  assert.equal(json.status, 0, json.stderr);
  assert.equal(json.stdout, "");
  assert.deepEqual(JSON.parse(readFileSync(out, "utf8")).steps.map((s: { weights: number[] }) => s.weights), Array(5).fill([0.25, 1.75]));

  const rm = cli("rm", String(b.id), "--store", path);
  assert.equal(rm.status, 0, rm.stderr);
  assert.match(rm.stdout, /removed run 2/);
  const missing = cli("show", String(b.id), "--store", path);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /no run 2 in/);
  const bad = cli("export", "1", "--format", "xml", "--store", path);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /must be one of csv, json/);
  const none = cli("list", "--store", join(dir, "nope.db"));
  assert.equal(none.status, 0);
  assert.match(none.stdout, /no runs \(no store at/);
  assert.ok(!existsSync(join(dir, "nope.db")), "list does not create a store");
});

test("configHash: SHA-256 of canonical JSON (keys sorted recursively), 16 hex; key order and undefined members do not matter", () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: undefined } }), '{"a":{"d":[3,{"y":2,"z":1}]},"b":1}');
  assert.equal(configHash({ b: 1, a: 2 }), configHash({ a: 2, b: 1 }));
  assert.notEqual(configHash({ a: 1 }), configHash({ a: 2 }));
  assert.equal(configHash({ a: 1 }), "015abd7f5cc57a2d"); // sha256('{"a":1}'), pinned: a changed canonical form would change every stored hash
});
