/**
 * The seed PRM for the arithmetic task: before any search has produced value targets, a PRM is
 * fine-tuned from the policy on the policy's own sampled solutions to *training* problems, each
 * prefix labelled by the task's exact step checker (1 while every step so far is valid, then 0).
 * This gives search something informative to follow from the first iteration.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { enginePolicy } from '../engine/policy.ts';
import { createPromptBuilder } from '../engine/prompt.ts';
import { samplingSchema, StepGenerator } from '../engine/step-generator.ts';
import { arithmeticVerifier, prefixLabels } from '../reward/verifiers.ts';
import { bestOfNSearch } from '../search/baselines.ts';
import { stepsTo } from '../search/tree.ts';
import { formatPrompt, generateProblems, STEP_DELIMITER } from '../tasks/arithmetic.ts';
import { prepareTrainingData, runTrainer, type TrainerEvent } from './trainer.ts';

const positiveInt = z.number().int().positive();

export const seedPrmRecipeSchema = z.strictObject({
  seed: z.number().int().nonnegative().default(11),
  /** Training problems per number of operators. */
  problems: z.record(z.string().regex(/^\d+$/), positiveInt).default({ '2': 150, '3': 150, '4': 150 }),
  samplesPerProblem: positiveInt.default(4),
  temperature: z.number().positive().default(1),
  steps: positiveInt.default(600),
  batch: positiveInt.default(16),
  lr: z.number().positive().default(1e-3),
});
export type SeedPrmRecipe = z.output<typeof seedPrmRecipeSchema>;

export interface SeedPrmData {
  rows: number;
  /** Fraction of labelled prefixes that are valid. */
  positiveRate: number;
}

/** Samples solutions with the policy and writes them as `prm` rows (prompt, completions = steps, labels). */
export async function writeSeedPrmData(options: { policyModel: string; recipe: SeedPrmRecipe; out: string; threads: number }): Promise<SeedPrmData> {
  const { recipe } = options;
  const generator = await StepGenerator.create({ modelPath: options.policyModel, threads: options.threads, sequences: 8, contextSize: 256, delimiter: STEP_DELIMITER });
  try {
    const prompt = createPromptBuilder(generator.model, { style: 'plain', preamble: '', template: 'Q: {question}\n' }, STEP_DELIMITER);
    const sampling = samplingSchema.parse({ temperature: recipe.temperature, maxStepTokens: 48 });
    const problems = Object.entries(recipe.problems).flatMap(([operators, count]) => generateProblems({ seed: recipe.seed, operators: Number(operators), count, split: 'train' }));
    const rows: string[] = [];
    let positives = 0;
    let labelled = 0;
    const searches = problems.map(async (problem) => {
      const policy = enginePolicy({ generator, prompt, question: problem.question, sampling, seed: recipe.seed });
      const { tree } = await bestOfNSearch({ question: problem.question, policy, reader: arithmeticVerifier, n: recipe.samplesPerProblem, pick: 'vote', maxDepth: problem.operators + 3 });
      const seen = new Set<string>();
      for (const leaf of tree.nodes.filter((node) => node.state === 'end')) {
        const steps = stepsTo(tree, leaf);
        const key = steps.join('\n');
        if (seen.has(key)) continue;
        seen.add(key);
        const labels = prefixLabels(arithmeticVerifier.stepLabels(problem.question, steps));
        positives += labels.reduce((sum, label) => sum + label, 0);
        labelled += labels.length;
        rows.push(JSON.stringify({ prompt: formatPrompt(problem.question), completions: steps, labels }));
      }
    });
    await Promise.all(searches);
    await writeFile(options.out, rows.join('\n') + '\n');
    return { rows: rows.length, positiveRate: labelled === 0 ? 0 : positives / labelled };
  } finally {
    await generator.dispose();
  }
}

/** Builds the seed PRM at `out` from `policyModel`; work files go to `workDir`. */
export async function buildSeedPrm(options: {
  policyModel: string;
  out: string;
  workDir: string;
  threads: number;
  recipe?: z.input<typeof seedPrmRecipeSchema>;
  onProgress?: (event: TrainerEvent) => void;
}): Promise<SeedPrmData & { valLoss: number | null }> {
  const recipe = seedPrmRecipeSchema.parse(options.recipe ?? {});
  const data = join(options.workDir, 'prm.jsonl');
  const written = await writeSeedPrmData({ policyModel: options.policyModel, recipe, out: data, threads: options.threads });
  const prepared = await prepareTrainingData({ model: options.policyModel, objective: 'prm', data, valFraction: 0.05, seed: recipe.seed, outDir: join(options.workDir, 'prm-data') });
  const done = await runTrainer(
    {
      model: options.policyModel,
      data: prepared.train.path,
      val: prepared.val?.path,
      out: options.out,
      objective: 'prm',
      parent: options.policyModel,
      dataSha256: prepared.dataSha256,
      seed: recipe.seed,
      threads: options.threads,
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
