/**
 * The run configuration: one zod schema for config files, CLI flags and workflow input, with the
 * defaults of a run on the micro model and the arithmetic task, and the `quick` preset.
 * No Node built-ins: workflow code imports it.
 */
import { z } from 'zod';
import { pairFilterSchema } from '../reward/preference-pairs.ts';
import { mctsConfigSchema } from '../search/mcts.ts';
import { taskConfigSchema } from '../tasks/config.ts';
import { promotionSettingsSchema } from './promotion.ts';
import { retentionSettingsSchema } from './retention.ts';
import { LORA_TARGETS } from '../train/lora-targets.ts';
import { dpoSettingsSchema } from '../train/objectives/dpo.ts';
import { OBJECTIVE_NAMES } from '../train/objectives/index.ts';
import { pgSettingsSchema } from '../train/objectives/pg.ts';
import { treeSettingsSchema } from '../train/objectives/tree.ts';

const positiveInt = z.number().int().positive();

export const loraSettingsSchema = z.strictObject({
  rank: positiveInt.default(16),
  /** Scale numerator: the adapter adds (alpha / rank)·B·A [alpha = rank]. */
  alpha: z.number().positive().optional(),
  /** Weights adapted [every one but `output`]. */
  targets: z.array(z.enum(LORA_TARGETS)).min(1).optional(),
});
export type LoraSettings = z.output<typeof loraSettingsSchema>;

export const trainSettingsSchema = z.strictObject({
  /**
   * full: every weight of the parent is trained (needs an F32/F16/BF16 GGUF); lora: a LoRA adapter on
   * the parent's frozen weights (any GGUF type, quantized included). An iteration's model is then an
   * adapter file whose base is the first full model; the next iteration continues that adapter.
   */
  method: z.enum(['full', 'lora']).default('full'),
  lora: loraSettingsSchema.prefault({}),
  /** Passes over the iteration's data: a few, since a small set repeated many times is memorized. */
  epochs: z.number().positive(),
  /** Optimizer steps at most. */
  maxSteps: positiveInt,
  batch: positiveInt,
  lr: z.number().positive(),
  warmup: z.number().int().nonnegative().default(20),
  weightDecay: z.number().nonnegative().default(0.1),
});
export type TrainSettings = z.output<typeof trainSettingsSchema>;

/**
 * The policy's train settings: the common ones and what it learns from. The PRM has no objective
 * (it always learns its labels), so these keys are errors under `train.prm`.
 */
export const policyTrainSettingsSchema = trainSettingsSchema.extend({
  /**
   * What the policy learns from (train/objectives/): sft, the correct solutions (sft.jsonl); dpo, the
   * step preference pairs MCTS* found (dpo.jsonl: one prompt + path, the better and the worse next
   * step), the parent as reference model; sft+dpo, the same pairs plus `dpo.sftWeight` × the chosen
   * step's negative log-likelihood (RPO); grpo, every sampled solution with its group advantage
   * r − mean(r) (pg.jsonl); tree, every searched step with its tree advantage (`tree.advantage`).
   */
  objective: z.enum(OBJECTIVE_NAMES).default('sft'),
  dpo: dpoSettingsSchema.prefault({}),
  /** grpo and tree: the clipped policy-gradient loss (TRL's names) and the reward of a path without an answer. */
  pg: pgSettingsSchema.prefault({}),
  tree: treeSettingsSchema.prefault({}),
});
export type PolicyTrainSettings = z.output<typeof policyTrainSettingsSchema>;

/**
 * One model's defaults of the common train settings, each a default of its own so that a config may
 * set any field alone (`{ "method": "lora" }`): `schema.extend(trainSettingsDefaults(…)).prefault({})`.
 */
function trainSettingsDefaults(defaults: Pick<TrainSettings, 'epochs' | 'maxSteps' | 'batch' | 'lr'>) {
  const { shape } = trainSettingsSchema;
  return { epochs: shape.epochs.default(defaults.epochs), maxSteps: shape.maxSteps.default(defaults.maxSteps), batch: shape.batch.default(defaults.batch), lr: shape.lr.default(defaults.lr) };
}

/** How an iteration's searched trees become training data (data/build-sets.ts). */
export const dataSettingsSchema = z.strictObject({
  /**
   * A correct solution is kept for SFT only when the PRM scored every one of its steps at least this
   * high: a right answer reached through a wrong step (luck) scores low at that step (ReST-MCTS*
   * uses 0.2). Off by default: a PRM labelled by Monte Carlo rollouts scores the sound steps of hard
   * problems low too, so a floor drops the problems the policy has most to learn from.
   */
  sftValueFloor: z.number().min(0).max(1).default(0),
  /** Distinct SFT solutions kept per problem at most (highest lowest-step score first). */
  sftPerProblem: z.number().int().positive().default(4),
  /**
   * Times an SFT solution is written to the training file when its search also ended wrong somewhere
   * (a contested problem: what the policy does not do reliably yet); always-solved problems go in once, as replay.
   */
  sftContestedRepeat: z.number().int().positive().default(4),
  /** Earlier iterations whose SFT rows are mixed into this one's training file (0 = none). */
  mixPreviousIterations: z.number().int().nonnegative().default(10),
  pairs: pairFilterSchema.default({ minGap: 0.3, minEditDistance: 1 }),
});
export type DataSettingsInput = z.input<typeof dataSettingsSchema>;
export type DataSettings = z.output<typeof dataSettingsSchema>;

/** How llama.cpp runs the models (node-llama-cpp options). */
export const engineSettingsSchema = z.strictObject({
  /** auto: the best GPU backend found, else the CPU. */
  gpu: z.enum(['auto', 'cuda', 'vulkan', 'metal', 'cpu']).default('auto'),
  /** Layers offloaded to the GPU: auto (as many as fit), max, or a number. */
  gpuLayers: z.union([z.enum(['auto', 'max']), z.number().int().nonnegative()]).default('auto'),
  /** Tokens per sequence [the smaller of the task's need and the model's training context]. */
  contextSize: positiveInt.optional(),
  /** Tokens evaluated per decode call [node-llama-cpp's default]. */
  batchSize: positiveInt.optional(),
  flashAttention: z.boolean().default(false),
  /**
   * Independent decoders (llama.cpp contexts) a model's sequences are spread over: auto = one per
   * core on a CPU (each runs its own thread: a small model gains nothing from two threads in one
   * context), one on a GPU (its sequences batch together).
   */
  decoders: z.union([z.literal('auto'), positiveInt]).default('auto'),
});
export type EngineSettings = z.output<typeof engineSettingsSchema>;

/** Names a run: its directory (runs/NAME), database and Temporal workflow id derive from it, so it is one path segment. */
export const runNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, . _ - (starting with a letter or digit): one folder name inside runs/');

export const runConfigSchema = z.strictObject({
  name: runNameSchema,
  /** Where the run keeps its database, models and data [runs/<name>]. */
  runDir: z.string().min(1).refine((dir) => !dir.includes('\0'), 'a path holds no NUL character').optional(),
  iterations: positiveInt.default(5),
  policy: z.strictObject({ model: z.string().min(1).default('models/micro/arbor-micro.gguf') }).prefault({}),
  /** PRM to start from; absent: a seed PRM is built from the policy before the first iteration (train/seed-prm.ts). */
  prm: z
    .strictObject({
      model: z.string().min(1).optional(),
      /** The model a seed PRM is fine-tuned from [the policy]: a PRM may be a different GGUF (path or hf: URI); it reads plain-text prompts. */
      base: z.string().min(1).optional(),
      /** Seed PRM: training problems per searched level whose sampled solutions are labelled by Monte Carlo rollouts. */
      seedProblemsPerLevel: positiveInt.default(100),
      /** Seed PRM labels: soft (share of Monte Carlo continuations that end correct) or hard (any does). */
      seedLabels: z.enum(['soft', 'hard']).default('soft'),
      seedSteps: positiveInt.default(600),
    })
    .prefault({}),
  /** The task: problems, prompt, step delimiter, answer rules (tasks/config.ts); `kind` defaults to arithmetic. */
  task: z.preprocess((task) => (task === undefined ? { kind: 'arithmetic' } : typeof task === 'object' && task !== null && !('kind' in task) ? { ...task, kind: 'arithmetic' } : task), taskConfigSchema),
  search: z
    .strictObject({
      /** mcts: MCTS* guided by the PRM; best-of-n: independent samples (the baseline at the same token budget). */
      algorithm: z.enum(['mcts', 'best-of-n']).default('mcts'),
      /** best-of-n: generated tokens per problem at the mean budget (sampling goes on until they are spent). */
      bestOfNTokens: positiveInt.default(400),
      /** best-of-n: solutions sampled side by side per round (TRL's num_generations: the group grows by G a round). */
      numGenerations: positiveInt.default(4),
      /** MCTS* settings for data search (reference defaults: 3 distinct children, 2 re-draws for duplicates). */
      mcts: mctsConfigSchema.partial().default({ branch: 3, duplicateRetries: 2 }),
      temperature: z.number().positive().default(1),
      /** MCTS* iterations over all problems of an iteration, split by solve rate (search/budget.ts). */
      iterationsPerProblem: positiveInt.default(8),
      /** Problems per search activity (one heartbeat each). */
      shardSize: positiveInt.default(250),
    })
    .prefault({}),
  data: dataSettingsSchema.prefault({}),
  train: z
    .strictObject({
      policy: policyTrainSettingsSchema.extend(trainSettingsDefaults({ epochs: 2, maxSteps: 2000, batch: 32, lr: 3e-4 })).prefault({}),
      prm: trainSettingsSchema.extend(trainSettingsDefaults({ epochs: 3, maxSteps: 300, batch: 16, lr: 5e-4 })).prefault({}),
    })
    .prefault({}),
  /**
   * A new policy replaces the promoted one unless a level drops significantly (one-sided sign test
   * on the same held-out problems, p < `alpha`) or it solves fewer of them in all; a new PRM unless
   * its step AUC drops by more than `prmTolerance` (workflows/promotion.ts).
   */
  promotion: promotionSettingsSchema.prefault({}),
  /** Model files kept: the base and promoted models, the last `candidates` iterations' candidates [2], each adapter's base (workflows/retention.ts). */
  retention: retentionSettingsSchema.prefault({}),
  /** CPU threads for inference and training: 1 per process is fastest for small models on a few cores. */
  threads: positiveInt.default(1),
  /** Parallel sequences per model (problems searched at once); more per decode amortise its fixed cost (bench:search). */
  sequences: positiveInt.default(16),
  /** GPU, offloaded layers, context, batch size, flash attention. */
  engine: engineSettingsSchema.prefault({}),
});
export type RunConfig = z.output<typeof runConfigSchema>;
export type RunConfigInput = z.input<typeof runConfigSchema>;

/** `--quick`: a small run that shows every stage (under a minute on the micro model; files and flags override it). */
export const QUICK_PRESET = {
  iterations: 1,
  prm: { seedProblemsPerLevel: 4, seedSteps: 20 },
  // Short solutions whatever the task, so that a model that never stops still finishes in seconds.
  task: { problemsPerIteration: 8, evalProblemsPerLevel: 5, evalSearchProblemsPerLevel: 1, maxDepth: 7, maxStepTokens: 32 },
  search: { iterationsPerProblem: 4, shardSize: 4 },
  train: { policy: { epochs: 1, maxSteps: 10, batch: 4, lr: 5e-4 }, prm: { epochs: 1, maxSteps: 10, batch: 4, lr: 5e-4 } },
} satisfies Partial<RunConfigInput>;

/** Where a run named `name` lives unless its config says otherwise. */
export function defaultRunDir(name: string): string {
  return `runs/${name}`;
}

export function runDirOf(config: RunConfig): string {
  return config.runDir ?? defaultRunDir(config.name);
}
