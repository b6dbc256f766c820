/**
 * Tasks whose problems come from JSONL files: GSM8K (shipped in datasets/gsm8k), MATH and any JSONL
 * with named fields. A file is read and validated whole before anything uses it: a bad row is an
 * error naming the file, line and field, and nothing is half-imported.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AnswerKind, Extraction, TaskConfig } from './config.ts';
import { answersEqual, extractBoxed, extractHashAnswer } from './answers.ts';
import { seededSample, splitOfQuestion, type AnswerRules, type Problem, type Split, type Task, type TaskPrompt } from './task.ts';

/** The GSM8K copy that ships with Arbor (MIT, datasets/gsm8k/LICENSE). */
export const GSM8K_FILES = {
  train: fileURLToPath(new URL('../datasets/gsm8k/train.jsonl', import.meta.url)),
  test: fileURLToPath(new URL('../datasets/gsm8k/test.jsonl', import.meta.url)),
};

type Row = Record<string, unknown>;
type RowReader = (row: Row, field: (name: string) => never) => Problem;

/** Every row of a JSONL file as a problem; throws `file:line: field "x": why` at the first bad one. */
export function readProblemFile(path: string, toProblem: RowReader): Problem[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`${path}: cannot read the problem file (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  const problems: Problem[] = [];
  for (const [index, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const where = `${path}:${index + 1}`;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      throw new Error(`${where}: not a JSON object`);
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new Error(`${where}: not a JSON object`);
    problems.push(
      toProblem(row as Row, (message: string): never => {
        throw new Error(`${where}: ${message}`);
      }),
    );
  }
  if (problems.length === 0) throw new Error(`${path}: no problems in the file`);
  return problems;
}

/** A field that must be a non-empty string (or a finite number, written as text). */
function textField(row: Row, name: string, fail: (message: string) => never): string {
  const value = row[name];
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value !== 'string' || value.trim() === '') fail(`field "${name}": expected a non-empty string, got ${JSON.stringify(value) ?? 'nothing'}`);
  return value.trim();
}

/** Train and test problems, deduplicated by question; a test question never appears in train. */
function splitProblems(train: Problem[], test: Problem[] | null): Record<Split, Problem[]> {
  const unique = (problems: Problem[]): Problem[] => [...new Map(problems.map((problem) => [problem.question, problem])).values()];
  if (test === null) {
    const all = unique(train);
    return { train: all.filter((problem) => splitOfQuestion(problem.question) === 'train'), test: all.filter((problem) => splitOfQuestion(problem.question) === 'test') };
  }
  const held = unique(test);
  const heldQuestions = new Set(held.map((problem) => problem.question));
  return { train: unique(train).filter((problem) => !heldQuestions.has(problem.question)), test: held };
}

interface FileTaskSpec {
  kind: TaskConfig['kind'];
  train: string;
  test: string | undefined;
  toProblem: RowReader;
  answerKind: AnswerKind;
  extraction: Extraction;
  prompt: TaskPrompt;
  delimiter: string;
  maxDepth: number;
  maxStepTokens: number;
  contextSize: number;
}

/**
 * Answers of file tasks: a step states one in a `\boxed{}` (math answers), or after `####` or "the
 * answer is" (otherwise, where a `\boxed{}` counts too); compared as the answer kind says.
 */
export function fileAnswerRules(kind: AnswerKind, extraction: Extraction): AnswerRules {
  const read = (completion: string, how: Extraction): string | null => (kind === 'math' ? (extractBoxed(completion) ?? extractHashAnswer(completion, how)) : extractHashAnswer(completion, how));
  return {
    answerOf: (step) => (kind !== 'math' && /####|the (?:final )?answer is/i.test(step) ? extractHashAnswer(step, extraction) : extractBoxed(step)),
    extractAnswer: (completion) => read(completion, extraction),
    flexibleAnswer: (completion) => read(completion, 'flexible'),
    isCorrect: (answer, gold) => answersEqual(kind, answer, gold),
  };
}

function fileTask(spec: FileTaskSpec): Task {
  const splits = splitProblems(readProblemFile(spec.train, spec.toProblem), spec.test === undefined ? null : readProblemFile(spec.test, spec.toProblem));
  const atLevel = (split: Split, level: number): Problem[] => splits[split].filter((problem) => problem.level === level);
  return {
    kind: spec.kind,
    levels: (split) => [...new Set(splits[split].map((problem) => problem.level))].sort((a, b) => a - b),
    count: (split, level) => atLevel(split, level).length,
    sample: (split, { seed, level, count }) => {
      const candidates = atLevel(split, level);
      if (count > candidates.length) throw new Error(`${spec.kind}: ${count} ${split} problems at level ${level} asked for, ${candidates.length} exist`);
      return seededSample(candidates, count, seed);
    },
    prompt: spec.prompt,
    delimiter: spec.delimiter,
    ...fileAnswerRules(spec.answerKind, spec.extraction),
    maxDepth: () => spec.maxDepth,
    maxStepTokens: spec.maxStepTokens,
    contextSize: spec.contextSize,
  };
}

const ONE_STEP_PER_LINE = 'Solve it step by step, one step per line';

/** GSM8K: the answer after `####`; level = the reference solution's steps (1–8). */
export function gsm8kTask(config: Extract<TaskConfig, { kind: 'gsm8k' }>, prompt: Partial<TaskPrompt>): Task {
  return fileTask({
    kind: 'gsm8k',
    train: config.train ?? GSM8K_FILES.train,
    test: config.test ?? (config.train === undefined ? GSM8K_FILES.test : undefined),
    toProblem: (row, fail) => {
      const question = textField(row, 'question', fail);
      const solution = textField(row, 'answer', fail);
      const marker = solution.lastIndexOf('####');
      if (marker < 0) fail('field "answer": no "#### <answer>" line');
      const answer = solution.slice(marker + 4).trim();
      if (answer === '') fail('field "answer": nothing after "####"');
      const steps = solution.slice(0, marker).split('\n').filter((line) => line.trim() !== '').length;
      return { question, answer, level: Math.min(8, Math.max(1, steps)) };
    },
    answerKind: 'number',
    extraction: config.answer.extraction,
    prompt: { style: 'auto', preamble: '', plain: '{question}\n', chat: `{question}\n${ONE_STEP_PER_LINE}, and end with "#### <answer>".`, ...prompt },
    delimiter: config.delimiter ?? '\n',
    maxDepth: config.maxDepth ?? 10,
    maxStepTokens: config.maxStepTokens ?? 96,
    contextSize: 1024,
  });
}

/** MATH: the answer in the solution's last `\boxed{}` (or an `answer` field); level from "Level N". */
export function mathTask(config: Extract<TaskConfig, { kind: 'math' }>, prompt: Partial<TaskPrompt>): Task {
  return fileTask({
    kind: 'math',
    train: config.train,
    test: config.test,
    toProblem: (row, fail) => {
      const question = textField(row, 'problem', fail);
      const answer = row.answer === undefined ? extractBoxed(textField(row, 'solution', fail)) : textField(row, 'answer', fail);
      if (answer === null || answer.trim() === '') return fail('field "solution": no \\boxed{} answer');
      const level = /(\d+)/.exec(typeof row.level === 'string' || typeof row.level === 'number' ? String(row.level) : '')?.[1];
      return { question, answer: answer.trim(), level: level === undefined ? 1 : Math.max(1, Number(level)) };
    },
    answerKind: 'math',
    extraction: config.answer.extraction,
    prompt: { style: 'auto', preamble: '', plain: 'Problem: {question}\nSolution:\n', chat: '{question}\nSolve it step by step, and put the final answer in \\boxed{}.', ...prompt },
    delimiter: config.delimiter ?? '\n\n',
    maxDepth: config.maxDepth ?? 16,
    maxStepTokens: config.maxStepTokens ?? 256,
    contextSize: 2048,
  });
}

/** Any JSONL: named question / answer / level fields. */
export function jsonlTask(config: Extract<TaskConfig, { kind: 'jsonl' }>, prompt: Partial<TaskPrompt>): Task {
  const ending = config.answerKind === 'math' ? 'put the final answer in \\boxed{}' : 'end with "#### <answer>"';
  return fileTask({
    kind: 'jsonl',
    train: config.train,
    test: config.test,
    toProblem: (row, fail) => {
      const question = textField(row, config.questionField, fail);
      const answer = textField(row, config.answerField, fail);
      let level = 1;
      if (config.levelField !== undefined) {
        const value = row[config.levelField];
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) return fail(`field "${config.levelField}": expected a positive integer level, got ${JSON.stringify(value) ?? 'nothing'}`);
        level = value;
      }
      return { question, answer, level };
    },
    answerKind: config.answerKind,
    extraction: config.answer.extraction,
    prompt: { style: 'auto', preamble: '', plain: '{question}\n', chat: `{question}\n${ONE_STEP_PER_LINE}, and ${ending}.`, ...prompt },
    delimiter: config.delimiter ?? '\n',
    maxDepth: config.maxDepth ?? 12,
    maxStepTokens: config.maxStepTokens ?? 128,
    contextSize: 1024,
  });
}
