/**
 * The training activity: fine-tune the policy (by its objective: `train.policy.objective`,
 * train/objectives/) or the PRM on the iteration's data with the native trainer, every
 * weight or a LoRA adapter (`train.*.method`: train/method.ts), streaming its progress into
 * heartbeats. The trainer checkpoints as it goes, so a retried attempt resumes from the checkpoint;
 * a finished model gets its record file (the CPU queue records it) and is never retrained. No database.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveModelFiles } from '../engine/model-files.ts';
import { sha256File } from '../train/arbtok.ts';
import { methodTrainOptions } from '../train/method.ts';
import { prepareTrainingData, runTrainer } from '../train/trainer.ts';
import { policyObjective } from '../train/objectives/index.ts';
import type { ObjectiveFlags } from '../train/objectives/objective.ts';
import type { Objective } from '../train/schema.ts';
import type { PolicyTrainSettings } from '../workflows/config.ts';
import type { ActivityInput, TrainResult } from '../workflows/types.ts';
import { writeJsonArtifact, type ModelRecord } from './artifacts.ts';
import { cancellationSignal, heartbeat } from './heartbeat.ts';
import { requireFile, runFiles } from './run-context.ts';
import { checkpointPath, iterationDataDir, modelPathOf, modelRecordPath, modelsDir } from './run-dir.ts';

/** An adapter's lineage for its model row's metrics: method and base (`arbor models` shows them); nothing for a full model. */
export async function adapterLineage(path: string): Promise<{ method?: 'lora'; base?: string }> {
  const { base, adapters } = await resolveModelFiles(path);
  return adapters.length === 0 ? {} : { method: 'lora', base };
}

/**
 * What a model of this kind learns from: the trainer's format and flags, the iteration's data file
 * and the metrics that say so. The policy's objective (train/objectives/) chooses; the PRM always
 * learns its labels.
 */
export function trainingObjective(kind: 'policy' | 'prm', policy: PolicyTrainSettings): { format: Objective; file: string; flags: ObjectiveFlags; metrics: Record<string, unknown> } {
  if (kind === 'prm') return { format: 'prm', file: 'prm.jsonl', flags: {}, metrics: { objective: 'prm' } };
  const objective = policyObjective(policy);
  return { format: objective.format, file: objective.file, ...objective.trainer() };
}

export async function trainModel({ runDir, iteration, kind, parentPath }: ActivityInput<'trainModel'>): Promise<TrainResult> {
  const { config } = runFiles(runDir);
  const settings = kind === 'policy' ? config.train.policy : config.train.prm;
  const learns = trainingObjective(kind, config.train.policy);
  const out = modelPathOf(runDir, kind, iteration, settings.method);
  // Trained before (its record is written last): never trained twice.
  if (existsSync(out) && existsSync(modelRecordPath(out))) return { path: out };
  requireFile(parentPath, `parent ${kind} model`);
  const dataDir = iterationDataDir(runDir, iteration);
  const data = join(dataDir, learns.file);
  requireFile(data, `${kind} training data`);
  await mkdir(modelsDir(runDir), { recursive: true });
  if ((await readFile(data, 'utf8')).trim() === '') {
    // Nothing to learn from (no correct solution, or no preference pair, found): the parent goes on unchanged.
    heartbeat({ stage: `train ${kind}`, done: 1, total: 1, note: `no training data in ${learns.file}: parent kept` });
    return { path: parentPath };
  }
  const trained = await methodTrainOptions(parentPath, settings);
  // The model the trainer loads (an adapter's base) tokenizes the data and bounds its length.
  const prepared = await prepareTrainingData({ model: trained.model, objective: learns.format, data, outDir: join(dataDir, `${kind}-arbtok`) });
  let loraRank = 0;
  const done = await runTrainer(
    {
      ...trained,
      data: prepared.train.path,
      out,
      objective: learns.format,
      ...learns.flags,
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
      checkpoint: checkpointPath(runDir, kind, iteration),
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
        if (event.event === 'reference') {
          const [what, total] = event.pairs !== undefined ? ['pairs', event.pairs] : ['examples', event.examples];
          heartbeat({ stage: `train ${kind}`, done: 0, total: 1, note: `start model's log-probs: ${event.done}/${total} ${event.set} ${what}` });
        }
      },
    },
  );
  // pg: the trainer's monitors (entropy at the start and the end, KL to the start model, clip fraction).
  const { entropy_start, entropy, kl, clip_frac } = done;
  const monitors = kl === undefined ? {} : { entropy_start, entropy, kl, clip_frac };
  const metrics = { method: settings.method, base: (await adapterLineage(out)).base, ...(loraRank > 0 ? { lora_rank: loraRank } : {}), ...learns.metrics, examples: prepared.train.examples, tokens: prepared.train.tokens, loss: done.loss, tok_s: done.tok_s, steps: done.step, ...monitors };
  // The CPU queue records the model from this file (ingest.ts).
  writeJsonArtifact(modelRecordPath(out), { kind, path: out, sha256: await sha256File(out), parentPath, iteration, metrics } satisfies ModelRecord);
  return { path: out };
}
