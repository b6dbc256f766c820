// Model retention: which files a run deletes once superseded (workflows/retention.ts, by hand-built
// model lists), and a 5-iteration quick run that keeps the base, the promoted and the last two
// candidates, with the deleted models' rows, metrics and lineage kept and said to be deleted.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { deleteSupersededModels } from '../activities/retention.ts';
import { RunStore } from '../store/run-store.ts';
import { retentionSettingsSchema, supersededModels, type RetainedModel } from '../workflows/retention.ts';
import { arbor } from './arbor-cli.ts';
import { useTempDir } from './temp-dir.ts';

const keep = (candidates: number | 'all') => retentionSettingsSchema.parse({ candidates });

/** Models 0 (the base, outside the run) to 5 (the candidates of iterations 1–5, the run's own files). */
function fullModels(): RetainedModel[] {
  return [
    { id: 10, path: '/models/base.gguf', iteration: 0, base: null, owned: false },
    ...[1, 2, 3, 4, 5].map((iteration) => ({ id: iteration, path: `/run/models/policy-${iteration}.gguf`, iteration, base: null, owned: true })),
  ];
}

describe('retention: superseded models', () => {
  test('keeps the base, the promoted model and the last k candidates; deletes the rest', () => {
    assert.deepEqual(supersededModels(fullModels(), new Set(['/run/models/policy-2.gguf']), 5, keep(2)), [1, 3]);
    assert.deepEqual(supersededModels(fullModels(), new Set(['/run/models/policy-5.gguf']), 5, keep(0)), [1, 2, 3, 4]);
    assert.deepEqual(supersededModels(fullModels(), new Set(['/models/base.gguf']), 5, keep(1)), [1, 2, 3, 4], 'nothing promoted: the base stays');
    assert.deepEqual(supersededModels(fullModels(), new Set(['/run/models/policy-1.gguf']), 2, keep(2)), [], 'two iterations: nothing to delete yet');
    assert.deepEqual(supersededModels(fullModels(), new Set([]), 5, keep('all')), []);
  });

  test('never deletes a file the run did not write, nor the base of a kept adapter', () => {
    const models: RetainedModel[] = [
      { id: 1, path: '/elsewhere/policy.gguf', iteration: 1, base: null, owned: false },
      { id: 2, path: '/run/models/policy-2.gguf', iteration: 2, base: null, owned: true },
      { id: 3, path: '/run/models/policy-3.lora.gguf', iteration: 3, base: '/run/models/policy-2.gguf', owned: true },
      { id: 4, path: '/run/models/policy-4.lora.gguf', iteration: 4, base: '/run/models/policy-2.gguf', owned: true },
    ];
    assert.deepEqual(supersededModels(models, new Set(['/run/models/policy-4.lora.gguf']), 4, keep(0)), [3], 'policy-2 is the promoted adapter’s base');
  });

  test('the setting: a count or all, default 2; anything else is an error naming it', () => {
    assert.equal(retentionSettingsSchema.parse({}).candidates, 2);
    for (const bad of [-1, 1.5, 'some']) assert.throws(() => retentionSettingsSchema.parse({ candidates: bad }), /candidates/);
  });
});

describe('retention in a run (micro model, quick preset, 5 iterations)', () => {
  const dir = useTempDir('arbor-retention-');

  test('iterations 1–3 are deleted once superseded, 4–5 and the seed PRM kept; rows, metrics and lineage stay', async () => {
    const runDir = join(dir(), 'kept');
    const config = join(dir(), 'kept.json');
    // No gate: every candidate is promoted, so the models kept are known in advance.
    await writeFile(config, JSON.stringify({ name: 'kept', runDir, iterations: 5, promotion: { gate: 'none' }, sequences: 1, threads: 1 }));
    const run = await arbor('run', config, '--quick', '--inline');
    assert.equal(run.code, 0, run.stderr);
    const models = join(runDir, 'models');
    for (const iteration of [1, 2, 3]) for (const kind of ['policy', 'prm']) assert.ok(!existsSync(join(models, `${kind}-${iteration}.gguf`)), `${kind}-${iteration} deleted`);
    assert.deepEqual((await readdir(models)).filter((file) => file.endsWith('.gguf')).sort(), ['policy-4.gguf', 'policy-5.gguf', 'prm-0.gguf', 'prm-4.gguf', 'prm-5.gguf'], 'the seed PRM and the last two candidates are kept');

    const store = RunStore.open(join(runDir, 'arbor.db')) ?? assert.fail('the run has a database');
    try {
      const rows = store.models();
      assert.equal(rows.length, 12, 'every model keeps its row: the two base models and 5 × (policy, PRM)');
      assert.deepEqual(rows.filter((row) => row.deleted).map((row) => `${row.kind}-${row.iteration}`).sort(), ['policy-1', 'policy-2', 'policy-3', 'prm-1', 'prm-2', 'prm-3']);
      assert.ok(rows.filter((row) => row.deleted).every((row) => JSON.parse(row.metrics_json).steps !== undefined), 'a deleted model keeps its training metrics');

      const listed = await arbor('models', 'kept', '--run-dir', runDir);
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, /policy iteration 2 .*policy-2\.gguf \(deleted: superseded\)/);
      assert.doesNotMatch(listed.stdout, /policy-5\.gguf \(deleted/);

      // An SFT example of iteration 2..4 was searched by a deleted policy (1–3): its lineage says so.
      const sft = [2, 3, 4].flatMap((iteration) => store.iterationSftExamples(iteration))[0] ?? assert.fail('iterations 2–4 found a correct solution');
      const lineage = await arbor('lineage', 'kept', '--run-dir', runDir, '--sft', String(sft.id));
      assert.equal(lineage.code, 0, lineage.stderr);
      assert.match(lineage.stdout, /"policy_model_file": "deleted"/);

      // Applying retention again deletes nothing more.
      const best = { iteration: 5, accuracy: 0, accuracyByLevel: {}, prmAuc: null, policyPath: join(models, 'policy-5.gguf'), prmPath: join(models, 'prm-5.gguf') };
      assert.deepEqual(await deleteSupersededModels(store, runDir, 5, best, keep(2)), []);
    } finally {
      store.close();
    }
  });
});
