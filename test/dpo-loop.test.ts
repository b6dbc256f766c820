// The loop's policy trained by DPO on the step preference pairs its searches find
// (`train.policy.objective`): the settings, the pairs written as the trainer's `dpo` rows, and
// small inline runs on the micro model, every weight and LoRA.
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { readGgufFileInfo, type Token } from 'node-llama-cpp';
import { z } from 'zod';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { ProgressDetails } from '../activities/heartbeat.ts';
import { releaseModels } from '../activities/models.ts';
import { closeRunContexts, createRun } from '../activities/run-context.ts';
import { trainingObjective, trainModel } from '../activities/train.ts';
import { COMMITTED_MICRO_MODEL } from '../train/micro-model.ts';
import { buildIterationData } from '../data/build-sets.ts';
import { objectiveNamed } from './objective.ts';
import { LogProbScorer } from '../engine/log-probs.ts';
import { RunStore } from '../store/run-store.ts';
import { sha256File } from '../train/arbtok.ts';
import { readTrainingJsonl } from '../train/schema.ts';
import { tokenizeChunks } from '../train/tokenizer.ts';
import { prepareTrainingData } from '../train/trainer.ts';
import { runConfigSchema, type RunConfigInput } from '../workflows/config.ts';
import { runToEnd } from './inline-run.ts';
import { searchedTree } from './searched-tree.ts';
import { useTempDir } from './temp-dir.ts';


describe('train.policy.objective and train.policy.dpo', () => {
  const parse = (train: Record<string, unknown>) => runConfigSchema.safeParse({ name: 'x', train });

  test('defaults: sft, with β 0.1 and an SFT weight of 1 ready; the objective alone parses, the other settings keep their defaults', () => {
    const config = runConfigSchema.parse({ name: 'x' });
    assert.equal(config.train.policy.objective, 'sft');
    assert.deepEqual(config.train.policy.dpo, { beta: 0.1, sftWeight: 1 });
    const dpo = runConfigSchema.parse(JSON.parse('{"name":"x","train":{"policy":{"objective":"dpo"}}}'));
    assert.equal(dpo.train.policy.objective, 'dpo');
    assert.deepEqual([dpo.train.policy.maxSteps, dpo.train.policy.batch, dpo.train.policy.method], [2000, 32, 'full']);
    const mixed = runConfigSchema.parse({ name: 'x', train: { policy: { objective: 'sft+dpo', dpo: { sftWeight: 0.5 }, method: 'lora' } } });
    assert.deepEqual(mixed.train.policy.dpo, { beta: 0.1, sftWeight: 0.5 });
    assert.equal(mixed.train.policy.lora.rank, 16);
  });

  test('invalid values are zod errors naming the key; the PRM has no objective', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ policy: { objective: 'ppo' } }, /expected one of "sft"\|"dpo"\|"sft\+dpo"[\s\S]*train\.policy\.objective/],
      [{ policy: { dpo: { beta: 0 } } }, /train\.policy\.dpo\.beta/],
      [{ policy: { dpo: { beta: 'high' } } }, /train\.policy\.dpo\.beta/],
      [{ policy: { dpo: { sftWeight: -1 } } }, /train\.policy\.dpo\.sftWeight/],
      [{ policy: { dpo: { gamma: 1 } } }, /Unrecognized key: "gamma"[\s\S]*train\.policy\.dpo/],
      [{ prm: { objective: 'dpo' } }, /Unrecognized key: "objective"[\s\S]*train\.prm/],
      [{ prm: { dpo: { beta: 0.1 } } }, /Unrecognized key: "dpo"[\s\S]*train\.prm/],
    ];
    for (const [train, key] of cases) {
      const parsed = parse(train);
      assert.ok(!parsed.success, JSON.stringify(train));
      assert.match(z.prettifyError(parsed.error), key, JSON.stringify(train));
    }
  });

  test('what each objective trains on: sft.jsonl; dpo.jsonl with no SFT term; dpo.jsonl with dpo.sftWeight; the PRM its labels', () => {
    const policy = (input: Record<string, unknown>) => runConfigSchema.parse({ name: 'x', train: { policy: input } }).train.policy;
    assert.deepEqual(trainingObjective('policy', policy({})), { format: 'sft', file: 'sft.jsonl', flags: {}, metrics: { objective: 'sft' } });
    assert.deepEqual(trainingObjective('policy', policy({ objective: 'dpo', dpo: { beta: 0.2, sftWeight: 3 } })), {
      format: 'dpo',
      file: 'dpo.jsonl',
      flags: { dpoBeta: 0.2, dpoSftWeight: 0 },
      metrics: { objective: 'dpo', dpo_beta: 0.2, dpo_sft_weight: 0 },
    });
    assert.deepEqual(trainingObjective('policy', policy({ objective: 'sft+dpo', dpo: { sftWeight: 0.5 } })), {
      format: 'dpo',
      file: 'dpo.jsonl',
      flags: { dpoBeta: 0.1, dpoSftWeight: 0.5 },
      metrics: { objective: 'sft+dpo', dpo_beta: 0.1, dpo_sft_weight: 0.5 },
    });
    assert.deepEqual(trainingObjective('prm', policy({ objective: 'dpo' })), { format: 'prm', file: 'prm.jsonl', flags: {}, metrics: { objective: 'prm' } });
  });
});

describe('dpo.jsonl: the iteration’s step pairs as the trainer’s rows', () => {
  const dir = useTempDir('arbor-dpo-data-');

  test('each side ends with the delimiter, the prompt is the policy’s prompt and the path; only this iteration’s pairs, while SFT mixes earlier rows', async () => {
    const store = RunStore.create(join(dir(), 'run.db'), 'run-a');
    store.ensureRun({ task: 'arithmetic' }, 'now');
    const problemId = store.upsertProblem({ task: 'arithmetic', split: 'train', question: '2+3*4', answer: '14', difficulty: 2 });
    const paths = (iteration: number) => ({ sftPath: join(dir(), `sft-${iteration}.jsonl`), prmPath: join(dir(), `prm-${iteration}.jsonl`), dpoPath: join(dir(), `dpo-${iteration}.jsonl`) });
    // A task whose steps end at a blank line (as MATH's do), and a policy prompt that is not the PRM's.
    const build = (iteration: number, objective: 'sft' | 'dpo' = 'dpo') =>
      buildIterationData({
        store,
        iteration,
        promptOf: (q) => `<user>${q}<assistant>`,
        prmPromptOf: (q) => `Q: ${q}\n`,
        delimiter: '\n\n',
        prmPath: paths(iteration).prmPath,
        objective: objectiveNamed(objective),
        policyPath: paths(iteration)[objective === 'dpo' ? 'dpoPath' : 'sftPath'],
      });
    for (const iteration of [1, 2]) {
      store.saveSearch({ iteration, problemId, policyModelId: null, prmModelId: null, algorithm: 'mcts', budget: 8, stats: {}, answer: '14', correct: true, tree: searchedTree() });
      const counts = await build(iteration);
      assert.deepEqual([counts.pairs, counts.policyRowsWritten], [2, 2]);
    }
    await build(2, 'sft');
    const expected = [
      { prompt: '<user>2+3*4<assistant>', chosen: '2+12\n\n', rejected: '5*4\n\n' },
      { prompt: '<user>2+3*4<assistant>2+12\n\n14\n\n', chosen: 'A: 14\n\n', rejected: 'A: 15\n\n' },
    ];
    const lines = (path: string) => readFile(path, 'utf8').then((text) => text.trim().split('\n').map((line) => JSON.parse(line) as unknown));
    assert.deepEqual(await lines(paths(2).dpoPath), expected);
    assert.equal((await lines(paths(2).sftPath)).length, 8, 'SFT: both iterations’ solution, 4 times each (contested)');
    // Valid trainer rows, two sequences each on the micro model.
    assert.deepEqual((await readTrainingJsonl(paths(2).dpoPath, 'dpo')).map(({ row }) => row), expected.map((row) => ({ ...row, weight: 1 })));
    const prepared = await prepareTrainingData({ model: COMMITTED_MICRO_MODEL, objective: 'dpo', data: paths(2).dpoPath, outDir: join(dir(), 'arbtok') });
    assert.equal(prepared.train.examples, 2);
    // Rebuilding writes the same file; an iteration without pairs writes an empty one.
    await build(2);
    assert.deepEqual(await lines(paths(2).dpoPath), expected);
    assert.equal((await build(3)).policyRowsWritten, 0);
    assert.equal(await readFile(paths(3).dpoPath, 'utf8'), '');
  });
});

describe('the loop with train.policy.objective dpo (inline, micro model)', () => {
  const dir = useTempDir('arbor-dpo-loop-');
  after(async () => {
    await releaseModels();
    closeRunContexts();
  });

  /**
   * 16 level-2 problems searched hot and wide (temperature 2, 4 children per node), so that some
   * trees hold a correct and a wrong step under one parent: 5 pairs (seeded). The micro model is the PRM.
   */
  function dpoRun(name: string, policy: Record<string, unknown>): RunConfigInput {
    return {
      name,
      runDir: join(dir(), name),
      iterations: 1,
      task: { problemsPerIteration: 16, trainLevels: [2], evalLevels: [2], evalProblemsPerLevel: 2, evalSearchProblemsPerLevel: 0 },
      search: { iterationsPerProblem: 32, shardSize: 16, temperature: 2, mcts: { branch: 4, duplicateRetries: 2 } },
      prm: { model: COMMITTED_MICRO_MODEL },
      train: { policy: { epochs: 2, maxSteps: 6, batch: 2, lr: 1e-3, ...policy }, prm: { epochs: 1, maxSteps: 1, batch: 2, lr: 1e-4 } },
      sequences: 1,
      threads: 1,
    };
  }

  async function runLoop(input: RunConfigInput) {
    const { runDir, store } = await runToEnd(input);
    const pairs = (await readFile(join(runDir, 'data', 'iteration-1', 'dpo.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => z.object({ prompt: z.string(), chosen: z.string(), rejected: z.string() }).parse(JSON.parse(line)));
    assert.ok(pairs.length >= 2, `the searches found step pairs (${pairs.length})`);
    assert.ok(pairs.every((pair) => pair.chosen.endsWith('\n') && pair.rejected.endsWith('\n')));
    return { runDir, store, pairs };
  }

  function metricsOf(store: RunStore, path: string): Record<string, unknown> {
    const id = store.modelIdByPath(path);
    assert.notEqual(id, null, `${path} is recorded`);
    return z.record(z.string(), z.unknown()).parse(JSON.parse(store.model(id ?? 0).metrics_json));
  }

  async function arborMetadata(path: string): Promise<{ objective: string; data_sha256: string }> {
    const { metadata } = await readGgufFileInfo(path, { readTensorInfo: false, logWarnings: false });
    return z.object({ arbor: z.object({ objective: z.string(), data_sha256: z.string() }) }).parse(metadata).arbor;
  }

  /** Mean log p(chosen) − log p(rejected) over the pairs, as the engine runs the model (an adapter on its base included). */
  async function meanMargin(modelPath: string, pairs: readonly { prompt: string; chosen: string; rejected: string }[]): Promise<number> {
    const scorer = await LogProbScorer.create({ modelPath, threads: 1, sequences: 1, contextSize: 256 });
    try {
      const logProb = async (prompt: string, continuation: string) => {
        const { tokens, ends } = tokenizeChunks(scorer.tokenizer, [prompt, continuation]);
        return scorer.continuationLogProb(tokens.slice(0, ends[0]) as Token[], tokens.slice(ends[0]) as Token[]);
      };
      let sum = 0;
      for (const pair of pairs) sum += (await logProb(pair.prompt, pair.chosen)) - (await logProb(pair.prompt, pair.rejected));
      return sum / pairs.length;
    } finally {
      await scorer.dispose();
    }
  }

  test('dpo, every weight: the policy is trained on the iteration’s pairs, recorded as dpo, and prefers the chosen steps more than its parent did', async () => {
    const { runDir, store, pairs } = await runLoop(dpoRun('dpo', { objective: 'dpo' }));
    const policy = join(runDir, 'models', 'policy-1.gguf');
    const metrics = metricsOf(store, policy);
    const steps = Math.min(6, Math.ceil((2 * pairs.length) / Math.min(2, pairs.length))); // maxSteps 6, epochs 2, batch 2 (activities/train.ts)
    assert.deepEqual(
      { objective: metrics.objective, dpo_beta: metrics.dpo_beta, dpo_sft_weight: metrics.dpo_sft_weight, method: metrics.method, examples: metrics.examples, steps: metrics.steps },
      { objective: 'dpo', dpo_beta: 0.1, dpo_sft_weight: 0, method: 'full', examples: pairs.length, steps },
    );
    // A DPO loss starts at log 2 (the policy is its own reference) and falls as the margins widen.
    assert.ok(typeof metrics.loss === 'number' && metrics.loss < Math.log(2), `last step's loss ${String(metrics.loss)}`);
    assert.deepEqual(await arborMetadata(policy), { objective: 'dpo', data_sha256: await sha256File(join(runDir, 'data', 'iteration-1', 'dpo.jsonl')) });
    assert.notEqual(await sha256File(policy), await sha256File(COMMITTED_MICRO_MODEL));
    const [before, afterTraining] = [await meanMargin(COMMITTED_MICRO_MODEL, pairs), await meanMargin(policy, pairs)];
    // Measured: 18.0 → 32.5 nats (seeded).
    assert.ok(afterTraining > before + 1, `mean margin ${before} → ${afterTraining}`);
    // The PRM still learns its labels.
    assert.equal(metricsOf(store, join(runDir, 'models', 'prm-1.gguf')).objective, 'prm');
  });

  test('sft+dpo with LoRA: an adapter trained on the pairs with the SFT term', async () => {
    const { runDir, store, pairs } = await runLoop(dpoRun('rpo-lora', { objective: 'sft+dpo', dpo: { sftWeight: 0.5 }, method: 'lora', lora: { rank: 4 }, lr: 1e-2 }));
    const adapter = join(runDir, 'models', 'policy-1.lora.gguf');
    const metrics = metricsOf(store, adapter);
    assert.deepEqual(
      { objective: metrics.objective, dpo_sft_weight: metrics.dpo_sft_weight, method: metrics.method, base: metrics.base, lora_rank: metrics.lora_rank, examples: metrics.examples },
      { objective: 'sft+dpo', dpo_sft_weight: 0.5, method: 'lora', base: resolve(COMMITTED_MICRO_MODEL), lora_rank: 4, examples: pairs.length },
    );
    assert.equal((await arborMetadata(adapter)).objective, 'dpo');
    const [before, afterTraining] = [await meanMargin(COMMITTED_MICRO_MODEL, pairs), await meanMargin(adapter, pairs)];
    // Measured: 18.0 → 21.5 nats (seeded; an adapter starts as a no-op, hence the higher lr).
    assert.ok(afterTraining > before + 0.5, `mean margin ${before} → ${afterTraining}`);
  });

  test('no pairs: the parent is kept, as with empty SFT data', async () => {
    const runDir = join(dir(), 'no-pairs');
    await mkdir(join(runDir, 'data', 'iteration-1'), { recursive: true });
    createRun(runDir, runConfigSchema.parse(dpoRun('no-pairs', { objective: 'dpo' })), 'now');
    await writeFile(join(runDir, 'data', 'iteration-1', 'dpo.jsonl'), '');
    const env = new MockActivityEnvironment();
    const beats: ProgressDetails[] = [];
    env.on('heartbeat', (details: ProgressDetails) => beats.push(details));
    const result = (await env.run(trainModel, { runDir, iteration: 1, kind: 'policy' as const, parentPath: COMMITTED_MICRO_MODEL })) as Awaited<ReturnType<typeof trainModel>>;
    assert.equal(result.path, COMMITTED_MICRO_MODEL);
    assert.equal(beats.at(-1)?.note, 'no training data in dpo.jsonl: parent kept');
  });
});
