/**
 * The promotion activity: records the iteration's trained models and their evaluation (artifacts of
 * the training and inference queues), then the new policy replaces the best one unless held-out
 * accuracy regressed; the reason is recorded.
 */
import type { BestModels, EvaluationSummary, Promotion } from '../workflows/types.ts';
import { ingestEvaluation, ingestModel } from './ingest.ts';
import { configError, runContext } from './run-context.ts';
import { evaluationArtifact } from './run-dir.ts';

const percentOf = (value: number): string => `${(value * 100).toFixed(1)}%`;

export async function promote({ runDir, iteration, candidate, best }: { runDir: string; iteration: number; candidate: EvaluationSummary; best: BestModels }): Promise<Promotion> {
  const { store, config } = runContext(runDir);
  for (const path of [candidate.policyPath, candidate.prmPath]) ingestModel(store, path);
  if (!ingestEvaluation(store, runDir, iteration)) throw configError(`the evaluation of iteration ${iteration} is missing (${evaluationArtifact(runDir, iteration)})`);
  const delta = candidate.accuracy - best.accuracy;
  // No level may drop by more than the tolerance, whatever the mean gains: a gain on one level never buys a loss on another.
  const dropped = Object.entries(best.accuracyByLevel)
    .filter(([level, reference]) => (candidate.accuracyByLevel[level] ?? 0) < reference - config.promotionTolerance)
    .map(([level, reference]) => `level ${level} ${percentOf(candidate.accuracyByLevel[level] ?? 0)} < ${percentOf(reference)}`);
  const promoted = delta >= -config.promotionTolerance && dropped.length === 0;
  // The PRM is judged on its step AUC against exact labels; without a measurement on either side it moves on.
  const prmPromoted = candidate.prmAuc === null || best.prmAuc === null || candidate.prmAuc >= best.prmAuc - config.promotionTolerance;
  const auc = (value: number | null): string => (value === null ? 'n/a' : value.toFixed(3));
  const policyReason = promoted
    ? `policy promoted: held-out accuracy ${percentOf(candidate.accuracy)} vs best ${percentOf(best.accuracy)} (${delta >= 0 ? '+' : ''}${(delta * 100).toFixed(1)} points, tolerance ${percentOf(config.promotionTolerance)})`
    : dropped.length > 0
      ? `policy not promoted: a level dropped (${dropped.join(', ')})`
      : `policy not promoted: held-out accuracy ${percentOf(candidate.accuracy)} is ${(-delta * 100).toFixed(1)} points below the best ${percentOf(best.accuracy)}`;
  const prmReason = `PRM ${prmPromoted ? 'promoted' : 'not promoted'}: step AUC ${auc(candidate.prmAuc)} vs ${auc(best.prmAuc)}`;
  const reason = `${policyReason}; ${prmReason}`;
  store.recordPromotion({ iteration, policyModelId: store.modelIdByPath(candidate.policyPath), prmModelId: store.modelIdByPath(candidate.prmPath), promoted, reason });
  return { promoted, prmPromoted, reason };
}
