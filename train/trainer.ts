/**
 * Runs the native trainer (`native/build/arbor-trainer`, contract in native/README.md) as a child
 * process: a crash in training never takes the caller down. `prepareTrainingData` turns JSONL into
 * `.arbtok` files, `runTrainer` trains and streams typed progress events, `initModel` writes a fresh
 * random model with a character vocabulary.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Llama } from 'node-llama-cpp';
import { z } from 'zod';
import { prmFormatSchema } from '../reward/prm-format.ts';
import { createRng } from '../tasks/random.ts';
import { ADVANTAGES_FLAG, sha256File, tokenizeTrainingJsonl, writeArbtok, type EncodedExample } from './arbtok.ts';
import { LORA_TARGETS } from './lora-targets.ts';
import { objectiveSchema } from './schema.ts';
import { loadTrainingTokenizer } from './tokenizer.ts';

const TRAINER_PATH = fileURLToPath(new URL('../native/build/arbor-trainer', import.meta.url));

/** The trainer binary, or an error saying how to build it. */
export function trainerBinaryPath(): string {
  try {
    accessSync(TRAINER_PATH, constants.X_OK);
  } catch {
    throw new Error(`the native trainer is not built (${TRAINER_PATH} is missing): run \`npm install\` or \`bash native/build.sh\``);
  }
  return TRAINER_PATH;
}

// ---------------------------------------------------------------------------------------------
// Options. Keys are the trainer's flags in camelCase (`minLrRatio` → `--min-lr-ratio`); unset
// options take the trainer's defaults (native/README.md), so defaults live in one place.

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();
const path = z.string().min(1);

export const trainOptionsSchema = z
  .strictObject({
    model: path,
    data: path,
    val: path.optional(),
    out: path,
    objective: objectiveSchema,
    parent: z.string().min(1).optional(),
    dataSha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits').optional(),
    steps: positiveInt.optional(),
    /** Passes over the training data (fractions allowed); the step count is rounded up. */
    epochs: z.number().positive().optional(),
    batch: positiveInt.optional(),
    accum: positiveInt.optional(),
    lr: z.number().positive().optional(),
    minLrRatio: z.number().min(0).max(1).optional(),
    warmup: nonNegativeInt.optional(),
    weightDecay: z.number().nonnegative().optional(),
    clip: z.number().nonnegative().optional(),
    beta1: z.number().min(0).lt(1).optional(),
    beta2: z.number().min(0).lt(1).optional(),
    seed: nonNegativeInt.optional(),
    threads: positiveInt.optional(),
    checkpoint: path.optional(),
    checkpointEvery: nonNegativeInt.optional(),
    resume: z.boolean().optional(),
    evalEvery: nonNegativeInt.optional(),
    logEvery: positiveInt.optional(),
    /** `auto` [default] trains on a GPU when ggml finds one, `cpu` never does. */
    device: z.enum(['auto', 'cpu']).optional(),
    /** Longest sequence the run allows [the model's context]; at most the model's context. */
    ctx: positiveInt.optional(),
    /** Folders to load ggml backends from (`--backend-dir`, repeated). */
    backendDirs: z.array(path).optional(),
    /** Train a LoRA adapter of this rank on the frozen `model` (any GGUF type, quantized included); `out` is then an adapter GGUF. */
    loraRank: positiveInt.optional(),
    /** Adapter scale numerator: scale = alpha / rank [rank]. */
    loraAlpha: z.number().positive().optional(),
    /** Comma-separated weights to adapt (LORA_TARGETS) [all but output]. */
    loraTargets: z
      .string()
      .refine((list) => list.split(',').every((name) => (LORA_TARGETS as readonly string[]).includes(name)), { message: `comma-separated names from ${LORA_TARGETS.join(', ')}` })
      .optional(),
    /** Continue this adapter (its rank, alpha and targets) instead of starting a new one. */
    loraInit: path.optional(),
    /** Largest logits tensor ([vocabulary, target rows] floats) in MB before micro-batches are computed in parts [512]. */
    logitsMb: z.number().positive().optional(),
    /** dpo: β of −log σ(β·(margin − reference margin)) [0.1]. */
    dpoBeta: z.number().positive().optional(),
    /** dpo: weight of the chosen side's mean negative log-likelihood added to the loss (RPO) [0]. */
    dpoSftWeight: z.number().nonnegative().optional(),
    /** pg: ρ is clipped below at 1 − ε_low [0.2]… */
    pgEpsilonLow: z.number().gt(0).lt(1).optional(),
    /** …and above at 1 + ε_high [0.28]. */
    pgEpsilonHigh: z.number().positive().optional(),
    /** pg: weight of the k3 KL to the start model [0]. */
    pgKlBeta: z.number().nonnegative().optional(),
    /** pg: token-mean (DAPO) [default], seq-mean (GRPO), constant (Dr. GRPO). */
    pgAggregation: z.enum(['token-mean', 'seq-mean', 'constant']).optional(),
  })
  .refine((options) => options.steps === undefined || options.epochs === undefined, {
    message: 'give steps or epochs, not both',
    path: ['epochs'],
  })
  .refine((options) => options.loraInit === undefined || (options.loraRank ?? options.loraAlpha ?? options.loraTargets) === undefined, {
    message: 'loraInit continues an adapter with its own rank, alpha and targets',
    path: ['loraInit'],
  });

export type TrainOptions = z.input<typeof trainOptionsSchema>;

/** The trainer settings of a model built from scratch by a recipe (the micro model, the stand-in). */
export const buildTrainingSchema = z.strictObject({
  steps: positiveInt,
  batch: positiveInt,
  lr: z.number().positive(),
  warmup: nonNegativeInt,
  minLrRatio: z.number().min(0).max(1),
  weightDecay: z.number().nonnegative(),
  beta2: z.number().min(0).lt(1),
});

export const initOptionsSchema = z
  .strictObject({
    /** A text file whose distinct characters become the vocabulary. */
    vocabChars: path.optional(),
    /** Or a metadata-only GGUF whose `tokenizer.*` keys are the vocabulary (train/gguf-vocab.ts). */
    vocabGguf: path.optional(),
    /** No output.weight: the logits reuse token_embd. */
    tied: z.boolean().optional(),
    out: path,
    arch: z.enum(['llama', 'qwen2']).optional(),
    seed: nonNegativeInt.optional(),
    dim: positiveInt.optional(),
    layers: positiveInt.optional(),
    heads: positiveInt.optional(),
    kvHeads: positiveInt.optional(),
    ffn: positiveInt.optional(),
    ctx: positiveInt.optional(),
    ropeBase: z.number().positive().optional(),
    name: z.string().min(1).optional(),
  })
  .refine((options) => (options.vocabChars === undefined) !== (options.vocabGguf === undefined), { message: 'give exactly one of vocabChars and vocabGguf' });

export type InitOptions = z.input<typeof initOptionsSchema>;

/** `{ minLrRatio: 0.1, resume: true }` → `--min-lr-ratio 0.1 --resume`. */
function cliArgs(options: Record<string, string | number | boolean | undefined>): string[] {
  return Object.entries(options).flatMap(([key, value]) => {
    if (value === undefined || value === false) return [];
    const flag = `--${kebab(key)}`;
    return value === true ? [flag] : [flag, String(value)];
  });
}

function kebab(camel: string): string {
  return camel.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

// ---------------------------------------------------------------------------------------------
// Progress events: the trainer's stdout, one JSON object per line (field names as it prints them).

export const trainerStartEventSchema = z.object({
  event: z.literal('start'),
  device: z.string(),
  threads: positiveInt,
  params: positiveInt,
  examples: positiveInt,
  steps: positiveInt,
  /** > 0 when resuming from a checkpoint. */
  start_step: nonNegativeInt,
  resumed: z.boolean(),
  objective: objectiveSchema,
  /** 0: every weight trains; otherwise the rank of the LoRA adapter that does. */
  lora_rank: nonNegativeInt,
  /** The matrix multiply: "openblas (<core>)", "ggml" (CPU without OpenBLAS) or "backend" (GPU). */
  gemm: z.string(),
  /** Sequences computed at once: a micro-batch, or a part of it when its logits would pass `logitsMb`. */
  graph_sequences: positiveInt,
});
/** pg: clip fraction, k3 KL to the start model and the target rows' entropy (step lines: since the last line). */
const pgMonitorFields = { clip_frac: z.number().optional(), kl: z.number().optional(), entropy: z.number().optional() };
export const trainerStepEventSchema = z.object({
  event: z.literal('step'),
  step: positiveInt,
  steps: positiveInt,
  loss: z.number(),
  lr: z.number(),
  grad_norm: z.number(),
  tok_s: z.number(),
  eta_s: z.number(),
  ...pgMonitorFields,
});
export const trainerEvalEventSchema = z.object({
  event: z.literal('eval'),
  step: nonNegativeInt,
  val_loss: z.number(),
  /** dpo, at the end: mean log p(chosen) − log p(rejected) over the validation pairs, at the start and now. */
  val_margin_start: z.number().optional(),
  val_margin: z.number().optional(),
});
export const trainerCheckpointEventSchema = z.object({ event: z.literal('checkpoint'), step: nonNegativeInt, path: z.string() });
/** The last event of a run stopped by SIGTERM/SIGINT (exit code 3). */
export const trainerInterruptedEventSchema = z.object({ event: z.literal('interrupted'), step: nonNegativeInt, checkpoint: z.string() });
export const trainerDoneEventSchema = z.object({
  event: z.literal('done'),
  step: positiveInt,
  out: z.string(),
  loss: z.number(),
  /** null when there was no validation data. */
  val_loss: z.number().nullable(),
  tok_s: z.number(),
  seconds: z.number(),
  peak_rss_mb: z.number(),
  /** pg: the entropy at the start; entropy and KL of the last step line's window; the clip fraction of the run. */
  entropy_start: z.number().optional(),
  ...pgMonitorFields,
});
/** dpo and pg, before `start`: the reference margins of the pairs (the start model's log-probs of the examples) being computed. */
export const trainerReferenceEventSchema = z.object({ event: z.literal('reference'), set: z.enum(['train', 'val']), done: nonNegativeInt, pairs: positiveInt.optional(), examples: positiveInt.optional() });
export const trainerEventSchema = z.discriminatedUnion('event', [
  trainerReferenceEventSchema,
  trainerStartEventSchema,
  trainerStepEventSchema,
  trainerEvalEventSchema,
  trainerCheckpointEventSchema,
  trainerInterruptedEventSchema,
  trainerDoneEventSchema,
]);

export type TrainerStepEvent = z.infer<typeof trainerStepEventSchema>;
export type TrainerDoneEvent = z.infer<typeof trainerDoneEventSchema>;
export type TrainerEvent = z.infer<typeof trainerEventSchema>;

// ---------------------------------------------------------------------------------------------
// Errors.

const EXIT_MEANINGS: Record<number, string> = { 1: 'internal error', 2: 'bad input', 3: 'interrupted' };

/** The trainer failed: `exitCode` per native/README.md (1 internal, 2 bad input), null when killed by a signal. */
export class TrainerError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'TrainerError';
  }
}

/** Exit code 3: stopped by SIGTERM/SIGINT after writing its checkpoint; rerun with `resume: true` to continue. */
export class TrainerInterruptedError extends TrainerError {
  constructor(
    message: string,
    stderr: string,
    readonly checkpoint: string,
  ) {
    super(message, 3, stderr);
    this.name = 'TrainerInterruptedError';
  }
}

interface ProcessOutcome {
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
  stderr: string;
}

/** The trainer's `arbor-trainer: error: ...` lines, or the end of its stderr when it printed none. */
function describeFailure(command: string, outcome: ProcessOutcome): string {
  const lines = outcome.stderr.split('\n').filter((line) => line.trim() !== '');
  const errorLines = lines.filter((line) => line.startsWith('arbor-trainer: error:'));
  const detail = (errorLines.length > 0 ? errorLines : lines.slice(-5)).join('\n') || '(no output on stderr)';
  const meaning = outcome.exitCode === null ? undefined : EXIT_MEANINGS[outcome.exitCode];
  const status =
    outcome.exitCode === null
      ? `killed by ${outcome.exitSignal ?? 'a signal'}`
      : `exit code ${outcome.exitCode}${meaning === undefined ? '' : ` (${meaning})`}`;
  return `arbor-trainer ${command} failed, ${status}: ${detail}`;
}

const STDERR_KEEP_CHARS = 64 * 1024;

/**
 * Spawns the trainer and feeds each stdout line to `onLine`. If `onLine` throws, the trainer is
 * stopped (SIGTERM: it checkpoints) and that error wins. An abort sends SIGTERM.
 */
async function runTrainerProcess(args: string[], onLine: (line: string) => void, signal?: AbortSignal): Promise<ProcessOutcome> {
  signal?.throwIfAborted();
  const child = spawn(trainerBinaryPath(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_KEEP_CHARS);
  });
  let lineError: unknown;
  const stdoutLines = createInterface({ input: child.stdout, crlfDelay: Infinity });
  stdoutLines.on('line', (line) => {
    if (lineError !== undefined) return;
    try {
      onLine(line);
    } catch (error) {
      lineError = error;
      child.kill('SIGTERM');
    }
  });
  const terminate = (): void => {
    child.kill('SIGTERM');
  };
  signal?.addEventListener('abort', terminate, { once: true });
  try {
    const [exitCode, exitSignal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, killSignal) => resolve([code, killSignal]));
    });
    if (lineError !== undefined) throw lineError;
    return { exitCode, exitSignal, stderr };
  } finally {
    signal?.removeEventListener('abort', terminate);
  }
}

function parseEvent(line: string): TrainerEvent {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    throw new Error(`arbor-trainer printed a line that is not JSON on stdout: ${line}`);
  }
  const parsed = trainerEventSchema.safeParse(json);
  if (!parsed.success) throw new Error(`arbor-trainer printed an unexpected progress line (${z.prettifyError(parsed.error)}): ${line}`);
  return parsed.data;
}

export interface RunTrainerHooks {
  onProgress?: (event: TrainerEvent) => void;
  /** Aborting sends SIGTERM: the trainer writes its checkpoint and the run rejects with TrainerInterruptedError. */
  signal?: AbortSignal;
}

/**
 * Trains with the native trainer. Resolves with its `done` event; rejects with TrainerError
 * (message = the trainer's error line and exit code) or TrainerInterruptedError (exit code 3).
 */
export async function runTrainer(options: TrainOptions, hooks: RunTrainerHooks = {}): Promise<TrainerDoneEvent> {
  const { backendDirs = [], ...flagOptions } = trainOptionsSchema.parse(options);
  let done: TrainerDoneEvent | undefined;
  let lastCheckpoint = flagOptions.checkpoint ?? `${flagOptions.out}.ckpt`;
  const outcome = await runTrainerProcess(
    ['train', ...cliArgs(flagOptions), ...backendDirs.flatMap((dir) => ['--backend-dir', dir])],
    (line) => {
      const event = parseEvent(line);
      if (event.event === 'done') done = event;
      if (event.event === 'checkpoint') lastCheckpoint = event.path;
      if (event.event === 'interrupted') lastCheckpoint = event.checkpoint;
      hooks.onProgress?.(event);
    },
    hooks.signal,
  );
  if (outcome.exitCode === 3) throw new TrainerInterruptedError(describeFailure('train', outcome), outcome.stderr, lastCheckpoint);
  if (outcome.exitCode !== 0) throw new TrainerError(describeFailure('train', outcome), outcome.exitCode, outcome.stderr);
  if (done === undefined) throw new TrainerError('arbor-trainer train exited 0 without a "done" event', 0, outcome.stderr);
  return done;
}

/** Writes a fresh llama model with seeded random weights and a character vocabulary (`arbor-trainer init`). */
export async function initModel(options: InitOptions, signal?: AbortSignal): Promise<void> {
  const outcome = await runTrainerProcess(['init', ...cliArgs(initOptionsSchema.parse(options))], () => undefined, signal);
  if (outcome.exitCode !== 0) throw new TrainerError(describeFailure('init', outcome), outcome.exitCode, outcome.stderr);
}

// ---------------------------------------------------------------------------------------------
// Data preparation.

export const prepareOptionsSchema = z
  .strictObject({
    /** The model to train (its vocabulary tokenizes the data, its context bounds the sequences). */
    model: path,
    objective: objectiveSchema,
    /** Training JSONL (train/schema.ts). */
    data: path,
    /** Validation JSONL; or hold out `valFraction` of `data` (seeded). Neither: no validation set. */
    val: path.optional(),
    valFraction: z.number().gt(0).lt(1).optional(),
    seed: nonNegativeInt.default(1),
    /** Where `train.arbtok` (and `val.arbtok`) are written. */
    outDir: path,
    /** Longest sequence allowed, in tokens [the model's context length]. */
    contextLength: positiveInt.optional(),
    prmFormat: prmFormatSchema.optional(),
  })
  .refine((options) => options.val === undefined || options.valFraction === undefined, {
    message: 'give val or valFraction, not both',
    path: ['valFraction'],
  });

export type PrepareOptions = z.input<typeof prepareOptionsSchema>;

export interface ArbtokSummary {
  path: string;
  examples: number;
  tokens: number;
  targets: number;
}

export interface PreparedTrainingData {
  train: ArbtokSummary;
  val: ArbtokSummary | null;
  /** sha256 of the training JSONL, for `dataSha256`. */
  dataSha256: string;
  contextLength: number;
}

/** Tokenizes training (and validation) JSONL into `.arbtok` files for `runTrainer`. Pass `llama` to reuse an instance. */
export async function prepareTrainingData(options: PrepareOptions, context: { llama?: Llama } = {}): Promise<PreparedTrainingData> {
  const parsed = prepareOptionsSchema.parse(options);
  const tokenizer = await loadTrainingTokenizer(parsed.model, context);
  try {
    const tokenizeOptions = { contextLength: parsed.contextLength ?? tokenizer.contextLength, prmFormat: parsed.prmFormat };
    const tokenize = (jsonl: string): Promise<EncodedExample[]> => tokenizeTrainingJsonl(jsonl, parsed.objective, tokenizer, tokenizeOptions);
    const examples = await tokenize(parsed.data);
    const { train, val } =
      parsed.val !== undefined
        ? { train: examples, val: await tokenize(parsed.val) }
        : parsed.valFraction !== undefined
          ? splitSeeded(examples, parsed.valFraction, parsed.seed, parsed.data)
          : { train: examples, val: null };
    await mkdir(parsed.outDir, { recursive: true });
    const flags = parsed.objective === 'pg' ? ADVANTAGES_FLAG : 0;
    return {
      train: await writeSummarized(join(parsed.outDir, 'train.arbtok'), train, flags),
      val: val === null ? null : await writeSummarized(join(parsed.outDir, 'val.arbtok'), val, flags),
      dataSha256: await sha256File(parsed.data),
      contextLength: tokenizeOptions.contextLength,
    };
  } finally {
    await tokenizer.dispose();
  }
}

async function writeSummarized(file: string, examples: readonly EncodedExample[], flags: number): Promise<ArbtokSummary> {
  if (examples.length === 0) throw new Error(`no examples for ${file}`);
  await writeArbtok(file, examples.flatMap((example) => example.records), flags);
  return {
    path: file,
    examples: examples.length,
    tokens: examples.reduce((sum, example) => sum + example.tokenCount, 0),
    targets: examples.reduce((sum, example) => sum + example.targetCount, 0),
  };
}

/** Holds out round(fraction·n) examples (at least 1) chosen by a seeded shuffle; both parts keep file order. */
function splitSeeded(
  examples: readonly EncodedExample[],
  fraction: number,
  seed: number,
  source: string,
): { train: EncodedExample[]; val: EncodedExample[] } {
  const valCount = Math.max(1, Math.round(fraction * examples.length));
  if (valCount >= examples.length) {
    throw new Error(`${source}: ${examples.length} examples are too few to hold out a validation fraction of ${fraction}`);
  }
  const rng = createRng(seed);
  const shuffled = examples.map((_, index) => ({ index, key: rng.next() })).sort((a, b) => a.key - b.key);
  const heldOut = new Set(shuffled.slice(0, valCount).map(({ index }) => index));
  return {
    train: examples.filter((_, index) => !heldOut.has(index)),
    val: examples.filter((_, index) => heldOut.has(index)),
  };
}

