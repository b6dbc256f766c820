/** `arbor worker`: serve the run workflow and its activities for a Temporal server (many workers may share a queue). */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { createWorkers, QUEUE_NAMES, type QueueName } from '../runtime/worker.ts';
import { resolveTemporal } from '../runtime/temporal.ts';

export const WORKER_HELP = `arbor worker — a Temporal worker for Arbor runs

usage: arbor worker [--queues inference,training,cpu] [--profile P]

Serves the task queues arbor-inference (search, evaluation), arbor-training (fine-tuning) and
arbor-cpu (the workflow, planning, data building, promotion). Run one per machine; several workers
on one queue share its work. The server comes from TEMPORAL_ADDRESS / a profile (@temporalio/envconfig).
Exit codes: 0 after Ctrl-C, 2 bad input or no server.
`;

export async function workerCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { queues: { type: 'string' }, profile: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    process.stdout.write(WORKER_HELP);
    return 0;
  }
  const queues = z
    .array(z.enum(QUEUE_NAMES as [QueueName, ...QueueName[]]))
    .min(1)
    .parse((values.queues ?? QUEUE_NAMES.join(',')).split(',').map((queue) => queue.trim()));
  const temporal = await resolveTemporal({ profile: values.profile });
  if ('unavailable' in temporal) {
    process.stderr.write(`arbor worker: ${temporal.unavailable}\n`);
    return 2;
  }
  const workers = await createWorkers(temporal.workerConnection, temporal.namespace, queues);
  process.stderr.write(`arbor worker: serving ${queues.join(', ')} on ${temporal.description} (Ctrl-C to stop)\n`);
  process.once('SIGINT', () => workers.forEach((worker) => worker.shutdown()));
  await Promise.all(workers.map((worker) => worker.run()));
  await temporal.close();
  return 0;
}
