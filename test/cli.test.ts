// The `arbor` command line: help on every command, exit codes scripts can trust, clear errors.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { arbor } from './arbor-cli.ts';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
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
    // Strict (the default): row 2 states no answer the GSM8K way, so it is not graded right.
    assert.deepEqual(verdicts.map((verdict) => [verdict.line, verdict.correct]), [[1, true], [2, false], [3, false], [4, false]]);
    assert.equal(verdicts[1]?.extracted, null);
    assert.equal(verdicts[3]?.extracted, null);
    assert.match(graded.stderr, /accuracy 0\.250 \(1\/4\)/);
    const flexible = await arbor('grade', '--task', 'gsm8k', '--extraction', 'flexible', file);
    assert.deepEqual(flexible.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { correct: boolean }).correct), [true, true, false, false], 'flexible: the last number counts');
    assert.match(flexible.stderr, /accuracy 0\.500 \(2\/4\)/);
    const unknown = await arbor('grade', '--task', 'gsm8k', '--extraction', 'lenient', file);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--extraction lenient: one of strict, flexible/);
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

describe('run names and paths: one validator, nothing written outside runs/', () => {
  /** Every file under `dir` (so a test can see that nothing was written). */
  async function files(dir: string): Promise<string[]> {
    return (await readdir(dir, { recursive: true })).sort();
  }

  test('a name that is not one folder inside runs/ exits 2 naming it, for every command that takes one', async () => {
    const before = await files('runs').catch(() => []);
    for (const name of ['..', '/abs', 'a/../../b', '.hidden']) {
      for (const command of [['pause'], ['resume'], ['stop'], ['status', '--inline'], ['models'], ['tree'], ['lineage'], ['export'], ['report']]) {
        const [action, ...rest] = command as [string, ...string[]];
        const result = await arbor(action, name, ...rest);
        assert.equal(result.code, 2, `arbor ${action} ${name}: ${result.stderr}`);
        assert.match(result.stderr, new RegExp(`arbor ${action}: run name ${JSON.stringify(name).replaceAll('.', '\\.').replaceAll('/', '\\/')} is not allowed`), `arbor ${action} ${name}`);
      }
      const run = await arbor('run', '--name', name, '--quick', '--inline');
      assert.equal(run.code, 2, `arbor run --name ${name}: ${run.stderr}`);
      assert.match(run.stderr, /name/);
    }
    assert.deepEqual(await files('runs').catch(() => []), before, 'nothing written under runs/');
    for (const path of ['control.json', '../control.json', '/abs/control.json']) assert.ok(!existsSync(path), `${path} not written`);
  });

  test('runs/NAME as a link leading outside runs/ is refused before anything is written', async () => {
    const outside = await mkdtemp(join(tmpdir(), 'arbor-outside-'));
    await mkdir('runs', { recursive: true });
    const link = join('runs', `link-${process.pid}`);
    await symlink(outside, link);
    try {
      for (const command of [['pause'], ['stop'], ['status', '--inline'], ['models']]) {
        const [action, ...rest] = command as [string, ...string[]];
        const result = await arbor(action, `link-${process.pid}`, ...rest);
        assert.equal(result.code, 2, `arbor ${action}: ${result.stderr}`);
        assert.match(result.stderr, /is a link to .*outside .*runs/);
      }
      const run = await arbor('run', '--name', `link-${process.pid}`, '--quick', '--inline');
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, /is a link to/);
      assert.deepEqual(await readdir(outside), [], 'nothing written where the link leads');
    } finally {
      await rm(link);
      await rm(outside, { recursive: true, force: true });
    }
  });

  test('a NUL in a config file’s name or runDir exits 2 naming the key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arbor-nul-'));
    try {
      for (const [key, config] of [['name', { name: 'a\u0000b' }], ['runDir', { runDir: join(dir, 'x\u0000y') }]] as const) {
        const file = join(dir, `${key}.json`);
        await writeFile(file, JSON.stringify(config));
        const result = await arbor('run', file, '--quick', '--inline');
        assert.equal(result.code, 2, `${key}: ${result.stderr}`);
        assert.match(result.stderr, new RegExp(key));
      }
      assert.deepEqual((await files(dir)).filter((file) => !file.endsWith('.json')), [], 'nothing written');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('what this install runs: arbor --version and the trainer build', () => {
  test('arbor --version names the versions, the inference backend and the trainer’s BLAS', async () => {
    const { code, stdout } = await arbor('--version');
    assert.equal(code, 0);
    assert.match(stdout, /^arbor \d+\.\d+\.\d+$/m);
    assert.match(stdout, /^node-llama-cpp \d+\.\d+\.\d+: inference on /m);
    assert.match(stdout, /^arbor-trainer \(blas: (openblas \S+|none); cuda: /m);
  });

  test('native/build.sh rebuilds when the BLAS it would link changes (--check says so without building)', () => {
    const built = readFileSync('native/build/arbor-trainer.build', 'utf8');
    const check = (env: NodeJS.ProcessEnv) => spawnSync('bash', ['native/build.sh', '--check'], { encoding: 'utf8', env: { ...process.env, ...env } });
    const same = check({});
    assert.equal(same.status, 0, same.stdout + same.stderr);
    assert.match(same.stdout, /is up to date \(blas: /);
    // No OpenBLAS visible to pkg-config: a trainer built with it is due for a rebuild without it.
    const without = check({ PKG_CONFIG_LIBDIR: '/nonexistent', PKG_CONFIG_PATH: '/nonexistent' });
    if (built.includes('blas: openblas')) {
      assert.equal(without.status, 1, without.stdout);
      assert.match(without.stdout, /would rebuild .*\(blas: none;.*it was built with \(blas: openblas/);
    } else {
      assert.equal(without.status, 0, `built without OpenBLAS: nothing changes (${without.stdout})`);
    }
  });
});
