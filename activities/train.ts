/**
 * The training activity: fine-tune the policy (SFT) or the PRM on the iteration's data with the
 * native trainer, streaming its progress into heartbeats. The trainer checkpoints as it goes, so a
 * retried attempt resumes from the checkpoint; a finished model is recorded and never retrained.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256File } from '../train/arbtok.ts';
import { prepareTrainingData, runTrainer } from '../train/trainer.ts';
import type { TrainResult } from '../workflows/types.ts';
import { iterationDataDir } from './data.ts';
import { cancellationSignal, heartbeat } from './heartbeat.ts';
import { runContext, requireFile } from './run-context.ts';

export function modelPathOf(runDir: string, kind: 'policy' | 'prm', iteration: number): string {
  return join(runDir, 'models', `${kind}-${iteration}.gguf`);
}

export async function trainModel({ runDir, iteration, kind, parentPath }: { runDir: string; iteration: number; kind: 'policy' | 'prm'; parentPath: string }): Promise<TrainResult> {
  const { store, config } = runContext(runDir);
  const out = modelPathOf(runDir, kind, iteration);
  const recorded = store.modelIdByPath(out);
  if (recorded !== null && existsSync(out)) return { modelId: recorded, path: out };
  requireFile(parentPath, `parent ${kind} model`);
  const dataDir = iterationDataDir(runDir, iteration);
  const data = join(dataDir, kind === 'policy' ? 'sft.jsonl' : 'prm.jsonl');
  requireFile(data, `${kind} training data`);
  await mkdir(join(runDir, 'models'), { recursive: true });
  const settings = kind === 'policy' ? config.train.policy : config.train.prm;
  if ((await readFile(data, 'utf8')).trim() === '') {
    // Nothing to learn from (no correct solution found): the parent goes on unchanged.
    heartbeat({ stage: `train ${kind}`, done: 1, total: 1, note: 'no training data: parent kept' });
    const parentId = store.modelIdByPath(parentPath);
    return { modelId: parentId ?? store.recordModel({ kind, path: parentPath, sha256: await sha256File(parentPath), parentId: null, iteration }), path: parentPath };
  }
  const prepared = await prepareTrainingData({ model: parentPath, objective: kind === 'policy' ? 'sft' : 'prm', data, outDir: join(dataDir, `${kind}-arbtok`) });
  const done = await runTrainer(
    {
      model: parentPath,
      data: prepared.train.path,
      out,
      objective: kind === 'policy' ? 'sft' : 'prm',
      parent: parentPath,
      dataSha256: prepared.dataSha256,
      seed: iteration,
      threads: config.threads,
      device: config.engine.gpu === 'cpu' ? 'cpu' : 'auto',
      steps: Math.min(settings.maxSteps, Math.max(1, Math.ceil((settings.epochs * prepared.train.examples) / Math.min(settings.batch, prepared.train.examples)))),
      batch: Math.min(settings.batch, prepared.train.examples),
      lr: settings.lr,
      warmup: settings.warmup,
      weightDecay: settings.weightDecay,
      clip: 1,
      checkpoint: join(runDir, 'models', `${kind}-${iteration}.ckpt`),
      checkpointEvery: 50,
      resume: true,
      logEvery: 5,
    },
    {
      signal: cancellationSignal(),
      onProgress: (event) => {
        if (event.event === 'start') heartbeat({ stage: `train ${kind}`, done: event.start_step, total: event.steps, ...(event.resumed ? { note: 'resumed from checkpoint' } : {}) });
        if (event.event === 'step') heartbeat({ stage: `train ${kind}`, done: event.step, total: event.steps, note: `loss ${event.loss.toFixed(4)}` });
      },
    },
  );
  const metrics = { examples: prepared.train.examples, loss: done.loss, tok_s: done.tok_s, steps: done.step };
  const modelId = store.recordModel({ kind, path: out, sha256: await sha256File(out), parentId: store.modelIdByPath(parentPath), iteration, metrics });
  return { modelId, path: out };
}
