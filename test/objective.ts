// A policy objective bound to the default settings of the run config, for data-building tests.
import { policyObjective, type BoundObjective, type ObjectiveName } from '../train/objectives/index.ts';
import { runConfigSchema } from '../workflows/config.ts';

export function objectiveNamed(objective: ObjectiveName): BoundObjective {
  return policyObjective(runConfigSchema.parse({ name: 'x', train: { policy: { objective } } }).train.policy);
}
