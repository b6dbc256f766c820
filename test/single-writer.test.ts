// One writer per database: the inference queue's search runs with no database at hand and leaves an
// artifact; the CPU queue's data building ingests it, idempotently.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { shardRecords } from '../activities/artifacts.ts';
import { activities } from '../activities/index.ts';
import { ingestSearches } from '../activities/ingest.ts';
import { closeRunContexts, createRun, runContext } from '../activities/run-context.ts';
import { attemptsDir, configPath, databasePath, problemsArtifact, searchArtifact } from '../activities/run-dir.ts';
import { COMMITTED_MICRO_MODEL } from '../train/micro-model.ts';
import { runConfigSchema } from '../workflows/config.ts';
import type { DataResult, IterationPlan } from '../workflows/types.ts';
import { useTempDir } from './temp-dir.ts';

const dir = useTempDir('arbor-single-writer-');
after(() => closeRunContexts());

test('a search shard run in another process without the database leaves an artifact the CPU queue ingests once', async () => {
  const runDir = join(dir(), 'cpu-box');
  mkdirSync(runDir, { recursive: true });
  const config = runConfigSchema.parse({ name: 'split', runDir, prm: { model: COMMITTED_MICRO_MODEL }, task: { problemsPerIteration: 2, trainLevels: [2] }, search: { iterationsPerProblem: 2, shardSize: 2 }, sequences: 1 });
  createRun(runDir, config, 'now');
  const { store } = runContext(runDir);
  store.recordModel({ kind: 'policy', path: COMMITTED_MICRO_MODEL, sha256: 'x', parentId: null, iteration: 0 });
  const plan = (await new MockActivityEnvironment().run(activities.planIteration, { runDir, iteration: 1 })) as IterationPlan;
  const shard = plan.shards[0] ?? assert.fail('a planned shard');

  // The other machine sees the shared files only: config.json and the plan's problems (the models are in the repository).
  const remoteDir = join(dir(), 'gpu-box');
  for (const path of [configPath, (d: string) => problemsArtifact(d, 1)]) {
    mkdirSync(join(path(remoteDir), '..'), { recursive: true });
    cpSync(path(runDir), path(remoteDir));
  }
  const input = { runDir: remoteDir, iteration: 1, index: 0, shard, policyPath: COMMITTED_MICRO_MODEL, prmPath: COMMITTED_MICRO_MODEL };
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'test/remote-shard.ts', JSON.stringify(input)]);
  assert.equal(JSON.parse(stdout).searched, shard.length);
  assert.equal(existsSync(databasePath(remoteDir)), false, 'the search created no database');
  assert.ok(existsSync(searchArtifact(remoteDir, 1, 0)), 'it left its shard artifact');
  assert.equal(readdirSync(attemptsDir(remoteDir)).length, 1, 'and its attempt record');

  // The artifact comes back (a shared or synced directory); data building on the CPU queue ingests it.
  cpSync(join(remoteDir, 'artifacts'), join(runDir, 'artifacts'), { recursive: true });
  const data = (await new MockActivityEnvironment().run(activities.buildData, { runDir, iteration: 1 })) as DataResult;
  assert.equal(data.training.searches, shard.length);
  const stored = store.searchSummaries(1, config.search.algorithm);
  assert.deepEqual(
    stored.map((search) => search.problem_id),
    shardRecords(runDir, 1, 0).map((record) => record.problemId),
  );
  assert.equal(ingestSearches(store, runDir, 1), shard.length, 'ingesting again stores nothing twice');
  assert.equal(store.searchSummaries(1, config.search.algorithm).length, shard.length);
  // The remote attempt is recorded by the next CPU activity.
  assert.ok(store.activityAttempts().some((attempt) => attempt.activity === 'searchShard' && attempt.outcome === 'completed'));
});

test('an activity checks its input where it starts: a malformed one fails at once, naming the field', async () => {
  // What a workflow of another version could send: the shard's index is missing.
  const malformed = activities.searchShard as unknown as (input: unknown) => Promise<unknown>;
  await assert.rejects(new MockActivityEnvironment().run(malformed, { runDir: join(dir(), 'cpu-box'), iteration: 1, shard: [] }), (error: unknown) => {
    assert.ok(error instanceof ApplicationFailure && error.nonRetryable, 'retrying cannot fix it');
    assert.match(error.message, /searchShard: invalid input[\s\S]*index/);
    return true;
  });
});
