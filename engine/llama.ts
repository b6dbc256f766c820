/**
 * The process's llama.cpp runtime: one `Llama` instance, models cached by path, contexts with an
 * explicit thread count. node-llama-cpp defaults to 4 threads, which on a 2-core machine makes
 * generation ~250x slower than 1 thread for a tiny model, so nothing here relies on its defaults.
 * A model that cannot be loaded is an error naming the file and saying why, never a raw stack.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { availableParallelism, homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { getLlama, LlamaLogLevel, readGgufFileInfo, resolveModelFile, type Llama, type LlamaContext, type LlamaModel } from 'node-llama-cpp';
import type { EngineSettings } from '../workflows/config.ts';

/** The engine settings a process runs with when a caller gives none (CPU or GPU, whatever is found). */
export const DEFAULT_ENGINE: EngineSettings = { gpu: 'auto', gpuLayers: 'auto', flashAttention: false };

let llamaInstance: { gpu: EngineSettings['gpu']; llama: Promise<Llama> } | undefined;
const loadedModels = new Map<string, Promise<LlamaModel>>();

/** The one Llama of this process; its thread cap is the machine's core count, never more. */
export function getEngineLlama(gpu: EngineSettings['gpu'] = 'auto'): Promise<Llama> {
  if (llamaInstance !== undefined && llamaInstance.gpu !== gpu) throw new Error(`this process already runs llama.cpp with gpu "${llamaInstance.gpu}", not "${gpu}"`);
  if (llamaInstance === undefined) {
    const llama = getLlama({ gpu: gpu === 'cpu' ? false : gpu, maxThreads: availableParallelism(), logLevel: LlamaLogLevel.warn }).catch((error: unknown) => {
      llamaInstance = undefined; // let a later call retry instead of caching the failure
      throw new Error(`llama.cpp could not start with gpu "${gpu}": ${error instanceof Error ? error.message : String(error)}`);
    });
    llamaInstance = { gpu, llama };
  }
  return llamaInstance.llama;
}

/** Where `hf:` models are downloaded to. */
export const MODELS_DIR = join(homedir(), '.cache', 'arbor', 'models');

/**
 * A model reference as a local GGUF path: `hf:user/repo:quant` (or an https URL) is downloaded once
 * into MODELS_DIR (needs a network); a path must be a readable GGUF file. Errors name the input.
 */
export async function resolveModelPath(reference: string, what = 'model'): Promise<string> {
  if (/^(hf:|https?:\/\/)/.test(reference)) {
    try {
      return await resolveModelFile(reference, { directory: MODELS_DIR, cli: false });
    } catch (error) {
      throw new Error(`${what} ${reference}: cannot download or find it (${error instanceof Error ? error.message : String(error)})`);
    }
  }
  await checkGgufFile(reference, what);
  return reference;
}

/** Throws an error naming `path` unless it is a GGUF file whose header and tensor table read cleanly. */
export async function checkGgufFile(path: string, what = 'model'): Promise<void> {
  let magic = '';
  try {
    const fd = openSync(path, 'r');
    try {
      const head = Buffer.alloc(4);
      readSync(fd, head, 0, 4, 0);
      magic = head.toString('latin1');
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`${what} ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, not a GGUF file' : `cannot be read (${code ?? String(error)})`}`);
  }
  if (magic !== 'GGUF') throw new Error(`${what} ${path}: not a GGUF file (it does not start with "GGUF")`);
  try {
    const info = await readGgufFileInfo(path, { readTensorInfo: true });
    if (info.metadata.general?.architecture === undefined) throw new Error('no general.architecture in its metadata');
  } catch (error) {
    throw new Error(`${what} ${path}: unreadable GGUF (${error instanceof Error ? error.message : String(error)})`);
  }
}

const loadedVocabularies = new Map<string, Promise<LlamaModel>>();

/** Loads `modelPath` once per process into `cache` (keyed by resolved path); a failed load is not cached. */
function loadOnce(cache: Map<string, Promise<LlamaModel>>, modelPath: string, engine: EngineSettings, vocabOnly: boolean): Promise<LlamaModel> {
  const key = resolve(modelPath);
  let model = cache.get(key);
  if (model === undefined) {
    model = (async () => {
      await checkGgufFile(modelPath);
      const llama = await getEngineLlama(engine.gpu);
      try {
        return await llama.loadModel({ modelPath: key, ...(vocabOnly ? { vocabOnly } : { gpuLayers: engine.gpuLayers }) });
      } catch (error) {
        throw new Error(`model ${modelPath}: llama.cpp cannot load it (${error instanceof Error ? error.message : String(error)}; is its architecture supported by this llama.cpp build?)`);
      }
    })().catch((error: unknown) => {
      cache.delete(key);
      throw error;
    });
    cache.set(key, model);
  }
  return model;
}

/**
 * The model at `modelPath`, loaded once per process. The cache is keyed by path: a file rewritten
 * in place is not reloaded until `unloadModel` is called for it.
 */
export function loadModel(modelPath: string, engine: EngineSettings = DEFAULT_ENGINE): Promise<LlamaModel> {
  return loadOnce(loadedModels, modelPath, engine, false);
}

/** The model's vocabulary and metadata only (no weights): tokenizing and rendering prompts, loaded once per process. */
export function loadVocabulary(modelPath: string, engine: EngineSettings = DEFAULT_ENGINE): Promise<LlamaModel> {
  return loadOnce(loadedVocabularies, modelPath, engine, true);
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
  /** Tokens per sequence wanted; the engine settings' contextSize wins, and the model's training context caps it. */
  contextSize: number;
  /** Independent sequences evaluated together in one batch. */
  sequences?: number;
  engine?: EngineSettings;
}

export function createContext(model: LlamaModel, { threads, contextSize, sequences = 1, engine = DEFAULT_ENGINE }: EngineContextOptions): Promise<LlamaContext> {
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads must be a positive integer, got ${threads}`);
  const wanted = Math.min(engine.contextSize ?? contextSize, model.trainContextSize > 0 ? model.trainContextSize : Infinity);
  const paddedContextSize = Math.ceil(wanted / CONTEXT_CELL_GRANULARITY) * CONTEXT_CELL_GRANULARITY;
  return model.createContext({
    threads,
    contextSize: paddedContextSize,
    sequences,
    flashAttention: engine.flashAttention,
    ...(engine.batchSize === undefined ? {} : { batchSize: engine.batchSize }),
  });
}
