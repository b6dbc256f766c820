/**
 * The promotion activity (CPU queue): records the iteration's trained models and their evaluation
 * (artifacts of the training and inference queues), then the promotion decision
 * (workflows/promotion.ts: the candidate policy against the promoted one on the same held-out
 * problems) with its reason, then deletes the model files it superseded (activities/retention.ts).
 */
import { z } from 'zod';
import type { RunStore } from '../store/run-store.ts';
import { decidePromotion, pairAnswers, type HeldOutAnswer } from '../workflows/promotion.ts';
import type { ActivityInput, PromotionResult } from '../workflows/types.ts';
import { ingestEvaluation, ingestModel } from './ingest.ts';
import { configError, runContext } from './run-context.ts';
import { deleteSupersededModels } from './retention.ts';
import { evaluationArtifact } from './run-dir.ts';

export async function promote({ runDir, iteration, candidate, best }: ActivityInput<'promote'>): Promise<PromotionResult> {
  const { store, config } = runContext(runDir);
  for (const path of [candidate.policyPath, candidate.prmPath]) ingestModel(store, path);
  recordTrainerMonitors(store, iteration, candidate.policyPath);
  if (!ingestEvaluation(store, runDir, iteration)) throw configError(`the evaluation of iteration ${iteration} is missing (${evaluationArtifact(runDir, iteration)})`);
  const answers = (iteration: number, path: string): HeldOutAnswer[] => {
    const modelId = store.modelIdByPath(path);
    return modelId === null ? [] : store.heldOutAnswers(iteration, modelId);
  };
  const paired = pairAnswers(answers(iteration, candidate.policyPath), answers(best.iteration, best.policyPath));
  if (paired.length === 0) throw configError(`no held-out answers of both the candidate (${candidate.policyPath}) and the promoted policy (${best.policyPath}) to compare`);
  const promotion = decidePromotion(candidate, best, paired, config.promotion);
  store.recordPromotion({
    iteration,
    policyModelId: store.modelIdByPath(candidate.policyPath),
    prmModelId: store.modelIdByPath(candidate.prmPath),
    policyPromoted: promotion.policyPromoted,
    reason: promotion.reason,
  });
  await deleteSupersededModels(store, runDir, iteration, promotion.best, config.retention);
  return { ...promotion, training: store.trainingMetrics(iteration) };
}

/** The trainer's policy-gradient monitors, from the trained policy's record, as the iteration's training metrics. */
function recordTrainerMonitors(store: RunStore, iteration: number, policyPath: string): void {
  const id = store.modelIdByPath(policyPath);
  if (id === null) return;
  const model = store.model(id);
  if (model.iteration !== iteration) return; // the parent, kept: nothing was trained
  const metrics = TrainerMonitorsSchema.parse(JSON.parse(model.metrics_json));
  for (const [metric, value] of Object.entries(metrics)) if (value !== undefined) store.recordEvaluation({ iteration, modelId: null, method: 'train', split: 'train', metric, value });
}

const TrainerMonitorsSchema = z.object({ entropy_start: z.number().optional(), entropy: z.number().optional(), kl: z.number().optional(), clip_frac: z.number().optional() });
