import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { extractBoxed, extractGsm8kAnswer, mathAnswersEqual, normalizeMathAnswer, normalizeNumber } from '../reward/answers.ts';

describe('GSM8K answers', () => {
  test('numbers with commas, dollars and trailing .0 normalise to one form', () => {
    assert.equal(normalizeNumber('1,200'), '1200');
    assert.equal(normalizeNumber('$18'), '18');
    assert.equal(normalizeNumber('18.0'), '18');
    assert.equal(normalizeNumber('18.50'), '18.5');
    assert.equal(normalizeNumber('-3'), '-3');
    assert.equal(normalizeNumber('eighteen'), null);
  });

  test('the answer after ####, else after "the answer is", else the last number', () => {
    assert.equal(extractGsm8kAnswer('She makes 9 * 2 = $18 a day.\n#### 18'), '18');
    assert.equal(extractGsm8kAnswer('#### $1,234.00'), '1234');
    assert.equal(extractGsm8kAnswer('So the answer is 42. Check: 40 + 2.'), '42');
    assert.equal(extractGsm8kAnswer('3 + 4 = 7 so she has 7 apples.'), '7');
    assert.equal(extractGsm8kAnswer('no digits here'), null);
  });

  test('every gold answer of the GSM8K test split parses to a number', () => {
    const lines = readFileSync(new URL('../../shared/datasets/gsm8k/test.jsonl', import.meta.url), 'utf8').trim().split('\n');
    const unparsed = lines.filter((line) => {
      const gold = (JSON.parse(line) as { answer: string }).answer;
      return extractGsm8kAnswer(gold.slice(gold.lastIndexOf('####'))) === null;
    });
    assert.equal(lines.length, 1319);
    assert.deepEqual(unparsed, []);
  });
});

describe('MATH answers', () => {
  test('the last \\boxed{} with nested braces', () => {
    assert.equal(extractBoxed('so \\boxed{1} or rather \\boxed{\\frac{1}{2}}.'), '\\frac{1}{2}');
    assert.equal(extractBoxed('no box'), null);
  });

  test('normalisation cases', () => {
    const same: [string, string][] = [
      ['\\frac{1}{2}', '1/2'],
      ['\\dfrac{3}{4}', '\\frac34'],
      ['\\left( 1, 2 \\right)', '(1,2)'],
      ['90^\\circ', '90'],
      ['5 \\text{ cm}', '5'],
      ['x = 7', '7'],
      ['\\$4.50', '4.5'],
      ['2.0', '2'],
      ['.5', '0.5'],
    ];
    for (const [a, b] of same) assert.ok(mathAnswersEqual(a, b), `${a} vs ${b}: ${normalizeMathAnswer(a)} / ${normalizeMathAnswer(b)}`);
    assert.ok(!mathAnswersEqual('\\frac{1}{3}', '1/2'));
    assert.ok(!mathAnswersEqual('(1,2)', '(2,1)'));
  });
});

describe('verifiers', async () => {
  const { arithmeticVerifier, gsm8kVerifier, markCorrectness, mathVerifier } = await import('../reward/verifiers.ts');
  const { addChild, createTree, nodeAt } = await import('../search/tree.ts');

  test('arithmetic: answer lines end a path; step labels are exact', () => {
    assert.equal(arithmeticVerifier.answerOf('A: -12'), '-12');
    assert.equal(arithmeticVerifier.answerOf('7+15'), null);
    assert.ok(arithmeticVerifier.isCorrect('18', '18'));
    assert.ok(!arithmeticVerifier.isCorrect('17', '18'));
    assert.deepEqual(arithmeticVerifier.stepLabels('7+5*3-4', ['7+15-4', '21-4', '17', 'A: 17']), [true, false, true, false]);
  });

  test('gsm8k and math verifiers compare normalised answers', () => {
    assert.equal(gsm8kVerifier.answerOf('She makes $18.'), null);
    assert.equal(gsm8kVerifier.answerOf('#### 1,018'), '1018');
    assert.ok(gsm8kVerifier.isCorrect('1018', 'blah\n#### 1,018'));
    assert.equal(mathVerifier.answerOf('so \\boxed{\\dfrac{1}{2}}'), '\\dfrac{1}{2}');
    assert.ok(mathVerifier.isCorrect('\\dfrac{1}{2}', 'We get \\boxed{1/2}.'));
  });

  test('markCorrectness labels only answer leaves', () => {
    const tree = createTree('1+1');
    const root = nodeAt(tree, 0);
    addChild(tree, root, { step: 'A: 2', prmScore: 0, answer: '2', generatedTokens: 1, state: 'end' });
    addChild(tree, root, { step: 'A: 3', prmScore: 0, answer: '3', generatedTokens: 1, state: 'end' });
    addChild(tree, root, { step: '1+1', prmScore: 0, answer: null, generatedTokens: 1, state: 'open' });
    assert.equal(markCorrectness(tree, arithmeticVerifier, '2'), 1);
    assert.deepEqual(tree.nodes.map((n) => n.correct), [null, true, false, null]);
  });
});
