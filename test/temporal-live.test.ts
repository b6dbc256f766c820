import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { COMMITTED_MICRO_MODEL } from '../train/micro-model.ts';
import { ARBOR_SEARCH_ATTRIBUTES, workflowIdOf } from '../workflows/names.ts';
import { RECORDED_HISTORY } from './recorded-history.ts';

// Runs only where a Temporal server is configured (TEMPORAL_ADDRESS) or a temporal CLI is given
// (TEMPORAL_CLI_PATH, from which this test starts a dev server); these machines have neither, so it
// says so instead of passing silently.
const address = process.env.TEMPORAL_ADDRESS;
const cliPath = process.env.TEMPORAL_CLI_PATH;
const skip = address === undefined && cliPath === undefined ? 'no Temporal server: set TEMPORAL_ADDRESS (a running server) or TEMPORAL_CLI_PATH (a temporal CLI binary) to run it' : false;
if (skip) process.stderr.write(`temporal-live.test.ts skipped: ${skip}\n`);

test('a quick run under a live Temporal server completes with the in-process workers; its history becomes the replay fixture', { skip }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'arbor-live-'));
  const server = address === undefined ? await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: cliPath! }, searchAttributes: Object.values(ARBOR_SEARCH_ATTRIBUTES) } }) : null;
  const target = address ?? server!.address;
  try {
    const name = `live-${Date.now()}`;
    const config = join(dir, 'live.json');
    await writeFile(config, JSON.stringify({ name, runDir: join(dir, 'run'), prm: { model: COMMITTED_MICRO_MODEL }, sequences: 1 }));
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/arbor.ts', 'run', config, '--quick'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TEMPORAL_ADDRESS: target } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, output.slice(-3000));
    assert.match(output, /Temporal: Temporal at/);
    assert.match(output, /run completed/);
    // What the server recorded is the replay test's fixture from now on (test/workflow.test.ts).
    const connection = await Connection.connect({ address: target });
    try {
      const client = new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
      const history = await client.workflow.getHandle(workflowIdOf(name)).fetchHistory();
      await mkdir(dirname(RECORDED_HISTORY), { recursive: true });
      await writeFile(RECORDED_HISTORY, historyToJSON(history));
    } finally {
      await connection.close();
    }
  } finally {
    await server?.teardown();
    await rm(dir, { recursive: true, force: true });
  }
});
