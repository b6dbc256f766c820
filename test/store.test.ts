import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { buildIterationData } from '../data/build-sets.ts';
import { objectiveNamed } from './objective.ts';
import { exportRun, TrlPrmRowSchema } from '../data/export.ts';
import { TrlDpoRowSchema } from '../train/objectives/dpo.ts';
import { TrlPgRowSchema } from '../train/objectives/pg.ts';
import { TrlSftRowSchema } from '../train/objectives/sft.ts';

import { migrate, openRunDatabase, type RunDatabase } from '../store/database.ts';
import { DatabaseVersionError } from '../store/errors.ts';
import { LATEST_VERSION, MIGRATIONS } from '../store/migrations.ts';
import { RunConfigConflictError, RunStore } from '../store/run-store.ts';
import { searchedTree } from './searched-tree.ts';
import { useTempDir } from './temp-dir.ts';

const SFT = objectiveNamed('sft');

const EXPECTED_TABLES = ['activity_attempts', 'evaluations', 'held_out_answers', 'iterations', 'models', 'nodes', 'pg_examples', 'preference_pairs', 'prm_examples', 'problems', 'runs', 'searches', 'sft_examples'];

/** A store with one search, and its connection: these tests of the store read its tables directly. */
function seededStore(path: string): { store: RunStore; db: RunDatabase; searchId: number } {
  const db = openRunDatabase(path);
  const store = new RunStore(db, 'run-a');
  store.ensureRun({ task: 'arithmetic', iterations: 3 }, '2026-11-22T00:00:00Z');
  const policy = store.recordModel({ kind: 'policy', path: 'models/micro/arbor-micro.gguf', sha256: 'ab'.repeat(32), parentId: null, iteration: 0 });
  const prm = store.recordModel({ kind: 'prm', path: 'runs/x/prm-0.gguf', sha256: 'cd'.repeat(32), parentId: policy, iteration: 0 });
  const problemId = store.upsertProblem({ task: 'arithmetic', split: 'train', question: '2+3*4', answer: '14', difficulty: 2 });
  const searchId = store.saveSearch({ iteration: 1, problemId, policyModelId: policy, prmModelId: prm, algorithm: 'mcts', budget: 50, stats: { generatedTokens: 30 }, answer: '14', correct: true, tree: searchedTree() });
  return { store, db, searchId };
}

describe('run database', () => {
  const dir = useTempDir('arbor-store-');

  test('migrates from empty and from every earlier version to the latest', () => {
    for (let from = 0; from <= LATEST_VERSION; from++) {
      const path = join(dir(), `m${from}.db`);
      const db = new Database(path);
      migrate(db, path, from);
      assert.equal(db.pragma('user_version', { simple: true }), from);
      db.close();
      const reopened = openRunDatabase(path);
      assert.equal(reopened.pragma('user_version', { simple: true }), LATEST_VERSION);
      const tables = reopened.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
      assert.deepEqual(tables, EXPECTED_TABLES);
      assert.equal(reopened.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(reopened.pragma('foreign_keys', { simple: true }), 1);
      assert.equal(reopened.pragma('synchronous', { simple: true }), 2, 'FULL');
      reopened.close();
    }
    assert.equal(MIGRATIONS.length, LATEST_VERSION);
  });

  test('a database from a newer Arbor is refused with a clear error', () => {
    const path = join(dir(), 'newer.db');
    const db = new Database(path);
    db.pragma(`user_version = ${LATEST_VERSION + 1}`);
    db.close();
    assert.throws(() => openRunDatabase(path), DatabaseVersionError);
  });

  test('re-saving a shard and re-building data inserts nothing twice', async () => {
    const { store, db, searchId } = seededStore(join(dir(), 'idem.db'));
    const again = store.saveSearch({ iteration: 1, problemId: store.upsertProblem({ task: 'arithmetic', split: 'train', question: '2+3*4', answer: '14', difficulty: 2 }), policyModelId: null, prmModelId: null, algorithm: 'mcts', budget: 50, stats: {}, answer: '14', correct: true, tree: searchedTree() });
    assert.equal(again, searchId);
    // The policy's prompt (a chat template, say) goes to SFT rows; the PRM's plain prompt to PRM rows.
    const build = () => buildIterationData({ store, iteration: 1, promptOf: (q) => `Q: ${q}\n`, prmPromptOf: (q) => `PRM ${q}\n`, delimiter: '\n', objective: SFT, policyPath: join(dir(), 'sft.jsonl'), prmPath: join(dir(), 'prm.jsonl') });
    const first = await build();
    const second = await build();
    assert.deepEqual(second, first);
    assert.equal(first.sft, 1);
    assert.equal(first.prm, 6, 'every node leading to an answer has a target');
    assert.equal(first.pairs, 2, 'root: 2+12 over 5*4; under 14: A: 14 over A: 15');
    const count = (table: string) => db.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get();
    assert.deepEqual([count('searches'), count('nodes'), count('problems'), count('models')], [1, 7, 1, 2]);
    // Metrics without a model (NULL model_id) are replaced too, not added again.
    for (const value of [0.5, 0.75]) store.recordEvaluation({ iteration: 1, modelId: null, method: 'search', split: 'train', metric: 'pass@4', value });
    assert.deepEqual(db.prepare('SELECT value FROM evaluations').pluck().all(), [0.75]);
    // The search also ended wrong (A: 15, A: 20): a contested problem, so its solution is written 4 times (data.sftContestedRepeat).
    assert.equal(await readFile(join(dir(), 'sft.jsonl'), 'utf8'), '{"prompt":"Q: 2+3*4\\n","completion":"2+12\\n14\\nA: 14\\n"}\n'.repeat(4));
    const prmRows = (await readFile(join(dir(), 'prm.jsonl'), 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as { prompt: string; completions: string[]; labels: number[] });
    assert.deepEqual(prmRows.map((row) => row.completions.at(-1)).sort(), ['A: 14', 'A: 15', 'A: 20']);
    assert.ok(prmRows.every((row) => row.prompt === 'PRM 2+3*4\n'));
    for (const row of prmRows) assert.equal(row.labels.length, row.completions.length);
  });

  test('the same run name with another config is a conflict', () => {
    const { store } = seededStore(join(dir(), 'conflict.db'));
    store.ensureRun({ iterations: 3, task: 'arithmetic' }, 'later');
    assert.throws(() => store.ensureRun({ task: 'arithmetic', iterations: 4 }, 'later'), RunConfigConflictError);
  });

  test('a run directory holds one run; before any model is recorded a corrected config replaces the old', () => {
    const { db } = seededStore(join(dir(), 'owned.db'));
    assert.throws(() => new RunStore(db, 'run-b').ensureRun({ task: 'arithmetic', iterations: 3 }, 'later'), /belongs to run 'run-a', not 'run-b'/);
    assert.equal(db.prepare('SELECT COUNT(*) FROM runs').pluck().get(), 1, 'no second run recorded');
    const freshDb = openRunDatabase(join(dir(), 'fresh.db'));
    const fresh = new RunStore(freshDb, 'run-c');
    fresh.ensureRun({ policy: 'missing.gguf' }, 'first');
    fresh.ensureRun({ policy: 'fixed.gguf' }, 'second');
    assert.equal(freshDb.prepare('SELECT config_json FROM runs').pluck().get(), JSON.stringify({ policy: 'fixed.gguf' }));
    fresh.recordModel({ kind: 'policy', path: 'fixed.gguf', sha256: 'ef'.repeat(32), parentId: null, iteration: 0 });
    assert.throws(() => fresh.ensureRun({ policy: 'other.gguf' }, 'third'), /already exists with a different config/);
  });

  test('read-only opening never writes: an outdated schema is refused, not migrated', () => {
    const path = join(dir(), 'old.db');
    const db = new Database(path);
    migrate(db, path, LATEST_VERSION - 1);
    db.close();
    assert.throws(() => openRunDatabase(path, { readonly: true }), /older than this Arbor's/);
    const check = new Database(path, { readonly: true });
    assert.equal(check.pragma('user_version', { simple: true }), LATEST_VERSION - 1);
    check.close();
  });

  test('an SFT row traces back to its search, node, problem and models', async () => {
    const { store, db, searchId } = seededStore(join(dir(), 'lineage.db'));
    await buildIterationData({ store, iteration: 1, promptOf: (q) => `Q: ${q}\n`, prmPromptOf: (q) => `Q: ${q}\n`, delimiter: '\n', objective: SFT, policyPath: join(dir(), 'l-sft.jsonl'), prmPath: join(dir(), 'l-prm.jsonl') });
    const sftId = db.prepare('SELECT id FROM sft_examples').pluck().get() as number;
    const lineage = store.sftLineage(sftId);
    assert.equal(lineage.search_id, searchId);
    assert.equal(lineage.question, '2+3*4');
    assert.equal(lineage.last_step, 'A: 14');
    assert.equal(lineage.value_target, 1);
    assert.equal(lineage.policy_model, 'models/micro/arbor-micro.gguf');
    assert.equal(lineage.prm_model, 'runs/x/prm-0.gguf');
  });

  test('exports use the TRL field names and carry lineage ids', async () => {
    const { store } = seededStore(join(dir(), 'export.db'));
    const build = (objective: typeof SFT, file: string) =>
      buildIterationData({ store, iteration: 1, promptOf: (q) => `Q: ${q}\n`, prmPromptOf: (q) => `Q: ${q}\n`, delimiter: '\n', objective, policyPath: join(dir(), file), prmPath: join(dir(), 'e-prm.jsonl') });
    await build(SFT, 'e-sft.jsonl');
    const out = join(dir(), 'export');
    assert.deepEqual(await exportRun({ store, outDir: out }), { sft: 1, dpo: 2, advantages: 0, prm: 3, trees: 1 });
    // A tree objective's iteration adds its steps' advantages: all six steps lie on a finished path.
    await build(objectiveNamed('tree'), 'e-pg.jsonl');
    assert.deepEqual(await exportRun({ store, outDir: out }), { sft: 1, dpo: 2, advantages: 6, prm: 3, trees: 1 });
    const rows = async (name: string) => (await readFile(join(out, name), 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const row of await rows('sft.jsonl')) TrlSftRowSchema.parse(row);
    for (const row of await rows('dpo.jsonl')) TrlDpoRowSchema.parse(row);
    const advantages = (await rows('advantages.jsonl')).map((row) => TrlPgRowSchema.parse(row));
    assert.ok(advantages.some((row) => row.advantage > 0) && advantages.some((row) => row.advantage < 0), 'the right answer is pushed up, the wrong ones down');
    assert.ok(advantages.every((row) => row.search_id === 1 && row.prompt.startsWith('Q: 2+3*4\n')), 'each row names its search and carries its prompt');
    for (const row of await rows('prm.jsonl')) {
      const parsed = TrlPrmRowSchema.parse(row);
      assert.deepEqual(parsed.labels, parsed.values.map((value) => value >= 0.5));
    }
    const [dpo] = await rows('dpo.jsonl');
    assert.deepEqual(Object.keys(dpo ?? {}).slice(0, 3), ['prompt', 'chosen', 'rejected']);
  });

  test('a writer killed mid-transaction leaves an intact database with only committed rows', async () => {
    const path = join(dir(), 'killed.db');
    seededStore(path).store.close();
    // The child commits one transaction, then starts a huge one and reports; it is killed inside it.
    const script = `
      import Database from 'better-sqlite3';
      const db = new Database(${JSON.stringify(path)});
      db.pragma('synchronous = FULL');
      const insert = db.prepare("INSERT INTO problems (task, split, question, answer, difficulty) VALUES ('t', 'train', ?, '0', 1)");
      db.transaction(() => { for (let i = 0; i < 100; i++) insert.run('committed-' + i); })();
      db.exec('BEGIN IMMEDIATE');
      for (let i = 0; ; i++) { insert.run('pending-' + i); if (i === 20000) process.stdout.write('inside\\n'); }
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('inside')) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', (code) => reject(new Error(`writer exited early (${code})`)));
    });
    await new Promise((resolve) => child.once('exit', resolve));
    const db = openRunDatabase(path);
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    assert.equal(db.prepare("SELECT COUNT(*) FROM problems WHERE question LIKE 'committed-%'").pluck().get(), 100);
    assert.equal(db.prepare("SELECT COUNT(*) FROM problems WHERE question LIKE 'pending-%'").pluck().get(), 0);
    db.close();
  });
});
