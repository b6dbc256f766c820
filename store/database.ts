/**
 * One SQLite database per run directory (better-sqlite3): WAL, synchronous=FULL (a committed
 * transaction survives a power cut), foreign keys on, schema migrated on open. One writer per run;
 * read-then-write goes through `immediate` transactions so a concurrent writer cannot interleave.
 */
import { existsSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { DatabaseFileError, DatabaseOutdatedError, DatabaseVersionError } from './errors.ts';
import { LATEST_VERSION, MIGRATIONS } from './migrations.ts';

export type RunDatabase = Database.Database;

/** Applies every migration above the database's user_version, each in its own transaction. */
export function migrate(db: RunDatabase, path: string, upTo: number = LATEST_VERSION): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > LATEST_VERSION) throw new DatabaseVersionError(path, current);
  for (const migration of MIGRATIONS) {
    if (migration.version <= current || migration.version > upTo) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    }).immediate();
  }
  return db.pragma('user_version', { simple: true }) as number;
}

/** SQLite's codes for a file that is damaged or not a database. */
const DAMAGED = new Set(['SQLITE_NOTADB', 'SQLITE_CORRUPT', 'SQLITE_CORRUPT_VTAB', 'SQLITE_CORRUPT_SEQUENCE', 'SQLITE_CORRUPT_INDEX']);

/** `error` as a DatabaseFileError naming `path` when SQLite says the file is damaged; else unchanged. */
function damagedDatabase(error: unknown, path: string): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !DAMAGED.has(code)) return error;
  return new DatabaseFileError(path, `not a readable run database, corrupt, truncated or not SQLite (${error instanceof Error ? error.message : code}); restore it from a copy, or delete the run folder to start again`);
}

/**
 * Read-only opening never writes (no migration, no journal change) and refuses a schema it cannot
 * read or an empty file. Either way a damaged file (SQLite's quick_check, a fraction of a second for
 * a run's database) or a newer schema is refused naming the file, before anything writes to it.
 */
export function openRunDatabase(path: string, options: { readonly?: boolean } = {}): RunDatabase {
  // A writer starts an empty file afresh (SQLite writes nothing until the first transaction); a reader has nothing to read.
  if (options.readonly && existsSync(path) && statSync(path).size === 0) throw new DatabaseFileError(path, 'is empty (0 bytes), not a run database');
  let db: RunDatabase | undefined;
  try {
    db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
    const check = db.pragma('quick_check(1)', { simple: true });
    if (check !== 'ok') throw new DatabaseFileError(path, `is damaged (SQLite quick_check: ${String(check)}); restore it from a copy, or delete the run folder to start again`);
    // Before anything is written (WAL mode changes the file's header): a newer schema is left as it is.
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > LATEST_VERSION) throw new DatabaseVersionError(path, version);
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      migrate(db, path);
    } else if (version < LATEST_VERSION) {
      throw new DatabaseOutdatedError(path, version);
    }
    // Per connection: a connection opening an existing WAL database would otherwise get NORMAL.
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    return db;
  } catch (error) {
    db?.close();
    throw damagedDatabase(error, path);
  }
}

/**
 * Closes a writer's connection leaving the database in rollback-journal mode (WAL only while a run
 * writes), so that a finished run can be read from a read-only directory or medium, where SQLite
 * cannot create WAL's shared-memory file. Busy (another connection open): it stays WAL.
 */
export function closeRunDatabase(db: RunDatabase): void {
  if (!db.readonly) {
    try {
      db.pragma('journal_mode = DELETE');
    } catch {
      // another connection holds it; the next writer's close switches it
    }
  }
  db.close();
}

/** Runs `work` in an immediate (write-locking) transaction; `work` must be synchronous. */
export function writeTransaction<T>(db: RunDatabase, work: () => T): T {
  return db.transaction(work).immediate();
}
