// A whole run in this process (the inline runtime and the real activities), for loop tests.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { activities } from '../activities/index.ts';
import { createRun } from '../activities/run-context.ts';
import { runInline } from '../runtime/inline.ts';
import { runConfigSchema, type RunConfigInput } from '../workflows/config.ts';

/** Creates the run of `input` (its runDir set) and runs every iteration; the run must complete. */
export async function runToEnd(input: RunConfigInput) {
  const config = runConfigSchema.parse(input);
  const runDir = config.runDir ?? assert.fail('the run config needs a runDir');
  await mkdir(runDir, { recursive: true });
  const { store } = createRun(runDir, config, 'now');
  const result = await runInline({ runDir, iterations: config.iterations, activities }).result;
  assert.equal(result.status, 'completed');
  return { runDir, store, result };
}
