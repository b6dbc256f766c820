/**
 * DPO on the step preference pairs MCTS* found (reward/preference-pairs.ts: under a node on a correct
 * path, the child of highest quality value against the lowest), the policy the iteration starts from
 * as the reference model; `sft+dpo` adds the chosen step's negative log-likelihood (RPO).
 */
import { z } from 'zod';
import { SearchLineageSchema } from '../../store/lineage.ts';
import type { RunStore } from '../../store/run-store.ts';
import type { PolicyObjective } from './objective.ts';

/** `train.policy.dpo`: the native trainer's `--dpo-beta`, `--dpo-sft-weight`. */
export const dpoSettingsSchema = z.strictObject({
  /** β of −log σ(β·(margin − reference margin)); the reference is the policy the iteration starts from. */
  beta: z.number().positive().default(0.1),
  /** sft+dpo only: weight of the chosen step's mean negative log-likelihood added to each pair's loss (RPO). */
  sftWeight: z.number().positive().default(1),
});
type DpoSettings = z.output<typeof dpoSettingsSchema>;

export const TrlDpoRowSchema = z.strictObject({ prompt: z.string(), chosen: z.string(), rejected: z.string(), chosen_q: z.number(), rejected_q: z.number(), ...SearchLineageSchema.shape });

/**
 * The iteration's step pairs as the trainer's `dpo` rows. The policy writes a step followed by the
 * delimiter, so both sides end with it: the pair also teaches where a step stops. Only this
 * iteration's pairs, unlike the SFT rows: the reference model is the parent, so a pair trained on
 * in an earlier iteration would be pushed further from a new reference every time it came back
 * (iterative DPO trains each round on the current policy's pairs).
 */
function pairRows(store: RunStore, iteration: number, delimiter: string): { prompt: string; chosen: string; rejected: string }[] {
  return store.iterationPairs(iteration).map(({ prompt, chosen, rejected }) => ({ prompt, chosen: chosen + delimiter, rejected: rejected + delimiter }));
}

const pairExport: PolicyObjective<DpoSettings>['export'] = {
  file: 'dpo.jsonl',
  rows: (store, iteration) =>
    store
      .iterationPairs(iteration)
      .map((row) => TrlDpoRowSchema.parse({ prompt: row.prompt, chosen: row.chosen, rejected: row.rejected, chosen_q: row.chosenQ, rejected_q: row.rejectedQ, ...store.searchLineage(row.searchId) })),
};

/** DPO, or with `sftWeight` the RPO mix: the same pairs, the same trainer loss. */
function pairObjective(name: 'dpo' | 'sft+dpo'): PolicyObjective<DpoSettings> {
  return {
    file: 'dpo.jsonl',
    format: 'dpo',
    rows: ({ store, iteration, delimiter }) => ({ rows: pairRows(store, iteration, delimiter), metrics: {} }),
    trainer(settings) {
      const flags = { dpoBeta: settings.beta, dpoSftWeight: name === 'sft+dpo' ? settings.sftWeight : 0 };
      return { flags, metrics: { objective: name, dpo_beta: flags.dpoBeta, dpo_sft_weight: flags.dpoSftWeight } };
    },
    export: pairExport,
  };
}

export const dpoObjective = pairObjective('dpo');
export const sftDpoObjective = pairObjective('sft+dpo');
