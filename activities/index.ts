/**
 * Every activity of the pipeline, by the names workflows/types.ts declares (ActivityTypes).
 * Register this object with a worker, or call it through runtime/inline.ts. Each attempt's start,
 * end and outcome is recorded (time per stage: `arbor status`, the report): in the database by the
 * CPU queue's activities, which also record the attempt files the other queues leave (they never
 * open the database), and rewrite the run's report.html after they end.
 */
import { z } from 'zod';
import { CancelledFailure } from '@temporalio/common';
import { Context, log } from '@temporalio/activity';
import { writeReport } from '../report/html.ts';
import { ACTIVITY_QUEUES } from '../workflows/names.ts';
import { ACTIVITY_INPUTS, type ActivityTypes } from '../workflows/types.ts';
import type { AttemptRecord } from '../store/run-store.ts';
import { DatabaseFileError } from '../store/errors.ts';
import { DamagedFileError, writeAttemptRecord } from './artifacts.ts';
import { buildData } from './data.ts';
import { evaluateModels } from './evaluate.ts';
import { ingestAttempts } from './ingest.ts';
import { prepareRun } from './prepare.ts';
import { promote } from './promote.ts';
import { configError, runContext } from './run-context.ts';
import { reportPath } from './run-dir.ts';
import { planIteration } from './plan.ts';
import { searchShard } from './search.ts';
import { trainModel } from './train.ts';

/** Rewrites the run's report.html; a report that cannot be written is a warning, never the activity's failure. */
function refreshReport(runDir: string): void {
  try {
    writeReport(runContext(runDir).store, reportPath(runDir));
  } catch (error) {
    log.warn(`report not written: ${error instanceof Error ? error.message : String(error)}`);
  }
}

let attempts = 0;

type Outcome = 'completed' | 'failed' | 'cancelled';

/** Records an attempt's start, and returns what records its end: in the database on the CPU queue, in a file (its key the name) elsewhere. */
function attemptRecorder(name: keyof ActivityTypes, runDir: string, iteration: number): (outcome: Outcome, error: string | null) => void {
  const { attempt } = Context.current().info;
  const startedAt = new Date().toISOString();
  if (ACTIVITY_QUEUES[name] === 'cpu') {
    const { store } = runContext(runDir);
    ingestAttempts(store, runDir);
    const id = store.activityStarted({ activity: name, iteration, attempt, startedAt });
    return (outcome, error) => store.activityEnded(id, { endedAt: new Date().toISOString(), outcome, ...(error === null ? {} : { error }) });
  }
  // Unique per attempt across processes and machines: host-free, but pid, a counter and the start time.
  const record: AttemptRecord = { key: `${iteration}-${name}-${Date.parse(startedAt)}-${process.pid}-${attempts++}`, activity: name, iteration, attempt, startedAt, endedAt: null, outcome: null, error: null };
  writeAttemptRecord(runDir, record);
  return (outcome, error) => writeAttemptRecord(runDir, { ...record, endedAt: new Date().toISOString(), outcome, error });
}

function timed<K extends keyof ActivityTypes>(name: K, activity: ActivityTypes[K]): ActivityTypes[K] {
  const run = activity as (input: { runDir: string; iteration?: number }) => Promise<unknown>;
  return (async (raw: unknown) => {
    // The boundary: what arrives from the workflow is checked against the activity's schema.
    const parsed = ACTIVITY_INPUTS[name].safeParse(raw);
    if (!parsed.success) throw configError(`${name}: invalid input: ${z.prettifyError(parsed.error)}`);
    const input = parsed.data as { runDir: string; iteration?: number };
    const ended = attemptRecorder(name, input.runDir, input.iteration ?? 0);
    const cpu = ACTIVITY_QUEUES[name] === 'cpu';
    try {
      const result = await run(input);
      ended('completed', null);
      if (cpu) refreshReport(input.runDir);
      return result;
    } catch (error) {
      const cancelled = error instanceof CancelledFailure;
      try {
        ended(cancelled ? 'cancelled' : 'failed', error instanceof Error ? error.message : String(error));
      } catch {
        // the database itself failed (a full disk): the activity's own error says more
      }
      if (cpu && !cancelled) refreshReport(input.runDir);
      // A damaged file stays damaged: retrying cannot help, the message names it.
      throw error instanceof DamagedFileError || error instanceof DatabaseFileError ? configError(error.message) : error;
    }
  }) as ActivityTypes[K];
}

export const activities: ActivityTypes = {
  prepareRun: timed('prepareRun', prepareRun),
  planIteration: timed('planIteration', planIteration),
  searchShard: timed('searchShard', searchShard),
  buildData: timed('buildData', buildData),
  trainModel: timed('trainModel', trainModel),
  evaluateModels: timed('evaluateModels', evaluateModels),
  promote: timed('promote', promote),
};
