/**
 * The first activity of a run: record the base policy, make the starting PRM (the configured one,
 * or a seed PRM fine-tuned from the policy: train/seed-prm.ts) and evaluate both as iteration 0.
 * Idempotent: what exists is reused.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { resolveModelPath } from '../engine/llama.ts';
import { runLevels } from '../tasks/index.ts';
import { levelMetric, type ActivityInput, type PrepareResult } from '../workflows/types.ts';
import { sha256File } from '../train/arbtok.ts';
import { methodTrainOptions } from '../train/method.ts';
import { buildSeedPrm } from '../train/seed-prm.ts';
import { evaluateModels } from './evaluate.ts';
import { cancellationSignal, heartbeat } from './heartbeat.ts';
import { configError, runContext } from './run-context.ts';
import { ingestEvaluation } from './ingest.ts';
import { modelPathOf, workDir } from './run-dir.ts';
import { adapterLineage } from './train.ts';

export async function prepareRun({ runDir }: ActivityInput<'prepareRun'>): Promise<PrepareResult> {
  const { store, config, task } = runContext(runDir);
  // A model file that cannot be read, or that its training method cannot train (an adapter with
  // method full), is a config error: the run stops here, not after the first search.
  const checked = async <T>(work: Promise<T>): Promise<T> => {
    try {
      return await work;
    } catch (error) {
      throw configError(error instanceof Error ? error.message : String(error));
    }
  };
  const policyPath = await checked(resolveModelPath(config.policy.model, 'policy model'));
  await checked(methodTrainOptions(policyPath, config.train.policy));
  const policyId =
    store.modelIdByPath(policyPath) ?? store.recordModel({ kind: 'policy', path: policyPath, sha256: await sha256File(policyPath), parentId: null, iteration: 0, metrics: await adapterLineage(policyPath) });

  let prmPath = config.prm.model;
  if (prmPath !== undefined) {
    prmPath = await checked(resolveModelPath(prmPath, 'PRM model'));
    await checked(methodTrainOptions(prmPath, config.train.prm));
  } else {
    prmPath = modelPathOf(runDir, 'prm', 0, config.train.prm.method);
    if (!existsSync(prmPath)) {
      const seedDir = workDir(runDir, 'seed-prm');
      await mkdir(seedDir, { recursive: true });
      await mkdir(dirname(prmPath), { recursive: true });
      cancellationSignal().throwIfAborted();
      const seed = await buildSeedPrm({
        policyModel: policyPath,
        ...(config.prm.base === undefined ? {} : { prmBase: await checked(resolveModelPath(config.prm.base, 'PRM base model')) }),
        method: config.train.prm,
        out: prmPath,
        workDir: seedDir,
        threads: config.threads,
        sequences: config.sequences,
        engine: config.engine,
        task,
        recipe: {
          problems: Object.fromEntries(runLevels(task, config.task).train.map((level) => [String(level), config.prm.seedProblemsPerLevel])),
          steps: config.prm.seedSteps,
          labels: config.prm.seedLabels,
        },
        onSampled: (done, total) => heartbeat({ stage: 'seed PRM samples', done, total }),
        onProgress: (event) => {
          if (event.event === 'step') heartbeat({ stage: 'seed PRM', done: event.step, total: event.steps, note: `loss ${event.loss.toFixed(4)}` });
        },
      });
      // The base policy's solve rates on training problems place the first iteration's frontier.
      for (const [level, value] of Object.entries(seed.solveRates)) {
        store.recordEvaluation({ iteration: 0, modelId: null, method: 'samples', split: 'train', metric: levelMetric('solve_rate', level), value });
      }
    }
  }
  if (store.modelIdByPath(prmPath) === null) store.recordModel({ kind: 'prm', path: prmPath, sha256: await sha256File(prmPath), parentId: policyId, iteration: 0, metrics: await adapterLineage(prmPath) });
  const evaluation = await evaluateModels({ runDir, iteration: 0, policyPath, prmPath });
  ingestEvaluation(store, runDir, 0);
  return { policyPath, prmPath, baseline: { ...evaluation, training: store.trainingMetrics(0), policyPromoted: true, reason: 'base models' } };
}
