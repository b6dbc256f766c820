/**
 * Temporal workers: one per task queue this process serves (all three by default). The workflow
 * runs on the cpu queue; activities are routed by queue (workflows/run-workflow.ts), so machines
 * can split the work, e.g. `arbor worker --queues inference` on every GPU box.
 */
import { fileURLToPath } from 'node:url';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { activities } from '../activities/index.ts';
import { QUEUE_CONCURRENCY, TASK_QUEUES } from '../workflows/names.ts';

export type QueueName = keyof typeof TASK_QUEUES;
export const QUEUE_NAMES = Object.keys(TASK_QUEUES) as QueueName[];

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/run-workflow.ts', import.meta.url));

export async function createWorkers(connection: NativeConnection, namespace: string, queues: readonly QueueName[] = QUEUE_NAMES): Promise<Worker[]> {
  return Promise.all(
    queues.map((queue) =>
      Worker.create({
        connection,
        namespace,
        taskQueue: TASK_QUEUES[queue],
        activities,
        maxConcurrentActivityTaskExecutions: QUEUE_CONCURRENCY[queue],
        ...(queue === 'cpu' ? { workflowsPath: WORKFLOWS_PATH } : {}),
      }),
    ),
  );
}
