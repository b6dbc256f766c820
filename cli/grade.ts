/**
 * `arbor grade`: grades a JSONL file of `{completion, answer}` rows with a task's answer extraction
 * and equivalence: one verdict per row as JSONL on stdout, the accuracy on stderr. How other
 * systems' outputs are graded, and how the answer check is tested.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { answerRules } from '../tasks/index.ts';
import { answerKindSchema, extractionSchema, TASK_KINDS, type TaskKind } from '../tasks/config.ts';
import { UsageError } from './usage-error.ts';

export const GRADE_HELP = `arbor grade — grade completions against reference answers

usage: arbor grade --task KIND [--answer-kind KIND] [--extraction strict|flexible] FILE.jsonl

FILE.jsonl holds one {"completion": "...", "answer": "..."} object per line (other fields are kept
out of the verdict). The task extracts the final answer from the completion (gsm8k: after "####",
else "the answer is" (--extraction flexible: else the last number); math: the last \\boxed{}; jsonl:
by --answer-kind) and
compares it with the reference (numbers by value, LaTeX symbolically: @cortex-js/compute-engine).
Prints {"line", "extracted", "answer", "correct"} per row, then "accuracy A (C/N)" on stderr.

  --task KIND          ${TASK_KINDS.join(' | ')}
  --answer-kind KIND   for --task jsonl: number | exact | math [number]
  --extraction HOW     strict: only the task's answer format states an answer; flexible: else the
                       last number too (lm-eval's flexible extract; what RL learns to game) [strict]

Exit codes: 0 graded, 2 bad input (file, line and field named), 1 failure.
`;

const rowSchema = z.object({ completion: z.string(), answer: z.union([z.string(), z.number()]).transform(String) });

export async function gradeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { task: { type: 'string' }, 'answer-kind': { type: 'string' }, extraction: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  if (values.help) {
    process.stdout.write(GRADE_HELP);
    return 0;
  }
  const [file, ...extra] = positionals;
  if (file === undefined || extra.length > 0) throw new UsageError('grade needs exactly one FILE.jsonl (see --help)');
  if (values.task === undefined || !(TASK_KINDS as readonly string[]).includes(values.task)) throw new UsageError(`grade needs --task ${TASK_KINDS.join(' | ')} (see --help)`);
  const answerKind = answerKindSchema.safeParse(values['answer-kind'] ?? 'number');
  if (!answerKind.success) throw new UsageError(`--answer-kind ${values['answer-kind']}: one of number, exact, math`);
  const extraction = extractionSchema.safeParse(values.extraction ?? 'strict');
  if (!extraction.success) throw new UsageError(`--extraction ${values.extraction}: one of strict, flexible`);
  const task = answerRules(values.task as TaskKind, answerKind.data, extraction.data);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  // Every row is checked before any verdict is printed: a bad row fails the whole file.
  const rows = text.split('\n').flatMap((line, index) => {
    if (line.trim() === '') return [];
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new UsageError(`${file}:${index + 1}: not a JSON object`);
    }
    const row = rowSchema.safeParse(value);
    if (!row.success) throw new UsageError(`${file}:${index + 1}: field "${String(row.error.issues[0]?.path[0] ?? '?')}": ${row.error.issues[0]?.message ?? 'invalid'}`);
    return [{ line: index + 1, ...row.data }];
  });
  if (rows.length === 0) throw new UsageError(`${file}: no rows`);
  let correct = 0;
  for (const row of rows) {
    const extracted = task.extractAnswer(row.completion);
    const right = extracted !== null && task.isCorrect(extracted, row.answer);
    if (right) correct += 1;
    process.stdout.write(JSON.stringify({ line: row.line, extracted, answer: row.answer, correct: right }) + '\n');
  }
  process.stderr.write(`accuracy ${(correct / rows.length).toFixed(3)} (${correct}/${rows.length})\n`);
  return 0;
}
