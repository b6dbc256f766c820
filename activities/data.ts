/**
 * The data-building activity: value targets and training sets of one iteration (data/build-sets.ts),
 * then what the iteration's searches and data look like per level — solve rate
 * (which places the next iteration's frontier), pass@k and distinct correct answers (B-STaR), SFT
 * rows kept, and the share of invalid steps in them where the task can check steps. The checker only
 * *measures* that share, after the data is written: nothing it says reaches the training files.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { buildIterationData } from '../data/build-sets.ts';
import { plainPrompt } from '../engine/prompt.ts';
import { bStarMonitors, invalidStepShare, type ProblemSamples } from '../evaluate/metrics.ts';
import { finishedPaths, groupAdvantages } from '../reward/advantages.ts';
import { answerLeaves, pathNodes, stepsTo } from '../search/tree.ts';
import { policyObjective } from '../train/objectives/index.ts';
import { levelMetric, type ActivityInput, type DataResult } from '../workflows/types.ts';
import { heartbeat } from './heartbeat.ts';
import { policyPrompt } from './models.ts';
import { ingestSearches } from './ingest.ts';
import { runContext } from './run-context.ts';
import { iterationDataDir } from './run-dir.ts';

/** pass@k of the data searches (B-STaR exploration). */
export const SEARCH_PASS_K = 4;

export async function buildData({ runDir, iteration }: ActivityInput<'buildData'>): Promise<DataResult> {
  const { store, config, task } = runContext(runDir);
  const dir = iterationDataDir(runDir, iteration);
  await mkdir(dir, { recursive: true });
  heartbeat({ stage: 'data', done: 0, total: 1 });
  // The searches' trees come from their shards' artifacts (the inference queue does not open the database).
  ingestSearches(store, runDir, iteration);
  const objective = policyObjective(config.train.policy);
  const counts = await buildIterationData({
    store,
    iteration,
    promptOf: (await policyPrompt(store.basePolicyPath(), config, task)).text,
    prmPromptOf: (question) => plainPrompt(task.prompt, question),
    delimiter: task.delimiter,
    prmPath: join(dir, 'prm.jsonl'),
    objective,
    policyPath: join(dir, objective.file),
    data: config.data,
  });
  const record = (metric: string, value: number | null): void => {
    if (value !== null) store.recordEvaluation({ iteration, modelId: null, method: 'search', split: 'train', metric, value });
  };
  // Per level: the searches' samples (every answer leaf) and the SFT rows kept from them.
  const levels = new Map<number, { samples: ProblemSamples[]; sft: { question: string; steps: string[] }[] }>();
  const levelOf = (difficulty: number | null) => {
    const key = difficulty ?? 0;
    const entry = levels.get(key) ?? { samples: [], sft: [] };
    levels.set(key, entry);
    return entry;
  };
  const searches = store.iterationSearches(iteration);
  // The policy-gradient monitors (TRL's names), whatever the objective: the reward of every finished
  // path, the share of problems whose paths all share one reward (no group or tree advantage), the
  // generated tokens of a path.
  const rewards: number[] = [];
  const lengths: number[] = [];
  let zeroStd = 0;
  for (const { searchId, difficulty } of searches) {
    const tree = store.tree(searchId);
    levelOf(difficulty).samples.push({ samples: answerLeaves(tree).map((leaf) => ({ correct: leaf.correct === true, reward: leaf.value, text: stepsTo(tree, leaf).join('\n') })) });
    const paths = finishedPaths(tree, config.train.policy.pg.noAnswerReward);
    rewards.push(...paths.map((path) => path.reward));
    lengths.push(...paths.map(({ node }) => pathNodes(tree, node).reduce((sum, step) => sum + step.generatedTokens, 0)));
    if (groupAdvantages(paths.map((path) => path.reward), 'none') === null) zeroStd += 1;
  }
  for (const row of store.iterationSft(iteration)) levelOf(row.difficulty).sft.push({ question: row.question, steps: row.completion.split(task.delimiter).filter((step) => step !== '') });
  const { stepLabels } = task;
  const measure = (rows: { question: string; steps: string[] }[]): number | null => (stepLabels === undefined ? null : invalidStepShare(rows, stepLabels));
  for (const [key, level] of levels) {
    const answered = level.samples.filter((problem) => problem.samples.length > 0);
    const leaves = answered.flatMap((problem) => problem.samples);
    const monitors = bStarMonitors(answered, SEARCH_PASS_K);
    record(levelMetric('searched', key), level.samples.length);
    record(levelMetric('solve_rate', key), leaves.length === 0 ? 0 : leaves.filter((leaf) => leaf.correct).length / leaves.length);
    record(levelMetric(`pass@${SEARCH_PASS_K}`, key), monitors.passAtK);
    record(levelMetric('distinct_correct', key), monitors.distinctCorrect);
    record(levelMetric('sft_rows', key), level.sft.length);
    record(levelMetric('sft_invalid', key), measure(level.sft));
  }
  const all = [...levels.values()];
  const monitors = bStarMonitors(all.flatMap((level) => level.samples.filter((problem) => problem.samples.length > 0)), SEARCH_PASS_K);
  record(`pass@${SEARCH_PASS_K}`, monitors.passAtK);
  record('distinct_correct', monitors.distinctCorrect);
  record('reward_auc', monitors.rewardAuc);
  record('searches', searches.length);
  const mean = (values: readonly number[]): number | null => (values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length);
  record('mean_reward', mean(rewards));
  record('frac_reward_zero_std', searches.length === 0 ? null : zeroStd / searches.length);
  record('completion_length', mean(lengths));
  record('generated_tokens', searches.reduce((sum, search) => sum + search.generatedTokens, 0));
  record('sft_examples', counts.sft);
  record('sft_invalid', measure(all.flatMap((level) => level.sft)));
  record('prm_examples', counts.prm);
  record('preference_pairs', counts.pairs);
  for (const [metric, value] of Object.entries(counts.policyMetrics)) record(metric, value);
  heartbeat({ stage: 'data', done: 1, total: 1 });
  return { sft: counts.sft, prm: counts.prm, pairs: counts.pairs, training: store.trainingMetrics(iteration) };
}
