/**
 * `arbor export`: a run's data in the formats standard trainers read (TRL), every row carrying its
 * lineage ids: SFT {prompt, completion}, DPO {prompt, chosen, rejected}, PRM stepwise
 * {prompt, completions, labels} (labels bool by a threshold, raw values kept), and whole trees.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { RunStore } from '../store/run-store.ts';
import { prmTrainingRows, writeJsonl } from './build-sets.ts';

const lineage = {
  run_id: z.string(),
  iteration: z.number().int(),
  search_id: z.number().int(),
  problem_id: z.number().int(),
  policy_model_id: z.number().int().nullable(),
};

export const TrlSftRowSchema = z.strictObject({ prompt: z.string(), completion: z.string(), node_index: z.number().int(), ...lineage });
export const TrlDpoRowSchema = z.strictObject({ prompt: z.string(), chosen: z.string(), rejected: z.string(), chosen_q: z.number(), rejected_q: z.number(), ...lineage });
export const TrlPrmRowSchema = z.strictObject({ prompt: z.string(), completions: z.array(z.string()), labels: z.array(z.boolean()), values: z.array(z.number()), ...lineage });

export interface ExportCounts {
  sft: number;
  dpo: number;
  prm: number;
  trees: number;
}

export async function exportRun(options: { store: RunStore; outDir: string; iteration?: number; labelThreshold?: number }): Promise<ExportCounts> {
  const { store } = options;
  const threshold = options.labelThreshold ?? 0.5;
  await mkdir(options.outDir, { recursive: true });
  const iterations =
    options.iteration !== undefined
      ? [options.iteration]
      : (store.db.prepare('SELECT DISTINCT iteration FROM searches WHERE run_id = ? ORDER BY iteration').pluck().all(store.runId) as number[]);
  const searchLineage = store.db.prepare('SELECT run_id, iteration, id AS search_id, problem_id, policy_model_id FROM searches WHERE id = ?');
  const lineageOf = (searchId: number): z.infer<z.ZodObject<typeof lineage>> => z.object(lineage).parse(searchLineage.get(searchId));

  const sft: unknown[] = [];
  const dpo: unknown[] = [];
  const prm: unknown[] = [];
  const trees: unknown[] = [];
  for (const iteration of iterations) {
    const sftRows = store.db.prepare('SELECT search_id, node_index, prompt, completion FROM sft_examples WHERE run_id = ? AND iteration = ? ORDER BY id').all(store.runId, iteration) as {
      search_id: number;
      node_index: number;
      prompt: string;
      completion: string;
    }[];
    for (const row of sftRows) sft.push(TrlSftRowSchema.parse({ prompt: row.prompt, completion: row.completion, node_index: row.node_index, ...lineageOf(row.search_id) }));
    for (const row of store.iterationPairs(iteration)) {
      dpo.push(TrlDpoRowSchema.parse({ prompt: row.prompt, chosen: row.chosen, rejected: row.rejected, chosen_q: row.chosenQ, rejected_q: row.rejectedQ, ...lineageOf(row.searchId) }));
    }
    for (const row of prmTrainingRows(store, iteration)) {
      prm.push(TrlPrmRowSchema.parse({ prompt: row.prompt, completions: row.completions, labels: row.labels.map((value) => value >= threshold), values: row.labels, ...lineageOf(row.searchId) }));
    }
    const searchIds = store.db.prepare('SELECT id FROM searches WHERE run_id = ? AND iteration = ? ORDER BY id').pluck().all(store.runId, iteration) as number[];
    for (const searchId of searchIds) trees.push({ ...lineageOf(searchId), tree: store.tree(searchId) });
  }
  await writeJsonl(join(options.outDir, 'sft.jsonl'), sft);
  await writeJsonl(join(options.outDir, 'dpo.jsonl'), dpo);
  await writeJsonl(join(options.outDir, 'prm.jsonl'), prm);
  await writeJsonl(join(options.outDir, 'trees.jsonl'), trees);
  return { sft: sft.length, dpo: dpo.length, prm: prm.length, trees: trees.length };
}
