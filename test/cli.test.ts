// The `arbor` command line: help on every command, exit codes scripts can trust, clear errors.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function arbor(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'cli/arbor.ts', ...args]);
    return { code: 0, stdout, stderr };
  } catch (error: unknown) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

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

  test('a missing model file exits 1 with an error naming it', async () => {
    const { code, stderr } = await arbor('micro', 'eval', '--model', 'no/such/model.gguf');
    assert.equal(code, 1);
    assert.match(stderr, /no\/such\/model\.gguf/);
  });

  test('a bad option value or an unknown option exits 2 before any work', async () => {
    const bad = await arbor('micro', 'eval', '--threads', 'many');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /threads/);
    const unknown = await arbor('micro', 'eval', '--treads', '1');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--treads/);
  });
});
