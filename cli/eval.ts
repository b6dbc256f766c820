/** `arbor eval`: held-out greedy accuracy of a policy by number of operators, and with --prm the PRM's step-level quality. */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { LogProbScorer } from '../engine/log-probs.ts';
import { prmStepQuality } from '../evaluate/prm-quality.ts';
import { accuracyTable, COMMITTED_MICRO_MODEL, evaluateHeldOut } from './micro.ts';

export const EVAL_HELP = `arbor eval — score models on the fixed held-out arithmetic problems

usage: arbor eval [--model GGUF] [--prm GGUF] [--threads N]

  --model    policy to score: greedy exact-answer accuracy by number of operators
             (30 problems with 1 operator, 200 each with 2–5; test split)   [${COMMITTED_MICRO_MODEL}]
  --prm      also score this PRM on the policy's solutions: step-level ROC AUC against the exact
             labels, and how often its first value below 0.5 is the first wrong step
  --threads  inference threads [1: fastest for tiny models on a small CPU]
Exit codes: 0 done, 2 bad input, 1 failure.
`;

export async function evalCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { model: { type: 'string' }, prm: { type: 'string' }, threads: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    process.stdout.write(EVAL_HELP);
    return 0;
  }
  const model = values.model ?? COMMITTED_MICRO_MODEL;
  const threads = z.coerce.number().int().positive().max(availableParallelism() * 4).parse(values.threads ?? '1');
  const evaluation = await evaluateHeldOut(model, threads);
  process.stdout.write(`${model}: held-out greedy accuracy\n${accuracyTable(evaluation)}\n`);
  if (values.prm !== undefined) {
    const scorer = await LogProbScorer.create({ modelPath: values.prm, threads, sequences: 1, contextSize: 256 });
    try {
      const quality = await prmStepQuality(scorer, evaluation.samples);
      const show = (value: number | null): string => (value === null ? 'n/a (one class only)' : value.toFixed(3));
      process.stdout.write(`${values.prm}: PRM step ROC AUC ${show(quality.auc)}, first-error accuracy ${show(quality.firstErrorAccuracy)} over ${quality.prefixes} prefixes\n`);
    } finally {
      await scorer.dispose();
    }
  }
  return 0;
}
