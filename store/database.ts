/**
 * One SQLite database per run directory (better-sqlite3): WAL, synchronous=FULL (a committed
 * transaction survives a power cut), foreign keys on, schema migrated on open. One writer per run;
 * read-then-write goes through `immediate` transactions so a concurrent writer cannot interleave.
 */
import Database from 'better-sqlite3';
import { LATEST_VERSION, MIGRATIONS } from './migrations.ts';

export type RunDatabase = Database.Database;

export class DatabaseVersionError extends Error {
  constructor(path: string, version: number) {
    super(`${path}: database schema version ${version} is newer than this Arbor (${LATEST_VERSION}); upgrade Arbor to open it`);
    this.name = 'DatabaseVersionError';
  }
}

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

export function openRunDatabase(path: string, options: { readonly?: boolean } = {}): RunDatabase {
  const db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
  if (!options.readonly) {
    db.pragma('journal_mode = WAL');
    migrate(db, path);
  }
  // Per connection: a connection opening an existing WAL database would otherwise get NORMAL.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  return db;
}

/** Runs `work` in an immediate (write-locking) transaction; `work` must be synchronous. */
export function writeTransaction<T>(db: RunDatabase, work: () => T): T {
  return db.transaction(work).immediate();
}
