/**
 * Promotion, pure: whether an iteration's candidates replace the best models, why, and what the best
 * models are then. The policy and the PRM are promoted separately, each only when its own held-out
 * measure did not regress. No I/O (the promote activity records the decision).
 */
import type { BestModels, EvaluationSummary, Promotion } from './types.ts';

const percentOf = (value: number): string => `${(value * 100).toFixed(1)}%`;

export function decidePromotion(candidate: EvaluationSummary, best: BestModels, tolerance: number): Promotion {
  const delta = candidate.accuracy - best.accuracy;
  // No level may drop by more than the tolerance, whatever the mean gains: a gain on one level never buys a loss on another.
  const dropped = Object.entries(best.accuracyByLevel)
    .filter(([level, reference]) => (candidate.accuracyByLevel[level] ?? 0) < reference - tolerance)
    .map(([level, reference]) => `level ${level} ${percentOf(candidate.accuracyByLevel[level] ?? 0)} < ${percentOf(reference)}`);
  const policyPromoted = delta >= -tolerance && dropped.length === 0;
  // The PRM is judged on its step AUC against exact labels; without a measurement on either side it moves on.
  const prmPromoted = candidate.prmAuc === null || best.prmAuc === null || candidate.prmAuc >= best.prmAuc - tolerance;
  const auc = (value: number | null): string => (value === null ? 'n/a' : value.toFixed(3));
  const policyReason = policyPromoted
    ? `policy promoted: held-out accuracy ${percentOf(candidate.accuracy)} vs best ${percentOf(best.accuracy)} (${delta >= 0 ? '+' : ''}${(delta * 100).toFixed(1)} points, tolerance ${percentOf(tolerance)})`
    : dropped.length > 0
      ? `policy not promoted: a level dropped (${dropped.join(', ')})`
      : `policy not promoted: held-out accuracy ${percentOf(candidate.accuracy)} is ${(-delta * 100).toFixed(1)} points below the best ${percentOf(best.accuracy)}`;
  const prmReason = `PRM ${prmPromoted ? 'promoted' : 'not promoted'}: step AUC ${auc(candidate.prmAuc)} vs ${auc(best.prmAuc)}`;
  const next: BestModels = {
    // The reference accuracy never goes down, so a chain of drops each within tolerance cannot drift it.
    ...(policyPromoted
      ? {
          iteration: candidate.iteration,
          accuracy: Math.max(candidate.accuracy, best.accuracy),
          accuracyByLevel: Object.fromEntries(Object.entries(candidate.accuracyByLevel).map(([level, value]) => [level, Math.max(value, best.accuracyByLevel[level] ?? 0)])),
          policyPath: candidate.policyPath,
        }
      : { iteration: best.iteration, accuracy: best.accuracy, accuracyByLevel: best.accuracyByLevel, policyPath: best.policyPath }),
    ...(prmPromoted ? { prmAuc: candidate.prmAuc, prmPath: candidate.prmPath } : { prmAuc: best.prmAuc, prmPath: best.prmPath }),
  };
  return { policyPromoted, prmPromoted, reason: `${policyReason}; ${prmReason}`, best: next };
}
