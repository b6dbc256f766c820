/**
 * Names shared by the workflow, the worker and the client: signals and the query, task queues,
 * typed search attributes, and how a run name becomes a workflow id. No Node built-ins (workflow code imports it).
 */
import { defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { RunProgress } from './types.ts';

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

/** Custom search attributes (register them once per namespace: `arbor worker --register-search-attributes`). */
export const ARBOR_SEARCH_ATTRIBUTES = {
  iteration: defineSearchAttributeKey('ArborIteration', 'INT'),
  bestAccuracy: defineSearchAttributeKey('ArborBestAccuracy', 'DOUBLE'),
  policyModel: defineSearchAttributeKey('ArborPolicyModel', 'KEYWORD'),
} as const;

/** One workflow id per run name: starting the same run twice attaches to the running one. */
export function workflowIdOf(runName: string): string {
  return `arbor-run-${runName}`;
}
