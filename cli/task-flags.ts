/** The command-line flags that choose a task (run, eval, grade share them), and the task they name. */
import { z } from 'zod';
import { loadTask, type Task } from '../tasks/index.ts';
import { TASK_KINDS, taskConfigSchema, type TaskConfigInput } from '../tasks/config.ts';
import { UsageError } from './usage-error.ts';

export const TASK_FLAGS_HELP = `task:
  --task KIND             ${TASK_KINDS.join(' | ')}  [arithmetic]
  --train FILE            problems (JSONL) for gsm8k / math / jsonl  [gsm8k: the shipped datasets/gsm8k]
  --test FILE             held-out problems [gsm8k: shipped; others: a tenth of --train, by question hash]
  --question-field NAME   jsonl: the question field [question]
  --answer-field NAME     jsonl: the answer field [answer]
  --answer-kind KIND      jsonl: number | exact | math [number]`;

export const TASK_FLAG_OPTIONS = {
  task: { type: 'string' },
  train: { type: 'string' },
  test: { type: 'string' },
  'question-field': { type: 'string' },
  'answer-field': { type: 'string' },
  'answer-kind': { type: 'string' },
} as const;

export const taskFlagsSchema = z.object({
  task: z.string().optional(),
  train: z.string().optional(),
  test: z.string().optional(),
  'question-field': z.string().optional(),
  'answer-field': z.string().optional(),
  'answer-kind': z.string().optional(),
});
export type TaskFlags = z.infer<typeof taskFlagsSchema>;

/** The task settings the flags give (to merge over a config file's), or {} when none is given. */
export function taskSettingsFromFlags(flags: TaskFlags): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  if (flags.task !== undefined) {
    if (!(TASK_KINDS as readonly string[]).includes(flags.task)) throw new UsageError(`--task ${flags.task}: unknown task (one of ${TASK_KINDS.join(', ')})`);
    settings.kind = flags.task;
  }
  const fields = { train: flags.train, test: flags.test, questionField: flags['question-field'], answerField: flags['answer-field'], answerKind: flags['answer-kind'] };
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) settings[key] = value;
  return settings;
}

/** The task the flags name, loaded (its files read and checked); bad input is a UsageError naming it. */
export function taskFromFlags(flags: TaskFlags): Task {
  const parsed = taskConfigSchema.safeParse({ kind: 'arithmetic', ...taskSettingsFromFlags(flags) });
  if (!parsed.success) throw new UsageError(`task options: ${z.prettifyError(parsed.error)}`);
  return loadChecked(parsed.data);
}

/** loadTask with its errors (a bad file, line or field) as UsageErrors. */
export function loadChecked(config: TaskConfigInput): Task {
  try {
    return loadTask(config);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}
