import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../runtime/worker.ts';
import { TASK_QUEUES } from '../workflows/names.ts';
import type { PrepareResult, RunInput } from '../workflows/types.ts';
import { RECORDED_HISTORY } from './recorded-history.ts';

Runtime.install({ logger: new DefaultLogger('ERROR') });

const b64 = (text: string): string => Buffer.from(text).toString('base64');
const payload = (value: unknown) => ({ metadata: { encoding: b64('json/plain') }, data: b64(JSON.stringify(value)) });

/**
 * A history as a server would record it for the first two workflow tasks of a run: start,
 * WFT 1 (upsert search attributes, schedule prepareRun on the cpu queue), prepareRun completes,
 * WFT 2 (upsert, schedule planIteration). `changed` records a timer where prepareRun was scheduled,
 * as an older workflow version that slept first would have.
 */
function recordedHistory(input: RunInput, prepared: PrepareResult, changed = false) {
  let id = 0;
  const time = '2026-11-22T12:00:00Z';
  const event = (eventType: string, attributes: Record<string, unknown>) => ({ eventId: String(++id), eventTime: time, eventType, ...attributes });
  const workflowTask = () => {
    const scheduled = event('EVENT_TYPE_WORKFLOW_TASK_SCHEDULED', { workflowTaskScheduledEventAttributes: { taskQueue: { name: TASK_QUEUES.cpu }, startToCloseTimeout: '10s', attempt: 1 } });
    const started = event('EVENT_TYPE_WORKFLOW_TASK_STARTED', { workflowTaskStartedEventAttributes: { scheduledEventId: scheduled.eventId, requestId: `r${id}` } });
    const completed = event('EVENT_TYPE_WORKFLOW_TASK_COMPLETED', { workflowTaskCompletedEventAttributes: { scheduledEventId: scheduled.eventId, startedEventId: started.eventId } });
    return [scheduled, started, completed];
  };
  const upsert = (completedId: string) =>
    event('EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES', {
      upsertWorkflowSearchAttributesEventAttributes: { workflowTaskCompletedEventId: completedId, searchAttributes: { indexedFields: {} } },
    });
  const schedule = (activityId: string, activityType: string, completedId: string) =>
    event('EVENT_TYPE_ACTIVITY_TASK_SCHEDULED', {
      activityTaskScheduledEventAttributes: {
        activityId,
        activityType: { name: activityType },
        taskQueue: { name: TASK_QUEUES.cpu },
        input: { payloads: [payload({ runDir: input.runDir })] },
        startToCloseTimeout: '7200s',
        heartbeatTimeout: '300s',
        workflowTaskCompletedEventId: completedId,
      },
    });
  const events: unknown[] = [
    event('EVENT_TYPE_WORKFLOW_EXECUTION_STARTED', {
      workflowExecutionStartedEventAttributes: {
        workflowType: { name: 'arborRun' },
        taskQueue: { name: TASK_QUEUES.cpu },
        input: { payloads: [payload(input)] },
        workflowTaskTimeout: '10s',
        originalExecutionRunId: 'run-1',
        firstExecutionRunId: 'run-1',
        attempt: 1,
      },
    }),
  ];
  const wft1 = workflowTask();
  events.push(...wft1);
  events.push(upsert(wft1[2]!.eventId));
  const scheduled = changed
    ? event('EVENT_TYPE_TIMER_STARTED', { timerStartedEventAttributes: { timerId: '1', startToFireTimeout: '10s', workflowTaskCompletedEventId: wft1[2]!.eventId } })
    : schedule('1', 'prepareRun', wft1[2]!.eventId);
  events.push(scheduled);
  const started = event('EVENT_TYPE_ACTIVITY_TASK_STARTED', { activityTaskStartedEventAttributes: { scheduledEventId: scheduled.eventId, attempt: 1 } });
  events.push(started);
  events.push(event('EVENT_TYPE_ACTIVITY_TASK_COMPLETED', { activityTaskCompletedEventAttributes: { scheduledEventId: scheduled.eventId, startedEventId: started.eventId, result: { payloads: [payload(prepared)] } } }));
  const wft2 = workflowTask();
  events.push(...wft2);
  events.push(upsert(wft2[2]!.eventId));
  events.push(schedule('2', 'planIteration', wft2[2]!.eventId));
  return { events };
}

const input: RunInput = { runDir: '/runs/r', iterations: 2, iteration: 1, best: null, history: [] };
const prepared: PrepareResult = {
  policyPath: 'models/micro/arbor-micro.gguf',
  prmPath: '/runs/r/models/prm-0.gguf',
  baseline: { iteration: 0, accuracyByLevel: { '3': 0.1 }, accuracy: 0.1, prmAuc: 0.8, training: {}, policyPromoted: true, reason: 'base models', policyPath: 'models/micro/arbor-micro.gguf', prmPath: '/runs/r/models/prm-0.gguf' },
};

describe('Temporal workflow', () => {
  test('bundleWorkflowCode accepts the workflow (no Node built-ins, no forbidden imports)', async () => {
    const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('ERROR') });
    assert.ok(bundle.code.includes('arborRun'));
    assert.ok(!/require\("(?:node:)?(?:fs|child_process|path)"\)/.test(bundle.code));
  });

  test('a recorded history replays: prepare, then plan the first iteration', async () => {
    await Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH }, recordedHistory(input, prepared), 'wf-replay');
  });

  test('the history a live run recorded replays (written by test/temporal-live.test.ts)', { skip: existsSync(RECORDED_HISTORY) ? false : `no recorded history yet (${RECORDED_HISTORY}): run the live test against a server first` }, async () => {
    await Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH }, JSON.parse(readFileSync(RECORDED_HISTORY, 'utf8')), 'wf-recorded');
  });

  test('a history whose first command differs fails replay with a determinism error', async () => {
    await assert.rejects(Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH }, recordedHistory(input, prepared, true), 'wf-changed'), (error: unknown) =>
      error instanceof Error && /DeterminismViolation|nondetermin/i.test(`${error.name} ${error.message}`),
    );
  });
});
