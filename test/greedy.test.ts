import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { unloadModel } from '../engine/llama.ts';
import { evaluateGreedy } from '../evaluate/greedy.ts';
import { ARITHMETIC_ALPHABET, extractAnswer } from '../tasks/arithmetic.ts';
import { loadTask } from '../tasks/index.ts';

const TRAINER = fileURLToPath(new URL('../native/build/arbor-trainer', import.meta.url));
const skip = existsSync(TRAINER) ? false : `trainer binary missing (${TRAINER}): run npm run build:native`;
if (skip) console.log(`# skipping greedy evaluation tests: ${skip}`);

describe('evaluateGreedy on a tiny untrained model', { skip }, () => {
  let directory = '';
  let modelPath = '';

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'arbor-greedy-'));
    const alphabetPath = join(directory, 'alphabet.txt');
    modelPath = join(directory, 'untrained.gguf');
    await writeFile(alphabetPath, ARITHMETIC_ALPHABET);
    await promisify(execFile)(TRAINER, [
      'init', '--vocab-chars', alphabetPath, '--out', modelPath,
      '--seed', '1', '--dim', '64', '--layers', '2', '--heads', '4', '--ctx', '256',
    ]);
  });

  after(async () => {
    await unloadModel(modelPath);
    await rm(directory, { recursive: true, force: true });
  });

  // Steps of at most 4 tokens: an untrained model never stops by itself, so the step budget ends it.
  const task = loadTask({ kind: 'arithmetic', maxStepTokens: 4 });

  test('returns one sample per problem, in order, with per-level counts and bounded completions', async () => {
    const problems = [
      ...task.sample('test', { seed: 1, level: 1, count: 3 }),
      ...task.sample('test', { seed: 1, level: 2, count: 5 }),
      ...task.sample('test', { seed: 1, level: 4, count: 4 }),
    ];
    const progress: number[] = [];
    const result = await evaluateGreedy({
      modelPath,
      task,
      problems,
      sequences: 4,
      onProgress: (done, total) => {
        assert.equal(total, problems.length);
        progress.push(done);
      },
    });

    assert.deepEqual(
      result.samples.map((sample) => sample.question),
      problems.map((problem) => problem.question),
    );
    assert.deepEqual(progress, problems.map((_, index) => index + 1));
    assert.deepEqual(Object.keys(result.byLevel).map(Number).sort(), [1, 2, 4]);
    assert.equal(result.byLevel[1]?.total, 3);
    assert.equal(result.byLevel[2]?.total, 5);
    assert.equal(result.byLevel[4]?.total, 4);

    let correct = 0;
    for (const [index, sample] of result.samples.entries()) {
      const problem = problems[index];
      assert.ok(problem !== undefined);
      const budget = task.maxDepth(problem) * task.maxStepTokens;
      assert.ok(sample.generatedTokens >= 1 && sample.generatedTokens <= budget, `${sample.generatedTokens} tokens generated, budget ${budget}`);
      assert.equal(sample.answer, extractAnswer(sample.completion)?.toString() ?? null);
      assert.equal(sample.correct, sample.answer === problem.answer);
      const answerLine = /(?:^|\n)A:[^\n]*\n/.exec(sample.completion);
      if (answerLine) assert.equal(answerLine.index + answerLine[0].length, sample.completion.length, 'text after the answer line');
      if (sample.correct) correct += 1;
    }
    assert.equal(result.accuracy, correct / problems.length);
    for (const tally of Object.values(result.byLevel)) {
      assert.ok(tally.correct <= tally.total);
      assert.equal(tally.accuracy, tally.correct / tally.total);
    }
  });

  test('the flexible reading beside the strict one: hidden answers are those only it finds right', async () => {
    const problems = task.sample('test', { seed: 2, level: 1, count: 12 });
    // A grader that reads the completion's first character as its answer, flexibly only: whatever the
    // untrained model writes first, the problems whose gold starts with it are hidden answers.
    const firstCharacter: typeof task = { ...task, flexibleAnswer: (completion) => completion.trim().slice(0, 1) || null, isCorrect: (answer, gold) => gold.startsWith(answer) };
    const result = await evaluateGreedy({ modelPath, task: firstCharacter, problems, sequences: 4 });
    const expected = result.samples.filter((sample, index) => !sample.correct && sample.completion.trim() !== '' && (problems[index]?.answer ?? '').startsWith(sample.completion.trim().slice(0, 1))).length;
    const tally = result.byLevel[1] ?? assert.fail('level 1 evaluated');
    assert.equal(tally.hiddenAnswers, expected);
    assert.equal(tally.flexibleAccuracy, result.samples.filter((sample) => sample.flexibleCorrect).length / problems.length);
    assert.ok(result.samples.every((sample) => !sample.correct || sample.flexibleCorrect), 'a strictly right answer is right flexibly too');
    assert.ok(tally.flexibleAccuracy >= tally.accuracy);
  });

  test('refuses a prompt that does not fit the context, naming the question', async () => {
    const long = loadTask({ kind: 'arithmetic', prompt: { style: 'plain', preamble: 'Q: 1+1\nA: 2\n'.repeat(40) } });
    const problems = long.sample('test', { seed: 2, level: 3, count: 2 });
    await assert.rejects(evaluateGreedy({ modelPath, task: long, problems }), /does not fit the context of 256: "/);
  });
});
