// The micro model: the committed one is the product of the current recipe and solves easy problems;
// the build pipeline runs end to end and an interrupted build resumes instead of starting over.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { readGgufFileInfo } from 'node-llama-cpp';
import { COMMITTED_MICRO_MODEL, readMicroReport } from '../train/micro-model.ts';
import { evaluateGreedy } from '../evaluate/greedy.ts';
import { heldOutProblems } from '../evaluate/held-out.ts';
import { ARITHMETIC_ALPHABET, extractAnswer, parseExpression } from '../tasks/arithmetic.ts';
import { loadTask } from '../tasks/index.ts';
import { buildMicroModel, MICRO_RECIPE, writeSolutionsJsonl, type MicroRecipe } from '../train/micro-model.ts';
import { initModel, prepareTrainingData, runTrainer, TrainerInterruptedError } from '../train/trainer.ts';
import { useTempDir } from './temp-dir.ts';

const ARITHMETIC = loadTask({ kind: 'arithmetic' });

describe('committed micro model', () => {
  test('was built by the current recipe, with its lineage in the GGUF', async () => {
    const report = await readMicroReport(COMMITTED_MICRO_MODEL);
    assert.deepEqual(report.recipe, MICRO_RECIPE, 'recipe changed: rebuild with `npx arbor micro build --out models/micro/arbor-micro.gguf`');
    const info = await readGgufFileInfo(COMMITTED_MICRO_MODEL);
    const metadata = info.metadata as unknown as Record<string, Record<string, unknown>>;
    assert.equal(metadata.arbor?.objective, 'sft');
    assert.equal(Number(metadata.arbor?.steps), MICRO_RECIPE.train.steps);
  });

  test('writes well-formed step-by-step solutions on held-out problems (accuracy: npm run bench:micro)', async () => {
    const problems = heldOutProblems(ARITHMETIC, { 1: 30, 2: 30 });
    const result = await evaluateGreedy({ modelPath: COMMITTED_MICRO_MODEL, task: ARITHMETIC, problems, threads: 1 });
    // Well-formed: every line before the answer line is an expression with one operator fewer than
    // the line before it (values may be wrong), and there is an answer line. The loop's search and
    // step labels rely on this; correctness is what the loop improves.
    const wellFormed = result.samples.filter((sample) => {
      const lines = sample.completion.trimEnd().split('\n');
      const answer = lines.pop();
      if (answer === undefined || extractAnswer(`${answer}\n`) === null) return false;
      let operators = parseExpression(sample.question)?.operators.length ?? -1;
      return lines.every((line) => {
        const parsed = parseExpression(line);
        if (parsed === null || parsed.operators.length !== operators - 1) return false;
        operators = parsed.operators.length;
        return true;
      });
    });
    assert.ok(wellFormed.length >= 0.95 * problems.length, `${wellFormed.length}/${problems.length} well-formed`);
    assert.ok(result.accuracy > 0, 'solves some problems');
  });
});

describe('micro model build pipeline (tiny recipe)', () => {
  const dir = useTempDir('arbor-micro-');
  const tiny: MicroRecipe = {
    seed: 5,
    model: { dim: 32, layers: 1, heads: 2, ffn: 64, ctx: 256 },
    problems: { '1': 50, '2': 100 },
    train: { steps: 60, batch: 8, lr: 3e-3, warmup: 5, minLrRatio: 0.1, weightDecay: 0, beta2: 0.95 },
  };
  test('an interrupted build resumes from its checkpoint and finishes', async () => {
    const abort = new AbortController();
    const options = { recipe: tiny, workDir: join(dir(), 'work'), out: join(dir(), 'micro.gguf'), threads: 1 };
    await assert.rejects(
      buildMicroModel({ ...options, signal: abort.signal, onProgress: (e) => e.event === 'step' && e.step >= 20 && abort.abort() }),
      TrainerInterruptedError,
    );
    let resumedFrom = -1;
    const result = await buildMicroModel({ ...options, onProgress: (e) => { if (e.event === 'start') resumedFrom = e.start_step; } });
    assert.ok(resumedFrom >= 20, `resumed from step ${resumedFrom}`);
    assert.ok(result.trainLoss < 3, `loss ${result.trainLoss}`);
    const info = await readGgufFileInfo(result.modelPath);
    assert.equal(info.metadata.general.architecture, 'llama');
  });
});

describe('training and inference compute the same network', () => {
  const dir = useTempDir('arbor-agree-');

  test('a model that memorized 30 problems in the trainer reproduces them with greedy llama.cpp decoding', async () => {
    const vocab = join(dir(), 'vocab.txt');
    await writeFile(vocab, ARITHMETIC_ALPHABET);
    const initial = join(dir(), 'init.gguf');
    await initModel({ vocabChars: vocab, out: initial, dim: 64, layers: 2, heads: 4, ffn: 192, ctx: 256, seed: 2 });
    const problems = ARITHMETIC.sample('train', { seed: 3, level: 2, count: 30 });
    const data = join(dir(), 'sft.jsonl');
    await writeSolutionsJsonl(problems, data);
    const prepared = await prepareTrainingData({ model: initial, objective: 'sft', data, val: data, outDir: join(dir(), 'data') });
    const trained = join(dir(), 'trained.gguf');
    const done = await runTrainer({ model: initial, data: prepared.train.path, val: prepared.val?.path, out: trained, objective: 'sft', steps: 400, batch: 15, lr: 3e-3, warmup: 20, threads: 2 });
    assert.ok(done.val_loss !== null && done.val_loss < 0.01, `teacher-forced loss ${done.val_loss}`);
    const result = await evaluateGreedy({ modelPath: trained, task: ARITHMETIC, problems, threads: 1 });
    assert.equal(result.accuracy, 1, JSON.stringify(result.samples.filter((s) => !s.correct).slice(0, 3)));
  });
});
