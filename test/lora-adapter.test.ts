// LoRA adapters from the native trainer: exact gradients on quantized bases, adapter files that
// llama.cpp applies exactly as the trainer's own forward pass does, and merges that match them.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { getLlama, LlamaLogLevel, readGgufFileInfo, type ControlledEvaluateInputItem, type Llama, type Token } from 'node-llama-cpp';
import { z } from 'zod';
import { createRng } from '../tasks/random.ts';
import { initModel, prepareTrainingData, runTrainer, trainerBinaryPath } from '../train/trainer.ts';
import { useTempDir } from './temp-dir.ts';

const run = promisify(execFile);

async function trainer(...args: string[]): Promise<unknown> {
  const { stdout } = await run(trainerBinaryPath(), args, { maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout);
}

const gradcheckSchema = z.object({
  base_type: z.string(),
  quantized_tensors: z.number(),
  lora_rank: z.number(),
  max_rel_err: z.number(),
  tensors: z.array(z.object({ name: z.string(), max_rel_err: z.number(), max_abs_err: z.number(), grad_abs_max: z.number() })),
});

describe('LoRA gradients on a frozen quantized base against finite differences', () => {
  for (const baseType of ['q8_0', 'q4_k']) {
    test(`${baseType} base: every A and B of every target, nothing else`, async () => {
      const result = gradcheckSchema.parse(await trainer('gradcheck', '--threads', '1', '--objective', 'sft', '--lora-rank', '4', '--base-type', baseType));
      assert.equal(result.base_type.toLowerCase(), baseType);
      assert.ok(result.quantized_tensors >= 14, `the base's matrices are ${baseType} (${result.quantized_tensors} converted)`);
      // 2 layers × 7 layer matrices + output, A and B each.
      assert.equal(result.tensors.length, 2 * (2 * 7 + 1));
      for (const t of result.tensors) {
        assert.match(t.name, /\.lora_[ab]$/);
        assert.ok(t.grad_abs_max > 1e-3, `${t.name} receives a gradient`);
        // Central differences in float32 on a loss near 5: ~1e-4 absolute noise, so the relative
        // bound is looser than the absolute one (a wrong gradient is off by O(1)).
        assert.ok(t.max_rel_err < 0.1, `${t.name}: relative error ${t.max_rel_err}`);
        assert.ok(t.max_abs_err < 5e-3 * Math.max(t.grad_abs_max, 0.1), `${t.name}: absolute error ${t.max_abs_err}`);
      }
    });
  }
});

const logprobsSchema = z.object({ positions: z.number(), n_vocab: z.number(), logprobs: z.array(z.array(z.number())) });

describe('adapter files', () => {
  const tempDir = useTempDir('arbor-lora-');
  const tokens = [1, 5, 6, 7, 12, 9, 14, 8] as Token[];
  let llama: Llama;
  let full: string;
  let base: string;
  let adapter: string;

  before(async () => {
    llama = await getLlama({ gpu: false, maxThreads: 1, logLevel: LlamaLogLevel.error });
    const dir = tempDir();
    const vocab = join(dir, 'vocab.txt');
    await writeFile(vocab, 'abcdefgh|');
    full = join(dir, 'full.gguf');
    // qwen2: QKV biases and NEOX rope; dim 64 and ffn 128 fill Q8_0 blocks.
    await initModel({ vocabChars: vocab, out: full, arch: 'qwen2', dim: 64, layers: 2, heads: 4, kvHeads: 2, ffn: 128, ctx: 64, seed: 5 });
    base = join(dir, 'q8.gguf');
    await trainer('quantize', '--model', full, '--out', base, '--type', 'q8_0');
    const rng = createRng(3);
    const rows = Array.from({ length: 64 }, () => {
      const s = Array.from({ length: rng.int(3, 6) }, () => rng.pick([...'abcdefgh'])).join('');
      return JSON.stringify({ prompt: `${s}|`, completion: s });
    });
    await writeFile(join(dir, 'copy.jsonl'), rows.join('\n'));
    const prepared = await prepareTrainingData({ model: base, objective: 'sft', data: join(dir, 'copy.jsonl'), outDir: join(dir, 'data') });
    adapter = join(dir, 'adapter.gguf');
    await runTrainer({ model: base, data: prepared.train.path, out: adapter, objective: 'sft', steps: 40, batch: 8, lr: 5e-2, threads: 1, loraRank: 4, loraAlpha: 8 });
  });

  after(async () => {
    await llama.dispose();
  });

  async function trainerLogProbs(model: string, adapterPath?: string): Promise<number[][]> {
    const extra = adapterPath === undefined ? [] : ['--adapter', adapterPath];
    return logprobsSchema.parse(await trainer('logprobs', '--model', model, '--tokens', tokens.join(','), '--threads', '1', ...extra)).logprobs;
  }

  async function llamaLogProbs(model: string, adapterPath?: string): Promise<number[][]> {
    const loaded = await llama.loadModel({ modelPath: model });
    try {
      const context = await loaded.createContext({ threads: 1, contextSize: 256, ...(adapterPath === undefined ? {} : { lora: { adapters: [{ filePath: adapterPath }] } }) });
      const input = tokens.map((token): ControlledEvaluateInputItem => [token, { generateNext: { probabilities: true } }]);
      const output = await context.getSequence().controlledEvaluate(input);
      return output.map((item) => {
        const probabilities = item?.next?.probabilities ?? assert.fail('no probabilities from llama.cpp');
        return Array.from({ length: probabilities.size }, (_, token) => Math.log(probabilities.get(token as Token) ?? 0));
      });
    } finally {
      await loaded.dispose();
    }
  }

  /** Largest |a − b| over tokens llama.cpp gives a probability above 1e-6 (below that, float rounding rules). */
  function maxDifference(a: number[][], b: number[][]): number {
    let worst = 0;
    a.forEach((row, t) =>
      row.forEach((value, token) => {
        if (value > Math.log(1e-6)) worst = Math.max(worst, Math.abs(value - (b[t]?.[token] ?? -Infinity)));
      }),
    );
    return worst;
  }

  test('the adapter GGUF carries what llama.cpp reads: adapter type, alpha as F32, A [n_in, r] and B [r, n_out]', async () => {
    const info = await readGgufFileInfo(adapter, { readTensorInfo: true, logWarnings: false });
    const metadata = info.metadata as Record<string, unknown>;
    assert.equal((metadata.general as Record<string, unknown>).type, 'adapter');
    assert.equal((metadata.general as Record<string, unknown>).architecture, 'qwen2');
    assert.deepEqual(metadata.adapter, { type: 'lora', lora: { alpha: 8 } });
    const tensors = new Map((info.fullTensorInfo ?? []).map((t) => [t.name, t.dimensions.map(Number)]));
    assert.equal(tensors.size, 2 * 2 * 7);
    assert.deepEqual(tensors.get('blk.0.attn_k.weight.lora_a'), [64, 4]);
    assert.deepEqual(tensors.get('blk.0.attn_k.weight.lora_b'), [4, 32]); // 2 KV heads × 16
    assert.deepEqual(tensors.get('blk.1.ffn_down.weight.lora_a'), [128, 4]);
  });

  test('on an F32 model, the trainer and node-llama-cpp agree to float rounding', async () => {
    const gap = maxDifference(await llamaLogProbs(full), await trainerLogProbs(full));
    process.stderr.write(`# F32: llama.cpp vs trainer max |Δ log p| ${gap.toExponential(2)}\n`);
    assert.ok(gap < 1e-3, `max |Δ log p| = ${gap}`);
  });

  test("node-llama-cpp with the adapter gives the trainer's own next-token log-probabilities", async () => {
    const own = await trainerLogProbs(base, adapter);
    const applied = await llamaLogProbs(base, adapter);
    const moved = maxDifference(await trainerLogProbs(base), own);
    assert.ok(moved > 0.1, `the adapter changes log-probabilities (by up to ${moved})`);
    // The difference left is llama.cpp quantizing activations to Q8_0 for a Q8_0 weight.
    const gap = maxDifference(applied, own);
    process.stderr.write(`# Q8_0 + adapter: llama.cpp vs trainer max |Δ log p| ${gap.toExponential(2)}; the adapter moves log p by up to ${moved.toFixed(2)}\n`);
    assert.ok(gap < 0.02, `llama.cpp + adapter vs the trainer: max |Δ log p| = ${gap}`);
  });

  test('merge writes base + adapter as one GGUF whose outputs match the adapter applied at load time', async () => {
    const merged = join(tempDir(), 'merged.gguf');
    await trainer('merge', '--model', base, '--adapter', adapter, '--out', merged);
    const gap = maxDifference(await llamaLogProbs(merged), await llamaLogProbs(base, adapter));
    assert.ok(gap < 0.02, `merged vs adapter at load time: max |Δ log p| = ${gap}`);
  });

  test('an adapter continues with --lora-init (its rank, alpha, targets) and a bad one is refused by name', async () => {
    const dir = tempDir();
    const data = join(dir, 'data', 'train.arbtok');
    const next = join(dir, 'adapter-2.gguf');
    // One step at a negligible learning rate: the continued adapter is the one it started from.
    await runTrainer({ model: base, data, out: next, objective: 'sft', steps: 1, batch: 8, lr: 1e-9, threads: 1, loraInit: adapter });
    const continued = await trainerLogProbs(base, next);
    assert.ok(maxDifference(continued, await trainerLogProbs(base, adapter)) < 1e-4, 'A and B are read from the adapter');
    assert.ok(maxDifference(continued, await trainerLogProbs(base)) > 0.1, 'not a fresh adapter (B = 0 is the base)');
    await assert.rejects(run(trainerBinaryPath(), ['train', '--model', base, '--data', data, '--out', join(dir, 'x.gguf'), '--lora-init', base]), (error: { code?: number; stderr?: string }) => {
      assert.equal(error.code, 2);
      assert.match(error.stderr ?? '', /--lora-init: .*q8\.gguf: not a LoRA adapter/);
      return true;
    });
  });

  // CI has no GPU: this runs where an NVIDIA driver is present, and says so where not.
  const gpu = existsSync('/proc/driver/nvidia/version');
  test('on a GPU (CUDA backend): a LoRA on the Q8_0 base trains and matches the CPU forward pass', { skip: gpu ? false : 'no NVIDIA GPU here (/proc/driver/nvidia/version is missing): the CUDA LoRA check runs on a GPU machine' }, async () => {
    const dir = tempDir();
    const next = join(dir, 'adapter-gpu.gguf');
    const events: string[] = [];
    await runTrainer(
      { model: base, data: join(dir, 'data', 'train.arbtok'), out: next, objective: 'sft', steps: 20, batch: 8, lr: 5e-2, threads: 1, loraRank: 4, device: 'auto' },
      { onProgress: (event) => event.event === 'start' && events.push(event.device) },
    );
    assert.ok(events[0] !== undefined && events[0] !== 'CPU', `trained on ${events[0]}`);
    const gap = maxDifference(await llamaLogProbs(base, next), await trainerLogProbs(base, next));
    assert.ok(gap < 0.02, `llama.cpp + GPU-trained adapter vs the trainer: max |Δ log p| = ${gap}`);
  });
});
