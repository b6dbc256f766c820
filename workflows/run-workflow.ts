/**
 * The Temporal workflow of one run: the pipeline (workflows/pipeline.ts) with proxied activities on
 * three task queues (inference, training, cpu), pause / resume / stop signals, a progress query,
 * typed search attributes and current details for the UI, and continue-as-new between iterations.
 */
import {
  condition,
  continueAsNew,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  type ActivityFunctionWithOptions,
  type ActivityInterfaceFor,
  type ActivityOptions,
} from '@temporalio/workflow';
import { ARBOR_SEARCH_ATTRIBUTES, pauseSignal, progressQuery, resumeSignal, stopSignal, TASK_QUEUES } from './names.ts';
import { runPipeline, type PipelineHost } from './pipeline.ts';
import type { ActivityTypes, RunInput, RunProgress, RunResult } from './types.ts';

const retry = { initialInterval: '5s', maximumInterval: '2m', backoffCoefficient: 2, maximumAttempts: 5, nonRetryableErrorTypes: ['ArborConfigError'] };
const options = (taskQueue: string, startToCloseTimeout: ActivityOptions['startToCloseTimeout'], heartbeatTimeout: ActivityOptions['heartbeatTimeout']): ActivityOptions => ({
  taskQueue,
  startToCloseTimeout,
  heartbeatTimeout,
  retry,
});

const inference = proxyActivities<Pick<ActivityTypes, 'searchShard' | 'evaluateModels'>>(options(TASK_QUEUES.inference, '4h', '5m'));
const training = proxyActivities<Pick<ActivityTypes, 'trainModel'>>(options(TASK_QUEUES.training, '8h', '5m'));
const cpu = proxyActivities<Pick<ActivityTypes, 'prepareRun' | 'planIteration' | 'buildData' | 'promote'>>(options(TASK_QUEUES.cpu, '2h', '5m'));
// Proxies have no own keys to spread: each activity is taken from the proxy of its queue.
const proxies: ActivityInterfaceFor<ActivityTypes> = {
  prepareRun: cpu.prepareRun,
  planIteration: cpu.planIteration,
  buildData: cpu.buildData,
  promote: cpu.promote,
  searchShard: inference.searchShard,
  evaluateModels: inference.evaluateModels,
  trainModel: training.trainModel,
};

export async function arborRun(input: RunInput): Promise<RunResult> {
  let paused = false;
  let stopRequested = false;
  let progress: RunProgress | null = null;
  setHandler(pauseSignal, () => {
    paused = true;
  });
  setHandler(resumeSignal, () => {
    paused = false;
  });
  setHandler(stopSignal, () => {
    stopRequested = true;
  });
  setHandler(progressQuery, () => progress);

  const host: PipelineHost = {
    run(name, summary, activityInput) {
      // TypeScript cannot correlate a generic key with its union of proxies: the one narrowing left.
      const activity = proxies[name] as ActivityFunctionWithOptions<ActivityTypes[typeof name]>;
      return activity.executeWithOptions({ summary }, [activityInput] as Parameters<ActivityTypes[typeof name]>) as ReturnType<ActivityTypes[typeof name]>;
    },
    async checkpoint() {
      await condition(() => !paused || stopRequested);
      return stopRequested;
    },
    report(next) {
      progress = next;
      setCurrentDetails(next.line);
      upsertSearchAttributes([
        { key: ARBOR_SEARCH_ATTRIBUTES.iteration, value: next.iteration },
        ...(next.bestAccuracy === null ? [] : [{ key: ARBOR_SEARCH_ATTRIBUTES.bestAccuracy, value: next.bestAccuracy }]),
        ...(next.policyModel === '' ? [] : [{ key: ARBOR_SEARCH_ATTRIBUTES.policyModel, value: next.policyModel }]),
      ]);
    },
    continueAsNew: (next) => continueAsNew<typeof arborRun>(next),
  };
  return runPipeline(host, input);
}
