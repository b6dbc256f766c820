/** The data-building activity: value targets and training sets of one iteration (data/build-sets.ts). */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { buildIterationData } from '../data/build-sets.ts';
import { bStarMonitors } from '../evaluate/metrics.ts';
import { answerLeaves, stepsTo } from '../search/tree.ts';
import { formatPrompt, STEP_DELIMITER } from '../tasks/arithmetic.ts';
import { heartbeat } from './heartbeat.ts';
import { runContext } from './run-context.ts';

export function iterationDataDir(runDir: string, iteration: number): string {
  return join(runDir, 'data', `iteration-${iteration}`);
}

export async function buildData({ runDir, iteration }: { runDir: string; iteration: number }): Promise<{ sft: number; prm: number; pairs: number }> {
  const { store } = runContext(runDir);
  const dir = iterationDataDir(runDir, iteration);
  await mkdir(dir, { recursive: true });
  heartbeat({ stage: 'data', done: 0, total: 1 });
  const counts = await buildIterationData({
    store,
    iteration,
    promptOf: formatPrompt,
    delimiter: STEP_DELIMITER,
    sftPath: join(dir, 'sft.jsonl'),
    prmPath: join(dir, 'prm.jsonl'),
  });
  // B-STaR monitors of this iteration's searches: exploration (pass@4, distinct correct) and exploitation (V separates right from wrong).
  const searchIds = store.db.prepare('SELECT id FROM searches WHERE run_id = ? AND iteration = ?').pluck().all(store.runId, iteration) as number[];
  const monitors = bStarMonitors(
    searchIds.map((id) => {
      const tree = store.tree(id);
      return { samples: answerLeaves(tree).map((leaf) => ({ correct: leaf.correct === true, reward: leaf.value, text: stepsTo(tree, leaf).join('\n') })) };
    }).filter((problem) => problem.samples.length > 0),
    4,
  );
  const record = (metric: string, value: number | null): void => {
    if (value !== null) store.recordEvaluation({ iteration, modelId: null, method: 'search', split: 'train', metric, value });
  };
  record('pass@4', monitors.passAtK);
  record('distinct_correct', monitors.distinctCorrect);
  record('reward_auc', monitors.rewardAuc);
  record('sft_examples', counts.sft);
  record('prm_examples', counts.prm);
  record('preference_pairs', counts.pairs);
  heartbeat({ stage: 'data', done: 1, total: 1 });
  return { sft: counts.sft, prm: counts.prm, pairs: counts.pairs };
}
