// Damaged files are named, never half-read: a run database that is corrupt, truncated, empty or of
// a newer schema makes every command that opens it (status, models, tree, lineage, export, report,
// and `arbor run` resuming it, but for an empty file) exit 2 naming the file and leaving it as it was; a truncated or
// corrupt artifact (a shard's gzip, a JSON artifact, the inline state) is refused naming the file.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { DamagedFileError, readJsonArtifact, shardRecords } from '../activities/artifacts.ts';
import { searchArtifact } from '../activities/run-dir.ts';
import { RunStore } from '../store/run-store.ts';
import { runConfigSchema } from '../workflows/config.ts';
import { arbor } from './arbor-cli.ts';
import { useTempDir } from './temp-dir.ts';

/** A real run database with enough pages that cutting it in half leaves b-tree pages pointing past its end. */
function runDatabase(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'arbor.db');
  const store = RunStore.create(path, 'damaged');
  store.ensureRun(runConfigSchema.parse({ name: 'damaged' }), 'now');
  for (let index = 0; index < 400; index++) store.upsertProblem({ task: 'arithmetic', split: 'train', question: `${index}+${'1'.repeat(2000)}`, answer: String(index), difficulty: 1 });
  store.close();
  return path;
}

const DAMAGES: Record<string, { make(path: string): void; says: RegExp }> = {
  'random bytes': { make: (path) => writeFileSync(path, Buffer.from(Array.from({ length: 8192 }, (_, index) => (index * 131) % 251))), says: /not a readable run database/ },
  truncated: { make: (path) => truncateSync(path, Math.floor(statSync(path).size / 2)), says: /malformed|not a readable run database|damaged/ },
  empty: { make: (path) => writeFileSync(path, ''), says: /is empty \(0 bytes\)/ },
  'newer schema': {
    make: (path) => {
      const db = new Database(path);
      db.pragma('user_version = 99');
      db.close();
    },
    says: /schema version 99 is newer than this Arbor/,
  },
};

describe('a damaged run database: every command that opens it exits 2 naming it, and leaves it as it was', () => {
  const dir = useTempDir('arbor-damaged-db-');

  for (const [damage, { make, says }] of Object.entries(DAMAGES)) {
    test(damage, async () => {
      const runDir = join(dir(), damage.replaceAll(' ', '-'));
      const path = runDatabase(runDir);
      make(path);
      const bytes = readFileSync(path);
      const config = join(runDir, 'config-file.json');
      writeFileSync(config, JSON.stringify({ name: 'damaged', runDir }));
      const commands = [
        ['status', 'damaged', '--inline', '--run-dir', runDir],
        ...['models', 'tree', 'lineage', 'export', 'report'].map((command) => [command, 'damaged', '--run-dir', runDir]),
        // Resuming: an empty file is a database SQLite has not written yet, which a run starts afresh.
        ...(damage === 'empty' ? [] : [['run', config, '--quick', '--inline']]),
      ];
      for (const command of commands) {
        const result = await arbor(...command);
        assert.equal(result.code, 2, `arbor ${command.join(' ')}: exit ${result.code}\n${result.stderr}`);
        assert.ok(result.stderr.includes(path), `arbor ${command[0]} names ${path}: ${result.stderr}`);
        assert.match(result.stderr, says, `arbor ${command[0]}`);
        assert.ok(readFileSync(path).equals(bytes), `arbor ${command[0]} left ${path} as it was`);
      }
    });
  }
});

describe('a damaged artifact is refused naming it', () => {
  const dir = useTempDir('arbor-damaged-artifact-');

  test('a JSON artifact cut short or of the wrong shape', () => {
    const path = join(dir(), 'evaluation.json');
    writeFileSync(path, '{"iteration": 1, "accur');
    assert.throws(() => readJsonArtifact(path, z.object({ iteration: z.number() })), (error: unknown) => error instanceof DamagedFileError && error.message.startsWith(path) && /truncated or corrupt/.test(error.message));
    writeFileSync(path, '{"iteration": "one"}');
    assert.throws(() => readJsonArtifact(path, z.object({ iteration: z.number() })), (error: unknown) => error instanceof DamagedFileError && /not a valid artifact[\s\S]*iteration/.test(error.message));
  });

  test('a finished search shard whose gzip is cut short', () => {
    const runDir = join(dir(), 'run');
    const path = searchArtifact(runDir, 1, 0);
    mkdirSync(join(path, '..'), { recursive: true });
    const whole = gzipSync(Buffer.from('{"problemId": 1}\n'.repeat(200)));
    writeFileSync(path, whole.subarray(0, Math.floor(whole.length / 2)));
    assert.throws(() => shardRecords(runDir, 1, 0), (error: unknown) => error instanceof DamagedFileError && error.message.startsWith(path) && /delete it/.test(error.message));
  });

  test('`arbor status` on a run whose inline state is cut short exits 2 naming the file', async () => {
    const runDir = join(dir(), 'state');
    runDatabase(runDir);
    const state = join(runDir, 'inline-state.json');
    writeFileSync(state, '{"runDir": "x", "iter');
    const result = await arbor('status', 'state', '--inline', '--run-dir', runDir);
    assert.equal(result.code, 2, result.stderr);
    assert.ok(result.stderr.includes(state), result.stderr);
  });
});
