/**
 * GRPO on outcomes: a problem's sampled solutions are one group (best-of-N's chains, or every
 * finished path of a tree), each chain is a row with A = r − mean(r) (÷ std with scaleRewards
 * group) on every one of its tokens; groups whose rewards are all equal give no gradient and no rows.
 */
import { finishedPaths, groupAdvantages } from '../../reward/advantages.ts';
import { stepsTo } from '../../search/tree.ts';
import type { PolicyObjective } from './objective.ts';
import { pgExport, pgRows, pgTrainer, type PgSettings } from './pg.ts';

export const grpoObjective: PolicyObjective<PgSettings> = {
  file: 'pg.jsonl',
  format: 'pg',
  rows: (context) =>
    pgRows(context, (tree, prompt) => {
      const paths = finishedPaths(tree, context.settings.noAnswerReward);
      const advantages = groupAdvantages(paths.map((path) => path.reward), context.settings.scaleRewards);
      if (advantages === null) return null;
      return paths.map(({ node }, index) => ({
        nodeIndex: node.id,
        prompt,
        completion: stepsTo(tree, node).map((step) => step + context.delimiter).join(''),
        advantage: advantages[index] ?? 0,
        weight: 1,
      }));
    }),
  trainer: (settings) => {
    const { flags, metrics } = pgTrainer(settings);
    return { flags, metrics: { objective: 'grpo', ...metrics, scale_rewards: settings.scaleRewards } };
  },
  export: pgExport,
};
