/**
 * The process's llama.cpp runtime: one `Llama` instance, models cached by path, contexts with an
 * explicit thread count. node-llama-cpp defaults to 4 threads, which on a 2-core machine makes
 * generation ~250x slower than 1 thread for a tiny model, so nothing here relies on its defaults.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { getLlama, LlamaLogLevel, type Llama, type LlamaContext, type LlamaModel } from 'node-llama-cpp';

let llamaInstance: Promise<Llama> | undefined;
const loadedModels = new Map<string, Promise<LlamaModel>>();

/** The one Llama of this process; its thread cap is the machine's core count, never more. */
export function getEngineLlama(): Promise<Llama> {
  llamaInstance ??= getLlama({ gpu: 'auto', maxThreads: availableParallelism(), logLevel: LlamaLogLevel.warn }).catch(
    (error: unknown) => {
      llamaInstance = undefined; // let a later call retry instead of caching the failure
      throw error;
    },
  );
  return llamaInstance;
}

/**
 * The model at `modelPath`, loaded once per process. The cache is keyed by path: a file rewritten
 * in place is not reloaded until `unloadModel` is called for it.
 */
export function loadModel(modelPath: string): Promise<LlamaModel> {
  const key = resolve(modelPath);
  let model = loadedModels.get(key);
  if (model === undefined) {
    model = getEngineLlama()
      .then((llama) => llama.loadModel({ modelPath: key }))
      .catch((error: unknown) => {
        loadedModels.delete(key);
        throw error;
      });
    loadedModels.set(key, model);
  }
  return model;
}

/** Frees a cached model (and every context made from it). */
export async function unloadModel(modelPath: string): Promise<void> {
  const key = resolve(modelPath);
  const model = loadedModels.get(key);
  loadedModels.delete(key);
  if (model !== undefined) await (await model).dispose();
}

// llama.cpp gives every sequence a multiple of 256 cells whatever is asked (and warns when the
// total does not split evenly), so sizes are rounded up here, where that is visible.
const CONTEXT_CELL_GRANULARITY = 256;

export interface EngineContextOptions {
  /** Threads for evaluation: required, because the library default oversubscribes small machines. */
  threads: number;
  /** Tokens per sequence, at least; rounded up to a multiple of 256. */
  contextSize: number;
  /** Independent sequences evaluated together in one batch. */
  sequences?: number;
}

export function createContext(
  model: LlamaModel,
  { threads, contextSize, sequences = 1 }: EngineContextOptions,
): Promise<LlamaContext> {
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads must be a positive integer, got ${threads}`);
  const paddedContextSize = Math.ceil(contextSize / CONTEXT_CELL_GRANULARITY) * CONTEXT_CELL_GRANULARITY;
  return model.createContext({ threads, contextSize: paddedContextSize, sequences });
}
