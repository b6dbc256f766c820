/**
 * What the policy-gradient objectives (grpo.ts, tree.ts) share: their settings (TRL's names), the
 * trainer's `pg` loss and flags, storing each search's examples with their lineage and reading the
 * iteration's back as training rows, and their export ({prompt, completion, advantage}: what TRL's
 * trainers take). Only this iteration's examples are trained on: π_old is the policy the iteration
 * starts from, which sampled them.
 */
import { z } from 'zod';
import { SearchLineageSchema } from '../../store/lineage.ts';
import type { PgExampleRow, RunStore } from '../../store/run-store.ts';
import type { SearchTree } from '../../search/tree.ts';
import type { ObjectiveFlags, ObjectiveRows, PolicyObjective, RowsContext } from './objective.ts';

/** `train.policy.pg`: TRL's GRPOConfig names where they exist. */
export const pgSettingsSchema = z.strictObject({
  /** ε of the ratio's lower clip bound 1 − ε. */
  epsilon: z.number().gt(0).lt(1).default(0.2),
  /** ε of the upper bound 1 + ε (DAPO's clip-higher: 0.28 keeps exploration). */
  epsilonHigh: z.number().positive().default(0.28),
  /** Weight of the k3 KL to the policy the iteration starts from (TRL's default: 0, none). */
  beta: z.number().nonnegative().default(0),
  /** How a step's token losses add up: dapo (token mean), grpo (mean per sequence), dr_grpo (÷ a constant). */
  lossType: z.enum(['dapo', 'grpo', 'dr_grpo']).default('dapo'),
  /** Advantages ÷ the group's reward std (group), or not (none: Dr. GRPO, unbiased). */
  scaleRewards: z.enum(['group', 'none']).default('none'),
  /** Reward of a path that ended without an answer (dead end, depth limit); a right answer is 1, a wrong one 0. */
  noAnswerReward: z.number().min(-1).max(1).default(0),
});
export type PgSettings = z.output<typeof pgSettingsSchema>;

const AGGREGATION = { dapo: 'token-mean', grpo: 'seq-mean', dr_grpo: 'constant' } as const;

export function pgTrainer(settings: PgSettings): { flags: ObjectiveFlags; metrics: Record<string, unknown> } {
  return {
    flags: { pgEpsilonLow: settings.epsilon, pgEpsilonHigh: settings.epsilonHigh, pgKlBeta: settings.beta, pgAggregation: AGGREGATION[settings.lossType] },
    metrics: { epsilon: settings.epsilon, epsilon_high: settings.epsilonHigh, beta: settings.beta, loss_type: settings.lossType },
  };
}

/**
 * Labels every search of the iteration with `examplesOf` (null: its rewards were all equal, no
 * gradient), stores the examples and returns the iteration's as training rows.
 */
export function pgRows(context: Pick<RowsContext<unknown>, 'store' | 'iteration' | 'promptOf'>, examplesOf: (tree: SearchTree, prompt: string) => PgExampleRow[] | null): ObjectiveRows {
  const { store, iteration } = context;
  for (const searchId of store.iterationSearchIds(iteration, 'problem')) {
    const tree = store.tree(searchId);
    const examples = examplesOf(tree, context.promptOf(tree.question));
    if (examples !== null) store.savePgExamples(iteration, searchId, examples);
  }
  const rows = store.iterationPgExamples(iteration).map(({ prompt, completion, advantage, weight }) => ({ prompt, completion, advantage, weight }));
  const weight = rows.reduce((sum, row) => sum + row.weight, 0);
  const meanAbs = weight === 0 ? 0 : rows.reduce((sum, row) => sum + row.weight * Math.abs(row.advantage), 0) / weight;
  return { rows, metrics: { pg_rows: rows.length, mean_abs_advantage: meanAbs } };
}

export const TrlPgRowSchema = z.strictObject({ prompt: z.string(), completion: z.string(), advantage: z.number(), weight: z.number(), node_index: z.number().int(), ...SearchLineageSchema.shape });

export const pgExport: PolicyObjective<unknown>['export'] = {
  file: 'advantages.jsonl',
  rows: (store: RunStore, iteration: number) =>
    store
      .iterationPgExamples(iteration)
      .map((row) => TrlPgRowSchema.parse({ prompt: row.prompt, completion: row.completion, advantage: row.advantage, weight: row.weight, node_index: row.nodeIndex, ...store.searchLineage(row.searchId) })),
};
