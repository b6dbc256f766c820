import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { heartbeat } from '../activities/heartbeat.ts';
import { runInline, writeControl } from '../runtime/inline.ts';
import { decidePromotion, promotionSettingsSchema } from '../workflows/promotion.ts';
import type { ActivityTypes, EvaluationSummary } from '../workflows/types.ts';
import { useTempDir } from './temp-dir.ts';

/** Fake activities: accuracies per iteration are scripted; every call is logged. */
function fakeActivities(accuracyOf: (iteration: number) => number, hooks: { afterSearch?: (iteration: number) => Promise<void>; prmPromoted?: (iteration: number) => boolean } = {}) {
  const calls: string[] = [];
  const summary = (iteration: number, policyPath: string, prmPath: string): EvaluationSummary => ({
    iteration,
    accuracyByLevel: { '3': accuracyOf(iteration) },
    accuracy: accuracyOf(iteration),
    prmAuc: 0.9,
    policyPath,
    prmPath,
  });
  const activities: ActivityTypes = {
    async prepareRun() {
      calls.push('prepare');
      return { policyPath: 'policy-0', prmPath: 'prm-0', baseline: { ...summary(0, 'policy-0', 'prm-0'), training: {}, policyPromoted: true, reason: 'base' } };
    },
    async planIteration({ iteration }) {
      calls.push(`plan ${iteration}`);
      return { shards: [[{ problemId: 1, budget: 2 }], [{ problemId: 2, budget: 2 }]] };
    },
    async searchShard({ iteration, shard, policyPath }) {
      calls.push(`search ${iteration} ${shard[0]?.problemId} with ${policyPath}`);
      heartbeat({ stage: 'search', done: 1, total: 1 });
      await hooks.afterSearch?.(iteration);
      return { searched: 1, skipped: 0, solved: 1 };
    },
    async buildData({ iteration }) {
      calls.push(`data ${iteration}`);
      return { sft: 1, prm: 1, pairs: 0, training: { searches: 2 } };
    },
    async trainModel({ iteration, kind, parentPath }) {
      calls.push(`train ${kind} ${iteration} from ${parentPath}`);
      return { path: `${kind}-${iteration}` };
    },
    async evaluateModels({ iteration, policyPath, prmPath }) {
      calls.push(`evaluate ${iteration}`);
      return summary(iteration, policyPath, prmPath);
    },
    async promote({ iteration, candidate, best }) {
      // 100 problems at the one level, the fewest discordant ones the two accuracies allow.
      const change = Math.round((candidate.accuracy - best.accuracy) * 100);
      const decided = decidePromotion(candidate, best, [{ level: '3', problems: 100, wins: Math.max(0, change), losses: Math.max(0, -change) }], promotionSettingsSchema.parse({}));
      // The scripted PRM decision replaces the measured one (every PRM here measures 0.9).
      const prmPromoted = hooks.prmPromoted?.(iteration) ?? true;
      return { ...decided, prmPromoted, training: { searches: 2 }, best: { ...decided.best, ...(prmPromoted ? { prmAuc: candidate.prmAuc, prmPath: candidate.prmPath } : { prmAuc: best.prmAuc, prmPath: best.prmPath }) } };
    },
  };
  return { activities, calls };
}

describe('pipeline under the inline runtime (fake activities)', () => {
  const dir = useTempDir('arbor-pipeline-');

  test('iterations chain through continue-as-new, carrying the best models; a regression is not promoted', async () => {
    const runDir = join(dir(), 'chain');
    await mkdir(runDir);
    // Iteration 2 regresses: its policy is not promoted, so iteration 3 trains from policy-1;
    // its PRM is promoted, but iteration 3's is not, so the run ends with prm-2.
    const accuracies = [0.2, 0.3, 0.1, 0.35];
    const { activities, calls } = fakeActivities((iteration) => accuracies[iteration] ?? 0, { prmPromoted: (iteration) => iteration !== 3 });
    const heartbeats: unknown[] = [];
    const run = runInline({ runDir, iterations: 3, activities, events: { onHeartbeat: (details) => heartbeats.push(details) } });
    const result = await run.result;
    assert.equal(result.status, 'completed');
    assert.deepEqual(result.iterations.map((record) => [record.iteration, record.policyPromoted]), [[0, true], [1, true], [2, false], [3, true]]);
    assert.ok(calls.includes('train policy 3 from policy-1'), calls.join('\n'));
    assert.ok(calls.includes('train prm 3 from prm-2'), 'the PRM is promoted on its own measure, even when the policy is not');
    assert.ok(calls.includes('search 3 1 with policy-1'));
    assert.equal(calls.filter((call) => call === 'prepare').length, 1);
    assert.equal(result.best?.policyPath, 'policy-3');
    assert.equal(result.best?.prmPath, 'prm-2', 'a PRM that was not promoted does not replace the current one');
    assert.ok(heartbeats.length >= 6, 'activity heartbeats reach the runtime');

    // Re-running a finished run does nothing and reports the same history.
    const again = fakeActivities(() => 0);
    const rerun = await runInline({ runDir, iterations: 3, activities: again.activities }).result;
    assert.deepEqual(again.calls, []);
    assert.deepEqual(rerun.iterations, result.iterations);
  });

  test('stop ends the run after the current activity; a re-run resumes at that iteration', async () => {
    const runDir = join(dir(), 'stop');
    await mkdir(runDir);
    const first = fakeActivities(() => 0.5, { afterSearch: async (iteration) => (iteration === 2 ? writeControl(runDir, { paused: false, stop: true }) : undefined) });
    const stopped = await runInline({ runDir, iterations: 3, activities: first.activities, pollMs: 5 }).result;
    assert.equal(stopped.status, 'stopped');
    assert.ok(!first.calls.includes('data 2'), 'nothing after the activity that was running');
    await writeControl(runDir, { paused: false, stop: false });
    const second = fakeActivities(() => 0.5);
    const resumed = await runInline({ runDir, iterations: 3, activities: second.activities }).result;
    assert.equal(resumed.status, 'completed');
    assert.equal(second.calls[0], 'plan 2', 'resumes at the interrupted iteration, not from scratch');
    assert.deepEqual(resumed.iterations.map((record) => record.iteration), [0, 1, 2, 3]);
  });

  test('pause holds the run between activities until resumed', async () => {
    const runDir = join(dir(), 'pause');
    await mkdir(runDir);
    await writeControl(runDir, { paused: true, stop: false });
    const { activities, calls } = fakeActivities(() => 0.5);
    const run = runInline({ runDir, iterations: 1, activities, pollMs: 5 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(calls, ['prepare'], 'paused after the first activity');
    await writeControl(runDir, { paused: false, stop: false });
    const result = await run.result;
    assert.equal(result.status, 'completed');
    assert.ok(calls.includes('evaluate 1'));
  });
});
