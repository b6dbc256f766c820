/**
 * Greedy evaluation of a GGUF model on a task's problems: the task's prompt (plain or the model's
 * chat template), temperature 0, no repeat penalty, generation stopped at EOS, at the end of the
 * first step that states an answer, or after the task's step budget.
 */
import type { LlamaContext, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { createContexts, interleavedSequences, loadModel } from '../engine/llama.ts';
import { mapConcurrent } from '../engine/map-concurrent.ts';
import { alignSequence, SequencePool } from '../engine/sequence-pool.ts';
import { createPromptBuilder } from '../engine/prompt.ts';
import type { Problem, Task } from '../tasks/index.ts';
import type { EngineSettings } from '../workflows/config.ts';

export interface GreedySample {
  question: string;
  completion: string;
  /** The answer the completion states, null when no step states one. */
  answer: string | null;
  correct: boolean;
  /** Whether the completion is right read flexibly (the last number when no marker states an answer: the task's flexibleAnswer). */
  flexibleCorrect: boolean;
  /** Tokens generated for the completion (EOS excluded). */
  generatedTokens: number;
}

export interface LevelTally {
  correct: number;
  total: number;
  accuracy: number;
  /** Accuracy read flexibly, and the answers only that reading finds right (hidden: no marker states them). */
  flexibleAccuracy: number;
  hiddenAnswers: number;
}

export interface GreedyEvaluation {
  accuracy: number;
  /** Keyed by the problems' level. */
  byLevel: Record<number, LevelTally>;
  /** One per problem, in the order of `problems`. */
  samples: GreedySample[];
}

export interface GreedyEvaluationOptions {
  /** A full GGUF or a LoRA adapter on one (engine/model-files.ts). */
  modelPath: string;
  task: Task;
  problems: readonly Problem[];
  /** Evaluation threads; 1 is fastest for tiny models on a 2-core CPU (2 threads measured 30-80x slower). */
  threads?: number;
  /** Problems decoded together as parallel sequences of one context; 8 was about the best measured. */
  sequences?: number;
  engine?: EngineSettings;
  onProgress?: (done: number, total: number) => void;
}

/** The answer of the first complete step (closed by the delimiter) that states one, or undefined when none does yet. */
function answerSoFar(task: Task, text: string): string | null | undefined {
  const steps = text.split(task.delimiter);
  steps.pop(); // the step still being written
  for (const step of steps) {
    const answer = task.answerOf(step);
    if (answer !== null) return answer;
  }
  return undefined;
}

interface GreedyCompletion {
  text: string;
  generatedTokens: number;
}

/**
 * Greedy completion of one prompt, driven token by token so that it stops exactly at EOS, at the
 * end of the answer step, or at `maxTokens` (LlamaCompletion can overrun its budget by a token
 * when a byte token leaves a partial UTF-8 character).
 */
async function completeGreedily(task: Task, model: LlamaModel, sequence: LlamaContextSequence, promptTokens: Token[], maxTokens: number): Promise<GreedyCompletion> {
  const feed = await alignSequence(sequence, promptTokens);
  const generated: Token[] = [];
  let text = '';
  // Temperature 0 samples the argmax; no repeat penalty is applied unless one is passed.
  for await (const token of sequence.evaluate(feed, { temperature: 0 })) {
    generated.push(token);
    const before = text;
    text = model.detokenize(generated);
    // A step closes only when a delimiter appears; only then can an answer step be complete.
    const closed = text.length > before.length && text.lastIndexOf(task.delimiter) > before.length - task.delimiter.length;
    if (generated.length >= maxTokens || (closed && answerSoFar(task, text) !== undefined)) break;
  }
  return { text, generatedTokens: generated.length };
}

function tally(problems: readonly Problem[], samples: readonly GreedySample[]): Record<number, LevelTally> {
  const byLevel: Record<number, LevelTally> = {};
  for (const [index, problem] of problems.entries()) {
    const entry = (byLevel[problem.level] ??= { correct: 0, total: 0, accuracy: 0, flexibleAccuracy: 0, hiddenAnswers: 0 });
    const sample = samples[index];
    entry.total += 1;
    if (sample?.correct) entry.correct += 1;
    else if (sample?.flexibleCorrect) entry.hiddenAnswers += 1;
  }
  for (const entry of Object.values(byLevel)) {
    entry.accuracy = entry.correct / entry.total;
    // Right flexibly: every strictly right answer, and the hidden ones.
    entry.flexibleAccuracy = (entry.correct + entry.hiddenAnswers) / entry.total;
  }
  return byLevel;
}

/** Greedy accuracy of the model at `modelPath` on `problems`, overall and per level. */
export async function evaluateGreedy({ modelPath, task, problems, threads = 1, sequences = 8, engine, onProgress }: GreedyEvaluationOptions): Promise<GreedyEvaluation> {
  const model = await loadModel(modelPath, engine);
  const prompt = createPromptBuilder(model, task.prompt, task.delimiter);
  const promptTokens = problems.map((problem) => prompt.tokens(problem.question, []));
  const sequenceCount = Math.max(1, Math.min(sequences, problems.length));
  const contexts = await createContexts(modelPath, { threads, contextSize: task.contextSize, sequences: sequenceCount, engine });
  const contextSize = (contexts[0] as LlamaContext).contextSize;
  // Every prompt plus its generation must fit one sequence: a context shift would drop the question.
  const budgetOf = (index: number): number => {
    const problem = problems[index] as Problem;
    const room = contextSize - (promptTokens[index]?.length ?? 0);
    if (room < 1) throw new Error(`a prompt of ${promptTokens[index]?.length} tokens does not fit the context of ${contextSize}: ${JSON.stringify(problem.question.slice(0, 80))}`);
    return Math.min(room, task.maxDepth(problem) * task.maxStepTokens);
  };
  const pool = new SequencePool(interleavedSequences(contexts));
  let done = 0;
  let samples: GreedySample[];
  try {
    // As many problems at once as there are sequences; a problem takes the one caching most of its prompt.
    samples = await mapConcurrent(problems, sequenceCount, async (problem, index) => {
      const tokens = promptTokens[index] as Token[];
      const { text, generatedTokens } = await pool.with(tokens, (sequence) => completeGreedily(task, model, sequence, tokens, budgetOf(index)));
      const answer = answerSoFar(task, text + task.delimiter) ?? null;
      onProgress?.(++done, problems.length);
      const flexible = task.flexibleAnswer(text);
      const correct = answer !== null && task.isCorrect(answer, problem.answer);
      return { question: problem.question, completion: text, answer, correct, flexibleCorrect: correct || (flexible !== null && task.isCorrect(flexible, problem.answer)), generatedTokens };
    });
  } finally {
    await Promise.all(contexts.map((context) => context.dispose()));
  }

  const correct = samples.filter((sample) => sample.correct).length;
  return { accuracy: problems.length === 0 ? 0 : correct / problems.length, byLevel: tally(problems, samples), samples };
}
