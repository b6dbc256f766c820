import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { shardRecords, writeJsonArtifact } from '../activities/artifacts.ts';
import type { ProgressDetails } from '../activities/heartbeat.ts';
import { ingestModel, ingestSearches } from '../activities/ingest.ts';
import { evaluationArtifact, searchArtifact } from '../activities/run-dir.ts';
import { releaseModels } from '../activities/models.ts';
import { closeRunContexts, createRun, runContext } from '../activities/run-context.ts';
import { planIteration } from '../activities/plan.ts';
import { searchShard } from '../activities/search.ts';
import { buildData } from '../activities/data.ts';
import { trainModel } from '../activities/train.ts';
import { promote } from '../activities/promote.ts';
import { COMMITTED_MICRO_MODEL } from '../train/micro-model.ts';
import { runConfigSchema } from '../workflows/config.ts';
import { useTempDir } from './temp-dir.ts';

/** MockActivityEnvironment.run with the activity's own result type. */
function run<A extends unknown[], R>(env: MockActivityEnvironment, activity: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return env.run(activity, ...args) as Promise<R>;
}

/** A mock activity environment (a retry when heartbeat details are given), collecting its heartbeats. */
function environment(heartbeatDetails?: ProgressDetails): { env: MockActivityEnvironment; beats: ProgressDetails[] } {
  const env = new MockActivityEnvironment(heartbeatDetails === undefined ? {} : { heartbeatDetails, attempt: 2 });
  const beats: ProgressDetails[] = [];
  env.on('heartbeat', (details: ProgressDetails) => beats.push(details));
  return { env, beats };
}

describe('activities under MockActivityEnvironment (committed micro model)', () => {
  const dir = useTempDir('arbor-activities-');
  after(async () => {
    await releaseModels();
    closeRunContexts();
  });
  const config = () =>
    runConfigSchema.parse({
      name: 'acts',
      runDir: join(dir(), 'run'),
      // The policy doubles as PRM here: no seed PRM build needed for these tests.
      prm: { model: COMMITTED_MICRO_MODEL },
      task: { problemsPerIteration: 3, trainLevels: [2] },
      search: { iterationsPerProblem: 2, shardSize: 3 },
      train: { policy: { epochs: 30, maxSteps: 30, batch: 2, lr: 1e-4 }, prm: { epochs: 2, maxSteps: 4, batch: 2, lr: 1e-4 } },
      sequences: 1,
    });

  test('a search shard keeps each search in its file: a retry skips them, and data building ingests the shard once however often', async () => {
    const runDir = join(dir(), 'run');
    await mkdir(runDir, { recursive: true });
    createRun(runDir, config(), 'now');
    const { store } = runContext(runDir);
    store.recordModel({ kind: 'policy', path: COMMITTED_MICRO_MODEL, sha256: 'x', parentId: null, iteration: 0 });
    const plan = await run(new MockActivityEnvironment(), planIteration, { runDir, iteration: 1 });
    const shard = plan.shards[0] ?? [];
    assert.equal(shard.length, 3);
    const input = { runDir, iteration: 1, index: 0, shard, policyPath: COMMITTED_MICRO_MODEL, prmPath: COMMITTED_MICRO_MODEL };

    // First attempt: cancelled once its first search is done (as if the worker died after it).
    const first = environment();
    first.env.on('heartbeat', (details: ProgressDetails) => {
      if (details.done >= 1) first.env.cancel();
    });
    await assert.rejects(run(first.env, searchShard, input));
    assert.equal(shardRecords(runDir, 1, 0).length, 1, 'the finished search is in the shard file');
    assert.equal(existsSync(searchArtifact(runDir, 1, 0)), false, 'the shard is not finished');

    // The retry searches the other two only, and finishes the shard.
    const retry = environment();
    const rest = await run(retry.env, searchShard, input);
    assert.deepEqual([rest.searched, rest.skipped], [2, 1]);
    assert.equal(retry.beats[0]?.done, 1, 'the retry starts where the last attempt stopped');
    assert.deepEqual(
      shardRecords(runDir, 1, 0).map((record) => record.problemId),
      shard.map((item) => item.problemId),
    );
    const again = await run(environment().env, searchShard, input);
    assert.deepEqual([again.searched, again.skipped], [0, 3]);

    // The search never opened the database; ingesting the shard twice stores it once.
    assert.equal(store.searchSummaries(1, 'mcts').length, 0);
    assert.equal(ingestSearches(store, runDir, 1), 3);
    assert.equal(ingestSearches(store, runDir, 1), 3);
    assert.equal(store.searchSummaries(1, 'mcts').length, 3);
    assert.equal(store.nodes(store.searchSummaries(1, 'mcts')[0]!.id).length, shardRecords(runDir, 1, 0)[0]!.tree.nodes.length);
  });

  test('training cancelled mid-run resumes from its checkpoint on the next attempt', async () => {
    const runDir = join(dir(), 'run');
    const data = await run(new MockActivityEnvironment(), buildData, { runDir, iteration: 1 });
    assert.ok(data.sft >= 0 && data.prm >= 0);
    const { store } = runContext(runDir);
    // Fixed SFT data, so the run is the same whatever the searches found.
    await writeFile(join(runDir, 'data', 'iteration-1', 'sft.jsonl'), '{"prompt":"Q: 2+3\\n","completion":"5\\nA: 5\\n"}\n{"prompt":"Q: 4*2\\n","completion":"8\\nA: 8\\n"}\n');
    const input = { runDir, iteration: 1, kind: 'policy' as const, parentPath: COMMITTED_MICRO_MODEL };
    const first = environment();
    first.env.on('heartbeat', (details: ProgressDetails) => {
      if (details.done >= 12) first.env.cancel();
    });
    await assert.rejects(run(first.env, trainModel, input), (error: unknown) => error instanceof CancelledFailure || (error instanceof Error && /interrupt|cancel|abort/i.test(error.message)));
    const second = environment({ stage: 'train policy', done: 12, total: 30 });
    const trained = await run(second.env, trainModel, input);
    const start = second.beats[0];
    assert.ok(start !== undefined && start.done >= 10, `resumed at step ${start?.done}`);
    assert.equal(start?.note, 'resumed from checkpoint');
    assert.equal(trained.path, join(runDir, 'models', 'policy-1.gguf'));
    // The training queue leaves a record file; the CPU queue records the model from it, once.
    const modelId = ingestModel(store, trained.path);
    assert.equal(modelId !== null && store.model(modelId).path, trained.path);
    assert.equal(ingestModel(store, trained.path), modelId);
    // A third attempt finds the model trained and does not train again.
    const third = environment();
    assert.deepEqual(await run(third.env, trainModel, input), trained);
    assert.equal(third.beats.length, 0);
  });

  test('promotion: the candidate against the promoted policy on the same held-out problems, recorded from the artifacts', async () => {
    const runDir = join(dir(), 'promote');
    await mkdir(runDir, { recursive: true });
    createRun(runDir, { ...config(), name: 'promote', runDir }, 'now');
    const { store } = runContext(runDir);
    const base = store.recordModel({ kind: 'policy', path: 'p0', sha256: '0'.repeat(64), parentId: null, iteration: 0 });
    // The promoted policy solves questions 0..5 of 10 at level 3.
    const questions = Array.from({ length: 10 }, (_, index) => `q${index}`);
    store.recordHeldOutAnswers(0, base, questions.map((question, index) => ({ level: '3', question, correct: index < 6 })));
    const best = { iteration: 0, accuracy: 0.6, accuracyByLevel: { '3': 0.6 }, prmAuc: 0.9, policyPath: 'p0', prmPath: 'r0' };
    const decide = async (iteration: number, solved: (index: number) => boolean, prmAuc = 0.9) => {
      const policyPath = `p${iteration}`;
      const accuracy = questions.filter((_, index) => solved(index)).length / questions.length;
      const candidate = { iteration, accuracyByLevel: { '3': accuracy }, accuracy, prmAuc, policyPath, prmPath: `r${iteration}` };
      store.recordModel({ kind: 'policy', path: policyPath, sha256: '1'.repeat(64), parentId: base, iteration });
      const answers = questions.map((question, index) => ({ level: '3', question, correct: solved(index) }));
      writeJsonArtifact(evaluationArtifact(runDir, iteration), { summary: candidate, metrics: [], answers });
      return run(new MockActivityEnvironment(), promote, { runDir, iteration, candidate, best });
    };
    const gain = await decide(1, (index) => index < 7);
    assert.equal(gain.policyPromoted, true, gain.reason);
    assert.match(gain.reason, /\+1 held-out problems against the promoted policy \(L3 \+1 of 10 \(1 won, 0 lost/);
    assert.deepEqual([gain.best.policyPath, gain.best.accuracyByLevel], ['p1', { '3': 0.7 }], 'the reference becomes the promoted policy’s own measurement');
    assert.deepEqual(store.heldOutAnswers(1, store.modelIdByPath('p1') ?? -1).filter((answer) => answer.correct).length, 7, 'the answers were recorded');
    const worse = await decide(2, (index) => index < 5);
    assert.equal(worse.policyPromoted, false, 'one problem fewer: not significant, but not better either');
    assert.match(worse.reason, /policy not promoted: -1 held-out problems/);
    const prm = await decide(3, (index) => index < 6, 0.85);
    assert.deepEqual([prm.policyPromoted, prm.prmPromoted], [true, false]);
    assert.deepEqual([prm.best.policyPath, prm.best.prmPath, prm.best.prmAuc], ['p3', 'r0', 0.9], 'the PRM that was not promoted does not replace the current one');
  });
});
