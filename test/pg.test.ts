// The policy-gradient objective in the native trainer: the clipped-ratio loss recomputed from the
// logits and its gradients against finite differences (every aggregation, LoRA), advantages carried
// from JSONL to the trainer, and on a tiny model: a positive advantage on X and a negative one on Y
// raise log p(X) − log p(Y); zero advantages move nothing.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { z } from 'zod';
import { encodeArbtokExample, readArbtok, writeArbtok } from '../train/arbtok.ts';
import { initModel, prepareTrainingData, runTrainer, TrainerError, trainerBinaryPath, type TrainerEvent } from '../train/trainer.ts';
import { useTempDir } from './temp-dir.ts';

const run = promisify(execFile);

const gradcheckSchema = z.object({
  pg_loss: z.number(),
  pg_expected_loss: z.number(),
  pg_clipped: z.number(),
  pg_slots: z.number(),
  tensors: z.array(z.object({ name: z.string(), max_rel_err: z.number(), max_abs_err: z.number(), grad_abs_max: z.number() })),
});

async function gradcheck(...args: string[]): Promise<z.infer<typeof gradcheckSchema>> {
  const { stdout } = await run(trainerBinaryPath(), ['gradcheck', '--threads', '1', '--objective', 'pg', ...args]);
  return gradcheckSchema.parse(JSON.parse(stdout));
}

describe('pg loss and gradients', () => {
  for (const [name, args, relBound] of [
    ['token-mean (DAPO)', ['--pg-aggregation', 'token-mean'], 0.05],
    ['seq-mean (GRPO)', ['--pg-aggregation', 'seq-mean'], 0.05],
    ['constant (Dr. GRPO)', ['--pg-aggregation', 'constant'], 0.05],
    ['LoRA on a Q8_0 base', ['--lora-rank', '4', '--base-type', 'q8_0'], 0.1],
  ] as const) {
    test(`${name}: loss = −Σ c·min(ρA, clip(ρ)A) + β·Σ c·k3, gradients match finite differences`, async () => {
      const result = await gradcheck(...args);
      // Recomputed in the gradcheck from the logits, independently of the graph.
      assert.ok(Math.abs(result.pg_loss - result.pg_expected_loss) < 1e-4 * Math.max(1, Math.abs(result.pg_expected_loss)), `${result.pg_loss} vs ${result.pg_expected_loss}`);
      // Both branches of the clip are taken.
      assert.ok(result.pg_clipped > 0 && result.pg_clipped < result.pg_slots, `${result.pg_clipped} of ${result.pg_slots} slots clipped`);
      for (const t of result.tensors) {
        assert.ok(t.grad_abs_max > 1e-3, `${t.name} receives a gradient`);
        assert.ok(t.max_rel_err < relBound, `${t.name}: relative error ${t.max_rel_err}`);
        assert.ok(t.max_abs_err < 5e-3 * Math.max(t.grad_abs_max, 0.1), `${t.name}: absolute error ${t.max_abs_err}`);
      }
    });
  }
});

describe('pg training', () => {
  const tempDir = useTempDir('arbor-pg-');

  /** Σ log p(completion tokens | prompt) under a model, from the trainer's own log-probabilities. */
  async function logProb(model: string, tokens: number[], from: number): Promise<number> {
    const { stdout } = await run(trainerBinaryPath(), ['logprobs', '--model', model, '--tokens', tokens.join(','), '--threads', '1'], { maxBuffer: 1 << 26 });
    const rows = z.object({ logprobs: z.array(z.array(z.number())) }).parse(JSON.parse(stdout)).logprobs;
    let sum = 0;
    for (let pos = from; pos < tokens.length; pos++) sum += rows[pos - 1]?.[tokens[pos] ?? -1] ?? NaN;
    return sum;
  }

  async function setup(dir: string, advantages: [number, number]) {
    await writeFile(join(dir, 'vocab.txt'), 'abcdefgh|');
    const model = join(dir, 'model.gguf');
    await initModel({ vocabChars: join(dir, 'vocab.txt'), out: model, dim: 32, layers: 2, heads: 2, ffn: 64, ctx: 64, seed: 5 });
    const rows = [
      { prompt: 'ab|', completion: 'cd', advantage: advantages[0] },
      { prompt: 'ab|', completion: 'ef', advantage: advantages[1], weight: 2 },
    ];
    await writeFile(join(dir, 'pg.jsonl'), rows.map((row) => JSON.stringify(row)).join('\n'));
    const prepared = await prepareTrainingData({ model, objective: 'pg', data: join(dir, 'pg.jsonl'), outDir: dir });
    return { model, data: prepared.train.path };
  }

  test('advantages travel from JSONL to the .arbtok file, one per example, with the row weight on the targets', async () => {
    const dir = tempDir();
    const { data } = await setup(dir, [1, -0.5]);
    const examples = await readArbtok(data);
    assert.deepEqual(examples.map((example) => example.advantage), [1, -0.5]);
    assert.deepEqual(examples.map((example) => [...new Set(example.targets.map((target) => target.weight))]), [[1], [2]]);
    // Targets on the completion's two tokens only, no EOS after it.
    assert.deepEqual(examples.map((example) => example.targets.length), [2, 2]);
  });

  test('A > 0 on X and A < 0 on Y for the same prompt: log p(X) − log p(Y) rises; the start entropy and monitors are reported', async () => {
    const dir = tempDir();
    const { model, data } = await setup(dir, [1, -1]);
    const [x, y] = await readArbtok(data);
    assert.ok(x !== undefined && y !== undefined);
    const from = Math.min(...x.targets.map((target) => target.pos)) + 1;
    const margin = async (path: string) => (await logProb(path, x.tokens, from)) - (await logProb(path, y.tokens, from));
    const out = join(dir, 'trained.gguf');
    const steps: TrainerEvent[] = [];
    const done = await runTrainer(
      { model, data, out, objective: 'pg', steps: 20, batch: 2, lr: 1e-2, threads: 1, weightDecay: 0, logEvery: 5 },
      { onProgress: (event) => event.event === 'step' && steps.push(event) },
    );
    const before = await margin(model);
    const after = await margin(out);
    process.stderr.write(`# log p(X) − log p(Y): ${before.toFixed(3)} → ${after.toFixed(3)} nats\n`);
    assert.ok(after > before + 1, `margin ${before} → ${after}`);
    assert.ok(done.entropy_start !== undefined && done.entropy_start > 0 && done.kl !== undefined && done.clip_frac !== undefined);
    assert.ok(steps.every((event) => event.event === 'step' && event.kl !== undefined && event.entropy !== undefined));
    // The clip stops the ratio's growth: once past 1 + ε_high, X's tokens give no more gradient.
    assert.ok(done.clip_frac > 0, `clip fraction ${done.clip_frac}`);
  });

  test('A = 0 everywhere: no weight moves', async () => {
    const dir = tempDir();
    const { model, data } = await setup(dir, [0, 0]);
    const out = join(dir, 'still.gguf');
    await runTrainer({ model, data, out, objective: 'pg', steps: 10, batch: 2, lr: 1e-2, threads: 1, weightDecay: 0, pgKlBeta: 0.1 });
    const { stdout } = await run(trainerBinaryPath(), ['diff', model, out]);
    assert.equal(z.object({ max_abs_diff: z.number() }).parse(JSON.parse(stdout)).max_abs_diff, 0);
  });

  test('pg data without advantages, advantages under another objective, and pg flags without pg are refused naming the input', async () => {
    const dir = tempDir();
    const { model, data } = await setup(dir, [1, -1]);
    const plain = join(dir, 'plain.arbtok');
    await writeArbtok(plain, [encodeArbtokExample({ tokens: [1, 5, 6], targets: [{ pos: 1, token: 6, weight: 1 }] })]);
    const refused = async (options: Parameters<typeof runTrainer>[0], message: RegExp) =>
      assert.rejects(runTrainer(options), (error: unknown) => {
        assert.ok(error instanceof TrainerError);
        assert.equal(error.exitCode, 2);
        assert.match(error.message, message);
        return true;
      });
    await refused({ model, data: plain, out: join(dir, 'x.gguf'), objective: 'pg', threads: 1 }, /plain\.arbtok: examples carry no advantages/);
    await refused({ model, data, out: join(dir, 'x.gguf'), objective: 'sft', threads: 1 }, /train\.arbtok: examples carry advantages: train them with --objective pg/);
    await refused({ model, data, out: join(dir, 'x.gguf'), objective: 'sft', threads: 1, pgKlBeta: 0.1 }, /--pg-kl-beta .* need --objective pg/);
    await writeFile(join(dir, 'bad.jsonl'), JSON.stringify({ prompt: 'ab|', completion: 'cd' }));
    await assert.rejects(prepareTrainingData({ model, objective: 'pg', data: join(dir, 'bad.jsonl'), outDir: dir }), /bad\.jsonl:1: "advantage"/);
  });
});
