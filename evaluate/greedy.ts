/**
 * Greedy evaluation of a GGUF model on arithmetic problems: plain-text prompt (no chat template,
 * the micro models are base models over a character vocabulary), temperature 0, no repeat penalty,
 * generation stopped at EOS, at the end of the answer line, or after `maxTokens`.
 */
import type { LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { createContext, loadModel } from '../engine/llama.ts';
import { extractAnswer, formatPrompt, type ArithmeticProblem } from '../tasks/arithmetic.ts';

export interface GreedySample {
  question: string;
  completion: string;
  /** The answer the completion states, null when it has no answer line. */
  answer: number | null;
  correct: boolean;
  /** Tokens generated for the completion (EOS excluded). */
  generatedTokens: number;
}

export interface OperatorTally {
  correct: number;
  total: number;
  accuracy: number;
}

export interface GreedyEvaluation {
  accuracy: number;
  /** Keyed by the number of operators of the problems. */
  byOperators: Record<number, OperatorTally>;
  /** One per problem, in the order of `problems`. */
  samples: GreedySample[];
}

export interface GreedyEvaluationOptions {
  modelPath: string;
  problems: readonly ArithmeticProblem[];
  /** Evaluation threads; 1 is fastest for tiny models on a 2-core CPU (2 threads measured 30-80x slower). */
  threads?: number;
  /** Generated tokens per problem at most. */
  maxTokens?: number;
  /** Problems decoded together as parallel sequences of one context; 8 was about the best measured. */
  sequences?: number;
  onProgress?: (done: number, total: number) => void;
}

// Whether the text holds a complete answer line (`A:...` followed by the line break).
function hasAnswerLine(text: string): boolean {
  return /(?:^|\n)A:[^\n]*\n/.test(text);
}

interface GreedyCompletion {
  text: string;
  generatedTokens: number;
}

/**
 * Greedy completion of one prompt, driven token by token so that it stops exactly at EOS, at the
 * end of the answer line, or at `maxTokens` (LlamaCompletion can overrun its budget by a token
 * when a byte token leaves a partial UTF-8 character).
 */
async function completeGreedily(
  model: LlamaModel,
  sequence: LlamaContextSequence,
  promptTokens: Token[],
  maxTokens: number,
): Promise<GreedyCompletion> {
  await sequence.clearHistory();
  const generated: Token[] = [];
  // Per-token text is enough to spot "A:" and the line break, which are single ASCII tokens.
  let textSoFar = '';
  // Temperature 0 samples the argmax; no repeat penalty is applied unless one is passed.
  for await (const token of sequence.evaluate(promptTokens, { temperature: 0 })) {
    generated.push(token);
    textSoFar += model.detokenize([token]);
    if (generated.length >= maxTokens || hasAnswerLine(textSoFar)) break;
  }
  return { text: model.detokenize(generated), generatedTokens: generated.length };
}

function tally(problems: readonly ArithmeticProblem[], samples: readonly GreedySample[]): Record<number, OperatorTally> {
  const byOperators: Record<number, OperatorTally> = {};
  for (const [index, problem] of problems.entries()) {
    const entry = (byOperators[problem.operators] ??= { correct: 0, total: 0, accuracy: 0 });
    entry.total += 1;
    if (samples[index]?.correct) entry.correct += 1;
  }
  for (const entry of Object.values(byOperators)) entry.accuracy = entry.correct / entry.total;
  return byOperators;
}

/** Greedy accuracy of the model at `modelPath` on `problems`, overall and per number of operators. */
export async function evaluateGreedy({
  modelPath,
  problems,
  threads = 1,
  maxTokens = 96,
  sequences = 8,
  onProgress,
}: GreedyEvaluationOptions): Promise<GreedyEvaluation> {
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new Error(`maxTokens must be a positive integer, got ${maxTokens}`);
  const model = await loadModel(modelPath);

  // Plain text prompts: BOS (when the model asks for one) and the prompt, no template.
  const bos = model.tokens.shouldPrependBosToken ? model.tokens.bos : null;
  const promptTokens = problems.map((problem) => [
    ...(bos === null ? [] : [bos]),
    ...model.tokenize(formatPrompt(problem.question)),
  ]);
  // Every prompt plus its generation must fit one sequence: a context shift would drop the question.
  const longestPrompt = Math.max(0, ...promptTokens.map((tokens) => tokens.length));
  const contextSize = longestPrompt + maxTokens;
  if (contextSize > model.trainContextSize) {
    throw new Error(
      `prompt (${longestPrompt} tokens) + maxTokens (${maxTokens}) exceed the model's context of ${model.trainContextSize}`,
    );
  }

  const sequenceCount = Math.max(1, Math.min(sequences, problems.length));
  const context = await createContext(model, { threads, contextSize, sequences: sequenceCount });
  const samples: GreedySample[] = new Array<GreedySample>(problems.length);
  let nextIndex = 0;
  let done = 0;

  // One worker per sequence pulls the next problem; the context batches their decoding steps.
  const runWorker = async (): Promise<void> => {
    const sequence = context.getSequence();
    for (let index = nextIndex++; index < problems.length; index = nextIndex++) {
      const { question, answer: expected } = problems[index] as ArithmeticProblem;
      const prompt = promptTokens[index] as Token[];
      const { text, generatedTokens } = await completeGreedily(model, sequence, prompt, maxTokens);
      const answer = extractAnswer(text);
      samples[index] = { question, completion: text, answer, correct: answer === expected, generatedTokens };
      onProgress?.(++done, problems.length);
    }
  };

  try {
    await Promise.all(Array.from({ length: sequenceCount }, runWorker));
  } finally {
    await context.dispose();
  }

  const correct = samples.filter((sample) => sample.correct).length;
  return {
    accuracy: problems.length === 0 ? 0 : correct / problems.length,
    byOperators: tally(problems, samples),
    samples,
  };
}
