/** `arbor eval`: held-out greedy accuracy of a policy by level on a task's test split, and with --prm the PRM's quality. */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { resolveModelPath } from '../engine/llama.ts';
import { LogProbScorer } from '../engine/log-probs.ts';
import { MICRO_HELD_OUT } from '../evaluate/held-out.ts';
import { prmQuality } from '../evaluate/prm-quality.ts';
import { COMMITTED_MICRO_MODEL } from '../train/micro-model.ts';
import { accuracyTable, evaluateHeldOut } from './micro.ts';
import { TASK_FLAG_OPTIONS, TASK_FLAGS_HELP, taskFlagsSchema, taskFromFlags } from './task-flags.ts';
import { asUsageError, intOption, UsageError } from './usage-error.ts';

export const EVAL_HELP = `arbor eval — score models on a task's fixed held-out problems

usage: arbor eval [--model GGUF] [--prm GGUF] [--per-level N] [--threads N] [task options]

  --model      policy to score (a GGUF path or hf: URI): greedy final-answer accuracy by level  [${COMMITTED_MICRO_MODEL}]
               (arithmetic: 30 problems with 1 operator, 200 each with 2–5, test split)
  --prm        also score this PRM on the policy's solutions: step-level ROC AUC against the exact
               labels where the task checks steps (arithmetic), else the AUC of a solution's value
               against its final answer's correctness
  --per-level  held-out problems per level for tasks other than arithmetic [100]
  --threads    inference threads [1: fastest for tiny models on a small CPU]

${TASK_FLAGS_HELP}

Exit codes: 0 done, 2 bad input, 1 failure.
`;

export async function evalCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { model: { type: 'string' }, prm: { type: 'string' }, threads: { type: 'string' }, 'per-level': { type: 'string' }, ...TASK_FLAG_OPTIONS, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(EVAL_HELP);
    return 0;
  }
  const threads = intOption('threads', values.threads ?? '1', 1);
  if (threads > availableParallelism() * 4) throw new UsageError(`--threads ${threads}: more than 4 per core of this machine (${availableParallelism()})`);
  const perLevel = intOption('per-level', values['per-level'] ?? '100', 1);
  const task = taskFromFlags(taskFlagsSchema.parse(values));
  const model = await asUsageError(resolveModelPath(values.model ?? COMMITTED_MICRO_MODEL, 'model'));
  const prm = values.prm === undefined ? undefined : await asUsageError(resolveModelPath(values.prm, 'PRM'));
  const counts = task.kind === 'arithmetic' ? MICRO_HELD_OUT : Object.fromEntries(task.levels('test').map((level) => [level, perLevel]));
  const evaluation = await evaluateHeldOut(model, threads, task, counts);
  process.stdout.write(`${model}: held-out greedy accuracy (${task.kind})\n${accuracyTable(evaluation)}\n`);
  if (prm !== undefined) {
    const scorer = await LogProbScorer.create({ modelPath: prm, threads, sequences: 1, contextSize: task.contextSize });
    try {
      const quality = await prmQuality(scorer, task, evaluation.samples);
      const show = (value: number | null): string => (value === null ? 'n/a (one class only)' : value.toFixed(3));
      process.stdout.write(`${values.prm}: PRM ${quality.kind} ROC AUC ${show(quality.auc)}, first-error accuracy ${show(quality.firstErrorAccuracy)} over ${quality.prefixes} prefixes\n`);
    } finally {
      await scorer.dispose();
    }
  }
  return 0;
}
