/**
 * The seed PRM: before any search has produced value targets, a PRM is fine-tuned from the policy
 * on the policy's own sampled solutions to *training* problems, each prefix labelled from outcomes
 * by Monte Carlo rollouts (reward/monte-carlo.ts, Math-Shepherd soft labels). The task's step checker
 * plays no part: the labels come from final answers only, as they must on a task without one.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { mapConcurrent } from '../engine/map-concurrent.ts';
import { enginePolicy } from '../engine/policy.ts';
import { createPromptBuilder, plainPrompt } from '../engine/prompt.ts';
import { samplingSchema, StepGenerator } from '../engine/step-generator.ts';
import { monteCarloChains } from '../reward/monte-carlo.ts';
import type { Task } from '../tasks/index.ts';
import type { EngineSettings } from '../workflows/config.ts';
import { methodTrainOptions, type TrainMethod } from './method.ts';
import { prepareTrainingData, runTrainer, type TrainerEvent } from './trainer.ts';

const positiveInt = z.number().int().positive();

export const seedPrmRecipeSchema = z.strictObject({
  seed: z.number().int().nonnegative().default(11),
  /** Training problems per level (fewer where the train split holds fewer). */
  problems: z.record(z.string().regex(/^\d+$/), positiveInt).default({ '1': 100, '2': 100, '3': 100, '4': 100 }),
  samplesPerProblem: positiveInt.default(4),
  /** Fresh rollouts per distinct prefix (Monte Carlo labels). */
  rollouts: z.number().int().nonnegative().default(2),
  /** soft: share of continuations that end correct; hard: 1 when any does. */
  labels: z.enum(['soft', 'hard']).default('soft'),
  temperature: z.number().positive().default(1),
  steps: positiveInt.default(600),
  batch: positiveInt.default(16),
  lr: z.number().positive().default(1e-3),
});
export type SeedPrmRecipe = z.output<typeof seedPrmRecipeSchema>;

export interface SeedPrmData {
  rows: number;
  /** Mean soft label over all labelled steps. */
  meanLabel: number;
  /** By level: share of the distinct sampled solutions that end with the right answer. */
  solveRates: Record<string, number>;
}

/** Samples solutions with the policy and writes them as `prm` rows (prompt, completions = steps, Monte Carlo labels), in problem order. */
export async function writeSeedPrmData(options: {
  policyModel: string;
  recipe: SeedPrmRecipe;
  task: Task;
  out: string;
  threads: number;
  sequences: number;
  engine?: EngineSettings;
  onSampled?: (done: number, total: number) => void;
}): Promise<SeedPrmData> {
  const { recipe, task } = options;
  const generator = await StepGenerator.create({ modelPath: options.policyModel, threads: options.threads, sequences: options.sequences, contextSize: task.contextSize, delimiter: task.delimiter, engine: options.engine });
  try {
    const prompt = createPromptBuilder(generator.model, task.prompt, task.delimiter);
    const sampling = samplingSchema.parse({ temperature: recipe.temperature, maxStepTokens: task.maxStepTokens });
    const problems = Object.entries(recipe.problems).flatMap(([level, count]) =>
      task.sample('train', { seed: recipe.seed, level: Number(level), count: Math.min(count, task.count('train', Number(level))) }),
    );
    let done = 0;
    const chains = await mapConcurrent(problems, options.sequences, async (problem) => {
      const labelled = await monteCarloChains({
        question: problem.question,
        gold: problem.answer,
        policy: enginePolicy({ generator, prompt, question: problem.question, sampling, seed: recipe.seed }),
        verifier: task,
        samples: recipe.samplesPerProblem,
        rollouts: recipe.rollouts,
        labels: recipe.labels,
        maxDepth: task.maxDepth(problem),
      });
      options.onSampled?.(++done, problems.length);
      return labelled;
    });
    const rows = problems.flatMap((problem, index) => (chains[index] ?? []).map((chain) => ({ prompt: plainPrompt(task.prompt, problem.question), ...chain })));
    await writeFile(options.out, rows.map((row) => JSON.stringify(row)).join('\n') + '\n');
    const labels = rows.flatMap((row) => row.labels);
    const mean = (values: number[]): number => (values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length);
    const solveRates = Object.fromEntries(
      Object.keys(recipe.problems).map((level) => [level, mean(problems.flatMap((problem, index) => (problem.level === Number(level) ? (chains[index] ?? []).map((chain) => chain.labels.at(-1) ?? 0) : [])))]),
    );
    return { rows: rows.length, meanLabel: mean(labels), solveRates };
  } finally {
    await generator.dispose();
  }
}

/**
 * Builds the seed PRM at `out`, fine-tuned from `prmBase` (default: the policy) on `policyModel`'s
 * labelled samples, every weight or a LoRA adapter (`method`, the run's `train.prm`); work files go to `workDir`.
 */
export async function buildSeedPrm(options: {
  policyModel: string;
  prmBase?: string;
  method?: TrainMethod;
  out: string;
  workDir: string;
  threads: number;
  sequences: number;
  engine?: EngineSettings;
  task: Task;
  recipe?: z.input<typeof seedPrmRecipeSchema>;
  onSampled?: (done: number, total: number) => void;
  onProgress?: (event: TrainerEvent) => void;
}): Promise<SeedPrmData & { valLoss: number | null }> {
  const recipe = seedPrmRecipeSchema.parse(options.recipe ?? {});
  const base = options.prmBase ?? options.policyModel;
  const trained = await methodTrainOptions(base, options.method ?? { method: 'full' }); // before sampling: a parent that cannot be trained fails fast
  const data = join(options.workDir, 'prm.jsonl');
  const written = await writeSeedPrmData({ ...options, recipe, out: data });
  const prepared = await prepareTrainingData({ model: trained.model, objective: 'prm', data, valFraction: 0.05, seed: recipe.seed, outDir: join(options.workDir, 'prm-data') });
  const done = await runTrainer(
    {
      ...trained,
      data: prepared.train.path,
      val: prepared.val?.path,
      out: options.out,
      objective: 'prm',
      parent: base,
      dataSha256: prepared.dataSha256,
      seed: recipe.seed,
      threads: options.threads,
      device: options.engine?.gpu === 'cpu' ? 'cpu' : 'auto',
      steps: recipe.steps,
      batch: recipe.batch,
      lr: recipe.lr,
      warmup: 50,
      weightDecay: 0.1,
      clip: 1,
    },
    { onProgress: options.onProgress },
  );
  return { ...written, valLoss: done.val_loss };
}
