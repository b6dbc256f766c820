/**
 * What the HTML report shows, read from the run database: held-out accuracy per level and method,
 * PRM quality, data volumes, B-STaR monitors, minutes per stage, model lineage, and a sample of each
 * iteration's search trees for the tree explorer. A zod schema: this JSON is embedded in the page.
 */
import { z } from 'zod';
import type { ActivityAttemptRow, RunStore, SearchSummary } from '../store/run-store.ts';
import { LEVEL_NAMES } from '../tasks/config.ts';
import { runConfigSchema } from '../workflows/config.ts';
import { stageOf, STAGES } from '../workflows/names.ts';
import { levelOfMetric } from '../workflows/types.ts';

const iteration = z.number().int().nonnegative();
const point = <T extends z.ZodRawShape>(shape: T) => z.strictObject({ iteration, ...shape });

/** One node of a tree: [index, parent, step, visits, value, PRM score, value target, correct (1/0/null), state, answer]. */
const NodeTupleSchema = z.tuple([
  z.number().int(),
  z.number().int().nullable(),
  z.string(),
  z.number().int(),
  z.number(),
  z.number().nullable(),
  z.number().nullable(),
  z.union([z.literal(0), z.literal(1)]).nullable(),
  z.string(),
  z.string().nullable(),
]);

export const ReportTreeSchema = z.strictObject({
  iteration,
  search: z.number().int(),
  problem: z.number().int(),
  question: z.string(),
  level: z.number().int().nullable(),
  correct: z.boolean().nullable(),
  nodes: z.array(NodeTupleSchema),
  /** The SFT rows that end at a node of this tree: [row id, node index]. */
  sft: z.array(z.tuple([z.number().int(), z.number().int()])),
  /** The step pairs chosen from it: [parent, chosen, rejected] node indices. */
  pairs: z.array(z.tuple([z.number().int(), z.number().int(), z.number().int()])),
});
export type ReportTree = z.infer<typeof ReportTreeSchema>;

export const ReportDataSchema = z.strictObject({
  run: z.string(),
  task: z.string(),
  /** What a level counts (arithmetic: operators). */
  levelName: z.string(),
  iterations: z.number().int().positive(),
  /** Iterations finished (promotion decided). */
  done: z.number().int().nonnegative(),
  generatedAt: z.string(),
  /** Held-out accuracy by level; `mark` says which model it is (iteration 0 is the base). */
  accuracy: z.array(point({ method: z.string(), level: z.number().int(), accuracy: z.number(), mark: z.enum(['base', 'promoted', 'not promoted', 'undecided']) })),
  prm: z.array(point({ metric: z.string(), value: z.number() })),
  volumes: z.array(point({ kind: z.string(), count: z.number() })),
  /** Invalid-step share of the SFT data, where the task can check steps. */
  invalid: z.array(point({ share: z.number() })),
  monitors: z.array(point({ monitor: z.string(), value: z.number() })),
  /** What the policy learns from (TRL's names): the searches' rewards and advantages, and the trainer's entropy, KL and clipping. */
  learning: z.array(point({ monitor: z.string(), value: z.number() })),
  stages: z.array(point({ stage: z.string(), minutes: z.number() })),
  models: z.array(
    z.strictObject({
      id: z.number().int(),
      kind: z.enum(['policy', 'prm']),
      iteration,
      parent: z.number().int().nullable(),
      path: z.string(),
      sha256: z.string(),
      metrics: z.record(z.string(), z.unknown()),
      /** The policy promotion kept (the base until a candidate is promoted). */
      best: z.boolean(),
    }),
  ),
  /** Trees the explorer holds per iteration at most (the searches are many; the rest: `arbor tree`). */
  treesPerIteration: z.number().int().nonnegative(),
  searches: z.array(point({ count: z.number().int() })),
  trees: z.array(ReportTreeSchema),
});
export type ReportData = z.infer<typeof ReportDataSchema>;

const VOLUME_METRICS: Record<string, string> = { searches: 'searches', sft_examples: 'SFT rows', prm_examples: 'PRM rows', preference_pairs: 'step pairs' };
const MONITOR_METRICS: Record<string, string> = { distinct_correct: 'distinct correct answers', reward_auc: 'reward discrimination (AUC)' };
/** The learning monitors (report/tables.ts prints the same). */
export const LEARNING_METRICS: Record<string, string> = {
  mean_reward: 'mean reward',
  frac_reward_zero_std: 'frac_reward_zero_std',
  mean_abs_advantage: 'mean |advantage|',
  completion_length: 'completion length (tokens)',
  entropy: 'entropy (nats)',
  kl: 'KL to the start model',
  clip_frac: 'clip fraction',
};

/** Minutes per iteration and stage over every attempt (a retried or resumed activity cost its time too); an unfinished attempt counts until `now`. */
export function stageMinutes(attempts: readonly ActivityAttemptRow[], now: number): { iteration: number; stage: string; minutes: number }[] {
  const minutes = new Map<string, { iteration: number; stage: string; minutes: number }>();
  for (const attempt of attempts) {
    const stage = stageOf(attempt.activity);
    const key = `${attempt.iteration}/${stage}`;
    const entry = minutes.get(key) ?? { iteration: attempt.iteration, stage, minutes: 0 };
    entry.minutes += ((attempt.ended_at === null ? now : Date.parse(attempt.ended_at)) - Date.parse(attempt.started_at)) / 60_000;
    minutes.set(key, entry);
  }
  return [...minutes.values()].sort((a, b) => a.iteration - b.iteration || STAGES.indexOf(a.stage) - STAGES.indexOf(b.stage));
}

/** Up to `limit` searches, taken in turn from each level (in id order within a level), so every level shows. */
function sampleByLevel(searches: readonly SearchSummary[], limit: number): SearchSummary[] {
  const byLevel = new Map<number | null, SearchSummary[]>();
  for (const search of searches) byLevel.set(search.difficulty, [...(byLevel.get(search.difficulty) ?? []), search]);
  const queues = [...byLevel].sort(([a], [b]) => (a ?? 0) - (b ?? 0)).map(([, list]) => list);
  const chosen: SearchSummary[] = [];
  for (let round = 0; chosen.length < limit && queues.some((queue) => round < queue.length); round++) {
    for (const queue of queues) if (round < queue.length && chosen.length < limit) chosen.push(queue[round]!);
  }
  return chosen.sort((a, b) => a.id - b.id);
}

function reportTree(store: RunStore, iterationNumber: number, search: SearchSummary): ReportTree {
  return {
    iteration: iterationNumber,
    search: search.id,
    problem: search.problem_id,
    question: search.question,
    level: search.difficulty,
    correct: search.correct,
    nodes: store
      .nodes(search.id)
      .map((node) => [node.node_index, node.parent_index, node.step, node.visits, node.value, node.prm_score, node.value_target, node.correct === null ? null : node.correct ? 1 : 0, node.state, node.answer]),
    sft: store.searchSftRows(search.id).map((row) => [row.id, row.nodeIndex]),
    pairs: store.searchPairs(search.id).map((pair) => [pair.parent, pair.chosen, pair.rejected]),
  };
}

export function reportData(store: RunStore, options: { treesPerIteration: number; now: Date }): ReportData {
  const config = runConfigSchema.parse(store.storedConfig());
  const iterations = store.iterationRows();
  const promoted = new Map(iterations.map((row) => [row.number, row.promoted]));
  const mark = (number: number): ReportData['accuracy'][number]['mark'] => {
    if (number === 0) return 'base';
    const decision = promoted.get(number);
    return decision === undefined || decision === null ? 'undecided' : decision ? 'promoted' : 'not promoted';
  };
  const accuracy: ReportData['accuracy'] = [];
  const prm: ReportData['prm'] = [];
  const volumes: ReportData['volumes'] = [];
  const invalid: ReportData['invalid'] = [];
  const monitors: ReportData['monitors'] = [];
  const learning: ReportData['learning'] = [];
  for (const row of store.allEvaluations()) {
    const learned = LEARNING_METRICS[row.metric];
    if (learned !== undefined && row.model_id === null && row.split === 'train') learning.push({ iteration: row.iteration, monitor: learned, value: row.value });
    const level = levelOfMetric('accuracy', row.metric);
    if (row.split === 'test' && row.model_id !== null && level !== null) accuracy.push({ iteration: row.iteration, method: row.method, level, accuracy: row.value, mark: mark(row.iteration) });
    if (row.method === 'prm' && row.split === 'test') prm.push({ iteration: row.iteration, metric: row.metric === 'step_auc' ? 'step AUC' : row.metric === 'first_error_accuracy' ? 'first-error accuracy' : row.metric, value: row.value });
    if (row.model_id !== null || row.split !== 'train' || row.method !== 'search') continue;
    const volume = VOLUME_METRICS[row.metric];
    if (volume !== undefined) volumes.push({ iteration: row.iteration, kind: volume, count: row.value });
    if (row.metric === 'sft_invalid') invalid.push({ iteration: row.iteration, share: row.value });
    const monitor = /^pass@\d+$/.test(row.metric) ? row.metric : MONITOR_METRICS[row.metric];
    if (monitor !== undefined) monitors.push({ iteration: row.iteration, monitor, value: row.value });
  }

  // The policy promotion kept: the base, replaced by each promoted candidate.
  const models = store.models();
  let best = models.find((model) => model.kind === 'policy' && model.iteration === 0)?.id ?? null;
  for (const row of iterations) if (row.promoted === true && row.policy_model_id !== null) best = row.policy_model_id;

  const searches: ReportData['searches'] = [];
  const trees: ReportTree[] = [];
  for (const row of iterations) {
    const summaries = store.searchSummaries(row.number, config.search.algorithm);
    if (summaries.length === 0) continue;
    searches.push({ iteration: row.number, count: summaries.length });
    for (const search of sampleByLevel(summaries, options.treesPerIteration)) trees.push(reportTree(store, row.number, search));
  }

  return ReportDataSchema.parse({
    run: store.runId,
    task: config.task.kind,
    levelName: LEVEL_NAMES[config.task.kind],
    iterations: config.iterations,
    done: iterations.filter((row) => row.status === 'done').length,
    generatedAt: options.now.toISOString(),
    accuracy,
    prm,
    volumes,
    invalid,
    monitors,
    learning,
    stages: stageMinutes(store.activityAttempts(), options.now.getTime()),
    models: models.map((model) => ({
      id: model.id,
      kind: model.kind,
      iteration: model.iteration,
      parent: model.parent_id,
      path: model.path,
      sha256: model.sha256,
      metrics: JSON.parse(model.metrics_json) as Record<string, unknown>,
      best: model.id === best,
    })),
    treesPerIteration: options.treesPerIteration,
    searches,
    trees,
  });
}
