/**
 * Applies model retention (workflows/retention.ts) after a promotion: marks the superseded models'
 * rows deleted, then deletes their files (and checkpoints) from the run's models folder. Idempotent:
 * rows are marked before files go, and every marked model's files are removed again, so a crash in
 * between leaves nothing behind on the next call.
 */
import { existsSync, rmSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { resolveModelFiles } from '../engine/model-files.ts';
import type { RunStore } from '../store/run-store.ts';
import { supersededModels, type RetentionSettings } from '../workflows/retention.ts';
import type { BestModels } from '../workflows/types.ts';
import { checkpointPath, modelsDir } from './run-dir.ts';

/** Deletes what `iteration`'s promotion superseded; returns the paths of the models it marked deleted now. */
export async function deleteSupersededModels(store: RunStore, runDir: string, iteration: number, best: BestModels, settings: RetentionSettings): Promise<string[]> {
  if (settings.candidates === 'all') return [];
  const folder = resolve(modelsDir(runDir));
  const all = store.models();
  const live = all.filter((model) => !model.deleted);
  const models = await Promise.all(
    live.map(async (model) => {
      const path = resolve(model.path);
      const rel = relative(folder, path);
      // A file missing here (deleted by hand) has no adapter base to keep.
      const files = existsSync(path) ? await resolveModelFiles(model.path) : { base: model.path, adapters: [] };
      return { id: model.id, path, iteration: model.iteration, base: files.adapters.length === 0 ? null : resolve(files.base), owned: rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) };
    }),
  );
  const superseded = new Set(supersededModels(models, new Set([resolve(best.policyPath), resolve(best.prmPath)]), iteration, settings));
  store.markModelsDeleted([...superseded]);
  for (const model of all.filter((row) => row.deleted || superseded.has(row.id))) {
    rmSync(model.path, { force: true });
    rmSync(checkpointPath(runDir, model.kind, model.iteration), { force: true });
  }
  return live.filter((model) => superseded.has(model.id)).map((model) => model.path);
}
