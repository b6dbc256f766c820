/**
 * The training data Arbor's trainer reads: JSON lines, one example per line, one schema per
 * objective. Empty lines are skipped. Fields not listed here are allowed and kept (lineage ids
 * travel with rows), never required.
 *
 * `sft` — supervised fine-tuning:
 *     {"prompt": "Q: 2+3\nA:", "completion": " 5", "weight": 1}
 *   Tokens: [BOS] prompt completion EOS. Loss on the completion's tokens and on EOS only (the model
 *   learns to stop); the prompt is context.
 *
 * `prm` — process reward model, TRL's stepwise-supervision field names:
 *     {"prompt": "Q: 2+3*4\n", "completions": ["3*4=12", "2+12=14"], "labels": [true, 0.5]}
 *   `completions` are the steps, `labels[k]` the value of the prefix ending with step k: a number in
 *   [0, 1] (soft labels allowed) or a boolean (true = 1). Laid out and read as in
 *   `reward/prm-format.ts`: at the position after each step's separator the target is v on the good
 *   label token and 1 − v on the bad one.
 *
 * `lm` — plain next-token pretraining:
 *     {"text": "..."}
 *   Tokens: [BOS] text EOS, every position a target.
 *
 * `dpo` — preference pairs, TRL's DPO field names (the step pairs MCTS finds: one prompt + path,
 * two next steps):
 *     {"prompt": "Q: 2+3*4\n", "chosen": "3*4=12\n", "rejected": "2+3=5\n"}
 *   Two sequences, [BOS] prompt chosen and [BOS] prompt rejected (no EOS: a step is followed by more
 *   steps), with targets on the continuation's tokens; the trainer keeps them side by side.
 *
 * `pg` — policy gradient on outcomes: a completion the policy sampled, with its signed advantage
 * (TRL's prompt / completion field names; a tree node's step, or a whole sampled chain):
 *     {"prompt": "Q: 2+3*4\n2+12\n", "completion": "14\n", "advantage": -0.25, "weight": 3}
 *   Tokens: [BOS] prompt completion (no EOS: the search stopped at the delimiter), targets on the
 *   completion's tokens; the trainer's clipped-ratio loss (native/README.md) against the log-probs of
 *   the model it starts from. `weight` counts the sampled paths the row stands for (a tree node's
 *   leaves: each path through it would have trained it once).
 *
 * `weight` (all objectives, > 0, default 1) multiplies every target of the row; an optimizer step's
 * loss is normalized by the total weight of its targets.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { z } from 'zod';

const rowWeight = z.number().positive().default(1);

export const sftRowSchema = z.looseObject({
  prompt: z.string(),
  completion: z.string(),
  weight: rowWeight,
});

export const prmRowSchema = z
  .looseObject({
    prompt: z.string(),
    completions: z.array(z.string()).min(1),
    labels: z.array(
      z.union([z.number().min(0).max(1), z.boolean()]).transform((label) => (typeof label === 'boolean' ? Number(label) : label)),
    ),
    weight: rowWeight,
  })
  .refine((row) => row.labels.length === row.completions.length, {
    message: 'needs one label per step (as many labels as completions)',
    path: ['labels'],
  });

export const lmRowSchema = z.looseObject({
  text: z.string().min(1),
  weight: rowWeight,
});

export const dpoRowSchema = z.looseObject({
  prompt: z.string(),
  chosen: z.string().min(1),
  rejected: z.string().min(1),
  weight: rowWeight,
});

export const pgRowSchema = z.looseObject({
  prompt: z.string(),
  completion: z.string().min(1),
  advantage: z.number(),
  weight: rowWeight,
});

export const trainingRowSchemas = { sft: sftRowSchema, prm: prmRowSchema, lm: lmRowSchema, dpo: dpoRowSchema, pg: pgRowSchema } as const;

export const objectiveSchema = z.enum(['sft', 'prm', 'lm', 'dpo', 'pg']);
export type Objective = z.infer<typeof objectiveSchema>;

export type SftRow = z.infer<typeof sftRowSchema>;
export type PrmRow = z.infer<typeof prmRowSchema>;
export type LmRow = z.infer<typeof lmRowSchema>;
export type DpoRow = z.infer<typeof dpoRowSchema>;
export type PgRow = z.infer<typeof pgRowSchema>;

/** A validated row and the 1-based line it came from (later errors name it). */
export interface TrainingLine<Row> {
  line: number;
  row: Row;
}

function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => (issue.path.length > 0 ? `"${issue.path.join('.')}": ${issue.message}` : issue.message)).join('; ');
}

/**
 * Reads and validates a training JSONL file. Throws on the first bad line with
 * `FILE:LINE: "field": problem`.
 */
export function readTrainingJsonl(path: string, objective: 'sft'): Promise<TrainingLine<SftRow>[]>;
export function readTrainingJsonl(path: string, objective: 'prm'): Promise<TrainingLine<PrmRow>[]>;
export function readTrainingJsonl(path: string, objective: 'lm'): Promise<TrainingLine<LmRow>[]>;
export function readTrainingJsonl(path: string, objective: 'dpo'): Promise<TrainingLine<DpoRow>[]>;
export function readTrainingJsonl(path: string, objective: 'pg'): Promise<TrainingLine<PgRow>[]>;
export function readTrainingJsonl(path: string, objective: Objective): Promise<TrainingLine<SftRow | PrmRow | LmRow | DpoRow | PgRow>[]>;
export function readTrainingJsonl(path: string, objective: Objective): Promise<TrainingLine<SftRow | PrmRow | LmRow | DpoRow | PgRow>[]> {
  return readJsonlRows(path, trainingRowSchemas[objective]);
}

/** Reads a JSONL file, every row validated by `schema`; throws `FILE:LINE: …` at the first bad one. */
export async function readJsonlRows<Schema extends z.ZodType>(path: string, schema: Schema): Promise<TrainingLine<z.output<Schema>>[]> {
  const rows: TrainingLine<z.output<Schema>>[] = [];
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  let line = 0;
  for await (const text of lines) {
    line += 1;
    if (text.trim() === '') continue;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new Error(`${path}:${line}: invalid JSON: ${error instanceof Error ? error.message : String(error)}`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new Error(`${path}:${line}: ${describeIssues(parsed.error)}`);
    rows.push({ line, row: parsed.data });
  }
  return rows;
}
