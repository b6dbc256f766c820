/**
 * What an activity opens first. `runFiles`: the run's config (config.json, written when the run was
 * created) and its task — all the inference and training queues read. `runContext`: those and the
 * run database, which only the CPU queue opens. Both are cached per process; failures that no retry
 * can fix are ApplicationFailure.nonRetryable with a message naming the bad input.
 */
import { existsSync, readFileSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import { RunStore } from '../store/run-store.ts';
import { loadTask, type Task } from '../tasks/index.ts';
import { runConfigSchema, type RunConfig } from '../workflows/config.ts';
import { writeJsonArtifact } from './artifacts.ts';
import { configPath, databasePath } from './run-dir.ts';

export interface RunFiles {
  runDir: string;
  config: RunConfig;
  task: Task;
}

export interface RunContext extends RunFiles {
  store: RunStore;
}

const files = new Map<string, RunFiles>();
const contexts = new Map<string, RunContext>();

/** A failure retrying cannot fix (bad config, missing model): Temporal stops retrying at once. */
export function configError(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, 'ArborConfigError');
}

function checkedFiles(runDir: string, source: string, stored: unknown): RunFiles {
  const parsed = runConfigSchema.safeParse(stored);
  if (!parsed.success) throw configError(`${source}: stored run config is invalid: ${parsed.error.message}`);
  try {
    return { runDir, config: parsed.data, task: loadTask(parsed.data.task) };
  } catch (error) {
    throw configError(`the run's task: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The run's config and task from its config.json, without the database. */
export function runFiles(runDir: string): RunFiles {
  const cached = files.get(runDir);
  if (cached) return cached;
  const path = configPath(runDir);
  if (!existsSync(path)) throw configError(`${path} does not exist: create the run with \`arbor run\` first (or share the run directory with this worker)`);
  const loaded = checkedFiles(runDir, path, JSON.parse(readFileSync(path, 'utf8')));
  files.set(runDir, loaded);
  return loaded;
}

/** The run's config, task and database (the CPU queue). */
export function runContext(runDir: string): RunContext {
  const cached = contexts.get(runDir);
  if (cached) return cached;
  const path = databasePath(runDir);
  if (!existsSync(path)) throw configError(`${path} does not exist: create the run with \`arbor run\` first`);
  const store = RunStore.open(path);
  if (store === null) throw configError(`${path} holds no run`);
  const stored = store.storedConfig();
  // A run created before config.json existed gets it here, before any inference or training activity needs it.
  if (!existsSync(configPath(runDir))) writeJsonArtifact(configPath(runDir), stored);
  const context = { ...checkedFiles(runDir, path, stored), store };
  contexts.set(runDir, context);
  return context;
}

/** Creates the run directory's database, records the run (idempotent for the same config) and writes config.json. */
export function createRun(runDir: string, config: RunConfig, now: string): RunContext {
  const store = RunStore.create(databasePath(runDir), config.name);
  store.ensureRun(config, now);
  store.close();
  writeJsonArtifact(configPath(runDir), config);
  contexts.delete(runDir);
  files.delete(runDir);
  return runContext(runDir);
}

export function closeRunContexts(): void {
  for (const context of contexts.values()) context.store.close();
  contexts.clear();
  files.clear();
}

export function requireFile(path: string, what: string): void {
  if (!existsSync(path)) throw configError(`${what} ${path} does not exist`);
}
