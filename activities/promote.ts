/** The promotion activity: the new policy replaces the best one unless held-out accuracy regressed; the reason is recorded. */
import type { BestModels, EvaluationSummary, Promotion } from '../workflows/types.ts';
import { runContext } from './run-context.ts';

export async function promote({ runDir, iteration, candidate, best }: { runDir: string; iteration: number; candidate: EvaluationSummary; best: BestModels }): Promise<Promotion> {
  const { store, config } = runContext(runDir);
  const delta = candidate.accuracy - best.accuracy;
  const promoted = delta >= -config.promotionTolerance;
  const percent = (value: number): string => `${(value * 100).toFixed(1)}%`;
  const reason = promoted
    ? `held-out accuracy ${percent(candidate.accuracy)} vs best ${percent(best.accuracy)} (${delta >= 0 ? '+' : ''}${(delta * 100).toFixed(1)} points, tolerance ${percent(config.promotionTolerance)})`
    : `not promoted: held-out accuracy ${percent(candidate.accuracy)} is ${(-delta * 100).toFixed(1)} points below the best ${percent(best.accuracy)}`;
  store.db
    .prepare(
      `INSERT INTO iterations (run_id, number, status, policy_model_id, prm_model_id, promoted, promotion_reason) VALUES (?, ?, 'done', ?, ?, ?, ?)
       ON CONFLICT (run_id, number) DO UPDATE SET status = 'done', policy_model_id = excluded.policy_model_id, prm_model_id = excluded.prm_model_id, promoted = excluded.promoted, promotion_reason = excluded.promotion_reason`,
    )
    .run(store.runId, iteration, store.modelIdByPath(candidate.policyPath), store.modelIdByPath(candidate.prmPath), Number(promoted), reason);
  return { promoted, reason };
}
