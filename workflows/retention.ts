/**
 * Model retention, pure: which model files of a run are superseded after an iteration's promotion.
 * A run keeps its base models (iteration 0), the promoted ones, the last `candidates` iterations'
 * candidates and the base of every adapter it keeps; a 1.5B full fine-tune writes ~6 GB per file,
 * so keeping every iteration's models fills a disk. Only files the run wrote (in its models folder)
 * are ever deleted; their database rows, lineage and metrics stay. No I/O.
 */
import { z } from 'zod';

export const retentionSettingsSchema = z.strictObject({
  /** Candidates of the last this many iterations kept besides the base and promoted models; `all` keeps every file. */
  candidates: z.union([z.number().int().nonnegative(), z.literal('all')]).default(2),
});
export type RetentionSettings = z.output<typeof retentionSettingsSchema>;

/** A model as retention sees it. */
export interface RetainedModel {
  id: number;
  path: string;
  iteration: number;
  /** The full model an adapter applies to (null: a full model). */
  base: string | null;
  /** Whether the run wrote the file (its models folder): nothing else is ever deleted. */
  owned: boolean;
}

/** The ids of the models whose files go after iteration `iteration`'s promotion; `promoted`: the promoted models' paths (compared as given, so resolve them alike). */
export function supersededModels(models: readonly RetainedModel[], promoted: ReadonlySet<string>, iteration: number, settings: RetentionSettings): number[] {
  if (settings.candidates === 'all') return [];
  const recent = iteration - settings.candidates;
  const kept = (model: RetainedModel): boolean => model.iteration === 0 || promoted.has(model.path) || model.iteration > recent;
  const bases = new Set(models.filter(kept).flatMap((model) => (model.base === null ? [] : [model.base])));
  return models.filter((model) => model.owned && !kept(model) && !bases.has(model.path)).map((model) => model.id);
}
