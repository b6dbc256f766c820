/**
 * The search activity: search a shard of an iteration's problems (inference queue, no database:
 * the problems come from the plan's file, the trees go to the shard's artifact, which data building
 * ingests). A shard keeps each finished search at once, so a retry resumes at the first problem not
 * searched.
 */
import { samplingSchema } from '../engine/step-generator.ts';
import { enginePolicy } from '../engine/policy.ts';
import { prmValue } from '../reward/value-functions.ts';
import { markCorrectness } from '../reward/verifiers.ts';
import { plainPrompt } from '../engine/prompt.ts';
import { mctsSearch } from '../search/mcts.ts';
import { bestOfNSearch } from '../search/baselines.ts';
import { mapConcurrent } from '../engine/map-concurrent.ts';
import type { ActivityInput, ShardResult } from '../workflows/types.ts';
import { appendSearchRecord, finishShard, ProblemsArtifactSchema, readJsonArtifact, shardRecords } from './artifacts.ts';
import { heartbeat } from './heartbeat.ts';
import { policyGenerator, prmScorer } from './models.ts';
import { configError, runFiles } from './run-context.ts';
import { problemsArtifact } from './run-dir.ts';

export async function searchShard(input: ActivityInput<'searchShard'>): Promise<ShardResult> {
  const { config, task } = runFiles(input.runDir);
  const problems = readJsonArtifact(problemsArtifact(input.runDir, input.iteration), ProblemsArtifactSchema);
  if (problems === null) throw configError(`${problemsArtifact(input.runDir, input.iteration)} does not exist: the iteration was not planned in this run directory`);
  const problemOf = new Map(problems.map((problem) => [problem.id, problem]));
  const sampling = samplingSchema.parse({ temperature: config.search.temperature, maxStepTokens: task.maxStepTokens });
  const { algorithm } = config.search;
  // A retry starts after the searches its previous attempts kept (they are in the shard's file).
  const records = shardRecords(input.runDir, input.iteration, input.index);
  const completed = new Set(records.map((record) => record.problemId));
  const queue = input.shard.filter((item) => !completed.has(item.problemId));
  const skipped = input.shard.length - queue.length;
  let solved = records.filter((record) => record.correct === true).length;
  const total = input.shard.length;
  heartbeat({ stage: 'search', done: completed.size, total });
  if (queue.length > 0) {
    const { generator, prompt } = await policyGenerator(input.policyPath, config, task);
    const scorer = await prmScorer(input.prmPath, config, task);
    await mapConcurrent(queue, config.sequences, async (item) => {
      const problem = problemOf.get(item.problemId);
      if (problem === undefined) throw configError(`problem ${item.problemId} is not in ${problemsArtifact(input.runDir, input.iteration)}`);
      const policy = enginePolicy({ generator, prompt, question: problem.question, sampling, seed: input.iteration });
      const value = prmValue(scorer, plainPrompt(task.prompt, problem.question));
      const maxDepth = task.maxDepth({ question: problem.question, answer: problem.answer, level: problem.level });
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
              n: config.search.numGenerations,
              pick: 'prm',
              // The problem's share of the budget, in tokens: bestOfNTokens at the mean budget.
              maxGeneratedTokens: Math.max(1, Math.round((config.search.bestOfNTokens * item.budget) / config.search.iterationsPerProblem)),
              scoreEveryStep: true,
              maxDepth,
            });
      markCorrectness(outcome.tree, task, problem.answer);
      const correct = outcome.answer === null ? null : task.isCorrect(outcome.answer, problem.answer);
      const record = { problemId: item.problemId, algorithm, budget: item.budget, stats: { ...outcome.stats }, answer: outcome.answer, correct, tree: outcome.tree, policyPath: input.policyPath, prmPath: input.prmPath };
      appendSearchRecord(input.runDir, input.iteration, input.index, record);
      records.push(record);
      if (correct === true) solved += 1;
      completed.add(item.problemId);
      heartbeat({ stage: 'search', done: completed.size, total, note: `${solved} solved` });
    });
  }
  // In the shard's order, whatever order the searches finished in: the same seeds give the same file.
  const order = new Map(input.shard.map((item, index) => [item.problemId, index]));
  finishShard(input.runDir, input.iteration, input.index, records.sort((a, b) => (order.get(a.problemId) ?? 0) - (order.get(b.problemId) ?? 0)));
  return { searched: queue.length, skipped, solved };
}
