/**
 * Typed reads and writes of the run database. Row types come from zod schemas; every write is
 * idempotent by its natural key (INSERT … ON CONFLICT DO NOTHING, then read the id back), so a
 * shard re-run after a crash inserts nothing twice.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { SearchNodeSchema, type SearchTree } from '../search/tree.ts';
import { levelMetric } from '../workflows/types.ts';
import { closeRunDatabase, openRunDatabase, writeTransaction, type RunDatabase } from './database.ts';
import type { HeldOutAnswer } from '../workflows/promotion.ts';
import { SearchLineageSchema, type SearchLineage } from './lineage.ts';

const bool = z.union([z.literal(0), z.literal(1)]).transform((value) => value === 1);
/** A joined model's file in a lineage: kept, deleted by retention, or NULL when no model was joined. */
const fileState = (alias: string): string => `CASE WHEN ${alias}.id IS NULL THEN NULL WHEN ${alias}.deleted = 1 THEN 'deleted' ELSE 'kept' END`;

export const ProblemRowSchema = z.strictObject({
  id: z.number().int(),
  task: z.string(),
  split: z.string(),
  question: z.string(),
  answer: z.string(),
  difficulty: z.number().int().nullable(),
});
export type ProblemRow = z.infer<typeof ProblemRowSchema>;

export const ModelRowSchema = z.strictObject({
  id: z.number().int(),
  run_id: z.string(),
  kind: z.enum(['policy', 'prm']),
  path: z.string(),
  sha256: z.string(),
  parent_id: z.number().int().nullable(),
  iteration: z.number().int(),
  metrics_json: z.string(),
  /** Whether retention deleted the file (workflows/retention.ts). */
  deleted: bool,
});
export type ModelRow = z.infer<typeof ModelRowSchema>;

export const SearchRowSchema = z.strictObject({
  id: z.number().int(),
  run_id: z.string(),
  iteration: z.number().int(),
  problem_id: z.number().int(),
  policy_model_id: z.number().int().nullable(),
  prm_model_id: z.number().int().nullable(),
  algorithm: z.string(),
  budget: z.number().int().nullable(),
  stats_json: z.string(),
  answer: z.string().nullable(),
  correct: bool.nullable(),
});
export type SearchRow = z.infer<typeof SearchRowSchema>;

export const NodeRowSchema = z.strictObject({
  search_id: z.number().int(),
  node_index: z.number().int(),
  parent_index: z.number().int().nullable(),
  depth: z.number().int(),
  step: z.string(),
  visits: z.number().int(),
  value: z.number(),
  prm_score: z.number().nullable(),
  state: SearchNodeSchema.shape.state,
  answer: z.string().nullable(),
  correct: bool.nullable(),
  generated_tokens: z.number().int(),
  value_target: z.number().nullable(),
  reasoning_distance: z.number().int().nullable(),
  mc_label: z.number().nullable(),
});
export type NodeRow = z.infer<typeof NodeRowSchema>;

export const EvaluationInputSchema = z.strictObject({
  iteration: z.number().int().nonnegative(),
  modelId: z.number().int().nullable(),
  method: z.string().min(1),
  split: z.string().min(1),
  metric: z.string().min(1),
  value: z.number(),
});
export type EvaluationInput = z.infer<typeof EvaluationInputSchema>;

export const SftLineageSchema = z.strictObject({
  sft_id: z.number().int(),
  iteration: z.number().int(),
  search_id: z.number().int(),
  node_index: z.number().int(),
  algorithm: z.string(),
  question: z.string(),
  gold: z.string(),
  last_step: z.string(),
  node_value: z.number(),
  value_target: z.number().nullable(),
  policy_model: z.string().nullable(),
  policy_iteration: z.number().int().nullable(),
  /** kept, or deleted by retention (the row and its metrics stay). */
  policy_model_file: z.enum(['kept', 'deleted']).nullable(),
  prm_model: z.string().nullable(),
  prm_model_file: z.enum(['kept', 'deleted']).nullable(),
});
export type SftLineage = z.infer<typeof SftLineageSchema>;

/** A policy-gradient example: the step (or chain) that node ends, its advantage and the sampled paths it stands for. */
export interface PgExampleRow {
  nodeIndex: number;
  prompt: string;
  completion: string;
  advantage: number;
  weight: number;
}

/** One stored step preference pair (RunStore.iterationPairs). */
export interface PreferencePairRow {
  searchId: number;
  prompt: string;
  chosen: string;
  rejected: string;
  chosenQ: number;
  rejectedQ: number;
}

export const IterationRowSchema = z.object({
  number: z.number().int(),
  status: z.enum(['running', 'done']),
  policy_model_id: z.number().int().nullable(),
  prm_model_id: z.number().int().nullable(),
  promoted: bool.nullable(),
  promotion_reason: z.string().nullable(),
});
export type IterationRow = z.infer<typeof IterationRowSchema>;

export const EvaluationRowSchema = z.object({
  iteration: z.number().int(),
  model_id: z.number().int().nullable(),
  method: z.string(),
  split: z.string(),
  metric: z.string(),
  value: z.number(),
});
export type EvaluationRow = z.infer<typeof EvaluationRowSchema>;

/** A search as the report lists it: its problem and outcome, no tree. */
export const SearchSummarySchema = z.object({
  id: z.number().int(),
  problem_id: z.number().int(),
  question: z.string(),
  difficulty: z.number().int().nullable(),
  correct: bool.nullable(),
});
export type SearchSummary = z.infer<typeof SearchSummarySchema>;

/** sha256 of the canonical JSON of a config: two runs with equal configs hash equal. */
export function configHash(config: unknown): string {
  const canonical = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(canonical)
      : value !== null && typeof value === 'object'
        ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)).map(([key, inner]) => [key, canonical(inner)]))
        : value;
  return createHash('sha256').update(JSON.stringify(canonical(config))).digest('hex');
}

/** A run directory that cannot take this run: it holds another run, or this run with another config and results. */
export class RunConfigConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunConfigConflictError';
  }
}

/** An activity attempt as a process that does not open the database reports it (activities/artifacts.ts writes it to a file). */
export const AttemptRecordSchema = z.strictObject({
  /** Unique per attempt: the file's name. */
  key: z.string(),
  activity: z.string(),
  iteration: z.number().int().nonnegative(),
  attempt: z.number().int().positive(),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
  outcome: z.enum(['completed', 'failed', 'cancelled']).nullable(),
  error: z.string().nullable(),
});
export type AttemptRecord = z.infer<typeof AttemptRecordSchema>;

export const ActivityAttemptRowSchema = z.object({
  activity: z.string(),
  iteration: z.number().int(),
  attempt: z.number().int(),
  started_at: z.string(),
  ended_at: z.string().nullable(),
  outcome: z.enum(['completed', 'failed', 'cancelled']).nullable(),
});
export type ActivityAttemptRow = z.infer<typeof ActivityAttemptRowSchema>;

export class RunStore {
  constructor(
    /** The connection is the store's alone: every query is a method here. */
    private readonly db: RunDatabase,
    readonly runId: string,
  ) {}

  /** The rows a query returns, each parsed by its schema. */
  private parsedRows<T>(schema: z.ZodType<T>, sql: string, ...params: unknown[]): T[] {
    return this.db
      .prepare(sql)
      .all(...params)
      .map((row) => schema.parse(row));
  }

  /** Closes the connection (a writer leaves the database in rollback-journal mode: closeRunDatabase). */
  close(): void {
    closeRunDatabase(this.db);
  }

  /** The store of the run a database file holds, or null when it holds none yet (read-only: never writes, never migrates). */
  static open(path: string, options: { readonly?: boolean } = {}): RunStore | null {
    const db = openRunDatabase(path, options);
    const runId = db.prepare('SELECT id FROM runs').pluck().get() as string | undefined;
    if (runId !== undefined) return new RunStore(db, runId);
    db.close();
    return null;
  }

  /** The store of run `runId` in a database file, created and migrated when needed (`ensureRun` records the run). */
  static create(path: string, runId: string): RunStore {
    return new RunStore(openRunDatabase(path), runId);
  }

  /** SQLite's own consistency check of the whole file: 'ok', or what is wrong. */
  integrityCheck(): string {
    return String(this.db.pragma('integrity_check', { simple: true }));
  }

  /**
   * Records the run, or checks it is the one recorded. A directory holds one run; the same run with
   * another config is refused once it has recorded a model (until then, as after a bad input, the
   * new config replaces the old).
   */
  ensureRun(config: unknown, now: string): void {
    const hash = configHash(config);
    writeTransaction(this.db, () => {
      const other = this.db.prepare('SELECT id FROM runs WHERE id != ?').pluck().get(this.runId) as string | undefined;
      if (other !== undefined) throw new RunConfigConflictError(`this run directory belongs to run '${other}', not '${this.runId}'; use that name, or another directory (--run-dir, or runDir in the config)`);
      this.db.prepare('INSERT INTO runs (id, config_json, config_hash, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING').run(this.runId, JSON.stringify(config), hash, now);
      if (this.db.prepare('SELECT config_hash FROM runs WHERE id = ?').pluck().get(this.runId) === hash) return;
      if (this.db.prepare('SELECT COUNT(*) FROM models WHERE run_id = ?').pluck().get(this.runId) === 0) {
        this.db.prepare('UPDATE runs SET config_json = ?, config_hash = ? WHERE id = ?').run(JSON.stringify(config), hash, this.runId);
        return;
      }
      throw new RunConfigConflictError(`run '${this.runId}' already exists with a different config; run it with the same config to continue, or start over under another name (or remove its directory)`);
    });
  }

  upsertProblem(problem: { task: string; split: string; question: string; answer: string; difficulty: number | null }): number {
    this.db
      .prepare('INSERT INTO problems (task, split, question, answer, difficulty) VALUES (@task, @split, @question, @answer, @difficulty) ON CONFLICT (task, split, question) DO NOTHING')
      .run(problem);
    return this.db.prepare('SELECT id FROM problems WHERE task = ? AND split = ? AND question = ?').pluck().get(problem.task, problem.split, problem.question) as number;
  }

  /** A problem's id, or null when it was never recorded. */
  problemIdOf(task: string, split: string, question: string): number | null {
    return (this.db.prepare('SELECT id FROM problems WHERE task = ? AND split = ? AND question = ?').pluck().get(task, split, question) as number | undefined) ?? null;
  }

  problem(id: number): ProblemRow {
    return ProblemRowSchema.parse(this.db.prepare('SELECT * FROM problems WHERE id = ?').get(id));
  }

  recordModel(model: { kind: 'policy' | 'prm'; path: string; sha256: string; parentId: number | null; iteration: number; metrics?: Record<string, unknown> }): number {
    this.db
      .prepare(
        'INSERT INTO models (run_id, kind, path, sha256, parent_id, iteration, metrics_json) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, kind, iteration) DO NOTHING',
      )
      .run(this.runId, model.kind, model.path, model.sha256, model.parentId, model.iteration, JSON.stringify(model.metrics ?? {}));
    return this.db.prepare('SELECT id FROM models WHERE run_id = ? AND kind = ? AND iteration = ?').pluck().get(this.runId, model.kind, model.iteration) as number;
  }

  /** The base policy's file (the run's first policy model). */
  basePolicyPath(): string {
    const path = this.db.prepare("SELECT path FROM models WHERE run_id = ? AND kind = 'policy' ORDER BY id LIMIT 1").pluck().get(this.runId) as string | undefined;
    if (path === undefined) throw new Error(`run '${this.runId}' has no policy model yet`);
    return path;
  }

  modelIdByPath(path: string): number | null {
    return (this.db.prepare('SELECT id FROM models WHERE run_id = ? AND path = ? ORDER BY id DESC').pluck().get(this.runId, path) as number | undefined) ?? null;
  }

  /** Records that retention deleted these models' files. */
  markModelsDeleted(ids: readonly number[]): void {
    writeTransaction(this.db, () => {
      const mark = this.db.prepare('UPDATE models SET deleted = 1 WHERE run_id = ? AND id = ?');
      for (const id of ids) mark.run(this.runId, id);
    });
  }

  model(id: number): ModelRow {
    return ModelRowSchema.parse(this.db.prepare('SELECT * FROM models WHERE id = ?').get(id));
  }

  /** The search stored for this problem/iteration/algorithm, if any (a resumed shard skips it). */
  findSearch(iteration: number, problemId: number, algorithm: string): SearchRow | null {
    const row = this.db.prepare('SELECT * FROM searches WHERE run_id = ? AND iteration = ? AND problem_id = ? AND algorithm = ?').get(this.runId, iteration, problemId, algorithm);
    return row === undefined ? null : SearchRowSchema.parse(row);
  }

  /** Stores a finished search and its whole tree in one transaction; a second call for the same key is a no-op. */
  saveSearch(search: {
    iteration: number;
    problemId: number;
    policyModelId: number | null;
    prmModelId: number | null;
    algorithm: string;
    budget: number | null;
    stats: Record<string, number>;
    answer: string | null;
    correct: boolean | null;
    tree: SearchTree;
  }): number {
    return writeTransaction(this.db, () => {
      const existing = this.findSearch(search.iteration, search.problemId, search.algorithm);
      if (existing !== null) return existing.id;
      const { lastInsertRowid } = this.db
        .prepare(
          'INSERT INTO searches (run_id, iteration, problem_id, policy_model_id, prm_model_id, algorithm, budget, stats_json, answer, correct) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(this.runId, search.iteration, search.problemId, search.policyModelId, search.prmModelId, search.algorithm, search.budget, JSON.stringify(search.stats), search.answer, search.correct === null ? null : Number(search.correct));
      const searchId = Number(lastInsertRowid);
      const insertNode = this.db.prepare(
        'INSERT INTO nodes (search_id, node_index, parent_index, depth, step, visits, value, prm_score, state, answer, correct, generated_tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      );
      for (const node of search.tree.nodes) {
        insertNode.run(searchId, node.id, node.parent, node.depth, node.step, node.visits, node.value, node.prmScore, node.state, node.answer, node.correct === null ? null : Number(node.correct), node.generatedTokens);
      }
      return searchId;
    });
  }

  nodes(searchId: number): NodeRow[] {
    return this.parsedRows(NodeRowSchema, 'SELECT * FROM nodes WHERE search_id = ? ORDER BY node_index', searchId);
  }

  /** The stored tree of a search, as search/ builds them. */
  tree(searchId: number): SearchTree {
    const search = SearchRowSchema.parse(this.db.prepare('SELECT * FROM searches WHERE id = ?').get(searchId));
    const question = this.problem(search.problem_id).question;
    return {
      question,
      nodes: this.nodes(searchId).map((row) => ({
        id: row.node_index,
        parent: row.parent_index,
        depth: row.depth,
        step: row.step,
        visits: row.visits,
        value: row.value,
        prmScore: row.prm_score,
        state: row.state,
        answer: row.answer,
        correct: row.correct,
        generatedTokens: row.generated_tokens,
      })),
    };
  }

  setNodeLabels(searchId: number, labels: readonly { nodeIndex: number; valueTarget: number | null; reasoningDistance: number | null; mcLabel?: number | null }[]): void {
    const update = this.db.prepare('UPDATE nodes SET value_target = ?, reasoning_distance = ?, mc_label = COALESCE(?, mc_label) WHERE search_id = ? AND node_index = ?');
    writeTransaction(this.db, () => {
      for (const label of labels) update.run(label.valueTarget, label.reasoningDistance, label.mcLabel ?? null, searchId, label.nodeIndex);
    });
  }

  /** Where a training example came from: its search, problem, node and the models that searched. */
  sftLineage(sftId: number): SftLineage {
    const row = this.db
      .prepare(
        `SELECT x.id AS sft_id, x.iteration, x.search_id, x.node_index, s.algorithm, p.question, p.answer AS gold, n.step AS last_step, n.value AS node_value,
                n.value_target, pm.path AS policy_model, pm.iteration AS policy_iteration, rm.path AS prm_model,
                ${fileState('pm')} AS policy_model_file, ${fileState('rm')} AS prm_model_file
         FROM sft_examples x
         JOIN searches s ON s.id = x.search_id
         JOIN problems p ON p.id = s.problem_id
         JOIN nodes n ON n.search_id = x.search_id AND n.node_index = x.node_index
         LEFT JOIN models pm ON pm.id = s.policy_model_id
         LEFT JOIN models rm ON rm.id = s.prm_model_id
         WHERE x.id = ? AND x.run_id = ?`,
      )
      .get(sftId, this.runId);
    if (row === undefined) throw new Error(`run '${this.runId}' has no SFT example ${sftId}`);
    return SftLineageSchema.parse(row);
  }

  /** Records evaluations (each replacing the same key's), all or none; `model_id IS ?` because SQLite's UNIQUE treats NULL model ids as all distinct. */
  recordEvaluations(evaluations: readonly EvaluationInput[]): void {
    const rows = evaluations.map((evaluation) => EvaluationInputSchema.parse(evaluation));
    writeTransaction(this.db, () => {
      for (const row of rows) {
        const key = [this.runId, row.iteration, row.modelId, row.method, row.split, row.metric] as const;
        // Updated in place (a row keeps its id, so a re-ingested evaluation changes nothing), else inserted.
        const updated = this.db.prepare('UPDATE evaluations SET value = ? WHERE run_id = ? AND iteration = ? AND model_id IS ? AND method = ? AND split = ? AND metric = ?').run(row.value, ...key);
        if (updated.changes === 0) this.db.prepare('INSERT INTO evaluations (run_id, iteration, model_id, method, split, metric, value) VALUES (?, ?, ?, ?, ?, ?, ?)').run(...key, row.value);
      }
    });
  }

  /** A policy's held-out answers in an iteration's evaluation; answers already stored are kept. */
  recordHeldOutAnswers(iteration: number, modelId: number, answers: readonly HeldOutAnswer[]): void {
    writeTransaction(this.db, () => {
      const insert = this.db.prepare('INSERT INTO held_out_answers (run_id, iteration, model_id, level, question, correct) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING');
      for (const answer of answers) insert.run(this.runId, iteration, modelId, answer.level, answer.question, Number(answer.correct));
    });
  }

  /** The held-out answers of a policy evaluated in an iteration (empty when none were recorded). */
  heldOutAnswers(iteration: number, modelId: number): HeldOutAnswer[] {
    return (
      this.db.prepare('SELECT level, question, correct FROM held_out_answers WHERE run_id = ? AND iteration = ? AND model_id = ? ORDER BY level, question').all(this.runId, iteration, modelId) as {
        level: string;
        question: string;
        correct: number;
      }[]
    ).map((row) => ({ ...row, correct: row.correct === 1 }));
  }

  recordEvaluation(evaluation: EvaluationInput): void {
    this.recordEvaluations([evaluation]);
  }

  /** Share of correct answer leaves in a problem's searches before `iteration`; null if it was never searched. */
  problemSolveRate(problemId: number, beforeIteration: number): number | null {
    return (
      (this.db
        .prepare(
          `SELECT AVG(n.correct) FROM nodes n JOIN searches s ON s.id = n.search_id
           WHERE s.run_id = ? AND s.problem_id = ? AND s.iteration < ? AND n.state = 'end' AND n.answer IS NOT NULL`,
        )
        .pluck()
        .get(this.runId, problemId, beforeIteration) as number | null) ?? null
    );
  }

  /** An iteration is done: its candidate models and the promotion decision (a re-run replaces them). */
  recordPromotion(promotion: { iteration: number; policyModelId: number | null; prmModelId: number | null; policyPromoted: boolean; reason: string }): void {
    this.db
      .prepare(
        `INSERT INTO iterations (run_id, number, status, policy_model_id, prm_model_id, promoted, promotion_reason) VALUES (?, ?, 'done', ?, ?, ?, ?)
         ON CONFLICT (run_id, number) DO UPDATE SET status = 'done', policy_model_id = excluded.policy_model_id, prm_model_id = excluded.prm_model_id, promoted = excluded.promoted, promotion_reason = excluded.promotion_reason`,
      )
      .run(this.runId, promotion.iteration, promotion.policyModelId, promotion.prmModelId, Number(promotion.policyPromoted), promotion.reason);
  }

  /** The iteration's search ids, in problem order (`problem`) or in the order they were stored (`id`). */
  iterationSearchIds(iteration: number, order: 'problem' | 'id'): number[] {
    const orderBy = order === 'problem' ? 'problem_id, algorithm' : 'id';
    return this.db.prepare(`SELECT id FROM searches WHERE run_id = ? AND iteration = ? ORDER BY ${orderBy}`).pluck().all(this.runId, iteration) as number[];
  }

  /** The first search of an iteration, or of one problem in it; null when there is none. */
  firstSearchId(iteration: number, problemId?: number): number | null {
    const id =
      problemId === undefined
        ? this.db.prepare('SELECT id FROM searches WHERE run_id = ? AND iteration = ? ORDER BY id LIMIT 1').pluck().get(this.runId, iteration)
        : this.db.prepare('SELECT id FROM searches WHERE run_id = ? AND iteration = ? AND problem_id = ? ORDER BY id LIMIT 1').pluck().get(this.runId, iteration, problemId);
    return (id as number | undefined) ?? null;
  }

  /** The iterations that searched anything, in order. */
  searchedIterations(): number[] {
    return this.db.prepare('SELECT DISTINCT iteration FROM searches WHERE run_id = ? ORDER BY iteration').pluck().all(this.runId) as number[];
  }

  /** Where a search's rows came from: run, iteration, search, problem and the policy that searched. */
  searchLineage(searchId: number): SearchLineage {
    return SearchLineageSchema.parse(this.db.prepare('SELECT run_id, iteration, id AS search_id, problem_id, policy_model_id FROM searches WHERE id = ?').get(searchId));
  }

  /** The run's first SFT example, or null before any. */
  firstSftId(): number | null {
    return this.db.prepare('SELECT MIN(id) FROM sft_examples WHERE run_id = ?').pluck().get(this.runId) as number | null;
  }

  /** The SFT examples an iteration kept, in id order. */
  iterationSftExamples(iteration: number): { id: number; searchId: number; nodeIndex: number; prompt: string; completion: string }[] {
    return this.db
      .prepare('SELECT id, search_id AS searchId, node_index AS nodeIndex, prompt, completion FROM sft_examples WHERE run_id = ? AND iteration = ? ORDER BY id')
      .all(this.runId, iteration) as { id: number; searchId: number; nodeIndex: number; prompt: string; completion: string }[];
  }

  /** Stores what one search gave an iteration's data, all or none; rows already stored are kept (a re-run adds nothing). */
  saveTrainingRows(
    iteration: number,
    searchId: number,
    rows: {
      sft: readonly { nodeIndex: number; prompt: string; completion: string; value: number }[];
      prm: readonly { nodeIndex: number; prompt: string; steps: readonly string[]; target: number }[];
      pairs: readonly { parentIndex: number; chosenIndex: number; rejectedIndex: number; prompt: string; chosen: string; rejected: string; chosenQ: number; rejectedQ: number }[];
    },
  ): void {
    writeTransaction(this.db, () => {
      const insertSft = this.db.prepare('INSERT INTO sft_examples (run_id, iteration, search_id, node_index, prompt, completion, value) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING');
      for (const row of rows.sft) insertSft.run(this.runId, iteration, searchId, row.nodeIndex, row.prompt, row.completion, row.value);
      const insertPrm = this.db.prepare(
        "INSERT INTO prm_examples (run_id, iteration, search_id, node_index, prompt, steps_json, target, source) VALUES (?, ?, ?, ?, ?, ?, ?, 'quality-value') ON CONFLICT DO NOTHING",
      );
      for (const row of rows.prm) insertPrm.run(this.runId, iteration, searchId, row.nodeIndex, row.prompt, JSON.stringify(row.steps), row.target);
      const insertPair = this.db.prepare(
        'INSERT INTO preference_pairs (run_id, iteration, search_id, parent_index, chosen_index, rejected_index, prompt, chosen, rejected, chosen_q, rejected_q) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      );
      for (const pair of rows.pairs) {
        insertPair.run(this.runId, iteration, searchId, pair.parentIndex, pair.chosenIndex, pair.rejectedIndex, pair.prompt, pair.chosen, pair.rejected, pair.chosenQ, pair.rejectedQ);
      }
    });
  }

  /**
   * Stores a search's policy-gradient examples (its steps or chains with their advantages), all or
   * none; rows already stored are kept.
   */
  savePgExamples(iteration: number, searchId: number, rows: readonly PgExampleRow[]): void {
    writeTransaction(this.db, () => {
      const insert = this.db.prepare(
        'INSERT INTO pg_examples (run_id, iteration, search_id, node_index, prompt, completion, advantage, weight) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      );
      for (const row of rows) insert.run(this.runId, iteration, searchId, row.nodeIndex, row.prompt, row.completion, row.advantage, row.weight);
    });
  }

  /** The iteration's policy-gradient examples, in problem and node order. */
  iterationPgExamples(iteration: number): (PgExampleRow & { searchId: number })[] {
    return this.db
      .prepare(
        `SELECT x.search_id AS searchId, x.node_index AS nodeIndex, x.prompt, x.completion, x.advantage, x.weight FROM pg_examples x JOIN searches s ON s.id = x.search_id
         WHERE x.run_id = ? AND x.iteration = ? ORDER BY s.problem_id, s.algorithm, x.node_index`,
      )
      .all(this.runId, iteration) as (PgExampleRow & { searchId: number })[];
  }

  /** How many SFT, PRM and pair rows an iteration stored. */
  trainingRowCounts(iteration: number): { sft: number; prm: number; pairs: number } {
    const count = (table: 'sft_examples' | 'prm_examples' | 'preference_pairs'): number =>
      this.db.prepare(`SELECT COUNT(*) FROM ${table} WHERE run_id = ? AND iteration = ?`).pluck().get(this.runId, iteration) as number;
    return { sft: count('sft_examples'), prm: count('prm_examples'), pairs: count('preference_pairs') };
  }

  /**
   * The SFT examples of iterations `from`..`to`, in iteration and id order; `contested` when their
   * search also ended wrong somewhere (what the policy does not do reliably yet).
   */
  sftExamplesBetween(from: number, to: number): { prompt: string; completion: string; contested: boolean }[] {
    return (
      this.db
        .prepare(
          `SELECT x.prompt, x.completion, EXISTS (SELECT 1 FROM nodes n WHERE n.search_id = x.search_id AND n.state = 'end' AND n.correct IS NOT 1) AS contested
           FROM sft_examples x WHERE x.run_id = ? AND x.iteration BETWEEN ? AND ? ORDER BY x.iteration, x.id`,
        )
        .all(this.runId, from, to) as { prompt: string; completion: string; contested: number }[]
    ).map((row) => ({ ...row, contested: row.contested === 1 }));
  }

  /** The iteration's PRM examples labelled by quality values, with their node's parent, in problem and node order. */
  prmExamples(iteration: number): { searchId: number; nodeIndex: number; parentIndex: number | null; prompt: string; steps: string[]; target: number }[] {
    const rows = this.db
      .prepare(
        `SELECT e.search_id AS searchId, e.node_index AS nodeIndex, n.parent_index AS parentIndex, e.prompt, e.steps_json, e.target FROM prm_examples e
         JOIN nodes n ON n.search_id = e.search_id AND n.node_index = e.node_index JOIN searches s ON s.id = e.search_id
         WHERE e.run_id = ? AND e.iteration = ? AND e.source = 'quality-value' ORDER BY s.problem_id, s.algorithm, e.node_index`,
      )
      .all(this.runId, iteration) as { searchId: number; nodeIndex: number; parentIndex: number | null; prompt: string; steps_json: string; target: number }[];
    return rows.map(({ steps_json, ...row }) => ({ ...row, steps: z.array(z.string()).parse(JSON.parse(steps_json)) }));
  }

  /**
   * The run's content per table with database ids replaced by what they stand for (problem question,
   * model kind and iteration), for comparing two runs of the same config (bench/fault-cases.ts).
   * Models are compared by what they were trained on and their loss, not their bytes: a trained GGUF
   * records its parent's path, which holds the run's name.
   */
  comparableContent(): Record<string, unknown[][]> {
    const queries: Record<string, string> = {
      models: `SELECT kind, iteration, parent_id IS NULL AS root, json_extract(metrics_json, '$.examples'), json_extract(metrics_json, '$.steps'), json_extract(metrics_json, '$.loss') FROM models`,
      iterations: `SELECT number, status, promoted, promotion_reason FROM iterations`,
      problems: `SELECT task, split, question, answer, difficulty FROM problems`,
      searches: `SELECT s.iteration, p.question, s.algorithm, s.budget, s.stats_json, s.answer, s.correct FROM searches s JOIN problems p ON p.id = s.problem_id`,
      nodes: `SELECT s.iteration, p.question, n.node_index, n.parent_index, n.depth, n.step, n.visits, n.value, n.prm_score, n.state, n.answer, n.correct,
                     n.generated_tokens, n.value_target, n.reasoning_distance
              FROM nodes n JOIN searches s ON s.id = n.search_id JOIN problems p ON p.id = s.problem_id`,
      sft_examples: `SELECT x.iteration, p.question, x.node_index, x.prompt, x.completion, x.value FROM sft_examples x JOIN searches s ON s.id = x.search_id JOIN problems p ON p.id = s.problem_id`,
      prm_examples: `SELECT x.iteration, p.question, x.node_index, x.prompt, x.steps_json, x.target, x.source FROM prm_examples x JOIN searches s ON s.id = x.search_id JOIN problems p ON p.id = s.problem_id`,
      preference_pairs: `SELECT x.iteration, p.question, x.parent_index, x.chosen_index, x.rejected_index, x.chosen, x.rejected FROM preference_pairs x JOIN searches s ON s.id = x.search_id JOIN problems p ON p.id = s.problem_id`,
      pg_examples: `SELECT x.iteration, p.question, x.node_index, x.prompt, x.completion, x.advantage, x.weight FROM pg_examples x JOIN searches s ON s.id = x.search_id JOIN problems p ON p.id = s.problem_id`,
      evaluations: `SELECT e.iteration, m.kind, m.iteration AS model_iteration, e.method, e.split, e.metric, e.value FROM evaluations e LEFT JOIN models m ON m.id = e.model_id`,
      held_out_answers: `SELECT a.iteration, m.kind, m.iteration AS model_iteration, a.level, a.question, a.correct FROM held_out_answers a JOIN models m ON m.id = a.model_id`,
    };
    return Object.fromEntries(Object.entries(queries).map(([table, sql]) => [table, this.db.prepare(sql).raw().all() as unknown[][]]));
  }

  /** Whether the run has a search with this id. */
  hasSearch(searchId: number): boolean {
    return this.db.prepare('SELECT 1 FROM searches WHERE run_id = ? AND id = ?').get(this.runId, searchId) !== undefined;
  }

  /** Whether the run searched anything in `iteration`. */
  searchedIteration(iteration: number): boolean {
    return this.db.prepare('SELECT 1 FROM searches WHERE run_id = ? AND iteration = ? LIMIT 1').get(this.runId, iteration) !== undefined;
  }

  /** Whether the run has an SFT example with this id. */
  hasSftExample(sftId: number): boolean {
    return this.db.prepare('SELECT 1 FROM sft_examples WHERE run_id = ? AND id = ?').get(this.runId, sftId) !== undefined;
  }

  /** The run's config as recorded (parse it with runConfigSchema). */
  storedConfig(): unknown {
    return JSON.parse(this.db.prepare('SELECT config_json FROM runs WHERE id = ?').pluck().get(this.runId) as string);
  }

  /** An activity attempt begins; returns its id for `activityEnded`. */
  activityStarted(attempt: { activity: string; iteration: number; attempt: number; startedAt: string }): number {
    return Number(
      this.db
        .prepare('INSERT INTO activity_attempts (run_id, activity, iteration, attempt, started_at) VALUES (?, ?, ?, ?, ?)')
        .run(this.runId, attempt.activity, attempt.iteration, attempt.attempt, attempt.startedAt).lastInsertRowid,
    );
  }

  activityEnded(id: number, ended: { endedAt: string; outcome: 'completed' | 'failed' | 'cancelled'; error?: string }): void {
    this.db.prepare('UPDATE activity_attempts SET ended_at = ?, outcome = ?, error = ? WHERE id = ?').run(ended.endedAt, ended.outcome, ended.error ?? null, id);
  }

  /** Records an attempt another process reported in a file (its key unique), or updates it: the file is rewritten when the attempt ends. */
  recordAttempt(attempt: AttemptRecord): void {
    this.db
      .prepare(
        `INSERT INTO activity_attempts (run_id, key, activity, iteration, attempt, started_at, ended_at, outcome, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET ended_at = excluded.ended_at, outcome = excluded.outcome, error = excluded.error`,
      )
      .run(this.runId, attempt.key, attempt.activity, attempt.iteration, attempt.attempt, attempt.startedAt, attempt.endedAt, attempt.outcome, attempt.error);
  }

  /** Every activity attempt of the run, in the order they started. */
  activityAttempts(): ActivityAttemptRow[] {
    return this.parsedRows(ActivityAttemptRowSchema, 'SELECT activity, iteration, attempt, started_at, ended_at, outcome FROM activity_attempts WHERE run_id = ? ORDER BY started_at, id', this.runId);
  }

  /** Every model of the run, by iteration and kind. */
  models(): ModelRow[] {
    return this.parsedRows(ModelRowSchema, 'SELECT * FROM models WHERE run_id = ? ORDER BY iteration, kind, id', this.runId);
  }

  /** The run's iterations as recorded (started or done), with their candidate models and promotion. */
  iterationRows(): IterationRow[] {
    return this.parsedRows(IterationRowSchema, 'SELECT number, status, policy_model_id, prm_model_id, promoted, promotion_reason FROM iterations WHERE run_id = ? ORDER BY number', this.runId);
  }

  /** Every metric the run recorded. */
  allEvaluations(): EvaluationRow[] {
    return this.parsedRows(EvaluationRowSchema, 'SELECT iteration, model_id, method, split, metric, value FROM evaluations WHERE run_id = ? ORDER BY iteration, method, metric', this.runId);
  }

  /** The iteration's searches of training problems by one algorithm, in id order. */
  searchSummaries(iteration: number, algorithm: string): SearchSummary[] {
    return this.parsedRows(SearchSummarySchema, `SELECT s.id, s.problem_id, p.question, p.difficulty, s.correct FROM searches s JOIN problems p ON p.id = s.problem_id
         WHERE s.run_id = ? AND s.iteration = ? AND s.algorithm = ? ORDER BY s.id`, this.runId, iteration, algorithm);
  }

  /** The SFT rows a search gave (any iteration's data may draw on it), with the node each ends at. */
  searchSftRows(searchId: number): { id: number; nodeIndex: number }[] {
    return this.db.prepare('SELECT id, node_index AS nodeIndex FROM sft_examples WHERE search_id = ? ORDER BY id').all(searchId) as { id: number; nodeIndex: number }[];
  }

  /** The step preference pairs chosen from a search's tree, as node indices. */
  searchPairs(searchId: number): { parent: number; chosen: number; rejected: number }[] {
    return this.db
      .prepare('SELECT parent_index AS parent, chosen_index AS chosen, rejected_index AS rejected FROM preference_pairs WHERE search_id = ? ORDER BY id')
      .all(searchId) as { parent: number; chosen: number; rejected: number }[];
  }

  /** A model's recorded metrics of one iteration and method, by metric name. */
  evaluations(iteration: number, modelId: number | null, method: string): Map<string, number> {
    const rows = this.db
      .prepare('SELECT metric, value FROM evaluations WHERE run_id = ? AND iteration = ? AND model_id IS ? AND method = ?')
      .all(this.runId, iteration, modelId, method) as { metric: string; value: number }[];
    return new Map(rows.map((row) => [row.metric, row.value]));
  }

  /** Share of correct answers among the policy's sampled solutions to training problems of one level, as the iteration measured it; null if it did not. */
  solveRate(iteration: number, level: number): number | null {
    const value = this.db
      .prepare("SELECT value FROM evaluations WHERE run_id = ? AND iteration = ? AND model_id IS NULL AND split = 'train' AND metric = ?")
      .pluck()
      .get(this.runId, iteration, levelMetric('solve_rate', level)) as number | undefined;
    return value ?? null;
  }

  /** The metrics an iteration recorded about its training searches and data (model_id NULL, split train), by name. */
  trainingMetrics(iteration: number): Record<string, number> {
    const rows = this.db
      .prepare("SELECT metric, value FROM evaluations WHERE run_id = ? AND iteration = ? AND model_id IS NULL AND split = 'train'")
      .all(this.runId, iteration) as { metric: string; value: number }[];
    return Object.fromEntries(rows.map((row) => [row.metric, row.value]));
  }

  /** The iteration's searches with their problems' difficulty and the tokens the policy generated, in id order. */
  iterationSearches(iteration: number): { searchId: number; difficulty: number | null; generatedTokens: number }[] {
    return this.db
      .prepare(
        `SELECT s.id AS searchId, p.difficulty, json_extract(s.stats_json, '$.generatedTokens') AS generatedTokens
         FROM searches s JOIN problems p ON p.id = s.problem_id WHERE s.run_id = ? AND s.iteration = ? ORDER BY s.id`,
      )
      .all(this.runId, iteration) as { searchId: number; difficulty: number | null; generatedTokens: number }[];
  }

  /**
   * The step preference pairs the iteration stored (data/build-sets.ts), in id order: `prompt` is the
   * policy's prompt and the path so far (each step closed by the task's delimiter), `chosen` and
   * `rejected` the two next steps without it, with their quality values.
   */
  iterationPairs(iteration: number): PreferencePairRow[] {
    return this.db
      .prepare(
        `SELECT search_id AS searchId, prompt, chosen, rejected, chosen_q AS chosenQ, rejected_q AS rejectedQ
         FROM preference_pairs WHERE run_id = ? AND iteration = ? ORDER BY id`,
      )
      .all(this.runId, iteration) as PreferencePairRow[];
  }

  /** The SFT rows the iteration kept, with their problem's question and difficulty. */
  iterationSft(iteration: number): { question: string; difficulty: number | null; completion: string }[] {
    return this.db
      .prepare(
        `SELECT p.question, p.difficulty, x.completion FROM sft_examples x JOIN searches s ON s.id = x.search_id JOIN problems p ON p.id = s.problem_id
         WHERE x.run_id = ? AND x.iteration = ? ORDER BY x.id`,
      )
      .all(this.runId, iteration) as { question: string; difficulty: number | null; completion: string }[];
  }
}
