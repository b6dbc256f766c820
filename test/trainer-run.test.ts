import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readGgufFileInfo } from 'node-llama-cpp';
import { z } from 'zod';
import { encodeArbtokExample, writeArbtok } from '../train/arbtok.ts';
import { createProgressBar } from '../cli/progress.ts';
import {
  initModel,
  prepareTrainingData,
  runTrainer,
  TrainerError,
  TrainerInterruptedError,
  trainerBinaryPath,
  type PreparedTrainingData,
  type TrainerEvent,
} from '../train/trainer.ts';
import { ARITHMETIC_ALPHABET } from '../tasks/arithmetic.ts';


describe('arbor-trainer through train/trainer.ts', () => {
  let dir: string;
  let model: string;
  let prepared: PreparedTrainingData;
  // few threads: tests run beside other work
  const small = { objective: 'sft', batch: 4, threads: 2 } as const;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'arbor-trainer-run-'));
    const vocabFile = join(dir, 'vocab.txt');
    await writeFile(vocabFile, ARITHMETIC_ALPHABET);
    model = join(dir, 'tiny.gguf');
    await initModel({ vocabChars: vocabFile, out: model, dim: 32, layers: 1, heads: 2, ctx: 256 });
    const data = join(dir, 'sft.jsonl');
    const rows = Array.from({ length: 24 }, (_, index) => JSON.stringify({ prompt: `Q:${index}+1\nA:`, completion: String(index + 1) }));
    await writeFile(data, rows.join('\n') + '\n');
    prepared = await prepareTrainingData({ model, objective: 'sft', data, valFraction: 0.25, outDir: join(dir, 'data') });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('the binary is found', () => {
    assert.ok(trainerBinaryPath().endsWith('native/build/arbor-trainer'));
  });

  test('a short run streams progress and writes the model with its lineage', async () => {
    const out = join(dir, 'trained.gguf');
    const events: TrainerEvent[] = [];
    const done = await runTrainer(
      {
        ...small,
        model,
        data: prepared.train.path,
        val: prepared.val?.path,
        out,
        parent: 'tiny',
        dataSha256: prepared.dataSha256,
        steps: 4,
        logEvery: 1,
        evalEvery: 2,
      },
      { onProgress: (event) => events.push(event) },
    );
    assert.deepEqual(
      events.map((event) => event.event),
      ['start', 'step', 'step', 'eval', 'step', 'step', 'eval', 'done'],
    );
    assert.deepEqual(
      events.flatMap((event) => (event.event === 'step' ? [event.step] : [])),
      [1, 2, 3, 4],
    );
    assert.equal(done, events.at(-1));
    assert.equal(done.out, out);
    assert.equal(done.step, 4);
    assert.ok(Number.isFinite(done.loss) && done.val_loss !== null && Number.isFinite(done.val_loss));
    const lineage = z
      .object({ arbor: z.object({ parent: z.string(), objective: z.string(), data_sha256: z.string(), steps: z.coerce.number() }) })
      .parse((await readGgufFileInfo(out, { readTensorInfo: false })).metadata).arbor;
    assert.deepEqual(lineage, { parent: 'tiny', objective: 'sft', data_sha256: prepared.dataSha256, steps: 4 });
  });

  test('aborting interrupts with a checkpoint, and resuming finishes the run', async () => {
    const out = join(dir, 'resumed.gguf');
    const options = { ...small, model, data: prepared.train.path, out, steps: 12, logEvery: 1 };
    const controller = new AbortController();
    const interrupted = await runTrainer(options, {
      signal: controller.signal,
      onProgress: (event) => {
        if (event.event === 'step') controller.abort();
      },
    }).then(
      () => assert.fail('the run should have been interrupted'),
      (error: unknown) => error,
    );
    assert.ok(interrupted instanceof TrainerInterruptedError, String(interrupted));
    assert.equal(interrupted.exitCode, 3);
    assert.equal(interrupted.checkpoint, `${out}.ckpt`);
    assert.ok(existsSync(interrupted.checkpoint));

    const events: TrainerEvent[] = [];
    const done = await runTrainer({ ...options, resume: true }, { onProgress: (event) => events.push(event) });
    const start = events[0];
    assert.ok(start?.event === 'start' && start.resumed && start.start_step > 0);
    assert.equal(done.step, 12);
    assert.ok(existsSync(out));
  });

  test('a token id outside the vocabulary: exit code 2, naming the data file', async () => {
    const data = join(dir, 'bad-token.arbtok');
    await writeArbtok(data, [encodeArbtokExample({ tokens: [1, 5, 9999], targets: [{ pos: 1, token: 9999, weight: 1 }] })]);
    await assert.rejects(runTrainer({ ...small, model, data, out: join(dir, 'never.gguf'), steps: 1 }), (error: unknown) => {
      assert.ok(error instanceof TrainerError && !(error instanceof TrainerInterruptedError));
      assert.equal(error.exitCode, 2);
      assert.match(error.message, /exit code 2 \(bad input\)/);
      assert.ok(error.message.includes(`arbor-trainer: error: ${data}:`), error.message);
      assert.match(error.message, /token id 9999 is outside the vocabulary/);
      return true;
    });
  });

  test('a model that is not a GGUF file: exit code 2, naming the model', async () => {
    const notGguf = join(dir, 'not-a-model.gguf');
    await writeFile(notGguf, 'hello');
    await assert.rejects(runTrainer({ ...small, model: notGguf, data: prepared.train.path, out: join(dir, 'never.gguf'), steps: 1 }), (error: unknown) => {
      assert.ok(error instanceof TrainerError);
      assert.equal(error.exitCode, 2);
      assert.ok(error.message.includes(`arbor-trainer: error: ${notGguf}:`), error.message);
      return true;
    });
  });

  test('init with a missing vocabulary file: exit code 2, naming the file', async () => {
    const missing = join(dir, 'no-such-vocab.txt');
    await assert.rejects(initModel({ vocabChars: missing, out: join(dir, 'never.gguf') }), (error: unknown) => {
      assert.ok(error instanceof TrainerError);
      assert.equal(error.exitCode, 2);
      assert.ok(error.message.includes(missing), error.message);
      return true;
    });
  });

  test('options are validated before anything runs', async () => {
    await assert.rejects(runTrainer({ ...small, model, data: prepared.train.path, out: join(dir, 'x.gguf'), steps: 2, epochs: 1 }), {
      name: 'ZodError',
    });
  });
});

describe('progress bar', () => {
  const recorder = (isTTY: boolean): { isTTY: boolean; written: string[]; write: (text: string) => void } => {
    const written: string[] = [];
    return { isTTY, written, write: (text) => written.push(text) };
  };

  test('not a TTY: one line per started 25% of the steps, and the last state at the end', () => {
    const stream = recorder(false);
    const bar = createProgressBar('train', { stream, everyPercent: 25 });
    for (let step = 1; step <= 7; step++) bar.update({ step, steps: 8, loss: 1 / step, tokPerSec: 1234.4, etaSec: 3725 });
    bar.finish();
    assert.deepEqual(
      stream.written.map((line) => line.split(']')[1]?.trim().split(' ')[0]),
      ['1/8', '2/8', '4/8', '6/8', '7/8'],
    );
    assert.equal(stream.written[0], `train [###.....................] 1/8  loss 1.0000  1234 tok/s  ETA 1h02m\n`);
  });

  test('a TTY: redrawn in place, ended by a newline', () => {
    const stream = recorder(true);
    const bar = createProgressBar('prm', { stream });
    bar.update({ step: 1, steps: 2 });
    bar.update({ step: 2, steps: 2, etaSec: 0 });
    bar.finish();
    assert.deepEqual(stream.written, [
      '\rprm [############............] 1/2\x1b[K',
      '\rprm [########################] 2/2  ETA 0m00s\x1b[K',
      '\n',
    ]);
  });
});
