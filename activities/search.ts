/**
 * Search activities: plan an iteration (pick training problems, split the MCTS* budget by solve
 * rate) and search a shard of problems. A shard stores each finished search at once, so a retry
 * skips every problem already searched and resumes at the first one that is not.
 */
import { samplingSchema } from '../engine/step-generator.ts';
import { enginePolicy } from '../engine/policy.ts';
import { prmValue } from '../reward/prm-scorer.ts';
import { arithmeticVerifier, markCorrectness } from '../reward/verifiers.ts';
import { allocateBudget } from '../search/budget.ts';
import { mctsSearch } from '../search/mcts.ts';
import { mapConcurrent } from '../engine/map-concurrent.ts';
import { formatPrompt, generateProblems } from '../tasks/arithmetic.ts';
import type { IterationPlan, SearchShardInput, ShardResult } from '../workflows/types.ts';
import { heartbeat, previousProgress } from './heartbeat.ts';
import { policyGenerator, prmScorer } from './models.ts';
import { runContext } from './run-context.ts';

export const MCTS_ALGORITHM = 'mcts';

export async function planIteration({ runDir, iteration }: { runDir: string; iteration: number }): Promise<IterationPlan> {
  const { store, config } = runContext(runDir);
  const { task, search } = config;
  const perDifficulty = Math.ceil(task.problemsPerIteration / task.trainOperators.length);
  const problems = task.trainOperators
    .flatMap((operators) => generateProblems({ seed: task.seed * 1000 + iteration, operators, count: perDifficulty, split: 'train' }))
    .slice(0, task.problemsPerIteration);
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
    const existing = store.findSearch(input.iteration, item.problemId, MCTS_ALGORITHM);
    if (existing !== null) {
      skipped += 1;
      if (existing.correct === true) solved += 1;
    } else {
      const problem = store.problem(item.problemId);
      const outcome = await mctsSearch({
        question: problem.question,
        policy: enginePolicy({ generator, prompt, question: problem.question, sampling, seed: input.iteration }),
        value: prmValue(scorer, formatPrompt(problem.question)),
        reader: arithmeticVerifier,
        config: { ...config.search.mcts, mode: 'data', iterations: Math.max(1, item.budget), seed: input.iteration, maxDepth: (problem.difficulty ?? 4) + 3 },
      });
      markCorrectness(outcome.tree, arithmeticVerifier, problem.answer);
      const correct = outcome.answer === null ? null : arithmeticVerifier.isCorrect(outcome.answer, problem.answer);
      store.saveSearch({
        iteration: input.iteration,
        problemId: item.problemId,
        policyModelId,
        prmModelId,
        algorithm: MCTS_ALGORITHM,
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
