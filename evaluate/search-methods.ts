/**
 * Held-out accuracy of the search-based answer methods, by difficulty: majority vote over k
 * samples, PRM-ranked best-of-k (the same k samples), and MCTS* in evaluation mode; plus pass@k
 * of the samples (B-STaR's exploration monitor on held-out problems). Fixed seeds.
 */
import type { LogProbScorer } from '../engine/log-probs.ts';
import { mapConcurrent } from '../engine/map-concurrent.ts';
import { enginePolicy } from '../engine/policy.ts';
import { plainPrompt, type PromptBuilder } from '../engine/prompt.ts';
import { samplingSchema, type StepGenerator } from '../engine/step-generator.ts';
import { prmValue } from '../reward/value-functions.ts';
import { bestOfNSearch, pickBestOfN } from '../search/baselines.ts';
import { mctsSearch } from '../search/mcts.ts';
import { answerLeaves } from '../search/tree.ts';
import type { Problem, Task } from '../tasks/index.ts';
import { passAtK } from './metrics.ts';

export interface SearchMethodAccuracy {
  /** method → level → accuracy */
  accuracy: Record<'vote' | 'prm-best-of-k' | 'mcts', Record<string, number>>;
  /** level → mean pass@k of the k samples */
  passAtK: Record<string, number>;
}

export async function evaluateSearchMethods(options: {
  generator: StepGenerator;
  prompt: PromptBuilder;
  scorer: LogProbScorer;
  task: Task;
  problems: readonly Problem[];
  k: number;
  mctsIterations: number;
  concurrency: number;
  seed: number;
  onProgress?: (done: number, total: number) => void;
}): Promise<SearchMethodAccuracy> {
  const { task } = options;
  const sampling = samplingSchema.parse({ temperature: 0.8, maxStepTokens: task.maxStepTokens });
  const tallies = new Map<string, { vote: number; prm: number; mcts: number; pass: number; total: number }>();
  let done = 0;
  const evaluateOne = async (problem: Problem): Promise<void> => {
    const common = { question: problem.question, reader: task, maxDepth: task.maxDepth(problem) };
    const policy = () => enginePolicy({ generator: options.generator, prompt: options.prompt, question: problem.question, sampling, seed: options.seed });
    const value = prmValue(options.scorer, plainPrompt(task.prompt, problem.question));
    const samples = await bestOfNSearch({ ...common, policy: policy(), value, n: options.k, pick: 'prm' });
    const mcts = await mctsSearch({ ...common, policy: policy(), value, config: { mode: 'eval', iterations: options.mctsIterations, seed: options.seed, maxDepth: common.maxDepth } });
    const right = (answer: string | null): number => (answer !== null && task.isCorrect(answer, problem.answer) ? 1 : 0);
    const leaves = answerLeaves(samples.tree);
    const correct = leaves.filter((leaf) => right(leaf.answer) === 1).length;
    const tally = tallies.get(String(problem.level)) ?? { vote: 0, prm: 0, mcts: 0, pass: 0, total: 0 };
    tally.vote += right(pickBestOfN(samples.tree, 'vote').answer);
    tally.prm += right(samples.answer);
    tally.mcts += right(mcts.answer);
    tally.pass += passAtK(options.k, Math.min(correct, options.k), options.k);
    tally.total += 1;
    tallies.set(String(problem.level), tally);
    options.onProgress?.(++done, options.problems.length);
  };
  await mapConcurrent(options.problems, options.concurrency, evaluateOne);
  const by = (pick: (tally: { vote: number; prm: number; mcts: number; pass: number; total: number }) => number): Record<string, number> =>
    Object.fromEntries([...tallies].sort(([a], [b]) => Number(a) - Number(b)).map(([level, tally]) => [level, pick(tally) / tally.total]));
  return { accuracy: { vote: by((t) => t.vote), 'prm-best-of-k': by((t) => t.prm), mcts: by((t) => t.mcts) }, passAtK: by((t) => t.pass) };
}
