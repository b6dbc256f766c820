/**
 * Promotion, pure: whether an iteration's candidates replace the promoted models, why, and what the
 * promoted models are then. The policy is compared with the *currently promoted* policy problem by
 * problem on the same held-out problems (paired): a level refuses it only for a drop that is unlikely
 * under noise — a one-sided exact sign test (McNemar) on the problems the two answer differently, so
 * a level's size is in the decision (one problem of 30 is 3.3 points, and no evidence) — and it must
 * solve at least as many of all the held-out problems as the promoted one. The reference is the
 * promoted policy's own measurement, never the highest value ever seen (a maximum of noisy measures
 * only ratchets up). The PRM is judged on its step AUC within a tolerance. No I/O.
 */
import { z } from 'zod';
import type { BestModels, EvaluationSummary, Promotion } from './types.ts';

export const promotionSettingsSchema = z.strictObject({
  /** paired: the test below; none: every candidate policy is promoted (an ablation: the loop without a gate). */
  gate: z.enum(['paired', 'none']).default('paired'),
  /** A level refuses the candidate when its drop has a one-sided sign-test p-value below this. */
  alpha: z.number().gt(0).lt(1).default(0.05),
  /** A new PRM is promoted unless its step AUC drops by more than this. */
  prmTolerance: z.number().min(0).max(1).default(0.02),
});
export type PromotionSettings = z.output<typeof promotionSettingsSchema>;

/** One held-out answer of a policy (the greedy evaluation). */
export interface HeldOutAnswer {
  level: string;
  question: string;
  correct: boolean;
}

/** A level's paired comparison: problems both answered, and those only the candidate (wins) or only the promoted policy (losses) got right. */
export interface PairedLevel {
  level: string;
  problems: number;
  wins: number;
  losses: number;
}

/** The two policies' answers to the same questions, per level (questions only one of them answered are left out). */
export function pairAnswers(candidate: readonly HeldOutAnswer[], promoted: readonly HeldOutAnswer[]): PairedLevel[] {
  const promotedOf = new Map(promoted.map((answer) => [`${answer.level}\u0000${answer.question}`, answer.correct]));
  const levels = new Map<string, PairedLevel>();
  for (const answer of candidate) {
    const reference = promotedOf.get(`${answer.level}\u0000${answer.question}`);
    if (reference === undefined) continue;
    const entry = levels.get(answer.level) ?? { level: answer.level, problems: 0, wins: 0, losses: 0 };
    entry.problems += 1;
    if (answer.correct && !reference) entry.wins += 1;
    if (!answer.correct && reference) entry.losses += 1;
    levels.set(answer.level, entry);
  }
  return [...levels.values()].sort((a, b) => Number(a.level) - Number(b.level));
}

/** P(X ≥ losses) for X ~ Binomial(losses + wins, 1/2): how often noise alone loses this many of the discordant problems (1 when there are none). */
export function signTestP(losses: number, wins: number): number {
  const n = losses + wins;
  let p = 0;
  let term = 0.5 ** n; // C(n, 0) / 2^n
  for (let k = 0; k <= n; k++) {
    if (k >= losses) p += term;
    term = (term * (n - k)) / (k + 1);
  }
  return Math.min(1, p);
}

const signed = (value: number): string => (value >= 0 ? `+${value}` : String(value));

export function decidePromotion(candidate: EvaluationSummary, best: BestModels, paired: readonly PairedLevel[], settings: PromotionSettings): Promotion {
  const tests = paired.map((level) => ({ ...level, p: signTestP(level.losses, level.wins) }));
  const dropped = tests.filter((level) => level.losses > level.wins && level.p < settings.alpha);
  const net = tests.reduce((sum, level) => sum + level.wins - level.losses, 0);
  const policyPromoted = settings.gate === 'none' || (dropped.length === 0 && net >= 0);
  const levels = tests.map((level) => `L${level.level} ${signed(level.wins - level.losses)} of ${level.problems} (${level.wins} won, ${level.losses} lost, p ${level.p.toFixed(3)})`).join('; ');
  const policyReason = policyPromoted
    ? `policy promoted${settings.gate === 'none' ? ' (no gate)' : ''}: ${signed(net)} held-out problems against the promoted policy (${levels})`
    : dropped.length > 0
      ? `policy not promoted: a significant drop (p < ${settings.alpha}) at ${dropped.map((level) => `level ${level.level}`).join(', ')} (${levels})`
      : `policy not promoted: ${signed(net)} held-out problems against the promoted policy (${levels})`;
  // The PRM is judged on its step AUC against exact labels; without a measurement on either side it moves on.
  const prmPromoted = candidate.prmAuc === null || best.prmAuc === null || candidate.prmAuc >= best.prmAuc - settings.prmTolerance;
  const auc = (value: number | null): string => (value === null ? 'n/a' : value.toFixed(3));
  const prmReason = `PRM ${prmPromoted ? 'promoted' : 'not promoted'}: step AUC ${auc(candidate.prmAuc)} vs ${auc(best.prmAuc)}`;
  const next: BestModels = {
    // The reference is what the promoted policy measured, level by level.
    ...(policyPromoted
      ? { iteration: candidate.iteration, accuracy: candidate.accuracy, accuracyByLevel: candidate.accuracyByLevel, policyPath: candidate.policyPath }
      : { iteration: best.iteration, accuracy: best.accuracy, accuracyByLevel: best.accuracyByLevel, policyPath: best.policyPath }),
    ...(prmPromoted ? { prmAuc: candidate.prmAuc, prmPath: candidate.prmPath } : { prmAuc: best.prmAuc, prmPath: best.prmPath }),
  };
  return { policyPromoted, prmPromoted, reason: `${policyReason}; ${prmReason}`, best: next };
}
