/**
 * Tree advantages on outcomes (TreeRL by default): every step of a searched tree under which some
 * path finished is one row — the prompt and the path so far, the step, its advantage — weighted by
 * the finished paths through it, so each step is trained once and the gradient is the one those
 * paths would give (Prefix Grouper's saving, for free). Trees whose paths all share one reward give
 * no gradient and no rows.
 */
import { z } from 'zod';
import { treeAdvantages } from '../../reward/advantages.ts';
import { nodeAt, stepsTo } from '../../search/tree.ts';
import type { PolicyObjective } from './objective.ts';
import { pgExport, pgRows, pgTrainer, type PgSettings } from './pg.ts';

/** `train.policy.tree`. */
export const treeSettingsSchema = z.strictObject({
  /**
   * treerl: (GA + LA)/√|L(s)| (TreeRL); treerpo: GRPO among the siblings of each branching (TreeRPO);
   * quality: the ReST-MCTS* quality value the step gains, v(s) − v(parent).
   */
  advantage: z.enum(['treerl', 'treerpo', 'quality']).default('treerl'),
});
type TreeSettings = z.output<typeof treeSettingsSchema>;

export const treeObjective: PolicyObjective<{ pg: PgSettings; tree: TreeSettings }> = {
  file: 'pg.jsonl',
  format: 'pg',
  rows: (context) =>
    pgRows(context, (tree, prompt) => {
      const { pg, tree: settings } = context.settings;
      const steps = treeAdvantages(tree, { kind: settings.advantage, noAnswerReward: pg.noAnswerReward, scale: pg.scaleRewards });
      return (
        steps?.map(({ nodeId, advantage, paths }) => {
          const node = nodeAt(tree, nodeId);
          return {
            nodeIndex: nodeId,
            prompt: prompt + stepsTo(tree, nodeAt(tree, node.parent ?? 0)).map((step) => step + context.delimiter).join(''),
            completion: node.step + context.delimiter,
            advantage,
            weight: paths,
          };
        }) ?? null
      );
    }),
  trainer: ({ pg, tree }) => {
    const { flags, metrics } = pgTrainer(pg);
    return { flags, metrics: { objective: 'tree', ...metrics, advantage: tree.advantage } };
  },
  export: pgExport,
};
