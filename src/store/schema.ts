import type { DatabaseSync } from "./sqlite.js";
import { configHash } from "./configHash.js";

/**
 * The store's layout, versioned by SQLite's `user_version`. `migrations[v]` takes a store from
 * version v to v + 1; opening runs the missing ones, each in its own IMMEDIATE transaction that
 * re-reads the version first (two processes opening an old store at once migrate it once).
 *
 * - v1: runs, steps, evals.
 * - v2: crash detection — `host` and `heartbeat` on runs (a run's heartbeat is backfilled from its
 *   end or start time), and an index on status for the interrupted-run check at open.
 * - v3: `config_hash` on runs (see configHash), backfilled from each run's stored config.
 */
export const migrations: readonly ((db: DatabaseSync) => void)[] = [
  // 0 → 1
  (db) =>
    db.exec(`
      CREATE TABLE runs (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        name      TEXT,
        method    TEXT,
        config    TEXT NOT NULL DEFAULT '{}',
        seed      INTEGER,
        version   TEXT,
        tasks     INTEGER,
        started   INTEGER NOT NULL,
        ended     INTEGER,
        status    TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'interrupted')),
        pid       INTEGER,
        error     TEXT,
        final     TEXT
      );
      CREATE TABLE steps (
        run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step       INTEGER NOT NULL,
        ms         REAL,
        losses     BLOB NOT NULL,
        weights    BLOB NOT NULL,
        grad_norms BLOB,
        cosines    BLOB,
        PRIMARY KEY (run_id, step)
      ) WITHOUT ROWID;
      CREATE TABLE evals (
        run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step    INTEGER NOT NULL,
        split   TEXT NOT NULL DEFAULT 'val',
        at      INTEGER NOT NULL,
        metrics TEXT NOT NULL,
        PRIMARY KEY (run_id, step, split)
      ) WITHOUT ROWID;
    `),
  // 1 → 2
  (db) =>
    db.exec(`
      ALTER TABLE runs ADD COLUMN host TEXT;
      ALTER TABLE runs ADD COLUMN heartbeat INTEGER;
      UPDATE runs SET heartbeat = COALESCE(ended, started);
      CREATE INDEX runs_status ON runs(status);
    `),
  // 2 → 3
  (db) => {
    db.exec("ALTER TABLE runs ADD COLUMN config_hash TEXT");
    const update = db.prepare("UPDATE runs SET config_hash = ? WHERE id = ?");
    for (const r of db.prepare("SELECT id, config FROM runs").all() as { id: number; config: string }[]) {
      let config: unknown;
      try {
        config = JSON.parse(r.config);
      } catch {
        continue; // unreadable config: no hash
      }
      update.run(configHash(config), r.id);
    }
  },
];

export const SCHEMA_VERSION = migrations.length;

export function userVersion(db: DatabaseSync): number {
  return Number((db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version);
}

/** Brings the store to SCHEMA_VERSION; refuses a store written by a newer lossbalance. */
export function migrate(db: DatabaseSync, path: string): void {
  let v = userVersion(db);
  if (v > SCHEMA_VERSION) throw new Error(`run store ${path} has schema version ${v}, newer than this lossbalance understands (${SCHEMA_VERSION}); upgrade lossbalance`);
  while (v < SCHEMA_VERSION) {
    db.exec("BEGIN IMMEDIATE");
    try {
      v = userVersion(db); // another process may have migrated while we waited for the lock
      if (v < SCHEMA_VERSION) {
        migrations[v]!(db);
        db.exec(`PRAGMA user_version = ${v + 1}`);
      }
      db.exec("COMMIT");
    } catch (e) {
      db.exec("ROLLBACK");
      throw e;
    }
    v = userVersion(db);
  }
}
