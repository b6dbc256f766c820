/**
 * The planning activity (CPU queue): pick an iteration's training problems — the frontier over
 * levels from the last measured solve rates (search/budget.ts), and within a level the problems not
 * settled (solve rate 0 or 1) when searched before — split the MCTS* budget over them by
 * each problem's own solve rate, cut them into shards, and write the problems the searches read.
 */
import { allocateBudget, frontierProblems, problemsPerLevel } from '../search/budget.ts';
import { runLevels } from '../tasks/index.ts';
import type { ActivityInput, IterationPlan } from '../workflows/types.ts';
import { writeJsonArtifact } from './artifacts.ts';
import { runContext } from './run-context.ts';
import { problemsArtifact } from './run-dir.ts';

export async function planIteration({ runDir, iteration }: ActivityInput<'planIteration'>): Promise<IterationPlan> {
  const { store, config, task } = runContext(runDir);
  const { search } = config;
  const settings = config.task;
  // The frontier from the last measured solve rates (iteration 0: the seed PRM's samples of the base policy).
  const levels = runLevels(task, settings).train;
  const levelRates = new Map(levels.map((level) => [level, store.solveRate(iteration - 1, level)]));
  const counts = problemsPerLevel(levelRates, settings.problemsPerIteration, settings.curriculum);
  let settled = 0;
  const problems = levels.flatMap((level) => {
    const count = Math.min(counts.get(level) ?? 0, task.count('train', level));
    const seed = settings.seed * 1000 + iteration;
    if (!settings.curriculum.skipSettled) return task.sample('train', { seed, level, count });
    // Twice as many candidates (the seeded sample's first `count` are the same), those settled before passed over.
    const candidates = task.sample('train', { seed, level, count: Math.min(2 * count, task.count('train', level)) });
    const rates = candidates.map((problem) => {
      const id = store.problemIdOf(task.kind, 'train', problem.question);
      return id === null ? null : store.problemSolveRate(id, iteration);
    });
    const frontier = frontierProblems(candidates, rates, count);
    settled += frontier.settled;
    return frontier.chosen;
  });
  store.recordEvaluation({ iteration, modelId: null, method: 'search', split: 'train', metric: 'settled_skipped', value: settled });
  const ids = problems.map((problem) => store.upsertProblem({ task: task.kind, split: 'train', question: problem.question, answer: problem.answer, difficulty: problem.level }));
  // Solve rate = share of correct answer leaves in this problem's earlier searches (null if never searched).
  const rates = ids.map((id) => store.problemSolveRate(id, iteration));
  const budgets = allocateBudget(rates, { total: search.iterationsPerProblem * ids.length, floor: 2, cap: search.iterationsPerProblem * 3 });
  const shard = ids.map((problemId, index) => ({ problemId, budget: budgets[index] ?? 0 }));
  const shards: IterationPlan['shards'] = [];
  for (let start = 0; start < shard.length; start += search.shardSize) shards.push(shard.slice(start, start + search.shardSize));
  // The searches read their problems from this file: they do not open the database.
  writeJsonArtifact(
    problemsArtifact(runDir, iteration),
    problems.map((problem, index) => ({ id: ids[index], question: problem.question, answer: problem.answer, level: problem.level })),
  );
  return { shards };
}

