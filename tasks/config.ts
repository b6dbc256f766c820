/**
 * The task part of a run config: which task (arithmetic, GSM8K, MATH, any JSONL), where its problems
 * come from, how a question becomes a prompt and where steps end. Pure zod, no Node built-ins:
 * workflow code imports it through workflows/config.ts. tasks/index.ts turns it into a Task.
 */
import { z } from 'zod';
import { curriculumSchema } from '../search/budget.ts';
import { timingCoinSchema } from './timing.ts';

const positiveInt = z.number().int().positive();

/** How a final answer is compared with the reference (tasks/answers.ts). */
export const answerKindSchema = z.enum(['number', 'exact', 'math']);
export type AnswerKind = z.infer<typeof answerKindSchema>;
const levelList = z.array(positiveInt).min(1);

/**
 * How a final answer is read. strict: only where the task's answer format states it (`####`, "the
 * answer is", `\boxed{}`, "A:"); flexible: else the completion's last number too. Lenient reading is
 * what RL exploits (a model learns to end with many numbers), so training rewards and promotion read
 * strictly by default; evaluation reports the flexible reading beside it.
 */
export const extractionSchema = z.enum(['strict', 'flexible']);
export type Extraction = z.infer<typeof extractionSchema>;

/**
 * How a question becomes the text a policy continues. `plain`: preamble (few-shot examples,
 * instructions) + template; `chat`: the model's own chat template (through node-llama-cpp's chat
 * wrappers) with an optional system prompt; `auto`: chat when the model has a chat template, else
 * the task's plain template.
 */
export const promptStyleSchema = z.discriminatedUnion('style', [
  z.strictObject({
    style: z.literal('plain'),
    preamble: z.string().default(''),
    /** Template with `{question}`. */
    template: z.string().includes('{question}').optional(),
  }),
  z.strictObject({
    style: z.literal('chat'),
    system: z.string().optional(),
    /** Template of the user turn with `{question}`. */
    template: z.string().includes('{question}').optional(),
  }),
  z.strictObject({ style: z.literal('auto'), system: z.string().optional() }),
]);
export type PromptStyleInput = z.input<typeof promptStyleSchema>;

/** Settings every task has. Absent ones take the task's own default (tasks/index.ts). */
const commonTaskFields = {
  seed: z.number().int().nonnegative().default(7),
  /** Difficulty levels searched for training data [every level of the train split]; each iteration splits its problems over them by solve rate (search/budget.ts). */
  trainLevels: levelList.optional(),
  curriculum: curriculumSchema.prefault({}),
  /** Many cheap searches: a policy learns from the problems it solves only sometimes, and each gives about one correct solution. */
  problemsPerIteration: positiveInt.default(3000),
  /** Held-out evaluation: levels [every level of the test split] and problems per level. */
  evalLevels: levelList.optional(),
  evalProblemsPerLevel: positiveInt.default(100),
  /** Held-out problems per level for vote@k, PRM-ranked best-of-k and MCTS* (0: skip). */
  evalSearchProblemsPerLevel: z.number().int().nonnegative().default(10),
  evalSamples: positiveInt.default(4),
  prompt: promptStyleSchema.optional(),
  /** Ends a step: `\n`, `\n\n`, any string [the task's]. */
  delimiter: z.string().min(1).optional(),
  /** Steps a solution may have at most [the task's rule, e.g. arithmetic: operators + 3]. */
  maxDepth: positiveInt.optional(),
  /** Tokens a step may have at most. */
  maxStepTokens: positiveInt.optional(),
  /** How final answers are read for rewards and promotion [strict]; greedy evaluation reports the flexible reading beside it. */
  answer: z.strictObject({ extraction: extractionSchema.default('strict') }).prefault({}),
  /** For timing only (bench:scale): a seeded coin says which steps end a solution and which answers are right (tasks/timing.ts); every accuracy is then the coin's. */
  timingCoin: timingCoinSchema.optional(),
};

/** A JSONL file of problems; `test` absent: a tenth of the questions (by a hash of their text) is held out. */
const fileFields = {
  train: z.string().min(1),
  test: z.string().min(1).optional(),
};

export const taskConfigSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('arithmetic'), ...commonTaskFields }),
  /** GSM8K: `{question, answer}` rows, the answer's last line `#### n`; the dataset ships in datasets/gsm8k. */
  z.strictObject({ kind: z.literal('gsm8k'), ...commonTaskFields, train: z.string().min(1).optional(), test: z.string().min(1).optional() }),
  /** MATH: `{problem, solution, level?, answer?}` rows, the answer in the solution's last `\boxed{}`. */
  z.strictObject({ kind: z.literal('math'), ...commonTaskFields, ...fileFields }),
  /** Any JSONL: the question and answer field names, an optional integer level field, the answer kind. */
  z.strictObject({
    kind: z.literal('jsonl'),
    ...commonTaskFields,
    ...fileFields,
    questionField: z.string().min(1).default('question'),
    answerField: z.string().min(1).default('answer'),
    levelField: z.string().min(1).optional(),
    /** number: numeric equality; exact: the same text; math: symbolic equality of LaTeX. */
    answerKind: answerKindSchema.default('number'),
  }),
]);
export type TaskConfig = z.output<typeof taskConfigSchema>;
export type TaskConfigInput = z.input<typeof taskConfigSchema>;
export type TaskKind = TaskConfig['kind'];
export const TASK_KINDS = taskConfigSchema.options.map((option) => option.shape.kind.value);

/** What a task's difficulty level counts, for tables and charts. */
export const LEVEL_NAMES: Record<TaskKind, string> = {
  arithmetic: 'operators',
  gsm8k: 'reference steps',
  math: 'MATH level',
  jsonl: 'level',
};
