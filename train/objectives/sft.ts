/**
 * SFT on the correct solutions the searches found (data/build-sets.ts keeps them: deduplicated,
 * capped per problem, over an optional PRM value floor). The training file repeats a solution
 * `data.sftContestedRepeat` times when its search also ended wrong somewhere (a problem the policy
 * does not solve reliably yet) and mixes in the rows of `data.mixPreviousIterations` earlier iterations.
 */
import { z } from 'zod';
import { SearchLineageSchema } from '../../store/lineage.ts';
import type { PolicyObjective } from './objective.ts';

/** SFT has no settings of its own: what it keeps is the run's `data` settings. */
export const sftSettingsSchema = z.strictObject({});

export const TrlSftRowSchema = z.strictObject({ prompt: z.string(), completion: z.string(), node_index: z.number().int(), ...SearchLineageSchema.shape });

export const sftObjective: PolicyObjective<z.output<typeof sftSettingsSchema>> = {
  file: 'sft.jsonl',
  format: 'sft',
  rows({ store, iteration, data }) {
    const rows = store
      .sftExamplesBetween(iteration - data.mixPreviousIterations, iteration)
      .flatMap(({ prompt, completion, contested }) => Array.from({ length: contested ? data.sftContestedRepeat : 1 }, () => ({ prompt, completion })));
    return { rows, metrics: {} };
  },
  trainer: () => ({ flags: {}, metrics: { objective: 'sft' } }),
  export: {
    file: 'sft.jsonl',
    rows: (store, iteration) =>
      store.iterationSftExamples(iteration).map((row) => TrlSftRowSchema.parse({ prompt: row.prompt, completion: row.completion, node_index: row.nodeIndex, ...store.searchLineage(row.searchId) })),
  },
};
