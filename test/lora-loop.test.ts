import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, test } from 'node:test';
import { readGgufFileInfo, type Token } from 'node-llama-cpp';
import { z } from 'zod';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { releaseModels } from '../activities/models.ts';
import { prepareRun } from '../activities/prepare.ts';
import { closeRunContexts, createRun } from '../activities/run-context.ts';
import { COMMITTED_MICRO_MODEL } from '../train/micro-model.ts';

import { exportRun } from '../data/export.ts';
import { LogProbScorer } from '../engine/log-probs.ts';
import { resolveModelFiles } from '../engine/model-files.ts';
import type { RunStore } from '../store/run-store.ts';
import { methodTrainOptions } from '../train/method.ts';
import { loadTrainingTokenizer, tokenizeChunks } from '../train/tokenizer.ts';
import { prepareTrainingData, runTrainer, trainerBinaryPath } from '../train/trainer.ts';
import { runConfigSchema, type RunConfigInput } from '../workflows/config.ts';
import { arbor } from './arbor-cli.ts';
import { writeGgufFile } from './gguf-fixture.ts';
import { runToEnd } from './inline-run.ts';
import { useTempDir } from './temp-dir.ts';

/** The trainer records an adapter's base as an absolute path (the adapter may be used from anywhere). */
const MICRO_ABSOLUTE = resolve(COMMITTED_MICRO_MODEL);

const execTrainer = promisify(execFile);

/** The arbor.* metadata an adapter carries (native/README.md). */
const adapterMetadataSchema = z.object({
  general: z.object({ type: z.literal('adapter') }),
  adapter: z.object({ type: z.literal('lora') }),
  arbor: z.object({ base: z.string(), parent: z.string() }),
});

async function adapterMetadata(path: string): Promise<z.infer<typeof adapterMetadataSchema>> {
  return adapterMetadataSchema.parse((await readGgufFileInfo(path, { readTensorInfo: false, logWarnings: false })).metadata);
}

/** A few SFT rows in the arithmetic task's format that the micro model would not write (every answer 7), so an adapter trained on them visibly changes it. */
async function writeSftRows(path: string): Promise<void> {
  const rows = Array.from({ length: 8 }, (_, index) => ({ prompt: `Q: ${index}+${index + 1}\n`, completion: `${2 * index + 1}\nA: 7\n` }));
  await writeFile(path, rows.map((row) => JSON.stringify(row)).join('\n') + '\n');
}

describe('train settings: method and lora', () => {
  const parse = (policy: Record<string, unknown>) => runConfigSchema.safeParse({ name: 'x', train: { policy } });

  test('defaults: every weight trained; a LoRA of rank 16 with the trainer’s alpha and targets when asked', () => {
    const config = runConfigSchema.parse({ name: 'x' });
    assert.equal(config.train.policy.method, 'full');
    assert.equal(config.train.prm.method, 'full');
    assert.deepEqual(config.train.policy.lora, { rank: 16 });
    const lora = runConfigSchema.parse({ name: 'x', train: { prm: { method: 'lora', lora: { rank: 8, alpha: 4, targets: ['attn_q', 'attn_v', 'output'] } } } });
    assert.equal(lora.train.prm.method, 'lora');
    assert.deepEqual(lora.train.prm.lora, { rank: 8, alpha: 4, targets: ['attn_q', 'attn_v', 'output'] });
    assert.equal(lora.train.prm.maxSteps, 300, 'the other PRM settings keep their defaults');
  });

  test('invalid values are zod errors naming the key', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ method: 'qlora' }, /train\.policy\.method/],
      [{ lora: { rank: 0 } }, /train\.policy\.lora\.rank/],
      [{ lora: { rank: 2.5 } }, /train\.policy\.lora\.rank/],
      [{ lora: { alpha: -1 } }, /train\.policy\.lora\.alpha/],
      [{ lora: { targets: ['attn_q', 'attn_x'] } }, /train\.policy\.lora\.targets\[1\]/],
      [{ lora: { targets: [] } }, /train\.policy\.lora\.targets/],
      [{ lora: { ranks: 4 } }, /ranks/],
    ];
    for (const [policy, key] of cases) {
      const parsed = parse(policy);
      assert.ok(!parsed.success, JSON.stringify(policy));
      assert.match(z.prettifyError(parsed.error), key, JSON.stringify(policy));
    }
  });
});

describe('model references: a LoRA adapter resolves to its base (real adapter files)', () => {
  const dir = useTempDir('arbor-lora-files-');
  after(async () => {
    await releaseModels();
  });
  let adapter = '';

  test('an adapter trained on the micro model names it as base; a full model is its own base', async () => {
    await writeSftRows(join(dir(), 'sft.jsonl'));
    const prepared = await prepareTrainingData({ model: COMMITTED_MICRO_MODEL, objective: 'sft', data: join(dir(), 'sft.jsonl'), outDir: dir() });
    adapter = join(dir(), 'a.gguf');
    const trained = await methodTrainOptions(COMMITTED_MICRO_MODEL, { method: 'lora', lora: { rank: 4 } });
    assert.deepEqual(trained, { model: COMMITTED_MICRO_MODEL, loraRank: 4, loraAlpha: undefined, loraTargets: undefined });
    await runTrainer({ ...trained, data: prepared.train.path, out: adapter, parent: COMMITTED_MICRO_MODEL, objective: 'sft', steps: 10, batch: 4, lr: 1e-2, threads: 1 });
    assert.deepEqual(await resolveModelFiles(adapter), { base: MICRO_ABSOLUTE, adapters: [adapter] });
    assert.deepEqual(await resolveModelFiles(COMMITTED_MICRO_MODEL), { base: COMMITTED_MICRO_MODEL, adapters: [] });

    // Continuing it keeps the original base (no stacked adapters); full training of an adapter is refused.
    const continued = await methodTrainOptions(adapter, { method: 'lora', lora: { rank: 16 } });
    assert.deepEqual(continued, { model: MICRO_ABSOLUTE, loraInit: adapter });
    const next = join(dir(), 'b.gguf');
    await runTrainer({ ...continued, data: prepared.train.path, out: next, objective: 'sft', steps: 2, batch: 4, threads: 1, parent: adapter });
    assert.deepEqual((await adapterMetadata(next)).arbor, { base: MICRO_ABSOLUTE, parent: adapter });
    assert.deepEqual(await resolveModelFiles(next), { base: MICRO_ABSOLUTE, adapters: [next] });
    await assert.rejects(methodTrainOptions(adapter, { method: 'full' }), /is a LoRA adapter on \S*models\/micro\/arbor-micro\.gguf: method full cannot train it/);
  });

  test('a run whose policy is an adapter and whose policy method is full stops in prepare, with a config error', async () => {
    const runDir = join(dir(), 'full-on-adapter');
    await mkdir(runDir);
    createRun(runDir, runConfigSchema.parse({ name: 'full-on-adapter', runDir, policy: { model: adapter }, prm: { model: COMMITTED_MICRO_MODEL } }), 'now');
    await assert.rejects(new MockActivityEnvironment().run(prepareRun, { runDir }), (error: unknown) => {
      assert.ok(error instanceof ApplicationFailure && error.type === 'ArborConfigError', String(error));
      assert.match(error.message, /a\.gguf is a LoRA adapter on \S*models\/micro\/arbor-micro\.gguf: method full cannot train it; use method lora/);
      return true;
    });
    closeRunContexts();
  });

  test('the engine runs base + adapter: the same log-probabilities as the merged model, not the base’s', async () => {
    const merged = join(dir(), 'merged.gguf');
    await execTrainer(trainerBinaryPath(), ['merge', '--model', COMMITTED_MICRO_MODEL, '--adapter', adapter, '--out', merged]);
    const prefix = 'Q: 9-3*2\n';
    const logProb = async (modelPath: string): Promise<number> => {
      const scorer = await LogProbScorer.create({ modelPath, threads: 1, sequences: 1, contextSize: 64 });
      try {
        const { tokens, ends } = tokenizeChunks(scorer.tokenizer, [prefix, '9-5\n4\nA: 4\n']);
        return await scorer.continuationLogProb(tokens.slice(0, ends[0]) as Token[], tokens.slice(ends[0]) as Token[]);
      } finally {
        await scorer.dispose();
      }
    };
    const [withAdapter, ofMerged, ofBase] = [await logProb(adapter), await logProb(merged), await logProb(COMMITTED_MICRO_MODEL)];
    assert.ok(Math.abs(withAdapter - ofMerged) < 1e-3, `adapter ${withAdapter} vs merged ${ofMerged}`);
    assert.ok(Math.abs(withAdapter - ofBase) > 1, `the adapter changes the model (adapter ${withAdapter}, base ${ofBase})`);
  });

  test('training data is tokenized with the base’s vocabulary (an adapter has none)', async () => {
    const fromAdapter = await loadTrainingTokenizer(adapter);
    const fromBase = await loadTrainingTokenizer(COMMITTED_MICRO_MODEL);
    try {
      assert.deepEqual(fromAdapter.tokenize('Q: 12 + 7\n'), fromBase.tokenize('Q: 12 + 7\n'));
      assert.equal(fromAdapter.contextLength, fromBase.contextLength);
    } finally {
      await fromAdapter.dispose();
      await fromBase.dispose();
    }
  });

  test('errors name the file: an adapter without arbor.base, a missing base', async () => {
    const foreign = join(dir(), 'foreign.gguf');
    await writeGgufFile(foreign, { 'general.architecture': 'llama', 'general.type': 'adapter', 'adapter.type': 'lora' }, [{ name: 'blk.0.attn_q.weight.lora_a', type: 'f32', dims: [96, 4] }]);
    await assert.rejects(resolveModelFiles(foreign, 'policy model'), /policy model .*foreign\.gguf: a GGUF adapter that names no base model/);
    const orphan = join(dir(), 'orphan.gguf');
    await writeGgufFile(orphan, { 'general.architecture': 'llama', 'general.type': 'adapter', 'adapter.type': 'lora', 'arbor.base': join(dir(), 'gone.gguf') }, [{ name: 'blk.0.attn_q.weight.lora_a', type: 'f32', dims: [96, 4] }]);
    await assert.rejects(resolveModelFiles(orphan), /base model of .*orphan\.gguf .*gone\.gguf: no such file/);
  });
});

describe('the loop with LoRA (inline, micro model)', () => {
  const dir = useTempDir('arbor-lora-loop-');
  after(async () => {
    await releaseModels();
    closeRunContexts();
  });

  /** A tiny run: level-2 problems (the micro model solves most), levels 2 and 3 held out (so the PRM's AUC is defined), 1 sequence, no search-based evaluation. */
  function loraRun(name: string): RunConfigInput {
    return {
      name,
      runDir: join(dir(), name),
      iterations: 1,
      task: { problemsPerIteration: 3, trainLevels: [2], evalLevels: [2, 3], evalProblemsPerLevel: 4, evalSearchProblemsPerLevel: 0 },
      search: { iterationsPerProblem: 4, shardSize: 3 },
      prm: { model: COMMITTED_MICRO_MODEL },
      train: {
        policy: { method: 'lora', lora: { rank: 4 }, epochs: 2, maxSteps: 6, batch: 2, lr: 1e-3 },
        prm: { method: 'lora', lora: { rank: 4, targets: ['attn_q', 'attn_v', 'ffn_down', 'output'] }, epochs: 1, maxSteps: 3, batch: 2, lr: 1e-3 },
      },
      sequences: 1,
      threads: 1,
    };
  }

  function modelRow(store: RunStore, path: string): { id: number; parent_id: number | null; metrics: Record<string, unknown> } {
    const id = store.modelIdByPath(path);
    assert.notEqual(id, null, `${path} is recorded`);
    const row = store.model(id ?? 0);
    return { id: row.id, parent_id: row.parent_id, metrics: z.record(z.string(), z.unknown()).parse(JSON.parse(row.metrics_json)) };
  }

  test('two iterations: each iteration’s policy and PRM are adapters on the micro model, evaluated, recorded with their base; the second continues the first', async () => {
    // No gate: iteration 1 is promoted, so iteration 2 continues its adapters.
    const { runDir, store, result } = await runToEnd({ ...loraRun('two'), iterations: 2, promotion: { gate: 'none' } });
    const models = join(runDir, 'models');
    assert.deepEqual(
      result.iterations.map((record) => [record.policyPath, record.prmPath]),
      [
        [COMMITTED_MICRO_MODEL, COMMITTED_MICRO_MODEL],
        [join(models, 'policy-1.lora.gguf'), join(models, 'prm-1.lora.gguf')],
        [join(models, 'policy-2.lora.gguf'), join(models, 'prm-2.lora.gguf')],
      ],
    );
    for (const kind of ['policy', 'prm']) {
      const first = join(models, `${kind}-1.lora.gguf`);
      const second = join(models, `${kind}-2.lora.gguf`);
      assert.deepEqual((await adapterMetadata(first)).arbor, { base: MICRO_ABSOLUTE, parent: COMMITTED_MICRO_MODEL });
      assert.deepEqual((await adapterMetadata(second)).arbor, { base: MICRO_ABSOLUTE, parent: first }, 'a continued adapter keeps the original base');
      const row = modelRow(store, second);
      assert.equal(row.parent_id, modelRow(store, first).id);
      assert.equal(row.metrics.method, 'lora');
      assert.equal(row.metrics.base, MICRO_ABSOLUTE);
      assert.equal(row.metrics.lora_rank, 4);
    }
    // The engine evaluated each adapter: greedy accuracy and the PRM's AUC are recorded against its model row.
    for (const iteration of [1, 2]) {
      const policyId = modelRow(store, join(models, `policy-${iteration}.lora.gguf`)).id;
      const prmId = modelRow(store, join(models, `prm-${iteration}.lora.gguf`)).id;
      assert.ok(store.evaluations(iteration, policyId, 'greedy').has('accuracy'), `iteration ${iteration}: greedy accuracy of the adapter`);
      assert.ok(store.evaluations(iteration, prmId, 'prm').size > 0, `iteration ${iteration}: the PRM adapter's quality`);
    }

    // Lineage and export read adapter paths like any other model path.
    const sftId = store.iterationSftExamples(2)[0]?.id;
    assert.notEqual(sftId, undefined, 'iteration 2 found correct solutions');
    assert.equal(store.sftLineage(sftId ?? 0).policy_model, join(models, 'policy-1.lora.gguf'));
    const counts = await exportRun({ store, outDir: join(runDir, 'export') });
    assert.ok((counts.sft ?? 0) > 0 && (counts.trees ?? 0) > 0, JSON.stringify(counts));
    const listed = await arbor('models', 'two', '--run-dir', runDir);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /policy iteration 2 parent \d+ {2}\S*policy-2\.lora\.gguf .*"method":"lora","base":"\S*models\/micro\/arbor-micro\.gguf"/);
  });

  test('a quantized (q8_0) base as the policy: the seed PRM and the policy train LoRA adapters on it, and the engine runs them', async () => {
    const q8 = join(dir(), 'q8.gguf');
    await execTrainer(trainerBinaryPath(), ['quantize', '--model', COMMITTED_MICRO_MODEL, '--out', q8, '--type', 'q8_0']);
    // No starting PRM: the seed PRM is a LoRA adapter on the quantized policy too.
    const { runDir, store, result } = await runToEnd({ ...loraRun('q8'), policy: { model: q8 }, prm: { seedProblemsPerLevel: 2, seedSteps: 4 } });
    const models = join(runDir, 'models');
    const [base, first] = result.iterations;
    const adapters = [join(models, 'prm-0.lora.gguf'), join(models, 'policy-1.lora.gguf'), join(models, 'prm-1.lora.gguf')];
    assert.deepEqual([base?.prmPath, first?.policyPath, first?.prmPath], adapters);
    for (const adapter of adapters) {
      assert.deepEqual(await resolveModelFiles(adapter), { base: q8, adapters: [adapter] });
      assert.equal(modelRow(store, adapter).metrics.base, q8);
    }
    // q8_0 keeps what the micro model knows: it solves most 2-operator problems, before and after its adapter.
    assert.ok((base?.accuracyByLevel['2'] ?? 0) >= 0.5, JSON.stringify(base?.accuracyByLevel));
    assert.ok((first?.accuracyByLevel['2'] ?? 0) >= 0.5, JSON.stringify(first?.accuracyByLevel));
    const policyId = modelRow(store, join(models, 'policy-1.lora.gguf')).id;
    assert.equal(store.evaluations(1, policyId, 'greedy').size, 3, 'accuracy at levels 2 and 3 and overall');
  });
});
