/**
 * The arithmetic task: multi-step integer expressions (operands 1..9, operators + - *, no chained
 * products) solved one operation per line, so that every step of a solution can be checked exactly.
 * Pure code, no I/O.
 *
 * A solution for `7+5*3-4` reads
 *
 *     7+15-4
 *     22-4
 *     18
 *     A: 18
 */
import { z } from 'zod';
import type { Extraction } from './config.ts';
import { createRng, type Rng } from './random.ts';
import { seededSample, splitOfQuestion, type AnswerRules, type Problem, type Split, type Task, type TaskPrompt } from './task.ts';

/** Every character the task's texts use; the micro model's character vocabulary is built from it. */
export const ARITHMETIC_ALPHABET = '0123456789+-*() QA:\n';

/** Separates solution steps (and the answer line) in a completion. */
export const STEP_DELIMITER = '\n';

const ANSWER_PREFIX = 'A: ';
const ANSWER_LINE_PATTERN = /^A: (-?\d+)$/;

/** Largest |value| any question or intermediate step may hold: keeps numbers short for a tiny model. */
export const MAX_INTERMEDIATE_MAGNITUDE = 999;

export const OPERATORS = ['+', '-', '*'] as const;
export type Operator = (typeof OPERATORS)[number];

export const ArithmeticProblemSchema = z.object({
  question: z.string().min(1),
  answer: z.number().int(),
  operators: z.number().int().positive(),
});
export type ArithmeticProblem = z.infer<typeof ArithmeticProblemSchema>;

/** A parsed expression: `terms[i] operators[i] terms[i+1]`; only `terms[0]` may be negative. */
export interface Expression {
  terms: number[];
  operators: Operator[];
}

/** Outcome of checking one line of a solution. */
export interface StepCheck {
  valid: boolean;
  reason?: string;
}

/** One line of a completion with its ground-truth label. */
export interface LabelledLine extends StepCheck {
  line: string;
}

// ---------------------------------------------------------------------------------------------
// Expressions

// Canonical integers only (no leading zeros, no spaces): the format the solutions are written in.
const EXPRESSION_PATTERN = /^-?(?:0|[1-9]\d*)(?:[+*-](?:0|[1-9]\d*))*$/;

/** Parses `-?n (op n)*`; null for anything else (spaces, parentheses, unsafe integers, ...). */
export function parseExpression(text: string): Expression | null {
  if (!EXPRESSION_PATTERN.test(text)) return null;
  const negated = text.startsWith('-');
  const body = negated ? text.slice(1) : text;
  const terms = body.split(/[+*-]/).map(Number);
  if (!terms.every(Number.isSafeInteger)) return null;
  if (negated) terms[0] = -(terms[0] ?? 0);
  const operators = Array.from(body.matchAll(/[+*-]/g), (match) => match[0] as Operator);
  return { terms, operators };
}

/** Value with the usual precedence (* before + and -, left to right); null if it is not a safe integer. */
export function evaluateParsed(expression: Expression): number | null {
  const { terms, operators } = expression;
  let sum = 0;
  let product = terms[0] ?? 0;
  for (const [index, operator] of operators.entries()) {
    const operand = terms[index + 1] ?? 0;
    if (operator === '*') {
      product *= operand;
    } else {
      sum += product;
      product = operator === '+' ? operand : -operand;
    }
    if (!Number.isSafeInteger(sum) || !Number.isSafeInteger(product)) return null;
  }
  const value = sum + product;
  return Number.isSafeInteger(value) ? value : null;
}

/** Value of an expression text; null when it is malformed or out of the safe integer range. */
export function evaluateExpression(text: string): number | null {
  const expression = parseExpression(text);
  return expression === null ? null : evaluateParsed(expression);
}

export function formatExpression(expression: Expression): string {
  let text = String(expression.terms[0]);
  for (const [index, operator] of expression.operators.entries()) {
    text += operator + String(expression.terms[index + 1]);
  }
  return text;
}

function applyOperator(left: number, operator: Operator, right: number): number {
  if (operator === '*') return left * right;
  return operator === '+' ? left + right : left - right;
}

/** The expression with operation `at` (`terms[at] op terms[at+1]`) replaced by its result. */
function reduceAt(expression: Expression, at: number): Expression {
  const { terms, operators } = expression;
  const reduced = applyOperator(terms[at] ?? 0, operators[at] ?? '+', terms[at + 1] ?? 0);
  return {
    terms: [...terms.slice(0, at), reduced, ...terms.slice(at + 2)],
    operators: [...operators.slice(0, at), ...operators.slice(at + 1)],
  };
}

/**
 * Reduces exactly one operation: the leftmost `*` if any, else the leftmost `+`/`-`. Since every
 * `*` goes first, only the leading term can ever become negative, so the result stays parseable.
 */
function reduceOnce(expression: Expression): Expression {
  const multiplication = expression.operators.indexOf('*');
  return reduceAt(expression, multiplication >= 0 ? multiplication : 0);
}

/** The expressions after each reduction, down to the bare value. */
function reductionChain(expression: Expression): Expression[] {
  const chain: Expression[] = [];
  let current = expression;
  while (current.operators.length > 0) {
    current = reduceOnce(current);
    chain.push(current);
  }
  return chain;
}

function parseQuestion(question: string): Expression {
  const expression = parseExpression(question);
  if (expression === null) throw new Error(`not a well-formed arithmetic question: ${JSON.stringify(question)}`);
  return expression;
}

// ---------------------------------------------------------------------------------------------
// Solutions

/** The step lines of the canonical solution; the last one is the bare value. */
export function solveSteps(question: string): string[] {
  return reductionChain(parseQuestion(question)).map(formatExpression);
}

export function formatAnswerLine(answer: number): string {
  return `${ANSWER_PREFIX}${answer}`;
}

/** The completion the model is trained to produce: the steps, then the answer line. */
export function formatSolution(question: string): string {
  const answer = evaluateParsed(parseQuestion(question));
  if (answer === null) throw new Error(`question value is out of range: ${question}`);
  return [...solveSteps(question), formatAnswerLine(answer)].map((line) => line + STEP_DELIMITER).join('');
}

/** The integer of the first `A: n` line, or null when no line is one. */
export function extractAnswer(completionText: string): number | null {
  for (const line of completionText.split(STEP_DELIMITER)) {
    const match = ANSWER_LINE_PATTERN.exec(line);
    if (match) return Number(match[1]);
  }
  return null;
}

/**
 * A step is valid iff it is the previous expression with exactly one operation `a op b` replaced by
 * its result, and keeps the value: a wrong product, a precedence mistake, two reductions at once or
 * a rearrangement that happens to keep the value (`1+3*2-1` → `3+2+1`) all fail.
 */
export function checkStep(previousExpression: string, stepLine: string): StepCheck {
  const previous = parseExpression(previousExpression);
  if (previous === null) return { valid: false, reason: 'previous line is not a well-formed expression' };
  const step = parseExpression(stepLine);
  if (step === null) return { valid: false, reason: 'not a well-formed expression' };
  const removed = previous.operators.length - step.operators.length;
  if (removed !== 1) return { valid: false, reason: `reduces ${removed} operations instead of exactly one` };
  const previousValue = evaluateParsed(previous);
  const stepValue = evaluateParsed(step);
  if (previousValue === null || stepValue === null) return { valid: false, reason: 'value out of range' };
  if (stepValue !== previousValue) return { valid: false, reason: `value ${stepValue} differs from ${previousValue}` };
  const text = formatExpression(step);
  const rewrites = previous.operators.map((_, at) => formatExpression(reduceAt(previous, at)));
  if (!rewrites.includes(text)) return { valid: false, reason: 'not the previous line with one operation replaced by its result' };
  return { valid: true };
}

export function checkAnswerLine(line: string, expectedAnswer: number): StepCheck {
  const match = ANSWER_LINE_PATTERN.exec(line);
  if (!match) return { valid: false, reason: 'not an answer line `A: <integer>`' };
  const answer = Number(match[1]);
  if (answer !== expectedAnswer) return { valid: false, reason: `answer ${answer} differs from ${expectedAnswer}` };
  return { valid: true };
}

/**
 * Ground-truth label of every line of a completion. A step line is judged against the line before
 * it (the first against the question), so only the step that introduces an error is marked wrong;
 * a line starting with `A:` is the answer line, right iff it states the true answer; anything after
 * the answer line is wrong.
 */
export function labelSolution(question: string, completionText: string): LabelledLine[] {
  const trueAnswer = evaluateParsed(parseQuestion(question));
  if (trueAnswer === null) throw new Error(`question value is out of range: ${question}`);
  const lines = completionText.split(STEP_DELIMITER);
  // A completion normally ends with the delimiter: that leaves an empty last piece, not a line.
  if (lines.at(-1) === '') lines.pop();

  const labels: LabelledLine[] = [];
  let previous = question;
  let answered = false;
  for (const line of lines) {
    if (answered) {
      labels.push({ line, valid: false, reason: 'text after the answer line' });
    } else if (line.startsWith('A:')) {
      labels.push({ line, ...checkAnswerLine(line, trueAnswer) });
      answered = true;
    } else {
      labels.push({ line, ...checkStep(previous, line) });
      previous = line;
    }
  }
  return labels;
}

// ---------------------------------------------------------------------------------------------
// Problem generation

function assertOperatorCount(operators: number): void {
  if (!Number.isInteger(operators) || operators < 1) {
    throw new Error(`the number of operators must be a positive integer, got ${operators}`);
  }
}

/**
 * True when two `*` are adjacent (`a*b*c`): the second product would be multi-digit × one-digit in
 * one step, a fact a small model can only memorize, and held-out problems would need ones it never
 * saw. Without chains every product is one digit × one digit and every sum is column arithmetic,
 * so each step is learnable; longer problems stay harder only by having more steps.
 */
function hasChainedProduct(expression: Expression): boolean {
  return expression.operators.some((operator, index) => operator === '*' && expression.operators[index + 1] === '*');
}

/** The problem for an expression, or null when it chains products or some value along its solution is too large. */
function problemFromExpression(expression: Expression): ArithmeticProblem | null {
  if (hasChainedProduct(expression)) return null;
  const chain = reductionChain(expression);
  const withinBounds = [expression, ...chain].every((step) =>
    step.terms.every((term) => Math.abs(term) <= MAX_INTERMEDIATE_MAGNITUDE),
  );
  const last = chain.at(-1);
  if (!withinBounds || last === undefined) return null;
  return { question: formatExpression(expression), answer: last.terms[0] ?? 0, operators: expression.operators.length };
}

const OPERANDS = [1, 2, 3, 4, 5, 6, 7, 8, 9] as const;

/** A uniformly random problem with exactly `operators` operators, resampled until its values stay small. */
export function generateProblem(rng: Rng, operators: number): ArithmeticProblem {
  assertOperatorCount(operators);
  for (;;) {
    const expression: Expression = {
      terms: Array.from({ length: operators + 1 }, () => rng.pick(OPERANDS)),
      operators: Array.from({ length: operators }, () => rng.pick(OPERATORS)),
    };
    const problem = problemFromExpression(expression);
    if (problem !== null) return problem;
  }
}

// Up to this many raw questions (9^(k+1) * 3^k: k <= 3 operators) the space is enumerated, so its
// exact size is known and any count up to it can be served; beyond, random draws are practically
// always new and the space is far larger than any request.
const ENUMERATION_LIMIT = 200_000;
const enumeratedProblems = new Map<number, ArithmeticProblem[]>();

function rawSpaceSize(operators: number): number {
  return OPERANDS.length ** (operators + 1) * OPERATORS.length ** operators;
}

/** Every valid problem with `operators` operators, in a fixed order (memoized). */
function allProblems(operators: number): ArithmeticProblem[] {
  const cached = enumeratedProblems.get(operators);
  if (cached) return cached;
  const problems: ArithmeticProblem[] = [];
  const build = (terms: number[], chosenOperators: Operator[]): void => {
    if (chosenOperators.length === operators) {
      const problem = problemFromExpression({ terms, operators: chosenOperators });
      if (problem !== null) problems.push(problem);
      return;
    }
    for (const operator of OPERATORS) {
      for (const operand of OPERANDS) build([...terms, operand], [...chosenOperators, operator]);
    }
  };
  for (const first of OPERANDS) build([first], []);
  enumeratedProblems.set(operators, problems);
  return problems;
}

/** How many distinct problems of a difficulty a split holds (Infinity when the space is too large to enumerate). */
export function countProblems(operators: number, split: Split): number {
  assertOperatorCount(operators);
  if (rawSpaceSize(operators) > ENUMERATION_LIMIT) return Infinity;
  return allProblems(operators).filter((problem) => splitOfQuestion(problem.question) === split).length;
}

export interface GenerateProblemsOptions {
  seed: number;
  operators: number;
  count: number;
  split: Split;
}

/** `count` distinct problems of one difficulty and split, in random order; deterministic for a seed. */
export function generateProblems({ seed, operators, count, split }: GenerateProblemsOptions): ArithmeticProblem[] {
  assertOperatorCount(operators);
  if (!Number.isInteger(count) || count < 0) throw new Error(`count must be a non-negative integer, got ${count}`);
  if (rawSpaceSize(operators) <= ENUMERATION_LIMIT) {
    const candidates = allProblems(operators).filter((problem) => splitOfQuestion(problem.question) === split);
    if (count > candidates.length) {
      throw new Error(
        `cannot generate ${count} distinct ${split} problems with ${operators} operator(s): ` +
          `only ${candidates.length} exist (ask for fewer, or use more operators)`,
      );
    }
    return seededSample(candidates, count, seed);
  }

  const rng = createRng(seed);
  const problems = new Map<string, ArithmeticProblem>();
  // Guards against requests near the size of a huge space, where draws would almost never be new.
  const maxDraws = 1_000 * count + 100_000;
  for (let draw = 0; problems.size < count; draw++) {
    if (draw >= maxDraws) {
      throw new Error(
        `cannot generate ${count} distinct ${split} problems with ${operators} operator(s): ` +
          `found only ${problems.size} in ${maxDraws} draws`,
      );
    }
    const problem = generateProblem(rng, operators);
    if (splitOfQuestion(problem.question) === split) problems.set(problem.question, problem);
  }
  return [...problems.values()];
}

// ---------------------------------------------------------------------------------------------
// The task

/** Levels a split is said to have: the space is unbounded, so the levels the micro model's evaluation reports. */
const ARITHMETIC_LEVELS = [1, 2, 3, 4];

/** Answers are `A: <integer>` lines, compared as integers. */
/** The arithmetic answer rules: an "A: n" line states the answer; flexible reading takes the last integer when none does. */
export function arithmeticAnswers(extraction: Extraction): AnswerRules {
  const flexible = (completion: string): string | null => extractAnswer(completion)?.toString() ?? /-?\d+(?!.*\d)/s.exec(completion)?.[0] ?? null;
  return {
    answerOf: (step) => extractAnswer(step)?.toString() ?? null,
    extractAnswer: (completion) => (extraction === 'flexible' ? flexible(completion) : (extractAnswer(completion)?.toString() ?? null)),
    flexibleAnswer: flexible,
    isCorrect: (answer, gold) => answer.trim() !== '' && Number(answer) === Number(gold),
  };
}

/** The arithmetic task: level = number of operators; the prompt the micro model was trained on. */
export function arithmeticTask(settings: { prompt?: Partial<TaskPrompt>; delimiter?: string; maxDepth?: number; maxStepTokens?: number; extraction?: Extraction } = {}): Task {
  const toProblem = (problem: ArithmeticProblem): Problem => ({ question: problem.question, answer: String(problem.answer), level: problem.operators });
  return {
    kind: 'arithmetic',
    levels: () => ARITHMETIC_LEVELS,
    count: (split, level) => countProblems(level, split),
    sample: (split, { seed, level, count }) => generateProblems({ seed, operators: level, count, split }).map(toProblem),
    prompt: { style: 'plain', preamble: '', plain: 'Q: {question}\n', chat: '{question}', ...settings.prompt },
    delimiter: settings.delimiter ?? STEP_DELIMITER,
    ...arithmeticAnswers(settings.extraction ?? 'strict'),
    stepLabels: (question, steps) => labelSolution(question, steps.map((step) => step + STEP_DELIMITER).join('')).map((line) => line.valid),
    maxDepth: (problem) => settings.maxDepth ?? problem.level + 3,
    maxStepTokens: settings.maxStepTokens ?? 48,
    contextSize: 256,
    characters: ARITHMETIC_ALPHABET,
    solution: (problem) => formatSolution(problem.question),
  };
}
