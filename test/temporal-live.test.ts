import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { COMMITTED_MICRO_MODEL } from '../cli/micro.ts';

// Runs only where a Temporal server is configured (TEMPORAL_ADDRESS) or a temporal CLI is given
// (TEMPORAL_CLI_PATH); these machines have neither, so it says so instead of passing silently.
const configured = process.env.TEMPORAL_ADDRESS ?? process.env.TEMPORAL_CLI_PATH;
const skip = configured === undefined ? 'no Temporal server: set TEMPORAL_ADDRESS (a running server) or TEMPORAL_CLI_PATH (a temporal CLI binary) to run it' : false;
if (skip) process.stderr.write(`temporal-live.test.ts skipped: ${skip}\n`);

test('a quick run under a live Temporal server completes with the in-process workers', { skip }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'arbor-live-'));
  try {
    const config = join(dir, 'live.json');
    await writeFile(config, JSON.stringify({ name: `live-${Date.now()}`, runDir: join(dir, 'run'), prm: { model: COMMITTED_MICRO_MODEL }, sequences: 1 }));
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/arbor.ts', 'run', config, '--quick'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, output.slice(-3000));
    assert.match(output, /Temporal: (Temporal at|local Temporal dev server)/);
    assert.match(output, /run completed/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
