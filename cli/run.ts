/**
 * `arbor run`: start (or rejoin) a run. Under Temporal when a server is configured or can be
 * started (runtime/temporal.ts), else inline in this process with one line saying why. Re-running
 * the same name with the same config continues the run; a different config is refused.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CancelledFailure } from '@temporalio/common';
import { z } from 'zod';
import { activities } from '../activities/index.ts';
import { closeRunContexts, createRun } from '../activities/run-context.ts';
import { DATABASE_FILE, REPORT_FILE, TABLES_FILE } from '../activities/run-dir.ts';
import { releaseModels } from '../activities/models.ts';
import { runInline } from '../runtime/inline.ts';
import { RunConfigConflictError } from '../store/run-store.ts';
import { RunOwnedError, takeOwnership } from '../runtime/owner.ts';
import { createWorkers } from '../runtime/worker.ts';
import { resolveTemporal, type TemporalTarget } from '../runtime/temporal.ts';
import { checkedPath, checkedRunDir } from './run-name.ts';
import { QUICK_PRESET, runConfigSchema, runDirOf, type RunConfig } from '../workflows/config.ts';
import { writeTables } from '../report/tables.ts';
import { arborRun } from '../workflows/run-workflow.ts';
import { ARBOR_SEARCH_ATTRIBUTES, progressQuery, TASK_QUEUES, workflowIdOf } from '../workflows/names.ts';
import type { RunInput, RunProgress, RunResult } from '../workflows/types.ts';
import { createProgressBar, type ProgressBar } from './progress.ts';
import { loadChecked, TASK_FLAG_OPTIONS, TASK_FLAGS_HELP, taskFlagsSchema, taskSettingsFromFlags } from './task-flags.ts';
import { resolveModelFiles } from '../engine/model-files.ts';
import { asUsageError, ioErrorMessage, UsageError } from './usage-error.ts';

export const RUN_HELP = `arbor run — start or continue a self-improvement run

usage: arbor run [CONFIG.json] [options]

Runs iterations of: MCTS* search on training problems → value targets → SFT / PRM / pair data →
fine-tune policy and PRM → held-out evaluation → promotion. Everything lands in the run directory
(runs/<name>/: arbor.db, models/, data/, report.html — charts and a tree explorer, rewritten after
every activity — and report.md). Re-running the same name continues where the
run stopped (nothing is searched or trained twice); the same name with another config is refused.

options:
  --name NAME         run name [arbor]
  --quick             a small run that shows every stage in a few minutes
  --iterations N      iterations [5]
  --policy GGUF       starting policy [models/micro/arbor-micro.gguf]
  --prm GGUF          starting PRM [a seed PRM built from the policy]
  --search ALGO       mcts | best-of-n: how training problems are searched [mcts]
  --objective NAME    sft | dpo | sft+dpo | grpo | tree: what the policy learns from (train/objectives/) [sft]
  --threads N         CPU threads for inference and training [1]
  --sequences N       problems searched at once (parallel sequences per model) [16]
  --gpu KIND          auto | cuda | vulkan | metal | cpu [auto]
  --inline            do not use Temporal: run in this process
  --profile NAME      Temporal client profile (@temporalio/envconfig)
  --no-worker         under Temporal, only start the workflow (workers run elsewhere: arbor worker)

${TASK_FLAGS_HELP}

A CONFIG file (JSON) may set every field of workflows/config.ts (runConfigSchema) and
tasks/config.ts (task). Precedence: flags over the CONFIG file over --quick over the defaults;
every value is validated whichever gives it. Models may be paths or hf: URIs (downloaded once).
Temporal: TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / TEMPORAL_API_KEY or a profile; with none, a local dev
server is started through @temporalio/testing (TEMPORAL_CLI_PATH = a temporal CLI binary), else inline.
One process runs a run at a time (<run dir>/owner.json); Ctrl-C stops after the current activity,
a second Ctrl-C cancels it at its next heartbeat; the same command resumes.
Exit codes: 0 done, 2 bad input or the run is held by another process, 3 stopped before the end,
1 failure (a full disk: "no space left on device (path)"; free space and run the same command).
`;

const flagsSchema = taskFlagsSchema.extend({
  name: z.string().optional(),
  quick: z.boolean().optional(),
  iterations: z.coerce.number().int().positive().optional(),
  policy: z.string().optional(),
  prm: z.string().optional(),
  search: z.string().optional(),
  objective: z.string().optional(),
  threads: z.coerce.number().int().positive().optional(),
  sequences: z.coerce.number().int().positive().optional(),
  gpu: z.string().optional(),
  inline: z.boolean().optional(),
  profile: z.string().optional(),
  'no-worker': z.boolean().optional(),
  help: z.boolean().optional(),
});

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] =
      value !== null && typeof value === 'object' && !Array.isArray(value) && current !== null && typeof current === 'object' && !Array.isArray(current)
        ? deepMerge(current as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}

export async function loadRunConfig(configPath: string | undefined, flags: z.infer<typeof flagsSchema>): Promise<RunConfig> {
  let fromFile: Record<string, unknown> = {};
  if (configPath !== undefined) {
    if (!existsSync(configPath)) throw new UsageError(`config file ${configPath} does not exist`);
    try {
      fromFile = z.record(z.string(), z.unknown()).parse(JSON.parse(await readFile(configPath, 'utf8')));
    } catch (error) {
      throw new UsageError(`config file ${configPath} is not a JSON object: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const merged = deepMerge(deepMerge({ name: 'arbor' }, flags.quick ? QUICK_PRESET : {}), fromFile);
  const overrides: Record<string, unknown> = {};
  const task = taskSettingsFromFlags(flags);
  if (Object.keys(task).length > 0) overrides.task = task;
  if (flags.gpu !== undefined) overrides.engine = { gpu: flags.gpu };
  if (flags.name !== undefined) overrides.name = flags.name;
  if (flags.iterations !== undefined) overrides.iterations = flags.iterations;
  if (flags.policy !== undefined) overrides.policy = { model: flags.policy };
  if (flags.prm !== undefined) overrides.prm = { model: flags.prm };
  if (flags.search !== undefined) overrides.search = { algorithm: flags.search };
  if (flags.objective !== undefined) overrides.train = { policy: { objective: flags.objective } };
  if (flags.threads !== undefined) overrides.threads = flags.threads;
  if (flags.sequences !== undefined) overrides.sequences = flags.sequences;
  return runConfigSchema.parse(deepMerge(merged, overrides));
}

/** Everything a run reads, checked before anything is written: the task's files and the model files and an adapter's base (hf: URIs are fetched later). */
async function checkInputs(config: RunConfig): Promise<void> {
  loadChecked(config.task);
  const models = [['policy model', config.policy.model], ['PRM model', config.prm.model], ['PRM base model', config.prm.base]] as const;
  for (const [what, reference] of models) {
    if (reference === undefined || /^(hf:|https?:\/\/)/.test(reference)) continue;
    await asUsageError(resolveModelFiles(reference, what));
  }
}

/** Progress on stderr: one bar per activity kind, fed by heartbeats. */
function progressPrinter(): { activity(summary: string): void; heartbeat(stage: string, done: number, total: number): void; finish(): void } {
  let bar: ProgressBar | null = null;
  let stage = '';
  return {
    activity(summary) {
      bar?.finish();
      bar = null;
      process.stderr.write(`▶ ${summary}\n`);
    },
    heartbeat(nextStage, done, total) {
      if (nextStage !== stage || bar === null) {
        bar?.finish();
        bar = createProgressBar(nextStage.padEnd(14));
        stage = nextStage;
      }
      bar.update({ step: done, steps: total });
    },
    finish() {
      bar?.finish();
    },
  };
}

export async function runCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      quick: { type: 'boolean' },
      iterations: { type: 'string' },
      policy: { type: 'string' },
      prm: { type: 'string' },
      search: { type: 'string' },
      objective: { type: 'string' },
      threads: { type: 'string' },
      sequences: { type: 'string' },
      gpu: { type: 'string' },
      ...TASK_FLAG_OPTIONS,
      inline: { type: 'boolean' },
      profile: { type: 'string' },
      'no-worker': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  const flags = flagsSchema.parse(values);
  if (flags.help) {
    process.stdout.write(RUN_HELP);
    return 0;
  }
  if (positionals.length > 1) throw new UsageError(`expected at most one config file, got ${positionals.join(' ')}`);
  const config = await loadRunConfig(positionals[0], flags);
  await checkInputs(config);
  const runDir = config.runDir === undefined ? checkedRunDir('arbor run', runDirOf(config)) : checkedPath('arbor run: runDir', config.runDir);
  await mkdir(runDir, { recursive: true });
  let releaseOwnership: () => void;
  try {
    releaseOwnership = takeOwnership(runDir);
  } catch (error) {
    throw error instanceof RunOwnedError ? new UsageError(error.message) : error;
  }
  try {
    try {
      createRun(runDir, config, new Date().toISOString());
    } catch (error) {
      throw error instanceof RunConfigConflictError ? new UsageError(`${error.message} (${join(runDir, DATABASE_FILE)})`) : error;
    }
    return await runOwned(config, runDir, flags);
  } catch (error) {
    // SQLite's errors name no file: a full disk under the database names it here.
    const io = ioErrorMessage(error, join(runDir, DATABASE_FILE));
    throw io === null ? error : new Error(io, { cause: error });
  } finally {
    releaseOwnership();
  }
}

/** The run itself, once this process owns it. */
async function runOwned(config: RunConfig, runDir: string, flags: z.infer<typeof flagsSchema>): Promise<number> {
  process.stderr.write(`run '${config.name}' in ${resolve(runDir)}\n`);
  if (config.task.timingCoin !== undefined) process.stderr.write('task.timingCoin is set: a seeded coin grades every answer, so every accuracy of this run is the coin\'s (for timing only)\n');

  const temporal = flags.inline ? { unavailable: '--inline' } : await resolveTemporal({ profile: flags.profile, devServerDatabase: join(runDir, 'temporal.db') });
  let result: RunResult;
  const printer = progressPrinter();
  if ('unavailable' in temporal) {
    if (!flags.inline) process.stderr.write(`Temporal: ${temporal.unavailable}; running inline (same pipeline, resumable from ${runDir})\n`);
    const run = runInline({
      runDir,
      iterations: config.iterations,
      activities,
      events: {
        onActivity: (_name, summary) => printer.activity(summary),
        onHeartbeat: (details) => printer.heartbeat(details.stage, details.done, details.total),
        onProgress: (progress) => process.stderr.write(`  ${progress.line}\n`),
      },
    });
    let interrupts = 0;
    const onSigint = (): void => {
      interrupts += 1;
      if (interrupts === 1) {
        process.stderr.write('\nstopping after the current activity (Ctrl-C again to interrupt it now; the run resumes with the same command)\n');
        run.stop();
      } else run.cancel();
    };
    // If the run ever waits on something that can no longer happen, Node would exit 0 with the run
    // unfinished: make that a failure that says so.
    const onStall = (): void => {
      process.stderr.write('arbor run: internal error: the run stalled (nothing left to wait for); run the same command to resume\n');
      process.exit(1);
    };
    process.on('SIGINT', onSigint);
    process.on('beforeExit', onStall);
    try {
      result = await run.result;
    } catch (error) {
      // The second Ctrl-C cancelled the running activity: a stop, not a failure.
      if (!(interrupts >= 2 && error instanceof CancelledFailure)) throw error;
      printer.finish();
      await releaseModels();
      closeRunContexts();
      process.stderr.write(`run '${config.name}' interrupted; run the same command to resume it\n`);
      return 3;
    } finally {
      process.off('SIGINT', onSigint);
      process.off('beforeExit', onStall);
    }
  } else {
    process.stderr.write(`Temporal: ${temporal.description}\n`);
    result = await runUnderTemporal(temporal, config, runDir, !flags['no-worker'], printer);
  }
  printer.finish();
  await releaseModels();
  closeRunContexts();
  const table = await writeTables(runDir, result);
  process.stdout.write(`${table}\n\nrun ${result.status}; report: ${join(runDir, REPORT_FILE)} (charts, tree explorer; ${join(runDir, TABLES_FILE)}: these tables)\n`);
  return result.status === 'completed' ? 0 : 3;
}

/**
 * How a run's workflow starts: one id per run name, its summary and details in the Temporal UI, and
 * the report's path in both the details and the memo (the UI shows it; clients read `memo.report`).
 */
export function workflowStartOptions(config: RunConfig, runDir: string) {
  const input: RunInput = { runDir: resolve(runDir), iterations: config.iterations, iteration: 1, best: null, history: [] };
  const report = resolve(runDir, REPORT_FILE);
  return {
    workflowId: workflowIdOf(config.name),
    taskQueue: TASK_QUEUES.cpu,
    args: [input] as [RunInput],
    // The same run name joins the execution already running instead of starting a second one.
    workflowIdConflictPolicy: 'USE_EXISTING' as const,
    staticSummary: `Arbor run ${config.name}: ${config.iterations} iteration(s) on ${config.policy.model}`,
    staticDetails: `run directory ${resolve(runDir)}\nreport ${report} (open it in a browser; rewritten after every activity)\n\nconfig:\n${JSON.stringify(config, null, 2)}`,
    memo: { report },
    typedSearchAttributes: [{ key: ARBOR_SEARCH_ATTRIBUTES.iteration, value: 0 }],
  };
}

async function runUnderTemporal(
  temporal: TemporalTarget,
  config: RunConfig,
  runDir: string,
  withWorker: boolean,
  printer: ReturnType<typeof progressPrinter>,
): Promise<RunResult> {
  // The workflow sets Arbor's search attributes: a namespace without them would fail its first task.
  const missing = await temporal.searchAttributesMissing();
  if (missing !== null) throw new UsageError(missing);
  const handle = await temporal.client.workflow.start(arborRun, workflowStartOptions(config, runDir));
  const workers = withWorker ? await createWorkers(temporal.workerConnection, temporal.namespace) : [];
  const running = workers.map((worker) => worker.run());
  let last = '';
  const poll = setInterval(() => {
    handle
      .query(progressQuery)
      .then((progress: RunProgress | null) => {
        if (progress !== null && progress.line !== last) {
          last = progress.line;
          printer.activity(progress.line);
        }
      })
      .catch(() => undefined);
  }, 2_000);
  try {
    return await handle.result();
  } finally {
    clearInterval(poll);
    for (const worker of workers) worker.shutdown();
    await Promise.all(running);
    await temporal.close();
  }
}
