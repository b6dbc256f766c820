// The `arbor` command line: help on every command, exit codes scripts can trust, clear errors.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { arbor } from './arbor-cli.ts';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('arbor CLI', () => {
  test('--help lists the commands and exits 0', async () => {
    const { code, stdout } = await arbor('--help');
    assert.equal(code, 0);
    assert.match(stdout, /micro build/);
    assert.match(stdout, /micro eval/);
  });

  test('micro --help documents the options and defaults', async () => {
    const { code, stdout } = await arbor('micro', '--help');
    assert.equal(code, 0);
    assert.match(stdout, /--out/);
    assert.match(stdout, /models\/micro\/arbor-micro\.gguf/);
  });

  test('an unknown command exits 2 and says which', async () => {
    const { code, stderr } = await arbor('frobnicate');
    assert.equal(code, 2);
    assert.match(stderr, /unknown command 'frobnicate'/);
  });

  test('a missing or non-GGUF model file is an error naming it and saying why, not a stack trace', async () => {
    const missing = await arbor('micro', 'eval', '--model', 'no/such/model.gguf');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no\/such\/model\.gguf: no such file/);
    const text = await arbor('eval', '--model', 'package.json');
    assert.match(text.stderr, /package\.json: not a GGUF file/);
    assert.doesNotMatch(text.stderr, /\n\s+at /);
  });

  test('a bad option value or an unknown option exits 2 before any work', async () => {
    const bad = await arbor('micro', 'eval', '--threads', 'many');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /threads/);
    const unknown = await arbor('micro', 'eval', '--treads', '1');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--treads/);
  });

  test('grade: one verdict per row, the accuracy, by the task answer rules', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arbor-grade-'));
    const file = join(dir, 'graded.jsonl');
    const rows = [
      { completion: 'Half of 1 is 1/2.\n#### 0.5', answer: '1/2' },
      { completion: 'So 10 + 8 = 18 dollars.', answer: 18 },
      { completion: '#### 7', answer: '8' },
      { completion: 'no number here', answer: '3' },
    ];
    await writeFile(file, rows.map((row) => JSON.stringify(row)).join('\n') + '\n');
    const graded = await arbor('grade', '--task', 'gsm8k', file);
    assert.equal(graded.code, 0, graded.stderr);
    const verdicts = graded.stdout.trim().split('\n').map((line) => JSON.parse(line) as { line: number; extracted: string | null; correct: boolean });
    assert.deepEqual(verdicts.map((verdict) => [verdict.line, verdict.correct]), [[1, true], [2, true], [3, false], [4, false]]);
    assert.equal(verdicts[3]?.extracted, null);
    assert.match(graded.stderr, /accuracy 0\.500 \(2\/4\)/);
    const math = join(dir, 'math.jsonl');
    await writeFile(math, JSON.stringify({ completion: 'so $\\boxed{\\frac12}$', answer: '0.5' }) + '\n');
    assert.match((await arbor('grade', '--task', 'math', math)).stdout, /"correct":true/);
    await writeFile(file, JSON.stringify(rows[0]) + '\n{"completion": 5}\n');
    const bad = await arbor('grade', '--task', 'gsm8k', file);
    assert.equal(bad.code, 2);
    assert.equal(bad.stdout, '', 'nothing is graded when a row is bad');
    assert.match(bad.stderr, new RegExp(`${file}:2: field "completion"`));
    assert.equal((await arbor('grade', '--task', 'chess', file)).code, 2);
    await rm(dir, { recursive: true, force: true });
  });
});
