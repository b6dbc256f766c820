/**
 * `arbor export`: a run's data in the formats standard trainers read (TRL), every row carrying its
 * lineage ids: each policy objective's file (train/objectives/: SFT {prompt, completion}, DPO
 * {prompt, chosen, rejected}), PRM stepwise {prompt, completions, labels} (labels bool by a
 * threshold, raw values kept), and whole trees.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { SearchLineageSchema } from '../store/lineage.ts';
import type { RunStore } from '../store/run-store.ts';
import { objectiveExports } from '../train/objectives/index.ts';
import { prmTrainingRows, writeJsonl } from './build-sets.ts';

const lineage = SearchLineageSchema.shape;

export const TrlPrmRowSchema = z.strictObject({ prompt: z.string(), completions: z.array(z.string()), labels: z.array(z.boolean()), values: z.array(z.number()), ...lineage });

/** Rows written per file name (without `.jsonl`): every objective's, prm and trees. */
export type ExportCounts = Record<string, number>;

export async function exportRun(options: { store: RunStore; outDir: string; iteration?: number; labelThreshold?: number }): Promise<ExportCounts> {
  const { store } = options;
  const threshold = options.labelThreshold ?? 0.5;
  await mkdir(options.outDir, { recursive: true });
  const iterations = options.iteration !== undefined ? [options.iteration] : store.searchedIterations();

  const files = new Map<string, unknown[]>(objectiveExports().map(({ file }) => [file, []]));
  const prm: unknown[] = [];
  const trees: unknown[] = [];
  for (const iteration of iterations) {
    for (const { file, rows } of objectiveExports()) files.get(file)?.push(...rows(store, iteration));
    for (const row of prmTrainingRows(store, iteration)) {
      prm.push(TrlPrmRowSchema.parse({ prompt: row.prompt, completions: row.completions, labels: row.labels.map((value) => value >= threshold), values: row.labels, ...store.searchLineage(row.searchId) }));
    }
    for (const searchId of store.iterationSearchIds(iteration, 'id')) trees.push({ ...store.searchLineage(searchId), tree: store.tree(searchId) });
  }
  files.set('prm.jsonl', prm).set('trees.jsonl', trees);
  const counts: ExportCounts = {};
  for (const [file, rows] of files) {
    await writeJsonl(join(options.outDir, file), rows);
    counts[file.replace(/\.jsonl$/, '')] = rows.length;
  }
  return counts;
}
