// The native trainer's core promises: exact gradients (every weight, masked prompts, soft PRM
// targets), real learning of a pattern that needs attention, exact resume, exact tokenizer round trip,
// and clear errors for inputs it cannot train.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { z } from 'zod';
import { getLlama } from 'node-llama-cpp';
import { ARITHMETIC_ALPHABET } from '../tasks/arithmetic.ts';
import { createRng } from '../tasks/random.ts';
import { initModel, prepareTrainingData, runTrainer, TrainerError, TrainerInterruptedError, trainerBinaryPath } from '../train/trainer.ts';
import { writeGgufFile } from './gguf-fixture.ts';
import { useTempDir } from './temp-dir.ts';

const run = promisify(execFile);

const tensorCheckSchema = z.object({ name: z.string(), max_rel_err: z.number(), max_abs_err: z.number(), grad_abs_max: z.number() });
const gradcheckSchema = z.object({
  event: z.literal('gradcheck'),
  arch: z.string(),
  max_rel_err: z.number(),
  masked_logit_grad_max: z.number(),
  target_logit_grad_min_row_max: z.number(),
  prm_grad_good: z.number().optional(),
  prm_expected_grad_good: z.number().optional(),
  tensors: z.array(tensorCheckSchema),
});

async function gradcheck(...args: string[]): Promise<z.infer<typeof gradcheckSchema>> {
  const { stdout } = await run(trainerBinaryPath(), ['gradcheck', '--threads', '1', ...args]);
  return gradcheckSchema.parse(JSON.parse(stdout));
}

async function diffModels(a: string, b: string): Promise<number> {
  const { stdout } = await run(trainerBinaryPath(), ['diff', a, b]);
  return z.object({ max_abs_diff: z.number() }).parse(JSON.parse(stdout)).max_abs_diff;
}

function assertGradientsMatch(result: z.infer<typeof gradcheckSchema>): void {
  for (const t of result.tensors) {
    assert.ok(t.max_rel_err < 0.05, `${t.name}: relative error ${t.max_rel_err} against finite differences`);
    // float32 finite differences: absolute noise grows with the gradient's scale
    assert.ok(t.max_abs_err < 5e-3 * Math.max(t.grad_abs_max, 0.1), `${t.name}: absolute error ${t.max_abs_err} against finite differences`);
    assert.ok(t.grad_abs_max > 1e-3, `${t.name} receives no gradient`);
  }
}

describe('gradients against finite differences (after one optimizer step)', () => {
  test('sft on llama with grouped KV heads: every weight, embeddings and K/V included', async () => {
    const result = await gradcheck('--objective', 'sft', '--kv-heads', '2');
    assertGradientsMatch(result);
    const names = result.tensors.map((t) => t.name);
    for (const name of ['token_embd.weight', 'blk.0.attn_k.weight', 'blk.0.attn_v.weight', 'blk.1.attn_k.weight', 'output.weight']) {
      assert.ok(names.includes(name), `${name} is checked`);
    }
  });

  test('sft: masked prompt positions get exactly zero gradient, target positions do not', async () => {
    const result = await gradcheck('--objective', 'sft');
    assert.equal(result.masked_logit_grad_max, 0);
    assert.ok(result.target_logit_grad_min_row_max > 1e-4);
  });

  test('prm soft target v=0.3: d loss / d logit(good) = s·p(good) − 0.3·s', async () => {
    const result = await gradcheck('--objective', 'prm');
    assertGradientsMatch(result);
    assert.ok(result.prm_grad_good !== undefined && result.prm_expected_grad_good !== undefined);
    assert.ok(Math.abs(result.prm_grad_good - result.prm_expected_grad_good) < 1e-6);
    assert.notEqual(result.prm_grad_good, 0);
  });

  test('lm, and qwen2 (QKV bias, NEOX rope) with one KV head', async () => {
    assertGradientsMatch(await gradcheck('--objective', 'lm'));
    const qwen = await gradcheck('--arch', 'qwen2', '--kv-heads', '1');
    assert.equal(qwen.arch, 'qwen2');
    assertGradientsMatch(qwen);
    assert.ok(qwen.tensors.some((t) => t.name === 'blk.0.attn_q.bias'));
  });
});

describe('training runs', () => {
  const tempDir = useTempDir('arbor-native-');
  let dir: string;
  let model: string;
  let copyTrain: string;
  let copyVal: string;

  before(async () => {
    dir = tempDir();
    const vocab = join(dir, 'vocab.txt');
    await writeFile(vocab, 'abcdefgh|');
    model = join(dir, 'copy0.gguf');
    await initModel({ vocabChars: vocab, out: model, dim: 64, layers: 2, heads: 4, ffn: 192, ctx: 256, seed: 3 });
    // Copy task: the answer is the string before '|', so only attention can predict it.
    const rng = createRng(7);
    const rows = (n: number): string =>
      Array.from({ length: n }, () => {
        const s = Array.from({ length: rng.int(3, 6) }, () => rng.pick([...'abcdefgh'])).join('');
        return JSON.stringify({ prompt: `${s}|`, completion: s });
      }).join('\n');
    await writeFile(join(dir, 'copy.jsonl'), rows(3000));
    await writeFile(join(dir, 'copy-val.jsonl'), rows(200));
    const prepared = await prepareTrainingData({
      model,
      objective: 'sft',
      data: join(dir, 'copy.jsonl'),
      val: join(dir, 'copy-val.jsonl'),
      outDir: join(dir, 'copy'),
    });
    copyTrain = prepared.train.path;
    copyVal = prepared.val?.path ?? assert.fail('validation set expected');
  });

  test('a from-scratch model learns to copy (needs attention) to near-zero held-out loss', async () => {
    const done = await runTrainer({
      model,
      data: copyTrain,
      val: copyVal,
      out: join(dir, 'copy1.gguf'),
      objective: 'sft',
      steps: 1000,
      batch: 32,
      lr: 3e-3,
      warmup: 50,
      threads: 2,
    });
    // Guessing without attention costs ln(8) ≈ 2.08 per copied character.
    assert.ok(done.val_loss !== null && done.val_loss < 0.1, `held-out loss ${done.val_loss}`);
  });

  test('SIGTERM writes a checkpoint; --resume ends with the weights of an uninterrupted run', async () => {
    const options = { model, data: copyTrain, objective: 'sft', steps: 40, batch: 16, accum: 2, lr: 3e-3, warmup: 5, threads: 2, logEvery: 1 } as const;
    const full = join(dir, 'full.gguf');
    await runTrainer({ ...options, out: full });

    const resumed = join(dir, 'resumed.gguf');
    const abort = new AbortController();
    await assert.rejects(
      runTrainer({ ...options, out: resumed }, { signal: abort.signal, onProgress: (e) => e.event === 'step' && e.step === 7 && abort.abort() }),
      TrainerInterruptedError,
    );
    let startStep = -1;
    await runTrainer({ ...options, out: resumed, resume: true }, { onProgress: (e) => { if (e.event === 'start') startStep = e.start_step; } });
    assert.ok(startStep >= 7 && startStep < 40, `resumed from step ${startStep}`);
    assert.equal(await diffModels(full, resumed), 0);
    assert.ok((await diffModels(model, full)) > 0, 'training changed the weights');
  });
});

describe('model files', () => {
  const tempDir = useTempDir('arbor-gguf-');

  test('init writes a GGUF that node-llama-cpp loads and tokenizes exactly, one token per character', async () => {
    const vocab = join(tempDir(), 'vocab.txt');
    await writeFile(vocab, ARITHMETIC_ALPHABET);
    const path = join(tempDir(), 'micro.gguf');
    await initModel({ vocabChars: vocab, out: path, dim: 32, layers: 1, heads: 2, ctx: 256 });
    const llama = await getLlama({ gpu: false, maxThreads: 1 });
    const model = await llama.loadModel({ modelPath: path });
    try {
      for (const text of ['Q: 7+5*3-4\n', '7+15-4\n22-4\n18\nA: 18\n', '  (12)*-3\n\n', 'A: -5']) {
        const tokens = model.tokenize(text);
        assert.equal(tokens.length, [...text].length, `one token per character in ${JSON.stringify(text)}`);
        assert.equal(model.detokenize(tokens), text);
      }
    } finally {
      await model.dispose();
    }
  });

  test('unknown architecture, quantized weights, missing file: exit code 2 and the input named', async () => {
    const mamba = join(tempDir(), 'mamba.gguf');
    await writeGgufFile(mamba, { 'general.architecture': 'mamba' }, []);
    const quantized = join(tempDir(), 'q8.gguf');
    await writeGgufFile(
      quantized,
      {
        'general.architecture': 'llama',
        'llama.embedding_length': 32,
        'llama.block_count': 1,
        'llama.feed_forward_length': 64,
        'llama.attention.head_count': 2,
        'llama.context_length': 64,
      },
      [{ name: 'token_embd.weight', type: 'q8_0', dims: [32, 8] }],
    );
    const data = join(tempDir(), 'none.arbtok');
    await writeFile(data, '');
    const cases: [string, RegExp][] = [
      [mamba, /mamba\.gguf: unknown architecture 'mamba'/],
      [quantized, /q8\.gguf: tensor token_embd\.weight is quantized \(q8_0\).*--lora-rank/],
      [join(tempDir(), 'missing.gguf'), /missing\.gguf: not a readable GGUF file/],
    ];
    for (const [modelPath, message] of cases) {
      await assert.rejects(runTrainer({ model: modelPath, data, out: join(tempDir(), 'out.gguf'), objective: 'sft', threads: 1 }), (error: unknown) => {
        assert.ok(error instanceof TrainerError);
        assert.equal(error.exitCode, 2);
        assert.match(error.message, message);
        return true;
      });
    }
  });

  test('bad training flags exit 2 before any work, naming the flag', async () => {
    const cases: [string[], RegExp][] = [
      [['--steps', '0'], /--steps must be positive, got 0/],
      [['--steps', '-3'], /--steps must be positive, got -3/],
      [['--lr', '0'], /--lr must be positive/],
      [['--lr', '-1e-3'], /--lr must be positive/],
      [['--beta1', '1'], /--beta1 must be in \[0, 1\), got 1/],
      [['--beta2', '-0.5'], /--beta2 must be in \[0, 1\)/],
      [['--min-lr-ratio', '2'], /--min-lr-ratio must be in \[0, 1\]/],
      [['--weight-decay', '-1'], /--weight-decay must be at least 0/],
      [['--warmup', '-5'], /--warmup must be at least 0/],
      [['--out', 'nowhere.gguf'], /--out must differ from --model/],
      [['--lora-rank', '0'], /--lora-rank must be positive, got 0/],
      [['--lora-rank', '4', '--lora-targets', 'attn_q,attn_x'], /--lora-targets: unknown target tensor 'attn_x'/],
      [['--lora-rank', '4', '--lora-alpha', '-1'], /--lora-alpha must be positive/],
      [['--lora-alpha', '8'], /--lora-alpha and --lora-targets need --lora-rank/],
    ];
    for (const [flags, message] of cases) {
      // The model and data need not exist: the flags are checked first.
      const defaults = ['--out', 'out.gguf'].filter(() => !flags.includes('--out'));
      const args = ['train', '--model', 'nowhere.gguf', '--data', 'nowhere.arbtok', ...defaults, ...flags];
      await assert.rejects(run(trainerBinaryPath(), args), (error: { code?: number; stderr?: string }) => {
        assert.equal(error.code, 2, flags.join(' '));
        assert.match(error.stderr ?? '', message);
        return true;
      });
    }
  });
});
