/**
 * The immutable files through which the inference and training queues hand their results to the
 * CPU queue, which alone writes the database (ingest.ts): the plan's problems, a search shard's
 * trees, a trained model's record, an evaluation, an activity attempt (its schema: the store's). Each is a zod schema; each
 * file is written whole and renamed into place, so a reader sees all of it or nothing.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { z } from 'zod';
import { SearchTreeSchema } from '../search/tree.ts';
import { AttemptRecordSchema, type AttemptRecord } from '../store/run-store.ts';
import { IterationRecordSchema } from '../workflows/types.ts';
import { attemptsDir, searchArtifact, searchProgressPath } from './run-dir.ts';

export const ProblemsArtifactSchema = z.array(z.strictObject({ id: z.number().int(), question: z.string(), answer: z.string(), level: z.number().int() }));

export const SearchRecordSchema = z.strictObject({
  problemId: z.number().int(),
  algorithm: z.string(),
  budget: z.number().int().nullable(),
  stats: z.record(z.string(), z.number()),
  answer: z.string().nullable(),
  correct: z.boolean().nullable(),
  tree: SearchTreeSchema,
  /** The models that searched, by path: the CPU queue knows their ids. */
  policyPath: z.string(),
  prmPath: z.string(),
});
export type SearchRecord = z.infer<typeof SearchRecordSchema>;

export const ModelRecordSchema = z.strictObject({
  kind: z.enum(['policy', 'prm']),
  path: z.string(),
  sha256: z.string(),
  parentPath: z.string().nullable(),
  iteration: z.number().int().nonnegative(),
  metrics: z.record(z.string(), z.unknown()),
});
export type ModelRecord = z.infer<typeof ModelRecordSchema>;

export const EvaluationArtifactSchema = z.strictObject({
  summary: IterationRecordSchema.omit({ policyPromoted: true, reason: true, training: true }),
  /** Each metric of the evaluated models, by model path (null: about the data, not a model). */
  metrics: z.array(z.strictObject({ modelPath: z.string().nullable(), method: z.string(), split: z.string(), metric: z.string(), value: z.number() })),
  /** The policy's greedy answer to each held-out problem: promotion compares policies problem by problem (absent in runs before it did). */
  answers: z.array(z.strictObject({ level: z.string(), question: z.string(), correct: z.boolean() })).optional(),
});
export type EvaluationArtifact = z.infer<typeof EvaluationArtifactSchema>;

/** Writes `data` to `path` whole: a temporary file of this process, then a rename. */
export function writeArtifact(path: string, data: string | Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, data);
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true }); // a full disk keeps no half-written file
    throw error;
  }
}

export function writeJsonArtifact(path: string, value: unknown): void {
  writeArtifact(path, JSON.stringify(value) + '\n');
}

/** An artifact that is there but is not what its writer wrote (truncated, corrupt, edited): named, never half-read. */
export class DamagedFileError extends Error {
  constructor(path: string, reason: string) {
    super(`${path}: ${reason}; delete it and run the same command again to redo the step that wrote it`);
    this.name = 'DamagedFileError';
  }
}

/** `read()` of the file at `path`, its failure (a cut-off gzip or JSON text, a wrong shape) a DamagedFileError naming it. */
function readWhole<T>(path: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw new DamagedFileError(path, error instanceof z.ZodError ? `not a valid artifact: ${z.prettifyError(error)}` : `truncated or corrupt (${error instanceof Error ? error.message : String(error)})`);
  }
}

/** A JSON artifact parsed by its schema, or null when it does not exist; a damaged one names its file. */
export function readJsonArtifact<T>(path: string, schema: z.ZodType<T>): T | null {
  if (!existsSync(path)) return null;
  return readWhole(path, () => schema.parse(JSON.parse(readFileSync(path, 'utf8'))));
}

const jsonLines = (text: string): unknown[] =>
  text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as unknown);

/**
 * A search shard's records so far: the finished artifact, or what a previous attempt appended
 * before it stopped (a line cut short by a crash is dropped: that search is redone).
 */
export function shardRecords(runDir: string, iteration: number, shard: number): SearchRecord[] {
  const finished = searchArtifact(runDir, iteration, shard);
  if (existsSync(finished)) return readWhole(finished, () => z.array(SearchRecordSchema).parse(jsonLines(gunzipSync(readFileSync(finished)).toString('utf8'))));
  const progress = searchProgressPath(runDir, iteration, shard);
  if (!existsSync(progress)) return [];
  const parse = (line: string): SearchRecord[] => {
    try {
      const parsed = SearchRecordSchema.safeParse(JSON.parse(line));
      return parsed.success ? [parsed.data] : [];
    } catch {
      return [];
    }
  };
  return readFileSync(progress, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .flatMap(parse);
}

/** One more finished search of a shard, kept at once so a retry does not redo it. */
export function appendSearchRecord(runDir: string, iteration: number, shard: number, record: SearchRecord): void {
  const progress = searchProgressPath(runDir, iteration, shard);
  mkdirSync(dirname(progress), { recursive: true });
  appendFileSync(progress, JSON.stringify(SearchRecordSchema.parse(record)) + '\n');
}

/** The shard is done: its records, gzipped, become the artifact the CPU queue ingests. */
export function finishShard(runDir: string, iteration: number, shard: number, records: readonly SearchRecord[]): void {
  writeArtifact(searchArtifact(runDir, iteration, shard), gzipSync(records.map((record) => JSON.stringify(record)).join('\n') + '\n'));
  rmSync(searchProgressPath(runDir, iteration, shard), { force: true });
}

/** Every finished shard artifact of an iteration, in shard order. */
export function shardArtifacts(runDir: string, iteration: number): number[] {
  const dir = dirname(searchArtifact(runDir, iteration, 0));
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .flatMap((name) => /^search-(\d+)\.jsonl\.gz$/.exec(name)?.[1] ?? [])
    .map(Number)
    .sort((a, b) => a - b);
}

export function writeAttemptRecord(runDir: string, record: AttemptRecord): void {
  writeJsonArtifact(join(attemptsDir(runDir), `${record.key}.json`), AttemptRecordSchema.parse(record));
}

/** The attempt records waiting in the run directory. */
export function attemptRecords(runDir: string): AttemptRecord[] {
  const dir = attemptsDir(runDir);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .flatMap((name) => readJsonArtifact(join(dir, name), AttemptRecordSchema) ?? []);
}
