/**
 * The first activity of a run: record the base policy, make the starting PRM (the configured one,
 * or a seed PRM fine-tuned from the policy: train/seed-prm.ts) and evaluate both as iteration 0.
 * Idempotent: what exists is reused.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { resolveModelPath } from '../engine/llama.ts';
import { runLevels } from '../tasks/index.ts';
import { levelMetric, type PrepareResult } from '../workflows/types.ts';
import { sha256File } from '../train/arbtok.ts';
import { buildSeedPrm } from '../train/seed-prm.ts';
import { evaluateModels } from './evaluate.ts';
import { cancellationSignal, heartbeat } from './heartbeat.ts';
import { configError, runContext } from './run-context.ts';
import { modelPathOf } from './train.ts';

export async function prepareRun({ runDir }: { runDir: string }): Promise<PrepareResult> {
  const { store, config, task } = runContext(runDir);
  const resolved = async (reference: string, what: string): Promise<string> => {
    try {
      return await resolveModelPath(reference, what);
    } catch (error) {
      throw configError(error instanceof Error ? error.message : String(error));
    }
  };
  const policyPath = await resolved(config.policy.model, 'policy model');
  const policyId = store.modelIdByPath(policyPath) ?? store.recordModel({ kind: 'policy', path: policyPath, sha256: await sha256File(policyPath), parentId: null, iteration: 0 });

  let prmPath = config.prm.model;
  if (prmPath !== undefined) {
    prmPath = await resolved(prmPath, 'PRM model');
  } else {
    prmPath = modelPathOf(runDir, 'prm', 0);
    if (!existsSync(prmPath)) {
      const workDir = join(runDir, 'work', 'seed-prm');
      await mkdir(workDir, { recursive: true });
      await mkdir(dirname(prmPath), { recursive: true });
      cancellationSignal().throwIfAborted();
      const seed = await buildSeedPrm({
        policyModel: policyPath,
        ...(config.prm.base === undefined ? {} : { prmBase: await resolved(config.prm.base, 'PRM base model') }),
        out: prmPath,
        workDir,
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
  if (store.modelIdByPath(prmPath) === null) store.recordModel({ kind: 'prm', path: prmPath, sha256: await sha256File(prmPath), parentId: policyId, iteration: 0 });
  const evaluation = await evaluateModels({ runDir, iteration: 0, policyPath, prmPath });
  return { policyPath, prmPath, baseline: { ...evaluation, promoted: true, reason: 'base models' } };
}
