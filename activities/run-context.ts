/**
 * What every activity opens first: the run directory's database and the run's config (stored in
 * the database when the run was created). Connections are cached per process; failures that no
 * retry can fix are ApplicationFailure.nonRetryable with a message naming the bad input.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { RunStore } from '../store/run-store.ts';
import { loadTask, type Task } from '../tasks/index.ts';
import { runConfigSchema, type RunConfig } from '../workflows/config.ts';

export const DATABASE_FILE = 'arbor.db';

export interface RunContext {
  runDir: string;
  store: RunStore;
  config: RunConfig;
  task: Task;
}

const contexts = new Map<string, RunContext>();

/** A failure retrying cannot fix (bad config, missing model): Temporal stops retrying at once. */
export function configError(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, 'ArborConfigError');
}

export function runContext(runDir: string): RunContext {
  const cached = contexts.get(runDir);
  if (cached) return cached;
  const path = join(runDir, DATABASE_FILE);
  if (!existsSync(path)) throw configError(`${path} does not exist: create the run with \`arbor run\` first`);
  const store = RunStore.open(path);
  if (store === null) throw configError(`${path} holds no run`);
  const parsed = runConfigSchema.safeParse(store.storedConfig());
  if (!parsed.success) throw configError(`${path}: stored run config is invalid: ${parsed.error.message}`);
  let task: Task;
  try {
    task = loadTask(parsed.data.task);
  } catch (error) {
    throw configError(`the run's task: ${error instanceof Error ? error.message : String(error)}`);
  }
  const context = { runDir, store, config: parsed.data, task };
  contexts.set(runDir, context);
  return context;
}

/** Creates the run directory's database and records the run (idempotent for the same config). */
export function createRun(runDir: string, config: RunConfig, now: string): RunContext {
  const store = RunStore.create(join(runDir, DATABASE_FILE), config.name);
  store.ensureRun(config, now);
  store.close();
  contexts.delete(runDir);
  return runContext(runDir);
}

export function closeRunContexts(): void {
  for (const context of contexts.values()) context.store.close();
  contexts.clear();
}

export function requireFile(path: string, what: string): void {
  if (!existsSync(path)) throw configError(`${what} ${path} does not exist`);
}
