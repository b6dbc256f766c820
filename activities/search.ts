/**
 * Search activities: plan an iteration (pick training problems, split the MCTS* budget by solve
 * rate) and search a shard of problems. A shard stores each finished search at once, so a retry
 * skips every problem already searched and resumes at the first one that is not.
 */
import { samplingSchema } from '../engine/step-generator.ts';
import { enginePolicy } from '../engine/policy.ts';
import { prmValue } from '../reward/prm-scorer.ts';
import { arithmeticVerifier, markCorrectness } from '../reward/verifiers.ts';
import { allocateBudget, problemsPerLevel } from '../search/budget.ts';
import { mctsSearch } from '../search/mcts.ts';
import { bestOfNSearch } from '../search/baselines.ts';
import { mapConcurrent } from '../engine/map-concurrent.ts';
import { countProblems, formatPrompt, generateProblems } from '../tasks/arithmetic.ts';
import type { IterationPlan, SearchShardInput, ShardResult } from '../workflows/types.ts';
import { heartbeat, previousProgress } from './heartbeat.ts';
import { policyGenerator, prmScorer } from './models.ts';
import { runContext } from './run-context.ts';

export async function planIteration({ runDir, iteration }: { runDir: string; iteration: number }): Promise<IterationPlan> {
  const { store, config } = runContext(runDir);
  const { task, search } = config;
  // The frontier from the last measured solve rates (iteration 0: the seed PRM's samples of the base policy).
  const levelRates = new Map(task.trainOperators.map((operators) => [operators, store.solveRate(iteration - 1, operators)]));
  const counts = problemsPerLevel(levelRates, task.problemsPerIteration, task.curriculum);
  const problems = task.trainOperators.flatMap((operators) =>
    generateProblems({ seed: task.seed * 1000 + iteration, operators, count: Math.min(counts.get(operators) ?? 0, countProblems(operators, 'train')), split: 'train' }),
  );
  const ids = problems.map((problem) =>
    store.upsertProblem({ task: 'arithmetic', split: 'train', question: problem.question, answer: String(problem.answer), difficulty: problem.operators }),
  );
  // Solve rate = share of correct answer leaves in this problem's earlier searches (null if never searched).
  const rateOf = store.db.prepare(
    `SELECT AVG(n.correct) FROM nodes n JOIN searches s ON s.id = n.search_id
     WHERE s.run_id = ? AND s.problem_id = ? AND s.iteration < ? AND n.state = 'end' AND n.answer IS NOT NULL`,
  );
  const rates = ids.map((id) => (rateOf.pluck().get(store.runId, id, iteration) as number | null) ?? null);
  const budgets = allocateBudget(rates, { total: search.iterationsPerProblem * ids.length, floor: 2, cap: search.iterationsPerProblem * 3 });
  const shard = ids.map((problemId, index) => ({ problemId, budget: budgets[index] ?? 0 }));
  const shards: IterationPlan['shards'] = [];
  for (let start = 0; start < shard.length; start += search.shardSize) shards.push(shard.slice(start, start + search.shardSize));
  return { shards };
}

export async function searchShard(input: SearchShardInput): Promise<ShardResult> {
  const { store, config } = runContext(input.runDir);
  const policyModelId = store.modelIdByPath(input.policyPath);
  const prmModelId = store.modelIdByPath(input.prmPath);
  const sampling = samplingSchema.parse({ temperature: config.search.temperature, maxStepTokens: 48 });
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
  const { generator, prompt } = await policyGenerator(input.policyPath, config);
  const scorer = await prmScorer(input.prmPath, config);
  await mapConcurrent(queue, config.sequences, async (item) => {
    const existing = store.findSearch(input.iteration, item.problemId, algorithm);
    if (existing !== null) {
      skipped += 1;
      if (existing.correct === true) solved += 1;
    } else {
      const problem = store.problem(item.problemId);
      const policy = enginePolicy({ generator, prompt, question: problem.question, sampling, seed: input.iteration });
      const value = prmValue(scorer, formatPrompt(problem.question));
      const maxDepth = (problem.difficulty ?? 4) + 3;
      const outcome =
        algorithm === 'mcts'
          ? await mctsSearch({
              question: problem.question,
              policy,
              value,
              reader: arithmeticVerifier,
              config: { ...config.search.mcts, mode: 'data', iterations: Math.max(1, item.budget), seed: input.iteration, maxDepth },
            })
          : await bestOfNSearch({
              question: problem.question,
              policy,
              value,
              reader: arithmeticVerifier,
              n: config.search.mcts.branch ?? 4,
              pick: 'prm',
              // The problem's share of the budget, in tokens: bestOfNTokens at the mean budget.
              maxGeneratedTokens: Math.max(1, Math.round((config.search.bestOfNTokens * item.budget) / config.search.iterationsPerProblem)),
              scoreEveryStep: true,
              maxDepth,
            });
      markCorrectness(outcome.tree, arithmeticVerifier, problem.answer);
      const correct = outcome.answer === null ? null : arithmeticVerifier.isCorrect(outcome.answer, problem.answer);
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
