/**
 * `arbor export`: a run's data in the formats standard trainers read (TRL), every row carrying its
 * lineage ids: SFT {prompt, completion}, DPO {prompt, chosen, rejected}, PRM stepwise
 * {prompt, completions, labels} (labels bool by a threshold, raw values kept), and whole trees.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { SearchLineageSchema, type RunStore } from '../store/run-store.ts';
import { prmTrainingRows, writeJsonl } from './build-sets.ts';

const lineage = SearchLineageSchema.shape;

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
  const iterations = options.iteration !== undefined ? [options.iteration] : store.searchedIterations();

  const sft: unknown[] = [];
  const dpo: unknown[] = [];
  const prm: unknown[] = [];
  const trees: unknown[] = [];
  for (const iteration of iterations) {
    for (const row of store.iterationSftExamples(iteration)) {
      sft.push(TrlSftRowSchema.parse({ prompt: row.prompt, completion: row.completion, node_index: row.nodeIndex, ...store.searchLineage(row.searchId) }));
    }
    for (const row of store.iterationPairs(iteration)) {
      dpo.push(TrlDpoRowSchema.parse({ prompt: row.prompt, chosen: row.chosen, rejected: row.rejected, chosen_q: row.chosenQ, rejected_q: row.rejectedQ, ...store.searchLineage(row.searchId) }));
    }
    for (const row of prmTrainingRows(store, iteration)) {
      prm.push(TrlPrmRowSchema.parse({ prompt: row.prompt, completions: row.completions, labels: row.labels.map((value) => value >= threshold), values: row.labels, ...store.searchLineage(row.searchId) }));
    }
    for (const searchId of store.iterationSearchIds(iteration, 'id')) trees.push({ ...store.searchLineage(searchId), tree: store.tree(searchId) });
  }
  await writeJsonl(join(options.outDir, 'sft.jsonl'), sft);
  await writeJsonl(join(options.outDir, 'dpo.jsonl'), dpo);
  await writeJsonl(join(options.outDir, 'prm.jsonl'), prm);
  await writeJsonl(join(options.outDir, 'trees.jsonl'), trees);
  return { sft: sft.length, dpo: dpo.length, prm: prm.length, trees: trees.length };
}
