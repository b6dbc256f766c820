/**
 * What the rest of Arbor knows of a task: its problems (train and test splits, difficulty levels,
 * seeded samples), how a question becomes a prompt, where a step ends, where a step states the
 * final answer and whether it is right, and optionally an exact step checker. Activities,
 * evaluation, the seed PRM, exports, the CLI and the benches reach a task only through this.
 */
import { createRng } from './random.ts';

export type Split = 'train' | 'test';

export interface Problem {
  question: string;
  /** The reference final answer, as text. */
  answer: string;
  /** Difficulty level, 1 = easiest (arithmetic: operators; GSM8K: reference steps; MATH: its level; 1 when unknown). */
  level: number;
}

/**
 * How questions become prompts, every part resolved: `auto` picks the chat template when the model
 * has one (engine/prompt.ts renders it); the PRM always reads the plain template, without preamble.
 */
export interface TaskPrompt {
  style: 'plain' | 'chat' | 'auto';
  /** Plain style: text before the question (few-shot examples, instructions). */
  preamble: string;
  /** Plain template with `{question}`. */
  plain: string;
  /** Chat user-turn template with `{question}`. */
  chat: string;
  system?: string;
}

export function fillTemplate(template: string, question: string): string {
  return template.replaceAll('{question}', question);
}

/** How a task reads and judges final answers. */
export interface AnswerRules {
  /** The final answer a step states, or null when the step does not end the solution. */
  answerOf(step: string): string | null;
  /** The final answer a whole completion states (grading other systems' outputs), read as the task's `answer.extraction` says, or null. */
  extractAnswer(completion: string): string | null;
  /** The same, read flexibly (the last number when no marker states one): reported beside, never a reward. */
  flexibleAnswer(completion: string): string | null;
  /** Whether `answer` (as answerOf / extractAnswer returned it) matches the reference `gold`. */
  isCorrect(answer: string, gold: string): boolean;
}

export interface Task extends AnswerRules {
  readonly kind: string;
  /** Levels present in a split, ascending. */
  levels(split: Split): number[];
  /** Distinct problems a split holds at a level (Infinity when too many to count). */
  count(split: Split, level: number): number;
  /** `count` distinct problems of a split and level in seeded random order; throws when fewer exist. */
  sample(split: Split, options: { seed: number; level: number; count: number }): Problem[];
  readonly prompt: TaskPrompt;
  /** Ends every step (and the answer step). */
  readonly delimiter: string;
  /** Exact validity of each step, where the task can check steps: it measures (PRM quality, data), never labels data. */
  readonly stepLabels?: (question: string, steps: readonly string[]) => boolean[];
  /** Steps a solution may have at most. */
  maxDepth(problem: Problem): number;
  /** Tokens a step may have at most. */
  readonly maxStepTokens: number;
  /** Tokens a prompt plus its solution need (the context is the smaller of this and the model's). */
  readonly contextSize: number;
  /** Every character the task's texts use, where that is a closed set (a character vocabulary is built from it). */
  readonly characters?: string;
  /** The reference solution of a problem, where the task has one (a base model's pretraining data, never the loop's). */
  readonly solution?: (problem: Problem) => string;
}

/** Train or test by a hash of the question text: no seed can make the splits overlap. */
export function splitOfQuestion(question: string): Split {
  return fnv1a32(question) % 10 === 0 ? 'test' : 'train';
}

export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** The first `count` of a seeded Fisher-Yates shuffle of `items`: a uniform random sample, deterministic for a seed. */
export function seededSample<T>(items: readonly T[], count: number, seed: number): T[] {
  if (!Number.isInteger(count) || count < 0) throw new Error(`count must be a non-negative integer, got ${count}`);
  if (count > items.length) throw new Error(`cannot sample ${count} of ${items.length}`);
  const rng = createRng(seed);
  const shuffled = items.slice();
  for (let index = 0; index < count; index++) {
    const swapWith = rng.int(index, shuffled.length - 1);
    [shuffled[index], shuffled[swapWith]] = [shuffled[swapWith] as T, shuffled[index] as T];
  }
  return shuffled.slice(0, count);
}
