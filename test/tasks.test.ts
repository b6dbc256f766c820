// The task abstraction: problem sources (splits, levels, seeded samples), file validation, answer
// rules per task, and a fake task driven through the task-generic code paths.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { heldOutProblems } from '../evaluate/held-out.ts';
import { prmQuality } from '../evaluate/prm-quality.ts';
import type { LabelLogProbs } from '../reward/value-functions.ts';
import { markCorrectness } from '../reward/verifiers.ts';
import { bestOfNSearch } from '../search/baselines.ts';
import { answerRules, loadTask, type Problem, type Task, GSM8K_FILES } from '../tasks/index.ts';
import { seededSample } from '../tasks/task.ts';
import { scriptedPolicy } from './search-fakes.ts';
import { useTempDir } from './temp-dir.ts';

const fixture = (name: string): string => new URL(`../datasets/examples/${name}`, import.meta.url).pathname;

describe('problem sources', () => {
  test('gsm8k ships with Arbor: splits never share a question, levels are reference steps, answers come after ####', () => {
    const gsm8k = loadTask({ kind: 'gsm8k' });
    assert.ok(GSM8K_FILES.train.endsWith('datasets/gsm8k/train.jsonl'));
    const levels = gsm8k.levels('test');
    assert.ok(levels.length >= 5 && levels.every((level) => level >= 1 && level <= 8), levels.join(','));
    const test = levels.flatMap((level) => gsm8k.sample('test', { seed: 1, level, count: gsm8k.count('test', level) }));
    const train = gsm8k.levels('train').flatMap((level) => gsm8k.sample('train', { seed: 1, level, count: gsm8k.count('train', level) }));
    assert.equal(test.length, 1319);
    assert.ok(train.length > 7000, `${train.length} train problems`);
    const held = new Set(test.map((problem) => problem.question));
    assert.ok(train.every((problem) => !held.has(problem.question)), 'a test question is in train');
    const janet = test.find((problem) => problem.question.startsWith('Janet’s ducks'));
    assert.deepEqual(janet && { answer: janet.answer, level: janet.level }, { answer: '18', level: 2 });
  });

  test('samples are seeded: the same seed gives the same problems, another seed others, and asking for too many fails', () => {
    const gsm8k = loadTask({ kind: 'gsm8k' });
    const first = gsm8k.sample('train', { seed: 3, level: 3, count: 20 });
    assert.deepEqual(gsm8k.sample('train', { seed: 3, level: 3, count: 20 }), first);
    assert.notDeepEqual(gsm8k.sample('train', { seed: 4, level: 3, count: 20 }), first);
    assert.equal(new Set(first.map((problem) => problem.question)).size, 20);
    assert.throws(() => gsm8k.sample('test', { seed: 1, level: 2, count: 10_000 }), /10000 test problems at level 2 asked for, \d+ exist/);
    assert.deepEqual(seededSample([1, 2, 3], 0, 1), []);
  });

  test('math: answers from the last \\boxed{}, levels from "Level N"; jsonl: named fields, a held-out tenth by question hash without --test', () => {
    const math = loadTask({ kind: 'math', train: fixture('math-mini.jsonl') });
    const all = [...math.levels('train').flatMap((level) => math.sample('train', { seed: 1, level, count: math.count('train', level) })), ...math.levels('test').flatMap((level) => math.sample('test', { seed: 1, level, count: math.count('test', level) }))];
    assert.equal(all.length, 12);
    assert.deepEqual(all.find((problem) => problem.question.startsWith('Simplify')), { question: 'Simplify $\\sqrt{12}$.', answer: '2\\sqrt{3}', level: 2 });
    const jsonl = loadTask({ kind: 'jsonl', train: fixture('word-problems.jsonl'), test: fixture('word-problems-test.jsonl'), questionField: 'q', answerField: 'a', levelField: 'difficulty' });
    assert.deepEqual(jsonl.levels('test'), [1, 2]);
    assert.equal(jsonl.count('train', 1) + jsonl.count('train', 2), 20);
    assert.ok(jsonl.isCorrect('12', '$12') && jsonl.isCorrect('7', '7') && !jsonl.isCorrect('8', '7'));
  });
});

describe('bad problem files are refused whole, naming the file, line and field', () => {
  const dir = useTempDir('arbor-tasks-');
  const write = async (name: string, lines: string[]): Promise<string> => {
    const path = join(dir(), name);
    await writeFile(path, lines.join('\n') + '\n');
    return path;
  };
  const good = JSON.stringify({ question: 'Two plus two?', answer: 4 });

  test('jsonl rows: not JSON, a missing field, a bad level, an empty file, a missing file', async () => {
    const notJson = await write('a.jsonl', [good, '{"question": "x",']);
    assert.throws(() => loadTask({ kind: 'jsonl', train: notJson }), new RegExp(`^Error: ${notJson}:2: not a JSON object$`));
    const missing = await write('b.jsonl', [good, good, JSON.stringify({ question: 'Three?' })]);
    assert.throws(() => loadTask({ kind: 'jsonl', train: missing }), new RegExp(`${missing}:3: field "answer": expected a non-empty string, got nothing`));
    const level = await write('c.jsonl', [JSON.stringify({ question: 'Q?', answer: '1', level: 0 })]);
    assert.throws(() => loadTask({ kind: 'jsonl', train: level, levelField: 'level' }), new RegExp(`${level}:1: field "level": expected a positive integer level, got 0`));
    const empty = await write('d.jsonl', ['']);
    assert.throws(() => loadTask({ kind: 'jsonl', train: empty }), new RegExp(`${empty}: no problems in the file`));
    assert.throws(() => loadTask({ kind: 'jsonl', train: join(dir(), 'nope.jsonl') }), /nope\.jsonl: cannot read the problem file \(ENOENT\)/);
  });

  test('gsm8k and math rows without an answer marker', async () => {
    const gsm8k = await write('g.jsonl', [JSON.stringify({ question: 'Q?', answer: 'It is 4.' })]);
    assert.throws(() => loadTask({ kind: 'gsm8k', train: gsm8k }), new RegExp(`${gsm8k}:1: field "answer": no "#### <answer>" line`));
    const math = await write('m.jsonl', [JSON.stringify({ problem: 'P?', solution: 'It is 4.' })]);
    assert.throws(() => loadTask({ kind: 'math', train: math }), new RegExp(`${math}:1: field "solution": no \\\\boxed\\{\\} answer`));
  });
});

describe('answer rules per task', () => {
  test('a step ends the solution only when it states an answer the task way', () => {
    const arithmetic = answerRules('arithmetic');
    assert.equal(arithmetic.answerOf('A: -12'), '-12');
    assert.equal(arithmetic.answerOf('7+15'), null);
    const gsm8k = answerRules('gsm8k');
    assert.equal(gsm8k.answerOf('She makes $18.'), null, 'a number alone does not end a GSM8K solution');
    assert.equal(gsm8k.answerOf('#### 1,018'), '1,018');
    assert.ok(gsm8k.isCorrect('1,018', '1018'));
    const unmarked = 'She makes 9 * 2 = $18 every day.';
    assert.equal(gsm8k.extractAnswer(unmarked), null, 'strict (the default): no marker, no answer');
    const last = gsm8k.flexibleAnswer(unmarked);
    assert.ok(last !== null && gsm8k.isCorrect(last, '18') && !gsm8k.isCorrect(last, '2'), `read flexibly, a whole completion falls back to its last number: ${last}`);
    assert.equal(answerRules('gsm8k', 'number', 'flexible').extractAnswer(unmarked), last, 'flexible extraction reads it too');
    assert.equal(loadTask({ kind: 'gsm8k', answer: { extraction: 'flexible' } }).extractAnswer(unmarked), last, 'task.answer.extraction: flexible');
    assert.equal(arithmetic.extractAnswer('7+15\n22'), null);
    assert.equal(arithmetic.flexibleAnswer('7+15\n22'), '22');
    assert.throws(() => loadTask({ kind: 'gsm8k', answer: { extraction: 'lenient' as 'strict' } }), /"answer",\s*"extraction"/);
    const math = answerRules('math');
    assert.equal(math.answerOf('so \\boxed{\\dfrac{1}{2}}'), '\\dfrac{1}{2}');
    assert.equal(math.answerOf('The answer is 5'), null);
    assert.ok(math.isCorrect('\\dfrac{1}{2}', '0.5'));
    const exact = answerRules('jsonl', 'exact');
    assert.ok(exact.isCorrect('Paris', ' paris '));
    assert.ok(!exact.isCorrect('Paris', 'Rome'));
  });
});

describe('the timing coin (bench:scale: a model with random weights)', () => {
  const steps = Array.from({ length: 4000 }, (_, index) => `random text ${index}`);

  test('ends about answerShare of the steps, grades about correctShare right, the same way every time', () => {
    const task = loadTask({ kind: 'gsm8k', timingCoin: { answerShare: 0.25, correctShare: 0.3 } });
    const answers = steps.map((step) => task.answerOf(step));
    const ended = answers.filter((answer) => answer !== null);
    assert.ok(Math.abs(ended.length / steps.length - 0.25) < 0.03, `share of steps ending a solution: ${ended.length / steps.length}`);
    const right = ended.filter((answer) => task.isCorrect(answer ?? '', '18')).length;
    assert.ok(Math.abs(right / ended.length - 0.3) < 0.05, `share of answers graded right: ${right / ended.length}`);
    assert.deepEqual(steps.map((step) => task.answerOf(step)), answers, 'deterministic');
    assert.equal(task.answerOf('#### 1,018'), '1,018', 'a stated answer is still read');
    const other = loadTask({ kind: 'gsm8k', seed: 8, timingCoin: {} });
    assert.notDeepEqual(steps.map((step) => other.answerOf(step)), answers, 'another seed, another coin');
  });

  test('without it nothing changes; a bad share is an error naming it', () => {
    assert.equal(loadTask({ kind: 'gsm8k' }).answerOf('random text 1'), null);
    assert.throws(() => loadTask({ kind: 'gsm8k', timingCoin: { correctShare: 1.5 } }), /"timingCoin",\s*"correctShare"/);
  });
});

describe('a fake task through the task-generic code', () => {
  // Steps end with " | ", answers are "ANSWER: word" compared without case; no step checker.
  const problems: Problem[] = [
    { question: 'color of the sky', answer: 'blue', level: 1 },
    { question: 'color of grass', answer: 'green', level: 1 },
    { question: 'color of snow at night', answer: 'white', level: 2 },
  ];
  const fake: Task = {
    kind: 'fake',
    levels: () => [1, 2],
    count: (_split, level) => problems.filter((problem) => problem.level === level).length,
    sample: (_split, { level, count }) => problems.filter((problem) => problem.level === level).slice(0, count),
    prompt: { style: 'plain', preamble: '', plain: 'TELL ME: {question}\n', chat: '{question}' },
    delimiter: ' | ',
    answerOf: (step) => /^ANSWER: (\w+)$/.exec(step)?.[1] ?? null,
    extractAnswer: (completion) => /ANSWER: (\w+)/.exec(completion)?.[1] ?? null,
    flexibleAnswer: (completion) => /ANSWER: (\w+)/.exec(completion)?.[1] ?? null,
    isCorrect: (answer, gold) => answer.toLowerCase() === gold,
    maxDepth: () => 3,
    maxStepTokens: 8,
    contextSize: 64,
  };

  test('held-out sets take what each level holds, at most what is asked', () => {
    assert.deepEqual(heldOutProblems(fake, { 1: 5, 2: 1 }).map((problem) => problem.answer), ['blue', 'green', 'white']);
  });

  test('the search ends paths with the task reader and marks leaves with its equivalence', async () => {
    const policy = scriptedPolicy({ '': [['look up', 'ANSWER: Blue']], 'look up': [['ANSWER: grey']] });
    const outcome = await bestOfNSearch({ question: 'color of the sky', policy, reader: fake, n: 2, pick: 'vote', maxDepth: fake.maxDepth(problems[0] as Problem) });
    assert.equal(markCorrectness(outcome.tree, fake, 'blue'), 1);
    assert.deepEqual(outcome.tree.nodes.filter((node) => node.answer !== null).map((node) => [node.answer, node.correct]).sort(), [['Blue', true], ['grey', false]]);
  });

  test('PRM quality without a step checker is the outcome AUC, on steps split at the task delimiter, with the plain prompt', async () => {
    const seen: string[][] = [];
    // A PRM that likes solutions ending in a right answer: log P(good) high when the text says Blue or green.
    const scorer: LabelLogProbs = {
      async labelLogProbs(texts) {
        seen.push(...texts.map((chunks) => [...chunks]));
        return texts.map((chunks) => (/Blue|green/.test(chunks.join('')) ? [-0.1, -3] : [-3, -0.1]));
      },
    };
    const quality = await prmQuality(scorer, fake, [
      { question: 'color of the sky', completion: 'look up | ANSWER: Blue | ', correct: true },
      { question: 'color of grass', completion: 'ANSWER: red | ', correct: false },
      { question: 'color of grass', completion: 'look down | ANSWER: green | ', correct: true },
    ]);
    assert.deepEqual(quality, { auc: 1, kind: 'outcome', firstErrorAccuracy: null, prefixes: 3 });
    assert.deepEqual(seen[0], ['TELL ME: color of the sky\n', 'look up', '\n', 'ANSWER: Blue', '\n']);
  });
});
