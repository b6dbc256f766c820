/**
 * Where everything of a run lives in its directory, written once. The database is the CPU queue's
 * alone; the inference and training queues exchange immutable artifact files with it (artifacts.ts),
 * so the directory can be shared between machines while SQLite is opened by one.
 */
import { join } from 'node:path';

export const DATABASE_FILE = 'arbor.db';
/** The run's config as recorded, for the activities that do not open the database. */
export const CONFIG_FILE = 'config.json';
export const REPORT_FILE = 'report.html';
/** The run's tables (report/tables.ts) and its result as JSON, written when `arbor run` ends. */
export const TABLES_FILE = 'report.md';
export const RESULT_FILE = 'report.json';

export const databasePath = (runDir: string): string => join(runDir, DATABASE_FILE);
export const configPath = (runDir: string): string => join(runDir, CONFIG_FILE);
export const reportPath = (runDir: string): string => join(runDir, REPORT_FILE);
export const modelsDir = (runDir: string): string => join(runDir, 'models');

/** An iteration's model file; with LoRA it is the adapter (a new file each iteration: llama.cpp caches adapters by path). */
export function modelPathOf(runDir: string, kind: 'policy' | 'prm', iteration: number, method: 'full' | 'lora'): string {
  return join(modelsDir(runDir), `${kind}-${iteration}${method === 'lora' ? '.lora' : ''}.gguf`);
}

/** The trainer's checkpoint of a model being trained. */
export const checkpointPath = (runDir: string, kind: 'policy' | 'prm', iteration: number): string => join(modelsDir(runDir), `${kind}-${iteration}.ckpt`);

/** What a trained model is (its row in the database to be): beside the model file. */
export const modelRecordPath = (modelPath: string): string => `${modelPath}.json`;

/** The iteration's training files (sft.jsonl, prm.jsonl, dpo.jsonl) and their tokenized forms. */
export const iterationDataDir = (runDir: string, iteration: number): string => join(runDir, 'data', `iteration-${iteration}`);

/** Scratch space of the preparation (the seed PRM's samples and data). */
export const workDir = (runDir: string, job: string): string => join(runDir, 'work', job);

export const artifactDir = (runDir: string, iteration: number): string => join(runDir, 'artifacts', `iteration-${iteration}`);
/** The problems an iteration's plan chose, by database id (questions and answers for the searches). */
export const problemsArtifact = (runDir: string, iteration: number): string => join(artifactDir(runDir, iteration), 'problems.json');
/** A search shard's finished searches: one JSON line each while it runs, then gzipped when it ends. */
export const searchArtifact = (runDir: string, iteration: number, shard: number): string => join(artifactDir(runDir, iteration), `search-${shard}.jsonl.gz`);
export const searchProgressPath = (runDir: string, iteration: number, shard: number): string => join(artifactDir(runDir, iteration), `search-${shard}.partial.jsonl`);
/** The held-out evaluation of an iteration's candidates (iteration 0: the base models). */
export const evaluationArtifact = (runDir: string, iteration: number): string => join(artifactDir(runDir, iteration), 'evaluation.json');
/** Activity attempts of the inference and training queues, one file each, until the CPU queue records them. */
export const attemptsDir = (runDir: string): string => join(runDir, 'artifacts', 'attempts');
