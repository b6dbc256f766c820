/**
 * The micro model: Arbor's embedded default policy, a tiny llama with a character vocabulary,
 * built from scratch by the native trainer on gold solutions of the arithmetic task's *easy* problems
 * (1–2 operators) plus a small priming set at 3 operators. It must solve 1–2 operators reliably and
 * be weak but not hopeless at 3 (the weak level: the room the self-improvement loop has to show
 * progress); no gold solution with more operators is ever seen. One recipe + seed gives one file for
 * a given trainer (the committed one predates the trainer's logits-at-targets change: bench/README.md).
 */
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { plainPrompt } from '../engine/prompt.ts';
import { loadTask, type Problem } from '../tasks/index.ts';
import { buildTrainingSchema, initModel, prepareTrainingData, runTrainer, type TrainerEvent } from './trainer.ts';

const positiveInt = z.number().int().positive();

export const microRecipeSchema = z.strictObject({
  seed: z.number().int().nonnegative(),
  model: z.strictObject({ dim: positiveInt, layers: positiveInt, heads: positiveInt, ffn: positiveInt, ctx: positiveInt }),
  /** Training problems per level = number of operators (train split only). */
  problems: z.record(z.string().regex(/^\d+$/), positiveInt),
  train: buildTrainingSchema,
});
export type MicroRecipe = z.infer<typeof microRecipeSchema>;

/** The recipe of the committed model (models/micro/): change it and rebuild, never edit the model. */
export const MICRO_RECIPE: MicroRecipe = {
  seed: 1,
  model: { dim: 96, layers: 3, heads: 4, ffn: 288, ctx: 256 },
  problems: { '1': 213, '2': 5250, '3': 500 },
  train: { steps: 6000, batch: 32, lr: 3e-3, warmup: 100, minLrRatio: 0.1, weightDecay: 0.1, beta2: 0.95 },
};

export interface MicroBuildResult {
  recipe: MicroRecipe;
  modelPath: string;
  minutes: number;
  trainLoss: number;
  valLoss: number | null;
  trainerTokensPerSecond: number;
}

/** The micro model's task: arithmetic, with its character set and reference solutions. */
const ARITHMETIC = loadTask({ kind: 'arithmetic' });

/** Writes SFT rows for problems: prompt `Q: <expression>\n`, completion = the step-by-step solution. */
export async function writeSolutionsJsonl(problems: readonly Problem[], path: string): Promise<void> {
  const { solution } = ARITHMETIC;
  if (solution === undefined) throw new Error('the arithmetic task has no reference solutions');
  const rows = problems.map((problem) => JSON.stringify({ prompt: plainPrompt(ARITHMETIC.prompt, problem.question), completion: solution(problem) }));
  await writeFile(path, rows.join('\n') + '\n');
}

/** The gold problems the micro model is pretrained on (the no-loop control trains on them too). */
export function microTrainingProblems(recipe: MicroRecipe): Problem[] {
  return Object.entries(recipe.problems).flatMap(([level, count]) => ARITHMETIC.sample('train', { seed: recipe.seed, level: Number(level), count }));
}

/** Builds the micro model from nothing into `out`; work files go to `workDir`. */
export async function buildMicroModel(options: {
  recipe?: MicroRecipe;
  workDir: string;
  out: string;
  threads: number;
  onProgress?: (event: TrainerEvent) => void;
  signal?: AbortSignal;
}): Promise<MicroBuildResult> {
  const recipe = microRecipeSchema.parse(options.recipe ?? MICRO_RECIPE);
  const started = performance.now();
  await mkdir(options.workDir, { recursive: true });
  const vocab = join(options.workDir, 'vocab.txt');
  await writeFile(vocab, ARITHMETIC.characters ?? '');
  const initial = join(options.workDir, 'init.gguf');
  await initModel({ vocabChars: vocab, out: initial, seed: recipe.seed, name: 'arbor-micro', ...recipe.model }, options.signal);

  const data = join(options.workDir, 'sft.jsonl');
  await writeSolutionsJsonl(microTrainingProblems(recipe), data);
  const prepared = await prepareTrainingData({
    model: initial,
    objective: 'sft',
    data,
    valFraction: 0.03,
    seed: recipe.seed,
    outDir: join(options.workDir, 'data'),
  });
  const trained = join(options.workDir, 'trained.gguf');
  const done = await runTrainer(
    {
      model: initial,
      data: prepared.train.path,
      val: prepared.val?.path,
      out: trained,
      objective: 'sft',
      parent: 'init',
      dataSha256: prepared.dataSha256,
      seed: recipe.seed,
      threads: options.threads,
      clip: 1,
      checkpointEvery: 200,
      resume: true,
      logEvery: 20,
      ...recipe.train,
    },
    { onProgress: options.onProgress, signal: options.signal },
  );
  await copyFile(trained, options.out);
  return {
    recipe,
    modelPath: options.out,
    minutes: (performance.now() - started) / 60_000,
    trainLoss: done.loss,
    valLoss: done.val_loss,
    trainerTokensPerSecond: done.tok_s,
  };
}

export const COMMITTED_MICRO_MODEL = 'models/micro/arbor-micro.gguf';

/** ggml's thread sync costs more than it gains on tensors this small: one thread trains fastest. */
export const MICRO_BUILD_THREADS = 1;

/** What `build` stores next to the model: how it was made and how it scores. */
export const microReportSchema = z.object({
  recipe: microRecipeSchema,
  buildMinutes: z.number(),
  trainLoss: z.number(),
  valLoss: z.number().nullable(),
  trainerTokensPerSecond: z.number(),
  accuracyByLevel: z.record(z.string(), z.number()),
});
export type MicroReport = z.infer<typeof microReportSchema>;

export function reportPathFor(modelPath: string): string {
  return modelPath.replace(/\.gguf$/, '') + '.json';
}

export async function readMicroReport(modelPath: string): Promise<MicroReport> {
  const path = reportPathFor(modelPath);
  return microReportSchema.parse(JSON.parse(await readFile(path, 'utf8')));
}
