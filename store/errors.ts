/** Why a run database cannot be opened, each naming its file: what commands outside store/ may catch (no connection here). */
import { LATEST_VERSION } from './migrations.ts';

export class DatabaseVersionError extends Error {
  constructor(path: string, version: number) {
    super(`${path}: database schema version ${version} is newer than this Arbor (${LATEST_VERSION}); upgrade Arbor to open it`);
    this.name = 'DatabaseVersionError';
  }
}

export class DatabaseOutdatedError extends Error {
  constructor(path: string, version: number) {
    super(`${path}: database schema version ${version} is older than this Arbor's (${LATEST_VERSION}); \`arbor run\` on this run upgrades it`);
    this.name = 'DatabaseOutdatedError';
  }
}

/** A database file that is not a readable run database (empty, truncated, corrupt, not SQLite): its path and why. */
export class DatabaseFileError extends Error {
  constructor(path: string, reason: string) {
    super(`${path}: ${reason}`);
    this.name = 'DatabaseFileError';
  }
}
