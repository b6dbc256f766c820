/**
 * Every activity of the pipeline, by the names workflows/types.ts declares (ActivityTypes).
 * Register this object with a worker, or call it through runtime/inline.ts. Each attempt's start,
 * end and outcome is recorded in the run database (time per stage: `arbor status`), and the run's
 * report.html is rewritten after it.
 */
import { join } from 'node:path';
import { CancelledFailure } from '@temporalio/common';
import { Context, log } from '@temporalio/activity';
import { REPORT_FILE, writeReport } from '../report/html.ts';
import type { ActivityTypes } from '../workflows/types.ts';
import { buildData } from './data.ts';
import { evaluateModels } from './evaluate.ts';
import { prepareRun } from './prepare.ts';
import { promote } from './promote.ts';
import { runContext } from './run-context.ts';
import { planIteration, searchShard } from './search.ts';
import { trainModel } from './train.ts';

/** Rewrites the run's report.html; a report that cannot be written is a warning, never the activity's failure. */
function refreshReport(runDir: string): void {
  try {
    writeReport(runContext(runDir).store, join(runDir, REPORT_FILE));
  } catch (error) {
    log.warn(`report not written: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function timed<K extends keyof ActivityTypes>(name: K, activity: ActivityTypes[K]): ActivityTypes[K] {
  const run = activity as (input: { runDir: string; iteration?: number }) => Promise<unknown>;
  return (async (input: { runDir: string; iteration?: number }) => {
    const { store } = runContext(input.runDir);
    const id = store.activityStarted({ activity: name, iteration: input.iteration ?? 0, attempt: Context.current().info.attempt, startedAt: new Date().toISOString() });
    try {
      const result = await run(input);
      store.activityEnded(id, { endedAt: new Date().toISOString(), outcome: 'completed' });
      refreshReport(input.runDir);
      return result;
    } catch (error) {
      const cancelled = error instanceof CancelledFailure;
      try {
        store.activityEnded(id, { endedAt: new Date().toISOString(), outcome: cancelled ? 'cancelled' : 'failed', error: error instanceof Error ? error.message : String(error) });
      } catch {
        // the database itself failed (a full disk): the activity's own error says more
      }
      if (!cancelled) refreshReport(input.runDir);
      throw error;
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
