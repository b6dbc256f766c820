/**
 * The training activity: fine-tune the policy (SFT on correct solutions, or DPO on step preference
 * pairs: `train.policy.objective`) or the PRM on the iteration's data with the native trainer, every
 * weight or a LoRA adapter (`train.*.method`: train/method.ts), streaming its progress into
 * heartbeats. The trainer checkpoints as it goes, so a retried attempt resumes from the checkpoint;
 * a finished model is recorded and never retrained.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveModelFiles } from '../engine/model-files.ts';
import { sha256File } from '../train/arbtok.ts';
import { methodTrainOptions } from '../train/method.ts';
import { prepareTrainingData, runTrainer } from '../train/trainer.ts';
import type { Objective } from '../train/schema.ts';
import type { PolicyTrainSettings, TrainSettings } from '../workflows/config.ts';
import type { TrainResult } from '../workflows/types.ts';
import { iterationDataDir } from './data.ts';
import { cancellationSignal, heartbeat } from './heartbeat.ts';
import { runContext, requireFile } from './run-context.ts';

/** An iteration's model file; with LoRA it is the adapter (a new file each iteration: llama.cpp caches adapters by path). */
export function modelPathOf(runDir: string, kind: 'policy' | 'prm', iteration: number, method: TrainSettings['method']): string {
  return join(runDir, 'models', `${kind}-${iteration}${method === 'lora' ? '.lora' : ''}.gguf`);
}

/** An adapter's lineage for its model row's metrics: method and base (`arbor models` shows them); nothing for a full model. */
export async function adapterLineage(path: string): Promise<{ method?: 'lora'; base?: string }> {
  const { base, adapters } = await resolveModelFiles(path);
  return adapters.length === 0 ? {} : { method: 'lora', base };
}

/**
 * What a model of this kind learns from: the trainer's objective and options, the iteration's data
 * file (data/build-sets.ts) and the metrics that say so. The policy's settings choose; the PRM always
 * learns its labels.
 */
export function trainingObjective(
  kind: 'policy' | 'prm',
  policy: PolicyTrainSettings,
): { objective: Objective; file: string; options: { dpoBeta?: number; dpoSftWeight?: number }; metrics: Record<string, unknown> } {
  if (kind === 'prm') return { objective: 'prm', file: 'prm.jsonl', options: {}, metrics: { objective: 'prm' } };
  if (policy.objective === 'sft') return { objective: 'sft', file: 'sft.jsonl', options: {}, metrics: { objective: 'sft' } };
  // dpo and sft+dpo train on the same pairs; sft+dpo adds the chosen step's likelihood (RPO).
  const options = { dpoBeta: policy.dpo.beta, dpoSftWeight: policy.objective === 'sft+dpo' ? policy.dpo.sftWeight : 0 };
  return { objective: 'dpo', file: 'dpo.jsonl', options, metrics: { objective: policy.objective, dpo_beta: options.dpoBeta, dpo_sft_weight: options.dpoSftWeight } };
}

export async function trainModel({ runDir, iteration, kind, parentPath }: { runDir: string; iteration: number; kind: 'policy' | 'prm'; parentPath: string }): Promise<TrainResult> {
  const { store, config } = runContext(runDir);
  const settings = kind === 'policy' ? config.train.policy : config.train.prm;
  const learns = trainingObjective(kind, config.train.policy);
  const out = modelPathOf(runDir, kind, iteration, settings.method);
  const recorded = store.modelIdByPath(out);
  if (recorded !== null && existsSync(out)) return { modelId: recorded, path: out };
  requireFile(parentPath, `parent ${kind} model`);
  const dataDir = iterationDataDir(runDir, iteration);
  const data = join(dataDir, learns.file);
  requireFile(data, `${kind} training data`);
  await mkdir(join(runDir, 'models'), { recursive: true });
  if ((await readFile(data, 'utf8')).trim() === '') {
    // Nothing to learn from (no correct solution, or no preference pair, found): the parent goes on unchanged.
    heartbeat({ stage: `train ${kind}`, done: 1, total: 1, note: `no training data in ${learns.file}: parent kept` });
    const parentId = store.modelIdByPath(parentPath);
    return {
      modelId: parentId ?? store.recordModel({ kind, path: parentPath, sha256: await sha256File(parentPath), parentId: null, iteration, metrics: await adapterLineage(parentPath) }),
      path: parentPath,
    };
  }
  const trained = await methodTrainOptions(parentPath, settings);
  // The model the trainer loads (an adapter's base) tokenizes the data and bounds its length.
  const prepared = await prepareTrainingData({ model: trained.model, objective: learns.objective, data, outDir: join(dataDir, `${kind}-arbtok`) });
  let loraRank = 0;
  const done = await runTrainer(
    {
      ...trained,
      data: prepared.train.path,
      out,
      objective: learns.objective,
      ...learns.options,
      parent: parentPath,
      dataSha256: prepared.dataSha256,
      seed: iteration,
      threads: config.threads,
      device: config.engine.gpu === 'cpu' ? 'cpu' : 'auto',
      // Examples are pairs for dpo, and so is the batch.
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
        if (event.event === 'start') {
          loraRank = event.lora_rank;
          heartbeat({ stage: `train ${kind}`, done: event.start_step, total: event.steps, ...(event.resumed ? { note: 'resumed from checkpoint' } : {}) });
        }
        if (event.event === 'step') heartbeat({ stage: `train ${kind}`, done: event.step, total: event.steps, note: `loss ${event.loss.toFixed(4)}` });
        if (event.event === 'reference') heartbeat({ stage: `train ${kind}`, done: 0, total: 1, note: `reference margins: ${event.done}/${event.pairs} ${event.set} pairs` });
      },
    },
  );
  const metrics = { method: settings.method, base: (await adapterLineage(out)).base, ...(loraRank > 0 ? { lora_rank: loraRank } : {}), ...learns.metrics, examples: prepared.train.examples, loss: done.loss, tok_s: done.tok_s, steps: done.step };
  const modelId = store.recordModel({ kind, path: out, sha256: await sha256File(out), parentId: store.modelIdByPath(parentPath), iteration, metrics });
  return { modelId, path: out };
}
