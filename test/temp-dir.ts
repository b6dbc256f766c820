// A fresh temporary folder for the enclosing suite (or file), removed after it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';

/** Registers the before/after hooks; call the returned function inside tests or later hooks. */
export function useTempDir(prefix: string): () => string {
  let dir: string | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  after(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
  return () => dir ?? assertNever(prefix);
}

function assertNever(prefix: string): never {
  throw new Error(`temporary folder ${prefix}* used outside its suite`);
}
