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

export class DatabaseOutdatedError extends Error {
  constructor(path: string, version: number) {
    super(`${path}: database schema version ${version} is older than this Arbor's (${LATEST_VERSION}); \`arbor run\` on this run upgrades it`);
    this.name = 'DatabaseOutdatedError';
  }
}

/** Read-only opening never writes (no migration, no journal change) and refuses a schema it cannot read. */
export function openRunDatabase(path: string, options: { readonly?: boolean } = {}): RunDatabase {
  const db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
  if (!options.readonly) {
    db.pragma('journal_mode = WAL');
    migrate(db, path);
  } else {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > LATEST_VERSION) throw new DatabaseVersionError(path, version);
    if (version < LATEST_VERSION) throw new DatabaseOutdatedError(path, version);
  }
  // Per connection: a connection opening an existing WAL database would otherwise get NORMAL.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  return db;
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
