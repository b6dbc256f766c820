/**
 * What travels between the pipeline, its activities and the clients: ids, paths and small
 * summaries only — never bulk data. Zod schemas, because these cross process boundaries.
 */
import { z } from 'zod';

/** The name of a metric measured at one difficulty level: `accuracy_L3`. */
export function levelMetric(metric: string, level: number | string): string {
  return `${metric}_L${level}`;
}

/** The level of a per-level metric name, or null when `name` is not `metric` at some level. */
export function levelOfMetric(metric: string, name: string): number | null {
  const match = /^(.*)_L(\d+)$/.exec(name);
  return match !== null && match[1] === metric ? Number(match[2]) : null;
}

export const IterationRecordSchema = z.strictObject({
  iteration: z.number().int().nonnegative(),
  /** Held-out greedy accuracy by difficulty level (keys are levels; arithmetic: operators). */
  accuracyByLevel: z.record(z.string(), z.number()),
  /** The promotion metric: mean greedy accuracy over the evaluated difficulties. */
  accuracy: z.number(),
  /** The same greedy answers read flexibly (the last number when no marker states one), by level; reported, never promoted on. */
  flexibleAccuracyByLevel: z.record(z.string(), z.number()).optional(),
  /** Answers only the flexible reading finds right, by level (a count: what a lenient grader would reward). */
  hiddenAnswersByLevel: z.record(z.string(), z.number()).optional(),
  /** PRM step-level ROC AUC against the exact step labels; null when not measurable. */
  prmAuc: z.number().nullable(),
  /**
   * What the iteration's searches and data looked like (activities/data.ts), by metric name:
   * `searched_L3`, `solve_rate_L3`, `pass@4_L3`, `distinct_correct_L3`, `sft_rows_L3`, `sft_invalid_L3`, `sft_invalid`, ...
   */
  training: z.record(z.string(), z.number()),
  /** The candidate policy replaced the best one (iteration 0: the base, true). */
  policyPromoted: z.boolean(),
  reason: z.string(),
  policyPath: z.string(),
  prmPath: z.string(),
});
export type IterationRecord = z.infer<typeof IterationRecordSchema>;
/** What an evaluation measures of an iteration's candidates (the iteration's data metrics come from building it). */
export type EvaluationSummary = Omit<IterationRecord, 'policyPromoted' | 'reason' | 'training'>;

export const BestModelsSchema = z.strictObject({
  iteration: z.number().int().nonnegative(),
  accuracy: z.number(),
  /** The promoted policy's held-out accuracy per level (its own measurement: the reference a candidate is compared with). */
  accuracyByLevel: z.record(z.string(), z.number()),
  /** Step AUC of the current PRM when it was promoted. */
  prmAuc: z.number().nullable(),
  policyPath: z.string(),
  prmPath: z.string(),
});
export type BestModels = z.infer<typeof BestModelsSchema>;

export const RunInputSchema = z.strictObject({
  runDir: z.string().min(1),
  iterations: z.number().int().positive(),
  /** The iteration this execution runs (continue-as-new carries the next one). */
  iteration: z.number().int().positive(),
  /** Null until prepareRun has recorded the base models. */
  best: BestModelsSchema.nullable(),
  history: z.array(IterationRecordSchema),
});
export type RunInput = z.infer<typeof RunInputSchema>;

export interface RunProgress {
  iteration: number;
  iterations: number;
  stage: string;
  bestAccuracy: number | null;
  policyModel: string;
  history: IterationRecord[];
  /** One line for humans (Temporal UI current details, `arbor status`). */
  line: string;
}

export interface RunResult {
  status: 'completed' | 'stopped';
  iterations: IterationRecord[];
  /** The models promoted so far (null when stopped before the base was recorded). */
  best: BestModels | null;
}

export const RunDirInputSchema = z.strictObject({ runDir: z.string().min(1) });
export const IterationInputSchema = RunDirInputSchema.extend({ iteration: z.number().int().positive() });
export const SearchShardInputSchema = IterationInputSchema.extend({
  /** The shard's place in the plan: its artifact's name. */
  index: z.number().int().nonnegative(),
  policyPath: z.string(),
  prmPath: z.string(),
  /** Problem ids with their MCTS* iteration budgets. */
  shard: z.array(z.strictObject({ problemId: z.number().int(), budget: z.number().int().nonnegative() })),
});
export const TrainInputSchema = IterationInputSchema.extend({
  kind: z.enum(['policy', 'prm']),
  /** The model fine-tuned: the current best policy or PRM. */
  parentPath: z.string(),
});
/** Iteration 0 evaluates the base models (inside preparation). */
export const EvaluateInputSchema = RunDirInputSchema.extend({ iteration: z.number().int().nonnegative(), policyPath: z.string(), prmPath: z.string() });
export const PromoteInputSchema = IterationInputSchema.extend({
  candidate: IterationRecordSchema.omit({ policyPromoted: true, reason: true, training: true }),
  best: BestModelsSchema,
});


export interface PrepareResult {
  policyPath: string;
  prmPath: string;
  baseline: IterationRecord;
}
export interface IterationPlan {
  shards: ActivityInput<'searchShard'>['shard'][];
}
export interface ShardResult {
  searched: number;
  skipped: number;
  solved: number;
}
export interface DataResult {
  sft: number;
  prm: number;
  pairs: number;
  /** What the iteration's searches and data looked like (IterationRecord.training). */
  training: Record<string, number>;
}
export interface TrainResult {
  /** The trained model, or the parent when there was nothing to learn from. */
  path: string;
}
export interface Promotion {
  /** The new policy replaces the best one. */
  policyPromoted: boolean;
  /** The new PRM replaces the current one. */
  prmPromoted: boolean;
  reason: string;
  /** The best models after this decision. */
  best: BestModels;
}
/** What promotion answers the pipeline: the decision, and the iteration's data and training metrics (IterationRecord.training). */
export interface PromotionResult extends Promotion {
  training: Record<string, number>;
}
/** Each activity's input, parsed where the activity starts (activities/index.ts); the input types derive from these. */
export const ACTIVITY_INPUTS = {
  prepareRun: RunDirInputSchema,
  planIteration: IterationInputSchema,
  searchShard: SearchShardInputSchema,
  buildData: IterationInputSchema,
  trainModel: TrainInputSchema,
  evaluateModels: EvaluateInputSchema,
  promote: PromoteInputSchema,
} as const;
export type ActivityInput<K extends keyof typeof ACTIVITY_INPUTS> = z.infer<(typeof ACTIVITY_INPUTS)[K]>;

/** The activities the pipeline calls, by name (activities/index.ts implements them). */
export interface ActivityTypes {
  prepareRun(input: ActivityInput<'prepareRun'>): Promise<PrepareResult>;
  planIteration(input: ActivityInput<'planIteration'>): Promise<IterationPlan>;
  searchShard(input: ActivityInput<'searchShard'>): Promise<ShardResult>;
  buildData(input: ActivityInput<'buildData'>): Promise<DataResult>;
  trainModel(input: ActivityInput<'trainModel'>): Promise<TrainResult>;
  evaluateModels(input: ActivityInput<'evaluateModels'>): Promise<EvaluationSummary>;
  promote(input: ActivityInput<'promote'>): Promise<PromotionResult>;
}
