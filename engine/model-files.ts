/**
 * What a model reference is made of. A run names every model by one path; with LoRA training
 * (`train.*.method: lora`) an iteration's model is an adapter GGUF (`general.type = adapter`) whose
 * metadata `arbor.base` is the full model it applies to (the path the trainer was given as `model`).
 * Whatever loads a model resolves its path here: weights and vocabulary come from the base (an
 * adapter has neither), the adapters are applied to each context (engine/llama.ts).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import { readGgufFileInfo, type GgufFileInfo } from 'node-llama-cpp';
import { z } from 'zod';

/** Throws an error naming `path` unless it is a GGUF file whose header and tensor table read cleanly; returns what it read. */
export async function checkGgufFile(path: string, what = 'model'): Promise<GgufFileInfo> {
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
    return info;
  } catch (error) {
    throw new Error(`${what} ${path}: unreadable GGUF (${error instanceof Error ? error.message : String(error)})`);
  }
}

/** The metadata of an adapter the native trainer wrote (native/README.md); llama.cpp's own converter writes no `arbor.base`. */
const arborAdapterSchema = z.object({
  adapter: z.object({ type: z.literal('lora') }),
  arbor: z.object({ base: z.string().min(1) }),
});

export interface ModelFiles {
  /** The full GGUF: weights, vocabulary, chat template, context length. */
  base: string;
  /** LoRA adapters applied on top of it, each at scale 1 (its own alpha / rank inside); empty for a full model. */
  adapters: string[];
}

/** `general.type` (llama.cpp: "model", the default, or "adapter"); node-llama-cpp's metadata type does not list it. */
const generalTypeSchema = z.object({ general: z.object({ type: z.string().optional() }) });

function isAdapter(info: GgufFileInfo): boolean {
  return generalTypeSchema.parse(info.metadata).general.type === 'adapter';
}

const resolvedFiles = new Map<string, Promise<ModelFiles>>();

/**
 * The files behind a model reference, read once per process (keyed by resolved path, like the
 * engine's model cache). Errors name the file: a missing or unreadable GGUF, an adapter without
 * `arbor.base`, a base that is itself an adapter (the trainer never writes one: a continued
 * adapter keeps the original base).
 */
export function resolveModelFiles(reference: string, what = 'model'): Promise<ModelFiles> {
  const key = resolve(reference);
  let files = resolvedFiles.get(key);
  if (files === undefined) {
    files = (async () => {
      const info = await checkGgufFile(reference, what);
      if (!isAdapter(info)) return { base: reference, adapters: [] };
      const parsed = arborAdapterSchema.safeParse(info.metadata);
      if (!parsed.success) throw new Error(`${what} ${reference}: a GGUF adapter that names no base model (${z.prettifyError(parsed.error)}); only LoRA adapters written by arbor-trainer carry arbor.base`);
      const base = parsed.data.arbor.base;
      if (isAdapter(await checkGgufFile(base, `base model of ${reference}`))) throw new Error(`${what} ${reference}: its base ${base} is itself an adapter`);
      return { base, adapters: [reference] };
    })().catch((error: unknown) => {
      resolvedFiles.delete(key);
      throw error;
    });
    resolvedFiles.set(key, files);
  }
  return files;
}
