/**
 * How a model is trained from its parent (`train.*.method`, workflows/config.ts): every weight, or a
 * LoRA adapter on frozen weights. Adapters never stack: a parent that is itself an adapter is
 * continued (`loraInit`) on that adapter's base, so every adapter of a run names the first full
 * model as `arbor.base` and runs as that base plus one adapter (engine/model-files.ts).
 */
import { resolveModelFiles } from '../engine/model-files.ts';
import type { LoraSettings } from '../workflows/config.ts';
import type { TrainOptions } from './trainer.ts';

/** How a model is trained; a run's train settings (TrainSettings) fit it, and so does `{ method: 'full' }` alone. */
export type TrainMethod = { method: 'full' } | { method: 'lora'; lora: LoraSettings };

/** The trainer options that say what is trained: the model the trainer loads and, with LoRA, the adapter's shape or the adapter continued. */
export async function methodTrainOptions(
  parent: string,
  training: TrainMethod,
): Promise<Pick<TrainOptions, 'model' | 'loraRank' | 'loraAlpha' | 'loraTargets' | 'loraInit'>> {
  const { base, adapters } = await resolveModelFiles(parent, 'parent model');
  const [adapter, ...more] = adapters;
  if (adapter === undefined) {
    if (training.method === 'full') return { model: parent };
    const { rank, alpha, targets } = training.lora;
    return { model: parent, loraRank: rank, loraAlpha: alpha, loraTargets: targets?.join(',') };
  }
  if (training.method === 'full') throw new Error(`${parent} is a LoRA adapter on ${base}: method full cannot train it; use method lora (it continues the adapter), or merge it into its base first (arbor-trainer merge)`);
  if (more.length > 0) throw new Error(`parent model ${parent} stacks ${adapters.length} adapters; the trainer continues one`);
  // The adapter keeps its own rank, alpha and targets.
  return { model: base, loraInit: adapter };
}
