/**
 * The policy objectives, by the name `train.policy.objective` gives: the one place the pipeline
 * learns which objective runs. `policyObjective` binds an objective to its settings from the run
 * config; data building writes its rows, training runs the trainer with its format and flags, the
 * export writes every objective's file.
 */
import type { PolicyTrainSettings } from '../../workflows/config.ts';
import { dpoObjective, sftDpoObjective } from './dpo.ts';
import type { ObjectiveFlags, ObjectiveRows, PolicyObjective, RowsContext } from './objective.ts';
import { grpoObjective } from './grpo.ts';
import { sftObjective } from './sft.ts';
import { treeObjective } from './tree.ts';

export const OBJECTIVE_NAMES = ['sft', 'dpo', 'sft+dpo', 'grpo', 'tree'] as const;
export type ObjectiveName = (typeof OBJECTIVE_NAMES)[number];

/** An objective with its settings bound: what data building and training call. */
export interface BoundObjective extends Pick<PolicyObjective<unknown>, 'file' | 'format' | 'export'> {
  name: ObjectiveName;
  rows(context: Omit<RowsContext<unknown>, 'settings'>): ObjectiveRows;
  trainer(): { flags: ObjectiveFlags; metrics: Record<string, unknown> };
}

function bind<Settings>(name: ObjectiveName, objective: PolicyObjective<Settings>, settings: Settings): BoundObjective {
  return {
    name,
    file: objective.file,
    format: objective.format,
    export: objective.export,
    rows: (context) => objective.rows({ ...context, settings }),
    trainer: () => objective.trainer(settings),
  };
}

export function policyObjective(policy: Pick<PolicyTrainSettings, 'objective' | 'dpo' | 'pg' | 'tree'>): BoundObjective {
  switch (policy.objective) {
    case 'sft':
      return bind('sft', sftObjective, {});
    case 'dpo':
      return bind('dpo', dpoObjective, policy.dpo);
    case 'sft+dpo':
      return bind('sft+dpo', sftDpoObjective, policy.dpo);
    case 'grpo':
      return bind('grpo', grpoObjective, policy.pg);
    case 'tree':
      return bind('tree', treeObjective, { pg: policy.pg, tree: policy.tree });
  }
}

/** Every objective's export, one per file. */
export function objectiveExports(): PolicyObjective<unknown>['export'][] {
  const exports = [sftObjective.export, dpoObjective.export, sftDpoObjective.export, grpoObjective.export, treeObjective.export];
  return exports.filter((entry, index) => exports.findIndex((other) => other.file === entry.file) === index);
}
