/**
 * Where an exported row came from (run, iteration, search, problem, the policy that searched): the
 * row schema the store reads and every export writes. Pure zod, so that the objectives (imported by
 * workflow code through the run config) can use it.
 */
import { z } from 'zod';

export const SearchLineageSchema = z.strictObject({
  run_id: z.string(),
  iteration: z.number().int(),
  search_id: z.number().int(),
  problem_id: z.number().int(),
  policy_model_id: z.number().int().nullable(),
});
export type SearchLineage = z.infer<typeof SearchLineageSchema>;
