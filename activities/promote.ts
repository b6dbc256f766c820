/**
 * The promotion activity (CPU queue): records the iteration's trained models and their evaluation
 * (artifacts of the training and inference queues), then the promotion decision
 * (workflows/promotion.ts) with its reason.
 */
import { decidePromotion } from '../workflows/promotion.ts';
import type { ActivityInput, Promotion } from '../workflows/types.ts';
import { ingestEvaluation, ingestModel } from './ingest.ts';
import { configError, runContext } from './run-context.ts';
import { evaluationArtifact } from './run-dir.ts';

export async function promote({ runDir, iteration, candidate, best }: ActivityInput<'promote'>): Promise<Promotion> {
  const { store, config } = runContext(runDir);
  for (const path of [candidate.policyPath, candidate.prmPath]) ingestModel(store, path);
  if (!ingestEvaluation(store, runDir, iteration)) throw configError(`the evaluation of iteration ${iteration} is missing (${evaluationArtifact(runDir, iteration)})`);
  const promotion = decidePromotion(candidate, best, config.promotionTolerance);
  store.recordPromotion({
    iteration,
    policyModelId: store.modelIdByPath(candidate.policyPath),
    prmModelId: store.modelIdByPath(candidate.prmPath),
    policyPromoted: promotion.policyPromoted,
    reason: promotion.reason,
  });
  return promotion;
}
