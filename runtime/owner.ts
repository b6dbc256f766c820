/**
 * One process owns a run at a time: `arbor run` holds <run dir>/owner.json ({pid, host, since})
 * from creating it exclusively until it exits. A second `arbor run` on the same run is refused with
 * who holds it; an owner whose process is gone (same host, pid not alive) is taken over.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

export const OWNER_FILE = 'owner.json';

const ownerSchema = z.strictObject({ pid: z.number().int().positive(), host: z.string(), since: z.string() });
export type Owner = z.infer<typeof ownerSchema>;

export class RunOwnedError extends Error {
  constructor(
    readonly runDir: string,
    readonly owner: Owner,
  ) {
    super(`${runDir} is being run by process ${owner.pid} on ${owner.host} since ${owner.since}; \`arbor status\` shows its progress (if that process is gone, remove ${join(runDir, OWNER_FILE)})`);
    this.name = 'RunOwnedError';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The run's owner, if one is recorded (an unreadable file counts as none: it was being written by a process that died). */
export function readOwner(runDir: string): Owner | null {
  try {
    return ownerSchema.parse(JSON.parse(readFileSync(join(runDir, OWNER_FILE), 'utf8')));
  } catch {
    return null;
  }
}

/** Takes the run for this process (or throws RunOwnedError); the returned function lets it go. Released at exit whatever happens. */
export function takeOwnership(runDir: string): () => void {
  const path = join(runDir, OWNER_FILE);
  const me: Owner = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, JSON.stringify(me) + '\n');
      } finally {
        closeSync(fd);
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = readOwner(runDir);
      const stale = owner === null || (owner.host === me.host && (owner.pid === me.pid || !alive(owner.pid)));
      if (owner !== null && (attempt > 0 || !stale)) throw new RunOwnedError(runDir, owner);
      if (attempt > 0) throw new Error(`${path}: another process is taking this run at the same moment`);
      rmSync(path, { force: true }); // its process is gone
    }
  }
  const release = (): void => {
    process.off('exit', release);
    if (readOwner(runDir)?.pid === me.pid) rmSync(path, { force: true });
  };
  process.on('exit', release);
  return release;
}
