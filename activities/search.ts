/**
 * Search activities: plan an iteration (pick training problems, split the MCTS* budget by solve
 * rate) and search a shard of problems. A shard stores each finished search at once, so a retry
 * skips every problem already searched and resumes at the first one that is not.
 */
import { samplingSchema } from '../engine/step-generator.ts';
import { enginePolicy } from '../engine/policy.ts';
import { prmValue } from '../reward/prm-scorer.ts';
import { markCorrectness } from '../reward/verifiers.ts';
import { plainPrompt } from '../engine/prompt.ts';
import { allocateBudget, problemsPerLevel } from '../search/budget.ts';
import { mctsSearch } from '../search/mcts.ts';
import { bestOfNSearch } from '../search/baselines.ts';
import { mapConcurrent } from '../engine/map-concurrent.ts';
import { runLevels } from '../tasks/index.ts';
import type { IterationPlan, SearchShardInput, ShardResult } from '../workflows/types.ts';
import { heartbeat, previousProgress } from './heartbeat.ts';
import { policyGenerator, prmScorer } from './models.ts';
import { runContext } from './run-context.ts';

export async function planIteration({ runDir, iteration }: { runDir: string; iteration: number }): Promise<IterationPlan> {
  const { store, config, task } = runContext(runDir);
  const { search } = config;
  const settings = config.task;
  // The frontier from the last measured solve rates (iteration 0: the seed PRM's samples of the base policy).
  const levels = runLevels(task, settings).train;
  const levelRates = new Map(levels.map((level) => [level, store.solveRate(iteration - 1, level)]));
  const counts = problemsPerLevel(levelRates, settings.problemsPerIteration, settings.curriculum);
  const problems = levels.flatMap((level) =>
    task.sample('train', { seed: settings.seed * 1000 + iteration, level, count: Math.min(counts.get(level) ?? 0, task.count('train', level)) }),
  );
  const ids = problems.map((problem) => store.upsertProblem({ task: task.kind, split: 'train', question: problem.question, answer: problem.answer, difficulty: problem.level }));
  // Solve rate = share of correct answer leaves in this problem's earlier searches (null if never searched).
  const rates = ids.map((id) => store.problemSolveRate(id, iteration));
  const budgets = allocateBudget(rates, { total: search.iterationsPerProblem * ids.length, floor: 2, cap: search.iterationsPerProblem * 3 });
  const shard = ids.map((problemId, index) => ({ problemId, budget: budgets[index] ?? 0 }));
  const shards: IterationPlan['shards'] = [];
  for (let start = 0; start < shard.length; start += search.shardSize) shards.push(shard.slice(start, start + search.shardSize));
  return { shards };
}

export async function searchShard(input: SearchShardInput): Promise<ShardResult> {
  const { store, config, task } = runContext(input.runDir);
  const policyModelId = store.modelIdByPath(input.policyPath);
  const prmModelId = store.modelIdByPath(input.prmPath);
  const sampling = samplingSchema.parse({ temperature: config.search.temperature, maxStepTokens: task.maxStepTokens });
  const { algorithm } = config.search;
  let searched = 0;
  let solved = 0;
  // A retry starts after the problems its previous attempt reported finished (they are stored).
  const completed = new Set(previousProgress()?.completed ?? []);
  const queue = input.shard.filter((item) => !completed.has(item.problemId));
  let skipped = input.shard.length - queue.length;
  const total = input.shard.length;
  heartbeat({ stage: 'search', done: completed.size, total, completed: [...completed] });
  if (queue.length === 0) return { searched: 0, skipped, solved: 0 };
  const { generator, prompt } = await policyGenerator(input.policyPath, config, task);
  const scorer = await prmScorer(input.prmPath, config, task);
  await mapConcurrent(queue, config.sequences, async (item) => {
    const existing = store.findSearch(input.iteration, item.problemId, algorithm);
    if (existing !== null) {
      skipped += 1;
      if (existing.correct === true) solved += 1;
    } else {
      const problem = store.problem(item.problemId);
      const policy = enginePolicy({ generator, prompt, question: problem.question, sampling, seed: input.iteration });
      const value = prmValue(scorer, plainPrompt(task.prompt, problem.question));
      const maxDepth = task.maxDepth({ question: problem.question, answer: problem.answer, level: problem.difficulty ?? 1 });
      const outcome =
        algorithm === 'mcts'
          ? await mctsSearch({
              question: problem.question,
              policy,
              value,
              reader: task,
              config: { ...config.search.mcts, mode: 'data', iterations: Math.max(1, item.budget), seed: input.iteration, maxDepth },
            })
          : await bestOfNSearch({
              question: problem.question,
              policy,
              value,
              reader: task,
              n: config.search.mcts.branch ?? 4,
              pick: 'prm',
              // The problem's share of the budget, in tokens: bestOfNTokens at the mean budget.
              maxGeneratedTokens: Math.max(1, Math.round((config.search.bestOfNTokens * item.budget) / config.search.iterationsPerProblem)),
              scoreEveryStep: true,
              maxDepth,
            });
      markCorrectness(outcome.tree, task, problem.answer);
      const correct = outcome.answer === null ? null : task.isCorrect(outcome.answer, problem.answer);
      store.saveSearch({
        iteration: input.iteration,
        problemId: item.problemId,
        policyModelId,
        prmModelId,
        algorithm,
        budget: item.budget,
        stats: { ...outcome.stats },
        answer: outcome.answer,
        correct,
        tree: outcome.tree,
      });
      searched += 1;
      if (correct === true) solved += 1;
    }
    completed.add(item.problemId);
    heartbeat({ stage: 'search', done: completed.size, total, note: `${solved} solved`, completed: [...completed] });
  });
  return { searched, skipped, solved };
}
