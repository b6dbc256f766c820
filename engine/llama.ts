/**
 * The process's llama.cpp runtime: one `Llama` instance, models cached by path, contexts with an
 * explicit thread count. node-llama-cpp defaults to 4 threads, which on a 2-core machine makes
 * generation ~250x slower than 1 thread for a tiny model, so nothing here relies on its defaults.
 * A model that cannot be loaded is an error naming the file and saying why, never a raw stack.
 * Every function here takes a model reference (engine/model-files.ts): a full GGUF, or a LoRA
 * adapter whose base is loaded and whose weights each context applies.
 */
import { availableParallelism, homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { getLlama, LlamaLogLevel, resolveModelFile, type Llama, type LlamaContext, type LlamaContextSequence, type LlamaModel } from 'node-llama-cpp';
import type { EngineSettings } from '../workflows/config.ts';
import { resolveModelFiles } from './model-files.ts';

/** The engine settings a process runs with when a caller gives none (CPU or GPU, whatever is found). */
export const DEFAULT_ENGINE: EngineSettings = { gpu: 'auto', gpuLayers: 'auto', flashAttention: false, decoders: 'auto' };

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
 * into MODELS_DIR (needs a network); a path must be a readable GGUF file (an adapter: its base too). Errors name the input.
 */
export async function resolveModelPath(reference: string, what = 'model'): Promise<string> {
  if (/^(hf:|https?:\/\/)/.test(reference)) {
    try {
      return await resolveModelFile(reference, { directory: MODELS_DIR, cli: false });
    } catch (error) {
      throw new Error(`${what} ${reference}: cannot download or find it (${error instanceof Error ? error.message : String(error)})`);
    }
  }
  await resolveModelFiles(reference, what);
  return reference;
}

const loadedVocabularies = new Map<string, Promise<LlamaModel>>();

/** Loads the full GGUF at `modelPath` once per process into `cache` (keyed by resolved path); a failed load is not cached. */
function loadOnce(cache: Map<string, Promise<LlamaModel>>, modelPath: string, engine: EngineSettings, vocabOnly: boolean): Promise<LlamaModel> {
  const key = resolve(modelPath);
  let model = cache.get(key);
  if (model === undefined) {
    model = (async () => {
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
 * The weights `reference` runs on (an adapter's base), loaded once per process. The cache is keyed
 * by path: a file rewritten in place is not reloaded until `unloadModel` is called for it.
 */
export async function loadModel(reference: string, engine: EngineSettings = DEFAULT_ENGINE): Promise<LlamaModel> {
  return loadOnce(loadedModels, (await resolveModelFiles(reference)).base, engine, false);
}

/** The vocabulary and metadata of `reference` (an adapter's base's) without weights: tokenizing and rendering prompts, loaded once per process. */
export async function loadVocabulary(reference: string, engine: EngineSettings = DEFAULT_ENGINE): Promise<LlamaModel> {
  return loadOnce(loadedVocabularies, (await resolveModelFiles(reference)).base, engine, true);
}

/**
 * Frees the weights `reference` runs on (and every context made from them): for an adapter that is
 * its base, which other references may share. The base keeps the adapters llama.cpp loaded onto it
 * until then.
 */
export async function unloadModel(reference: string): Promise<void> {
  const key = resolve((await resolveModelFiles(reference)).base);
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

/**
 * A context on the model `reference` names: its base's weights (loaded once), its adapters applied
 * (scale 1: llama.cpp reads each adapter's alpha / rank itself). Adapters are per context, so one
 * base serves a policy adapter and a PRM at once.
 */
export async function createContext(reference: string, { threads, contextSize, sequences = 1, engine = DEFAULT_ENGINE }: EngineContextOptions): Promise<LlamaContext> {
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads must be a positive integer, got ${threads}`);
  const { base, adapters } = await resolveModelFiles(reference);
  const model = await loadOnce(loadedModels, base, engine, false);
  const wanted = Math.min(engine.contextSize ?? contextSize, model.trainContextSize > 0 ? model.trainContextSize : Infinity);
  const paddedContextSize = Math.ceil(wanted / CONTEXT_CELL_GRANULARITY) * CONTEXT_CELL_GRANULARITY;
  try {
    return await model.createContext({
      threads,
      contextSize: paddedContextSize,
      sequences,
      flashAttention: engine.flashAttention,
      ...(engine.batchSize === undefined ? {} : { batchSize: engine.batchSize }),
      // node-llama-cpp caches an adapter by path for the base's lifetime: each iteration's adapter is a new file.
      ...(adapters.length === 0 ? {} : { lora: { adapters: adapters.map((adapter) => ({ filePath: resolve(adapter), scale: 1 })) } }),
    });
  } catch (error) {
    if (adapters.length === 0) throw error;
    throw new Error(`model ${reference}: llama.cpp cannot apply the adapter to its base ${base} (${error instanceof Error ? error.message : String(error)})`);
  }
}

/** How many decoders `engine.decoders` asks for here (auto: the cores over the threads each uses on a CPU, 1 on a GPU). */
export async function decoderCount(engine: EngineSettings, threads: number): Promise<number> {
  if (engine.decoders !== 'auto') return engine.decoders;
  const llama = await getEngineLlama(engine.gpu);
  return llama.gpu === false ? Math.max(1, Math.floor(availableParallelism() / threads)) : 1;
}

/**
 * Contexts for `sequences` sequences spread over the engine's decoders (never more decoders than
 * sequences). Each runs its own decode, so on a CPU every core works; the sequences of one context
 * are batched together by node-llama-cpp.
 */
export async function createContexts(reference: string, options: EngineContextOptions): Promise<LlamaContext[]> {
  const sequences = options.sequences ?? 1;
  const decoders = Math.min(sequences, await decoderCount(options.engine ?? DEFAULT_ENGINE, options.threads));
  const perDecoder = Math.ceil(sequences / decoders);
  return Promise.all(
    Array.from({ length: decoders }, (_, index) => createContext(reference, { ...options, sequences: Math.min(perDecoder, sequences - index * perDecoder) })),
  );
}

/** Every sequence of `contexts`, interleaved (context 0's first, context 1's first, …): handed out in order, work spreads over the decoders. */
export function interleavedSequences(contexts: readonly LlamaContext[]): LlamaContextSequence[] {
  const lists = contexts.map((context) => Array.from({ length: context.totalSequences }, () => context.getSequence()));
  const longest = Math.max(0, ...lists.map((list) => list.length));
  return Array.from({ length: longest }, (_, index) => lists.flatMap((list) => list.slice(index, index + 1))).flat();
}
