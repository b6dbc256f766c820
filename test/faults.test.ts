// The CI subset of the fault campaign (bench/faults.ts): kill -9 at three points, double Ctrl-C,
// the owner lock, one bad input per command, and a read-only inspection on a read-only directory.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { badInputs, differences, FAULTS_LINK, filesContaining, interruptTwiceWhileSearching, run, sleep, snapshot, start, TRAINER, waitFor } from '../bench/fault-cases.ts';
import { evaluationArtifact } from '../activities/run-dir.ts';
import { OWNER_FILE } from '../runtime/owner.ts';
import { openRunDatabase } from '../store/database.ts';
import { useTempDir } from './temp-dir.ts';

/** The ids of the iteration-0 evaluation rows: a redone evaluation replaces them with new ones. */
function evaluationIds(path: string): string {
  const db = openRunDatabase(path, { readonly: true });
  try {
    return (db.prepare('SELECT id FROM evaluations WHERE iteration = 0 ORDER BY id').pluck().all() as number[]).join(',');
  } finally {
    db.close();
  }
}


describe('faults: a quick run survives them, bad input is named', () => {
  const dir = useTempDir('arbor-faults-');
  const configOf = (name: string): string => {
    const path = join(dir(), `${name}.json`);
    writeFileSync(path, JSON.stringify({ name, runDir: join(dir(), name) }));
    return path;
  };
  const quick = (name: string): string[] => ['run', configOf(name), '--quick', '--inline'];
  const databaseOf = (name: string): string => join(dir(), name, 'arbor.db');
  let expected: ReturnType<typeof snapshot>;

  test('the uninterrupted quick run (the reference)', async () => {
    const done = await run(quick('reference'));
    assert.equal(done.code, 0, done.stderr.slice(-2000));
    expected = snapshot(databaseOf('reference'));
    assert.ok((expected.get('searches')?.length ?? 0) > 0);
  });

  test('arbor status shows minutes per stage from the recorded activity attempts', async () => {
    const done = await run(['status', 'reference', '--inline', '--run-dir', join(dir(), 'reference')]);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /not running/);
    assert.match(done.stdout, /\| iteration \| prepare \| plan \| search \| data \| train \| evaluate \| promote \| total \|/);
    // Iteration 0 spent its time preparing; iteration 1 searched, trained and evaluated.
    assert.match(done.stdout, /\| 0 \| \d+\.\d\d \| 0\.00 \| 0\.00 \|/);
    const iteration = (done.stdout.split('minutes per stage')[1] ?? '').split('\n').find((line) => line.startsWith('| 1 |'));
    assert.ok(iteration !== undefined, done.stdout);
    for (const cell of iteration.split('|').slice(2, -1)) assert.match(cell.trim(), /^\d+\.\d\d$/);
    assert.ok(Number(iteration.split('|')[4]) > 0, `search took time: ${iteration}`);
  });

  for (const [point, activity] of [
    ['preparing', /▶ prepare/],
    ['searching', /▶ iteration 1: search shard/],
    ['training', /▶ iteration 1: fine-tune/],
  ] as const) {
    test(`kill -9 while ${point}, then the same command: the run ends as the uninterrupted one did, table by table`, async () => {
      const name = `killed-${point}`;
      const victim = start(quick(name));
      await waitFor(victim, activity);
      await sleep(300);
      victim.child.kill('SIGKILL');
      const killed = await victim.done;
      assert.equal(killed.signal, 'SIGKILL', `the run ended before it could be killed while ${point}`);
      // The dead process's owner file is still there: the next start takes the run over.
      assert.ok(existsSync(join(dir(), name, OWNER_FILE)));
      // The base evaluation's rows (a rewrite gives new ids) and its artifact (a redone evaluation rewrites it).
      const baseEvaluation = (): string => `${evaluationIds(databaseOf(name))} ${statSync(evaluationArtifact(join(dir(), name), 0)).mtimeMs}`;
      const before = point === 'preparing' ? '' : baseEvaluation();
      const resumed = await run(quick(name));
      assert.equal(resumed.code, 0, resumed.stderr.slice(-2000));
      assert.deepEqual(differences(expected, snapshot(databaseOf(name))), []);
      // The base models' evaluation, finished before the kill, was read back, not redone.
      if (point !== 'preparing') assert.equal(baseEvaluation(), before);
    });
  }

  test('Ctrl-C twice during the search stops the run within seconds (exit 3); the same command finishes it identical', async () => {
    const { stopped, seconds } = await interruptTwiceWhileSearching(start(quick('interrupted')));
    process.stderr.write(`# stopped ${seconds.toFixed(1)} s after the second Ctrl-C\n`);
    assert.equal(stopped.code, 3, stopped.stderr.slice(-2000));
    assert.ok(seconds < 10, `took ${seconds.toFixed(1)} s to stop`);
    const resumed = await run(quick('interrupted'));
    assert.equal(resumed.code, 0, resumed.stderr.slice(-2000));
    assert.deepEqual(differences(expected, snapshot(databaseOf('interrupted'))), []);
  });

  test('a second arbor run on a live run exits 2 naming the owner and changes nothing', async () => {
    const owner = spawn('sleep', ['60']);
    try {
      writeFileSync(join(dir(), 'reference', OWNER_FILE), JSON.stringify({ pid: owner.pid, host: hostname(), since: '2026-01-01T00:00:00.000Z' }));
      const refused = await run(quick('reference'));
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, new RegExp(`process ${owner.pid} on ${hostname()} since 2026-01-01`));
      assert.deepEqual(differences(expected, snapshot(databaseOf('reference'))), []);
    } finally {
      owner.kill();
    }
  });

  test('nothing secret is written: a Temporal API key stays out of the output, the database, the reports', async () => {
    const secret = 'arbor-secret-marker-5f3a9c';
    // An unreachable server: the run says so and goes on inline, the key having been read.
    const done = await run(['run', configOf('secret'), '--quick'], { env: { TEMPORAL_ADDRESS: '127.0.0.1:9', TEMPORAL_API_KEY: secret } });
    assert.equal(done.code, 0, done.stderr.slice(-2000));
    assert.match(done.stderr, /cannot reach the configured Temporal server/);
    assert.ok(!done.stdout.includes(secret) && !done.stderr.includes(secret), 'the key is not printed');
    assert.deepEqual(filesContaining(join(dir(), 'secret'), secret), []);
  });

  test('one bad input per command: exit 2 with the input named, no stack trace', async () => {
    const scratch = join(dir(), 'inputs');
    mkdirSync(scratch, { recursive: true });
    const all = badInputs('reference', scratch);
    const firstOf = (command: string, trainer = false) => all.find((bad) => bad.args[0] === command && (bad.trainer ?? false) === trainer);
    // One per command, and every damaged-file and run-name case (issue: nothing written outside runs/, corrupt files named).
    const damaged = all.filter((bad) => /database|inline state|runs\/|name/.test(bad.what) && !bad.trainer);
    const chosen = [...new Set([...['run', 'eval', 'export', 'tree', 'lineage', 'report', 'status', 'pause', 'models', 'grade'].map((command) => firstOf(command)), ...damaged, firstOf('train', true)])];
    for (const bad of chosen) {
      assert.ok(bad !== undefined);
      // The inspection commands find runs under runs/ by name: point them at the temporary one.
      const args = ['export', 'tree', 'lineage', 'report', 'status', 'pause'].includes(bad.args[0] ?? '') && bad.args[1] === 'reference' ? [...bad.args, '--run-dir', join(dir(), 'reference')] : bad.args;
      const done = await run(args, bad.trainer ? { executable: TRAINER } : {});
      assert.equal(done.code, 2, `${bad.what}: ${done.stderr}`);
      assert.ok(done.stderr.includes(bad.names), `${bad.what}: the message names ${bad.names}: ${done.stderr}`);
      assert.doesNotMatch(done.stderr, /^\s+at /m, `${bad.what}: no stack trace`);
    }
    rmSync(FAULTS_LINK, { force: true });
  });

  test('read-only commands read a run on a read-only directory', async (t) => {
    const mountPoint = join(dir(), 'read-only');
    mkdirSync(mountPoint);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mountPoint], { encoding: 'utf8' });
    if (mounted.status !== 0) {
      t.skip(`cannot mount a tmpfs here to make a read-only directory (${mounted.stderr.trim() || mounted.error?.message})`);
      return;
    }
    try {
      copyFileSync(databaseOf('reference'), join(mountPoint, 'arbor.db'));
      assert.equal(spawnSync('mount', ['-o', 'remount,ro', mountPoint]).status, 0);
      for (const command of ['models', 'tree', 'lineage']) {
        const done = await run([command, 'reference', '--run-dir', mountPoint]);
        assert.equal(done.code, 0, `${command}: ${done.stderr}`);
        assert.ok(done.stdout.length > 0);
      }
    } finally {
      spawnSync('umount', [mountPoint]);
    }
  });
});
