/**
 * Names shared by the workflow, the worker and the client: signals and the query, task queues,
 * typed search attributes, and how a run name becomes a workflow id. No Node built-ins (workflow code imports it).
 */
import { defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ActivityTypes, RunProgress } from './types.ts';

/** Pause and resume between activities; stop after the current one. */
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const stopSignal = defineSignal('stop');
/** Where the run stands (null before the first report). */
export const progressQuery = defineQuery<RunProgress | null>('progress');

/** Separate queues so each kind of work can run where it fits (GPU box, CPU box). */
export const TASK_QUEUES = {
  inference: 'arbor-inference',
  training: 'arbor-training',
  cpu: 'arbor-cpu',
} as const;

/** The queue each activity runs on. */
export const ACTIVITY_QUEUES = {
  prepareRun: 'cpu',
  planIteration: 'cpu',
  searchShard: 'inference',
  buildData: 'cpu',
  trainModel: 'training',
  evaluateModels: 'inference',
  promote: 'cpu',
} as const satisfies Record<keyof ActivityTypes, keyof typeof TASK_QUEUES>;

/** The stage of the loop each activity is (time per stage: `arbor status`, the HTML report), in loop order. */
export const STAGE_OF_ACTIVITY = {
  prepareRun: 'prepare',
  planIteration: 'plan',
  searchShard: 'search',
  buildData: 'data',
  trainModel: 'train',
  evaluateModels: 'evaluate',
  promote: 'promote',
} as const satisfies Record<keyof ActivityTypes, string>;
export const STAGES: readonly string[] = Object.values(STAGE_OF_ACTIVITY);

/** The stage an activity name belongs to (a name from an older run stands for itself). */
export function stageOf(activity: string): string {
  return (STAGE_OF_ACTIVITY as Record<string, string>)[activity] ?? activity;
}

/**
 * Activities at once per queue in one process: a worker's maxConcurrentActivityTaskExecutions, and
 * the inline runtime's limits too. Inference and training take the whole machine (every decoder,
 * every sequence): two search shards at once would only evict each other's cached prefixes.
 */
export const QUEUE_CONCURRENCY = { inference: 1, training: 1, cpu: 4 } as const satisfies Record<keyof typeof TASK_QUEUES, number>;

/** Custom search attributes (`arbor run` registers them on a configured server when missing: runtime/temporal.ts). */
export const ARBOR_SEARCH_ATTRIBUTES = {
  iteration: defineSearchAttributeKey('ArborIteration', 'INT'),
  bestAccuracy: defineSearchAttributeKey('ArborBestAccuracy', 'DOUBLE'),
  policyModel: defineSearchAttributeKey('ArborPolicyModel', 'KEYWORD'),
} as const;

/** One workflow id per run name: starting the same run twice attaches to the running one. */
export function workflowIdOf(runName: string): string {
  return `arbor-run-${runName}`;
}
