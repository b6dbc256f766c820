import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ARITHMETIC_ALPHABET,
  ArithmeticProblemSchema,
  checkAnswerLine,
  checkStep,
  evaluateExpression,
  extractAnswer,
  formatSolution,
  generateProblem,
  generateProblems,
  labelSolution,
  parseExpression,
  solveSteps,
} from '../tasks/arithmetic.ts';
import { splitOfQuestion } from '../tasks/task.ts';
import { loadTask } from '../tasks/index.ts';
import { plainPrompt } from '../engine/prompt.ts';

const formatPrompt = (question: string): string => plainPrompt(loadTask({ kind: 'arithmetic' }).prompt, question);
import { createRng } from '../tasks/random.ts';

test('solveSteps reduces one operation per step: * leftmost first, then + and - left to right', () => {
  assert.deepEqual(solveSteps('7+5*3-4'), ['7+15-4', '22-4', '18']);
  assert.deepEqual(solveSteps('3-5+2*4'), ['3-5+8', '-2+8', '6']);
  assert.deepEqual(solveSteps('3-8'), ['-5']);
  assert.deepEqual(solveSteps('2*3*4-9'), ['6*4-9', '24-9', '15']);
  assert.deepEqual(solveSteps('1-9-9*2'), ['1-9-18', '-8-18', '-26']);
});

test('the plain prompt and formatSolution write the documented texts', () => {
  assert.equal(formatPrompt('7+5*3-4'), 'Q: 7+5*3-4\n');
  assert.equal(formatSolution('7+5*3-4'), '7+15-4\n22-4\n18\nA: 18\n');
  assert.equal(formatSolution('3-8'), '-5\nA: -5\n');
});

test('expressions follow precedence and reject anything malformed', () => {
  assert.equal(evaluateExpression('2+3*4'), 14);
  assert.equal(evaluateExpression('-2+8'), 6);
  assert.equal(evaluateExpression('-2*3-1'), -7);
  assert.equal(evaluateExpression('42'), 42);
  for (const malformed of ['', '-', '2+', '+2', '2++3', '2+-3', '2 + 3', '(2+3)', '05+1', 'A: 5', '2/3', '9'.repeat(20)]) {
    assert.equal(parseExpression(malformed), null, JSON.stringify(malformed));
    assert.equal(evaluateExpression(malformed), null, JSON.stringify(malformed));
  }
});

test('every step of generated solutions passes checkStep and the last step is the answer', () => {
  const rng = createRng(7);
  for (let operators = 1; operators <= 5; operators++) {
    for (let index = 0; index < 500; index++) {
      const problem = generateProblem(rng, operators);
      const steps = solveSteps(problem.question);
      assert.equal(steps.length, operators);
      let previous = problem.question;
      for (const step of steps) {
        const check = checkStep(previous, step);
        assert.ok(check.valid, `${previous} -> ${step}: ${check.reason}`);
        previous = step;
      }
      assert.equal(Number(steps.at(-1)), problem.answer);
      assert.equal(evaluateExpression(problem.question), problem.answer);
      assert.ok(labelSolution(problem.question, formatSolution(problem.question)).every((label) => label.valid));
    }
  }
});

test('checkStep rejects wrong products, precedence errors, double reductions and garbage', () => {
  assert.equal(checkStep('2+3*4', '2+12').valid, true);
  assert.equal(checkStep('2+3*4', '2+13').valid, false, 'wrong product');
  assert.equal(checkStep('2+3*4', '5*4').valid, false, 'precedence error');
  assert.equal(checkStep('7+5*3-4', '22-4').valid, false, 'two reductions at once');
  assert.equal(checkStep('7+5*3-4', '18').valid, false, 'everything at once');
  assert.equal(checkStep('2+3*4', '2+3*4').valid, false, 'no reduction');
  assert.equal(checkStep('1+3*2-1', '3+2+1').valid, false, 'value kept, but not one operation replaced by its result');
  assert.match(checkStep('1+3*2-1', '3+2+1').reason ?? '', /one operation replaced/);
  assert.equal(checkStep('2+3-4', '2+-1').valid, false, 'a negative inner term is not the format');
  assert.equal(checkStep('9-2+3', '7+3').valid, true, 'the leftmost + or - first');
  assert.equal(checkStep('9-2+3', '9-5').valid, false, 'right-to-left subtraction changes the value');
  for (const garbage of ['', '2+', '+-*', 'A: 14', '2 + 12', '2+12\n']) {
    const check = checkStep('2+3*4', garbage);
    assert.equal(check.valid, false, JSON.stringify(garbage));
    assert.ok(check.reason, 'an invalid step says why');
  }
});

test('checkAnswerLine accepts exactly `A: <true answer>`', () => {
  assert.equal(checkAnswerLine('A: 18', 18).valid, true);
  assert.equal(checkAnswerLine('A: -5', -5).valid, true);
  assert.equal(checkAnswerLine('A: 17', 18).valid, false);
  assert.equal(checkAnswerLine('A:18', 18).valid, false);
  assert.equal(checkAnswerLine('18', 18).valid, false);
});

test('extractAnswer reads the first answer line', () => {
  assert.equal(extractAnswer('7+15-4\n22-4\n18\nA: 18\n'), 18);
  assert.equal(extractAnswer('-5\nA: -5\n'), -5);
  assert.equal(extractAnswer('7+15-4\n22-4\n18\n'), null, 'missing answer line');
  assert.equal(extractAnswer(''), null);
  assert.equal(extractAnswer('A: 1x\n'), null, 'not an integer');
  assert.equal(extractAnswer('xA: 3\n'), null, 'not at the start of a line');
  assert.equal(extractAnswer('A: 3\nA: 4\n'), 3, 'first one wins');
  assert.equal(extractAnswer('A: 12'), 12, 'cut before the final newline');
});

test('labelSolution marks the first wrong step, judging later lines against their predecessor', () => {
  const labels = labelSolution('7+5*3-4', '7+15-4\n22-5\n17\nA: 17\n');
  assert.deepEqual(
    labels.map(({ line, valid }) => [line, valid]),
    [
      ['7+15-4', true],
      ['22-5', false],
      ['17', true],
      ['A: 17', false],
    ],
  );
  assert.equal(labels.findIndex((label) => !label.valid), 1);

  const wrongFirstStep = labelSolution('2+3*4', '5*4\n20\nA: 20\n');
  assert.deepEqual(wrongFirstStep.map((label) => label.valid), [false, true, false]);

  const trailing = labelSolution('3-8', '-5\nA: -5\n-5\n');
  assert.deepEqual(trailing.map((label) => label.valid), [true, true, false]);
});

test('the alphabet covers every character of prompts and solutions', () => {
  const alphabet = new Set(ARITHMETIC_ALPHABET);
  const rng = createRng(3);
  for (let operators = 1; operators <= 5; operators++) {
    for (let index = 0; index < 100; index++) {
      const { question } = generateProblem(rng, operators);
      for (const character of formatPrompt(question) + formatSolution(question)) {
        assert.ok(alphabet.has(character), `character ${JSON.stringify(character)} is not in the alphabet`);
      }
    }
  }
  assert.ok(alphabet.has('+') && alphabet.has('-'), 'PRM label tokens');
});

test('generated problems respect the operator count, small values and the schema', () => {
  const rng = createRng(11);
  for (let operators = 1; operators <= 6; operators++) {
    for (let index = 0; index < 200; index++) {
      const problem = ArithmeticProblemSchema.parse(generateProblem(rng, operators));
      assert.equal(problem.operators, operators);
      assert.equal(parseExpression(problem.question)?.operators.length, operators);
      for (const step of [problem.question, ...solveSteps(problem.question)]) {
        assert.ok(parseExpression(step)?.terms.every((term) => Math.abs(term) <= 999), step);
      }
    }
  }
  assert.throws(() => generateProblem(rng, 0), /positive integer/);
});

test('generateProblems is deterministic for a seed and gives distinct problems', () => {
  for (const operators of [2, 4]) {
    const first = generateProblems({ seed: 5, operators, count: 300, split: 'train' });
    const again = generateProblems({ seed: 5, operators, count: 300, split: 'train' });
    const other = generateProblems({ seed: 6, operators, count: 300, split: 'train' });
    assert.deepEqual(again, first);
    assert.notDeepEqual(other, first);
    assert.equal(new Set(first.map((problem) => problem.question)).size, 300);
    assert.ok(first.every((problem) => problem.operators === operators));
  }
});

test('train and test splits are disjoint whatever the seeds', () => {
  for (const operators of [1, 2, 3, 5]) {
    const train = generateProblems({ seed: 1, operators, count: 150, split: 'train' });
    const test = generateProblems({ seed: 2, operators, count: 20, split: 'test' });
    const trainQuestions = new Set(train.map((problem) => problem.question));
    assert.ok(test.every((problem) => !trainQuestions.has(problem.question)));
    assert.ok(train.every((problem) => splitOfQuestion(problem.question) === 'train'));
    assert.ok(test.every((problem) => splitOfQuestion(problem.question) === 'test'));
  }
});

test('asking for more problems than the split holds throws a clear error', () => {
  // 1 operator: 9 * 9 * 3 = 243 questions in total, all within bounds, split by their hash.
  const questions = ['+', '-', '*'].flatMap((operator) =>
    [1, 2, 3, 4, 5, 6, 7, 8, 9].flatMap((left) => [1, 2, 3, 4, 5, 6, 7, 8, 9].map((right) => `${left}${operator}${right}`)),
  );
  for (const split of ['train', 'test'] as const) {
    const available = questions.filter((question) => splitOfQuestion(question) === split).length;
    const everything = generateProblems({ seed: 1, operators: 1, count: available, split });
    assert.equal(new Set(everything.map((problem) => problem.question)).size, available);
    assert.throws(
      () => generateProblems({ seed: 1, operators: 1, count: available + 1, split }),
      new RegExp(`cannot generate ${available + 1} distinct ${split} problems with 1 operator\\(s\\): only ${available} exist`),
    );
  }
});

test('the seeded PRNG is mulberry32: reproducible values, ranges respected', () => {
  // Reference values of mulberry32(42), the same on every platform.
  const rng = createRng(42);
  assert.deepEqual([rng.next(), rng.next(), rng.next()], [0.6011037519201636, 0.44829055899754167, 0.8524657934904099]);
  const seen = new Set<number>();
  for (let index = 0; index < 2_000; index++) {
    const value = rng.int(-2, 2);
    assert.ok(Number.isInteger(value) && value >= -2 && value <= 2);
    seen.add(value);
  }
  assert.equal(seen.size, 5);
  assert.throws(() => rng.pick([]), /empty/);
});
