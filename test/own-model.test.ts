// A user's own model and data, end to end, on the stand-in model (Qwen3's real tokenizer and chat
// template, built here): the chat prompt trains on the tokens generation sees, and GSM8K and any
// JSONL go through search, data, training, evaluation and export.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { before, describe, test } from 'node:test';
import { loadVocabulary, resolveModelPath } from '../engine/llama.ts';
import { createPromptBuilder } from '../engine/prompt.ts';
import { samplingSchema, StepGenerator } from '../engine/step-generator.ts';
import { resolveModelFiles } from '../engine/model-files.ts';
import { prepareTrainingData, runTrainer, trainerBinaryPath } from '../train/trainer.ts';
import { loadTask } from '../tasks/index.ts';
import { modelTokenizer, tokenizeChunks } from '../train/tokenizer.ts';
import { ensureStandinModel } from '../train/standin-model.ts';
import type { RunResult } from '../workflows/types.ts';
import { arbor } from './arbor-cli.ts';
import { useTempDir } from './temp-dir.ts';

describe('your own model and data (stand-in model)', () => {
  const dir = useTempDir('arbor-own-');
  let standin = '';
  before(async () => {
    standin = await ensureStandinModel();
  });

  test('the chat prompt written into training rows tokenizes back to exactly the tokens generation continues', async () => {
    const model = await loadVocabulary(standin);
    const gsm8k = loadTask({ kind: 'gsm8k' });
    const builder = createPromptBuilder(model, gsm8k.prompt, gsm8k.delimiter);
    assert.ok(builder.chat, 'auto picks the chat template the GGUF carries');
    const [problem] = gsm8k.sample('test', { seed: 1, level: 3, count: 1 });
    assert.ok(problem !== undefined);
    const text = builder.text(problem.question);
    assert.match(text, /<\|im_start\|>user\n/);
    assert.ok(text.includes(problem.question));
    const trained = tokenizeChunks(modelTokenizer(model, standin), [text, 'First step\n']);
    const generated = builder.tokens(problem.question, ['First step']);
    assert.deepEqual(trained.tokens, generated);
  });

  for (const [task, args] of [
    ['gsm8k', ['--task', 'gsm8k']],
    ['jsonl', ['--task', 'jsonl', '--train', 'datasets/examples/word-problems.jsonl', '--test', 'datasets/examples/word-problems-test.jsonl', '--question-field', 'q', '--answer-field', 'a']],
  ] as const) {
    test(`arbor run --quick --task ${task} --policy <stand-in>: search, data, training, evaluation, export`, async () => {
      const runDir = join(dir(), task);
      const config = join(dir(), `${task}.json`);
      // The file only places the run in the temporary folder: the rest is --quick and the flags.
      await writeFile(config, JSON.stringify({ name: task, runDir }));
      const started = performance.now();
      const result = await arbor('run', config, '--quick', '--inline', ...args, '--policy', standin);
      const seconds = (performance.now() - started) / 1000;
      assert.equal(result.code, 0, result.stderr.slice(-3000));
      process.stderr.write(`# ${task}: quick run in ${seconds.toFixed(0)} s\n`);
      const report = JSON.parse(await readFile(join(runDir, 'report.json'), 'utf8')) as RunResult;
      assert.deepEqual(report.iterations.map((record) => record.iteration), [0, 1]);
      assert.ok(Object.keys(report.iterations[1]?.training ?? {}).some((metric) => metric.startsWith('searched_L')), 'per-level search metrics');
      // The seed PRM is trained on the stand-in; the loop trains only on trees with a right answer,
      // which a random-weight model rarely finds (trained here: the SFT test below).
      assert.ok((await readdir(join(runDir, 'models'))).includes('prm-0.gguf'), 'the seed PRM');
      const samples = await readFile(join(runDir, 'work', 'seed-prm', 'prm.jsonl'), 'utf8');
      assert.ok(samples.split('\n').filter(Boolean).every((line) => !(JSON.parse(line) as { prompt: string }).prompt.includes('<|im_start|>')), 'the PRM reads the plain prompt');
      const exported = await arbor('export', task, '--run-dir', runDir);
      assert.equal(exported.code, 0, exported.stderr);
      assert.ok(existsSync(join(runDir, 'export')));
    });
  }

  test('a quantized stand-in (Q8_0) runs the loop with LoRA adapters: the seed PRM is an adapter the engine scores with', async () => {
    const quantized = join(dir(), 'standin-q8_0.gguf');
    await promisify(execFile)(trainerBinaryPath(), ['quantize', '--model', standin, '--out', quantized, '--type', 'q8_0']);
    const runDir = join(dir(), 'lora');
    const config = join(dir(), 'lora.json');
    const lora = { method: 'lora', lora: { rank: 4 } };
    await writeFile(config, JSON.stringify({ name: 'lora', runDir, train: { policy: lora, prm: lora } }));
    const jsonl = ['--task', 'jsonl', '--train', 'datasets/examples/word-problems.jsonl', '--test', 'datasets/examples/word-problems-test.jsonl', '--question-field', 'q', '--answer-field', 'a'];
    const result = await arbor('run', config, '--quick', '--inline', ...jsonl, '--policy', quantized);
    assert.equal(result.code, 0, result.stderr.slice(-3000));
    const { base, adapters } = await resolveModelFiles(join(runDir, 'models', 'prm-0.lora.gguf'));
    assert.equal(resolve(base), resolve(quantized), 'the seed PRM adapts the quantized stand-in');
    assert.equal(adapters.length, 1);
    const report = JSON.parse(await readFile(join(runDir, 'report.json'), 'utf8')) as RunResult;
    assert.equal(report.iterations[0]?.prmPath, join(runDir, 'models', 'prm-0.lora.gguf'));
    // Iteration 1 searched with it (the PRM scores every expansion) and trained the next adapter.
    assert.ok(Object.keys(report.iterations[1]?.training ?? {}).some((metric) => metric.startsWith('searched_L')), 'searches guided by the adapter PRM');
    assert.match(report.iterations[1]?.prmPath ?? '', /prm-[01]\.lora\.gguf$/);
  });

  test('the trainer fine-tunes the stand-in on chat-prompt SFT rows, and llama.cpp loads the result', async () => {
    const model = await loadVocabulary(standin);
    const gsm8k = loadTask({ kind: 'gsm8k' });
    const builder = createPromptBuilder(model, gsm8k.prompt, gsm8k.delimiter);
    const rows = gsm8k.sample('train', { seed: 2, level: 2, count: 4 }).map((problem) => ({ prompt: builder.text(problem.question), completion: `Step one.\n#### ${problem.answer}\n` }));
    const data = join(dir(), 'sft.jsonl');
    await writeFile(data, rows.map((row) => JSON.stringify(row)).join('\n') + '\n');
    const prepared = await prepareTrainingData({ model: standin, objective: 'sft', data, outDir: join(dir(), 'sft-data') });
    const out = join(dir(), 'sft.gguf');
    const done = await runTrainer({ model: standin, data: prepared.train.path, out, objective: 'sft', steps: 2, batch: 2, lr: 1e-3, threads: 1 });
    assert.ok(Number.isFinite(done.loss), `loss ${done.loss}`);
    const generator = await StepGenerator.create({ modelPath: out, threads: 1, sequences: 1, contextSize: gsm8k.contextSize, delimiter: gsm8k.delimiter });
    const [step] = await generator.generateSteps(builder.tokens('What is 2 + 2?', []), 1, { sampling: samplingSchema.parse({ maxStepTokens: 8 }), seed: 1 });
    await generator.dispose();
    assert.ok(step !== undefined && step.generatedTokens >= 1);
  });

  test('a model that is not a GGUF, or an hf: model that cannot be fetched, is an error naming it', async () => {
    const config = join(dir(), 'bad.json');
    await writeFile(config, JSON.stringify({ name: 'bad', runDir: join(dir(), 'bad') }));
    const bad = await arbor('run', config, '--quick', '--inline', '--policy', 'package.json');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /policy model package\.json: not a GGUF file/);
    assert.ok(!existsSync(join(dir(), 'bad')), 'nothing written for bad input');
    await assert.rejects(resolveModelPath('hf:arbor-tests/no-such-model:Q4_K_M', 'policy model'), /policy model hf:arbor-tests\/no-such-model:Q4_K_M: cannot download or find it/);
  });
});
