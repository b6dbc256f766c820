/**
 * The inline runtime: the same pipeline (workflows/pipeline.ts) in one process, without a Temporal
 * server. Activities run under MockActivityEnvironment, so they heartbeat and see cancellation
 * exactly as under a worker; continue-as-new becomes a loop whose input is saved to the run
 * directory, and a re-run resumes from it (the activities skip what the database already holds).
 * Pause / resume / stop come from the run directory's control file (`arbor pause|resume|stop`).
 */
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MockActivityEnvironment } from '@temporalio/testing';
import { z } from 'zod';
import { readJsonArtifact } from '../activities/artifacts.ts';
import type { ProgressDetails } from '../activities/heartbeat.ts';
import { ACTIVITY_QUEUES, QUEUE_CONCURRENCY } from '../workflows/names.ts';
import { runPipeline, type PipelineHost } from '../workflows/pipeline.ts';
import { RunInputSchema, type ActivityTypes, type RunInput, type RunProgress, type RunResult } from '../workflows/types.ts';

const STATE_FILE = 'inline-state.json';
export const CONTROL_FILE = 'control.json';

export const ControlSchema = z.strictObject({ paused: z.boolean().default(false), stop: z.boolean().default(false) });
export type Control = z.infer<typeof ControlSchema>;

export async function readControl(runDir: string): Promise<Control> {
  return readJsonArtifact(join(runDir, CONTROL_FILE), ControlSchema) ?? { paused: false, stop: false };
}

let temporaryFiles = 0;

/** Write-then-rename, with a name of its own per write so concurrent writers never share a temporary file. */
async function writeFileAtomic(path: string, text: string): Promise<void> {
  const temporary = `${path}.${process.pid}.${temporaryFiles++}.tmp`;
  try {
    await writeFile(temporary, text);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true }); // a full disk keeps no half-written file
    throw error;
  }
}

export async function writeControl(runDir: string, control: Control): Promise<void> {
  await writeFileAtomic(join(runDir, CONTROL_FILE), JSON.stringify(control) + '\n');
}

async function saveState(runDir: string, input: RunInput): Promise<void> {
  await writeFileAtomic(join(runDir, STATE_FILE), JSON.stringify(input, null, 2) + '\n');
}

/** Where an inline run stands: the saved input of its current iteration, or a fresh start. */
export async function inlineStartInput(runDir: string, iterations: number): Promise<RunInput> {
  const saved = readJsonArtifact(join(runDir, STATE_FILE), RunInputSchema);
  return saved === null ? { runDir, iterations, iteration: 1, best: null, history: [] } : { ...saved, iterations };
}

class ContinueAsNew extends Error {
  constructor(readonly next: RunInput) {
    super('continue as new');
  }
}

export interface InlineEvents {
  /** An activity started (its name and UI summary). */
  onActivity?(name: keyof ActivityTypes, summary: string): void;
  onHeartbeat?(details: ProgressDetails): void;
  onProgress?(progress: RunProgress): void;
}

export interface InlineRun {
  result: Promise<RunResult>;
  /** Stop after the current activity (like the `stop` signal). */
  stop(): void;
  /** Cancel the running activity now (a training run checkpoints first). */
  cancel(): void;
}

export function runInline(options: { runDir: string; iterations: number; activities: ActivityTypes; events?: InlineEvents; pollMs?: number }): InlineRun {
  const { runDir, activities, events = {} } = options;
  const pollMs = options.pollMs ?? 1000;
  let stopRequested = false;
  const running = new Set<MockActivityEnvironment>();
  // Per queue, as many activities at once as a worker runs (workflows/names.ts); the rest wait their turn.
  const slots = new Map(Object.entries(QUEUE_CONCURRENCY).map(([queue, limit]) => [queue, { free: limit, waiting: [] as (() => void)[] }]));
  const take = async (queue: string): Promise<() => void> => {
    const slot = slots.get(queue) as { free: number; waiting: (() => void)[] };
    if (slot.free > 0) slot.free -= 1;
    else await new Promise<void>((resolve) => slot.waiting.push(resolve));
    return () => {
      const next = slot.waiting.shift();
      if (next) next();
      else slot.free += 1;
    };
  };

  const host: PipelineHost = {
    run(name, summary, input) {
      return (async () => {
        const release = await take(ACTIVITY_QUEUES[name]);
        try {
          events.onActivity?.(name, summary);
          const environment = new MockActivityEnvironment({ activityType: name, taskQueue: 'inline' });
          environment.on('heartbeat', (details: ProgressDetails) => events.onHeartbeat?.(details));
          running.add(environment);
          const activity = activities[name] as (input: unknown) => ReturnType<ActivityTypes[typeof name]>;
          try {
            return await environment.run(activity, input);
          } finally {
            running.delete(environment);
          }
        } finally {
          release();
        }
      })() as ReturnType<ActivityTypes[typeof name]>;
    },
    async checkpoint() {
      for (;;) {
        const control = await readControl(runDir);
        if (stopRequested || control.stop) return true;
        if (!control.paused) return false;
        await sleep(pollMs);
      }
    },
    report(progress) {
      events.onProgress?.(progress);
    },
    async continueAsNew(next) {
      await saveState(runDir, next);
      throw new ContinueAsNew(next);
    },
  };

  const result = (async (): Promise<RunResult> => {
    let input = await inlineStartInput(runDir, options.iterations);
    for (;;) {
      try {
        // A finished run (re-run with no more iterations asked) just reports its history.
        if (input.iteration > input.iterations && input.best !== null) return { status: 'completed', iterations: input.history, best: input.best };
        const outcome = await runPipeline(host, input);
        if (outcome.status === 'completed') await saveState(runDir, { ...input, iteration: input.iterations + 1, best: outcome.best, history: outcome.iterations });
        return outcome;
      } catch (error) {
        if (!(error instanceof ContinueAsNew)) throw error;
        input = error.next;
      }
    }
  })();

  return {
    result,
    stop: () => {
      stopRequested = true;
    },
    cancel: () => {
      stopRequested = true;
      for (const environment of running) environment.cancel();
    },
  };
}
