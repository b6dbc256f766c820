/**
 * Heartbeats from inside activities. Activities always run with a Temporal activity Context:
 * under a worker, or under MockActivityEnvironment in the inline runtime, whose heartbeat events
 * drive the progress bars.
 */
import { Context } from '@temporalio/activity';
import { z } from 'zod';

export const ProgressDetailsSchema = z.object({
  stage: z.string(),
  done: z.number().int().nonnegative(),
  total: z.number().int().nonnegative(),
  note: z.string().optional(),
});
export type ProgressDetails = z.infer<typeof ProgressDetailsSchema>;

/** Reports progress; once the activity is cancelled (Temporal, or a second Ctrl-C inline) it throws, so long work stops at its next heartbeat. */
export function heartbeat(details: ProgressDetails): void {
  const context = Context.current();
  context.heartbeat(details);
  context.cancellationSignal.throwIfAborted();
}

export function cancellationSignal(): AbortSignal {
  return Context.current().cancellationSignal;
}
